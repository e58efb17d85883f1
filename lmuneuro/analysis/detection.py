"""Keyword spotting on a stream, scored: detections against labels, and the read-out that turns
per-frame class scores into detections. Pure functions; docs/detection.md defines each figure.

A label is ``(word, onset, offset)`` and a detection ``(word, time)``, times in seconds from the
stream's start. A detection *hits* a label of the same word when ``onset <= time <= offset +
window``: a report during the word counts (a streaming network may be sure before the word ends),
one before the word starts does not. Detections are taken in time order; each hits the earliest
label it can that no earlier detection hit. A detection that hits no label is a false alarm: no
label there, the wrong word, or a second report of a label already hit.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

__all__ = ["match", "score", "detect", "sweep", "causal_mean"]


def match(detections, labels, window: float) -> tuple[list[int | None], list[float | None]]:
    """For each detection, the index of the label it hits (None: a false alarm), and for each
    label, its latency: the first hit's time minus the label's offset (None: missed)."""
    if not (math.isfinite(window) and window >= 0):
        raise ValueError(f"the window after a word must be a finite number >= 0 s, not {window}")
    by_onset = sorted(range(len(labels)), key=lambda j: labels[j][1])
    onsets = [labels[j][1] for j in by_onset]
    longest = max((off - on for _, on, off in labels), default=0.0)
    hit: list[int | None] = [None] * len(detections)
    latency: list[float | None] = [None] * len(labels)
    for i in sorted(range(len(detections)), key=lambda i: detections[i][1]):
        word, t = detections[i]
        # only labels with t - window - longest <= onset <= t can hold t
        first = bisect.bisect_left(onsets, t - window - longest)
        for j in by_onset[first : bisect.bisect_right(onsets, t)]:
            w, onset, offset = labels[j]
            if w == word and latency[j] is None and t <= offset + window:
                hit[i], latency[j] = j, t - offset
                break
    return hit, latency


def _figures(latencies: list, keywords: int, false_alarms: int, duration: float) -> dict:
    if not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"the audio's duration must be a finite number > 0 s, not {duration}")
    late = np.array([x for x in latencies if x is not None])
    rate = len(late) / keywords if keywords else None
    return {
        "keywords": keywords,
        "detected": len(late),
        "detection_rate": rate,
        "miss_rate": None if rate is None else 1 - rate,
        "false_alarms": false_alarms,
        "false_alarms_per_hour": false_alarms * 3600 / duration,
        "latency_median_s": float(np.median(late)) if len(late) else None,
        "latency_p90_s": float(np.percentile(late, 90)) if len(late) else None,
    }


def score(detections, labels, duration: float, window: float) -> dict:
    """The figures of one operating point over ``duration`` seconds of audio: keywords, detected,
    detection_rate, miss_rate (None without labels), false_alarms, false_alarms_per_hour, and the
    median and 90th percentile (numpy's, linear between ranks) of the detected keywords' latency,
    latency_median_s and latency_p90_s (None when none was detected)."""
    hit, latency = match(detections, labels, window)
    return _figures(latency, len(labels), sum(h is None for h in hit), duration)


def causal_mean(x, frames: int) -> np.ndarray:
    """Per frame of x (frames, n): the mean of the last ``frames`` frames, fewer at the start
    (frame i averages frames max(0, i - frames + 1)..i), by cumulative sums, float64."""
    x = np.asarray(x, dtype=np.float64)
    c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x]), axis=0)
    i = np.arange(1, len(x) + 1)
    lo = np.maximum(i - frames, 0)
    return (c[i] - c[lo]) / (i - lo)[:, None]


def detect(
    scores,
    words,
    *,
    frame_s: float,
    smoothing: int,
    threshold: float,
    refractory_s: float,
    start_s: float = 0.0,
) -> list[tuple[str, float]]:
    """Detections from per-frame class scores ``(frames, classes)``: each class's score averaged
    over the last ``smoothing`` frames (fewer at the start), and at each frame the class with the
    highest average reported when that average reaches ``threshold``, unless a detection was made
    less than ``refractory_s`` before (rounded up to whole frames). ``words[c]`` names class c; a
    class named None (unknown, silence) is never reported. Frame i is at ``start_s + i *
    frame_s`` seconds: the time its score is known."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(words):
        raise ValueError(f"scores must be (frames, {len(words)} classes), not {scores.shape}")
    if smoothing < 1:
        raise ValueError(f"the smoothing window must be at least 1 frame, not {smoothing}")
    if not (math.isfinite(frame_s) and frame_s > 0 and math.isfinite(refractory_s)):
        raise ValueError(
            f"the frame period must be a finite number > 0 s and the refractory period finite, "
            f"not {frame_s} and {refractory_s}"
        )
    keep = np.array([w is not None for w in words])
    smooth = causal_mean(scores, smoothing)
    smooth[:, ~keep] = -np.inf
    best = smooth.argmax(axis=1) if len(smooth) else np.zeros(0, int)
    above = np.flatnonzero(smooth[np.arange(len(smooth)), best] >= threshold)
    # the refractory period in whole frames, so that float rounding never moves a boundary
    gap = math.ceil(refractory_s / frame_s - 1e-9)
    out, last = [], -math.inf
    for f in above:
        if f - last >= gap:
            out.append((words[best[f]], start_s + f * frame_s))
            last = f
    return out


def sweep(streams, words, thresholds, *, window: float, **readout) -> list[dict]:
    """The curve: for each threshold, the figures of ``score`` over all ``streams`` together
    (each ``(scores, labels, duration)``) with ``detect(..., threshold=..., **readout)``, plus the
    threshold. A detection only ever hits its own stream's labels."""
    out = []
    for threshold in thresholds:
        latencies, false_alarms = [], 0
        for s, labels, _ in streams:
            hit, latency = match(detect(s, words, threshold=threshold, **readout), labels, window)
            latencies += latency
            false_alarms += sum(h is None for h in hit)
        total = sum(d for _, _, d in streams)
        out.append(
            {"threshold": threshold, **_figures(latencies, len(latencies), false_alarms, total)}
        )
    return out
