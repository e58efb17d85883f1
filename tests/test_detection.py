"""The keyword-spotting figures, worked by hand: which detection hits which label, false alarms
per hour, latency percentiles, the smoothed and refractory read-out, and the threshold sweep."""

import random

import numpy as np
import pytest

from lmuneuro.analysis.detection import detect, match, score, sweep

LABELS = [("yes", 1.0, 1.5), ("no", 3.0, 3.4), ("yes", 6.0, 6.5), ("go", 9.0, 9.3)]
DETECTIONS = [
    ("yes", 1.2),  # during the word: hits label 0, latency -0.3
    ("yes", 1.8),  # a second report of label 0: false alarm
    ("no", 3.9),  # at the window's end (3.4 + 0.5): hits label 1, latency 0.5
    ("yes", 2.5),  # no label there: false alarm
    ("no", 6.2),  # the wrong word during label 2: false alarm, label 2 missed
    ("go", 8.9),  # before the word starts: false alarm
    ("go", 9.5),  # hits label 3, latency 0.2
]


def test_hand_worked_operating_point():
    hit, latency = match(DETECTIONS, LABELS, window=0.5)
    assert hit == [0, None, 1, None, None, None, 3]
    assert latency == pytest.approx([-0.3, 0.5, None, 0.2])
    shuffled = random.Random(0).sample(DETECTIONS, len(DETECTIONS))
    r = score(shuffled, LABELS, duration=7200, window=0.5)  # the order of reports is irrelevant
    assert (r["keywords"], r["detected"], r["false_alarms"]) == (4, 3, 4)
    assert r["detection_rate"] == 0.75 and r["miss_rate"] == 0.25
    assert r["false_alarms_per_hour"] == 2.0  # 4 in two hours
    # latencies sorted -0.3, 0.2, 0.5: median 0.2; 90th percentile at rank 1.8: 0.2 + 0.8 * 0.3
    assert r["latency_median_s"] == pytest.approx(0.2)
    assert r["latency_p90_s"] == pytest.approx(0.44)
    # a narrower window: the report at 3.9 is late, a false alarm, label 1 missed
    r = score(DETECTIONS, LABELS, duration=7200, window=0.4)
    assert (r["detected"], r["false_alarms"]) == (2, 5)


def test_each_detection_takes_the_earliest_label_left():
    labels = [("on", 0.0, 1.0), ("on", 1.2, 2.0)]
    hit, latency = match([("on", 1.4), ("on", 1.3)], labels, window=0.5)
    assert hit == [1, 0] and latency == pytest.approx([0.3, -0.6])


def test_no_labels_and_no_detections():
    r = score([("up", 10.0)], [], duration=1800, window=1.0)
    assert r["detection_rate"] is None and r["false_alarms_per_hour"] == 2.0
    r = score([], LABELS, duration=3600, window=1.0)
    assert r["detection_rate"] == 0 and r["latency_median_s"] is None and r["latency_p90_s"] is None
    for bad in (lambda: score([], LABELS, 0, 1.0), lambda: match([], LABELS, -1.0)):
        with pytest.raises(ValueError, match="finite number"):
            bad()


WORDS = ["yes", "no", None]  # the last class (unknown / silence) is never reported
SCORES = np.array(
    [
        [0.0, 0.0, 1.0],
        [0.8, 0.0, 0.2],  # yes averages 0.4 over two frames: below 0.5
        [0.8, 0.0, 0.2],  # yes 0.8: detected at frame 2
        [0.8, 0.0, 0.0],  # yes 0.8, but 1 frame after a detection: refractory
        [0.0, 0.9, 0.0],  # yes 0.4, no 0.45: nothing
        [0.0, 0.9, 0.0],  # no 0.9, 3 frames after: detected
        [0.0, 0.0, 1.0],  # no 0.45; the unknown class is ignored however high
    ]
)
READOUT = {"frame_s": 0.1, "smoothing": 2, "refractory_s": 0.3}


def _same(detections, expected):
    assert [w for w, _ in detections] == [w for w, _ in expected]
    assert [t for _, t in detections] == pytest.approx([t for _, t in expected])


def test_readout_smooths_thresholds_and_waits():
    _same(detect(SCORES, WORDS, threshold=0.5, **READOUT), [("yes", 0.2), ("no", 0.5)])
    out = detect(SCORES, WORDS, threshold=0.5, **{**READOUT, "refractory_s": 0.31}, start_s=10)
    _same(out, [("yes", 10.2)])  # 0.31 s is 4 frames: frame 5 is too early
    no_smoothing = detect(SCORES, WORDS, threshold=0.5, **{**READOUT, "smoothing": 1})
    _same(no_smoothing, [("yes", 0.1), ("no", 0.4)])
    assert detect(SCORES[:0], WORDS, threshold=0.5, **READOUT) == []
    with pytest.raises(ValueError, match=r"scores must be \(frames, 3 classes\)"):
        detect(SCORES[:, :2], WORDS, threshold=0.5, **READOUT)
    with pytest.raises(ValueError, match="frame period must be a finite number > 0 s"):
        detect(SCORES, WORDS, threshold=0.5, **{**READOUT, "frame_s": 0.0})


def test_sweep_is_the_curve_over_all_streams():
    labels = [("yes", 0.0, 0.15), ("no", 0.3, 0.45)]
    streams = [(SCORES, labels, 3600.0), (SCORES, [], 1800.0)]
    curve = sweep(streams, WORDS, [0.5, 0.85, 2.0], window=0.1, **READOUT)
    assert [c["threshold"] for c in curve] == [0.5, 0.85, 2.0]
    # the second stream's reports are false alarms: they never hit the first stream's labels
    assert [(c["detected"], c["false_alarms"]) for c in curve] == [(2, 2), (1, 1), (0, 0)]
    assert [c["miss_rate"] for c in curve] == [0.0, 0.5, 1.0]
    assert curve[0]["false_alarms_per_hour"] == pytest.approx(2 * 3600 / 5400)
    assert curve[0]["latency_median_s"] == pytest.approx(0.05)  # both 0.05 s after the word
