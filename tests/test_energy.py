"""lmuneuro energy: operation counts from measured activity, priced with a hardware profile."""

import base64
import html
import io
import json
import re
import struct
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch

from lmuneuro.analysis.activity import activity
from lmuneuro.analysis.energy import report
from lmuneuro.artifact import GATE, INPUT, FixedNetwork, Layer, ModelOps, Synapse
from lmuneuro.backends import run_backend
from lmuneuro.cli import main
from lmuneuro.files import to_json
from lmuneuro.models import ann_macs, get_preset
from lmuneuro.models.macs import _ann_counts


def test_paper_anchors_parameters_and_ann_macs():
    spiking, ann = (
        ann_macs(get_preset(p).to_dict(), 128) for p in ("spiking-lmuformer-scv2", "lmuformer-scv2")
    )
    assert spiking["parameters"] == 1_689_894 and ann["parameters"] == 1_621_796
    print(f"non-spiking SCv2: {ann['macs'] / 1e9:.4f} G MACs per clip (paper 0.189 G)")
    assert abs(ann["macs"] / 0.189e9 - 1) < 0.10
    assert (
        ann["memory_recurrent_macs"] == (256 * 256 + 256) * 128
    )  # reported apart, not in the FLOP count
    # hand count of the digits preset: every conv/linear weight once per step, 8 steps
    d = ann_macs(get_preset("spiking-lmuformer-digits").to_dict(), 8)
    embed = 8 * 64 * 3 + 64 * 64 * 3 + 64 * 64 * 3  # two k=3 convs and the rpe conv
    attn = 64 + (16 + 64) * 64 + 64 * 64  # W_u, W_h, proj
    assert d["by_module"] == {
        "patch_embed": embed * 8,
        "block.0.attn": attn * 8,
        "block.0.mlp": 2 * 64 * 128 * 8,
        "head": 64 * 10 * 8,
    }
    assert d["macs"] == sum(d["by_module"].values())
    # a stream's length (beyond 8 x the clip's) is extended from shorter counts: the full count
    for preset in ("spiking-lmuformer-digits", "lmuformer-digits"):
        steps, cfg = 9 * 16 + 5, get_preset(preset)
        long, counted = ann_macs(cfg.to_dict(), steps), _ann_counts(cfg, steps)
        assert long["macs"] == counted[""] > d["macs"] * steps // 8
        assert long["by_module"] == {k: v for k, v in counted.items() if k and v}


def _tiny() -> FixedNetwork:
    """input (3 graded channels) -> a (2 neurons, 2 taps) -> b (1 neuron, two weight sets); each
    layer silenced outside its window by its channel of the gate."""
    zeros = lambda n: np.zeros(n, np.int64)  # noqa: E731
    a = Layer("a", 2, 4095, 2048, 64, zeros(2), zeros(2), 0, 1, 1.0)
    b = Layer("b", 1, 4095, 2048, 64, zeros(1), zeros(1), 0, 2, 1.0)
    # non-zeros per input channel: 2, 1, 2, and none from the rounding channel (exponent 0: exact)
    syns = [
        Synapse(INPUT, "a", np.array([[1, 0, 2, 0], [0, 0, 3, 0]], np.int16), 0),
        Synapse(INPUT, "a", np.array([[4, 0, 0, 0], [0, 5, 0, 0]], np.int16), 0, delay=1),
        Synapse(GATE, "a", np.array([[-9, 0], [-9, 0]], np.int16), 0, sparse=True),
        Synapse("a", "b", np.array([[7, -3]], np.int16), 0),
        Synapse("a", "b", np.array([[1, 0]], np.int16), -8),
        Synapse(GATE, "b", np.array([[0, -9]], np.int16), 0, sparse=True),
    ]
    return FixedNetwork(
        3,
        4,
        8,
        127,
        [(1, "outside"), (2, "outside")],
        [a, b],
        syns,
        "b",
        np.ones((4, 1), np.float32),
        np.zeros(4, np.float32),
        checksum="tiny",
    )


def _tiny_run() -> tuple[np.ndarray, dict]:
    """Inputs and spike counts of a run of ``_tiny``."""
    x = np.zeros((2, 3, 3), np.float32)  # 2 samples x 3 steps; period = 3 + delay 2 = 5
    x[0, :, 0] = 1.0  # sample 0: channel 0 at every step (3 messages)
    x[1, 0, 2] = 0.5  # sample 1: channel 2 once; 0.01 rounds to 0 with 4 fraction bits: no message
    x[1, 1, 1] = 0.01
    return x, {"a": np.array([[3, 1], [0, 2]]), "b": np.array([[2], [1]])}


def test_hand_worked_counts_and_energy():
    net = _tiny()
    x, counts = _tiny_run()
    act = activity(net, x, counts)
    a, b = act.layers
    # the gate: a (lag 1) is silenced at arrivals 4 and 0 of each period of 5, b (lag 2) at 0 and 1
    assert act.sources.gate.spikes == 4 and act.steps_per_sample == 5
    assert act.sources.input.graded_messages == (3 + 1) / 2 + 3  # and the rounding channel's 3
    assert a.graded_events == (3 * 2 + 1 * 2) / 2  # messages x non-zero synapses of their channel
    assert a.synaptic_events == 2 * 2  # the gate: 2 spikes x 2 synapses
    # b: set 1 has 1 synapse from each a neuron, set 2 one from a[0]: (3+1)+(0+2) + (3+0); the gate
    # 2 x 1
    assert b.synaptic_events == ((3 + 1) + (0 + 2) + 3) / 2 + 2 and b.graded_events == 0
    assert (a.spikes, b.spikes, a.neuron_updates, b.neuron_updates) == (3.0, 1.5, 10, 5)

    snn = report(
        net, act, "cmos45-snn"
    )  # the paper's convention: 0.9 pJ per accumulate, 4.6 per MAC
    assert snn.layers[0].energy_total_pj == pytest.approx(4 * 0.9 + 4 * 4.6)
    assert snn.layers[1].energy_total_pj == pytest.approx(6.5 * 0.9)
    assert snn.total.value == pytest.approx(
        4 * 0.9 + 4 * 4.6 + 6.5 * 0.9 + 4 * 4.6
    )  # + head 4 MACs
    loihi = report(net, act, "loihi2", step_us=10)
    la = loihi.layers[0].energy_pj
    # the gate's 4 binary events, the input's 4 graded ones at the graded price
    assert la["synaptic"] == pytest.approx(4 * 23.6 + 4 * 47.2)
    assert la["neuron"] == pytest.approx(3 * 81 + 7 * 52) and la["routing"] == pytest.approx(
        3 * 3.5
    )
    # one chip's static power x s x steps, in pJ
    assert loihi.energy["static"].value == pytest.approx(0.232 * 10e-6 * 5 * 1e12)
    assert loihi.energy["routing"].value == pytest.approx(
        (3 + 1.5 + 5 + 4) * 3.5
    )  # spikes + sources
    lo, hi = loihi.to_dict()["energy_range_pj"]
    assert lo < loihi.total.value < hi and (lo, hi) == loihi.total[1:]
    assert (
        loihi.ann is None and "ann" not in loihi.to_dict()
    )  # a hand-made network has no model config to count as an ANN


def _contract_cases() -> dict:
    """``_tiny`` with the model's counts and config (so that every kind of row shows), its
    activity with and without per-step counts, and reports with every optional part."""
    net = replace(
        _tiny(),
        meta={"config": get_preset("spiking-lmuformer-digits").to_dict()},
        model_ops=[
            ModelOps(INPUT, fanout=np.array([2.0, 1.0, 2.0, 0.0])),
            ModelOps("a", fanout=np.array([2.0, 1.0])),
        ],
    )
    x, counts = _tiny_run()
    steps = {
        "a": np.array([[1, 2, 1, 0, 0], [0, 1, 1, 0, 0]]),
        "b": np.array([[0, 1, 1, 0, 0]] * 2),
    }
    flat, per_step = activity(net, x, counts), activity(net, x, counts, steps)
    return {
        "activity": flat,
        "activity per step": per_step,
        "loihi2, per step, real time": report(net, per_step, "loihi2", frame_ms=10),
        "loihi2, spread": report(net, flat, "loihi2"),
        "loihi2, step given": report(net, flat, "loihi2", step_us=10),
        "loihi1": report(net, flat, "loihi1"),
        "cmos45-snn": report(net, flat, "cmos45-snn"),
        "cmos45-ann": report(net, flat, "cmos45-ann"),
    }


def test_json_is_the_contract_byte_for_byte():
    """The activity and energy records' JSON (``to_dict``, written as ``run --activity`` and
    ``energy --json`` write it) is the fixture: what the string-keyed dicts they replaced wrote
    for the same network (commit 6f4311c)."""
    got = to_json({k: v.to_dict() for k, v in _contract_cases().items()}, indent=2) + "\n"
    assert got == (Path(__file__).parent / "fixtures" / "energy_contract.json").read_text()


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def artifact(digits_checkpoint, tmp_path_factory):
    path = tmp_path_factory.mktemp("energy") / "model.h5"
    assert main(["convert", str(digits_checkpoint), "-o", str(path)]) == 0
    return path


def test_counts_agree_across_torch_emulator_and_lava(digits_checkpoint, artifact, tmp_path, capsys):
    from lmuneuro import load_checkpoint
    from lmuneuro.artifact import read_artifact
    from lmuneuro.backends.emulator import run
    from lmuneuro.data import get_dataset
    from lmuneuro.models import stack_records

    # emulator and Lava: the same report, every number
    reports = {}
    for backend in ("emulator", "lava-sim"):
        code, out, _ = _run(
            capsys,
            "energy",
            artifact,
            "--dataset",
            "digits",
            "--samples",
            4,
            "--backend",
            backend,
            "--json",
        )
        assert code == 0
        reports[backend] = json.loads(out)
    assert (
        reports["emulator"] == reports["lava-sim"]
        and reports["emulator"]["totals"]["synops"] > 1000
    )
    # the float torch model: counted by the same function; exactly equal where its spikes are the
    # fixed-point ones
    net, model = read_artifact(artifact), load_checkpoint(digits_checkpoint).model
    x = get_dataset("digits", "test").tensors[0].numpy()
    with torch.no_grad(), model.recording() as rec:
        model(torch.from_numpy(x))
    f_spikes = {n: s.numpy() > 0 for n, (s, _) in stack_records(rec).items()}
    emu = run(net, x, record=True)
    same = np.logical_and.reduce(
        [(f_spikes[n] == emu.spikes[n]).all(axis=(1, 2)) for n in emu.spikes]
    )
    assert same.sum() > len(x) / 3
    # the float model has neither relays nor terms
    others = {p.name for p in net.populations if not isinstance(p, Layer)}

    def counts(spikes, keep):  # the float model's layers, the emulator's relays and terms
        return {
            **{n: s[keep].sum(axis=1) for n, s in spikes.items()},
            **{n: emu.spike_counts[n][keep] for n in others},
        }

    assert activity(net, x[same], counts(f_spikes, same)) == activity(
        net, x[same], {n: c[same] for n, c in emu.spike_counts.items()}
    )
    everything = np.ones(len(x), bool)
    t, e = (activity(net, x, c).layers for c in (counts(f_spikes, everything), emu.spike_counts))
    diff = max(abs(a.synaptic_events / b.synaptic_events - 1) for a, b in zip(t, e))
    print(
        f"{same.sum()}/{len(x)} samples with identical spikes; SynOps float vs fixed differ by at "
        f"most {diff:.2%}"
    )
    assert diff < 0.02


class _Html(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.images, self.title = 0, [], ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.rows += tag == "tr"
        self._in_title = tag == "title"
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def test_table_json_and_html_reports(artifact, tmp_path, capsys):
    act = tmp_path / "run.json"
    assert (
        main(
            ["run", str(artifact), "--dataset", "digits", "--samples", "20", "--activity", str(act)]
        )
        == 0
    )
    capsys.readouterr()
    code, out, _ = _run(capsys, "energy", artifact, "--activity", act)
    assert code == 0
    assert "block.0.mlp.fc1_lif" in out and "energy per sample:" in out
    assert "chips: 1 (13 neuro-cores" in out and "Davies" in out
    assert "same network as an ANN: 419 k MACs, 53.9 k parameters" in out
    code, out, _ = _run(
        capsys, "energy", artifact, "--activity", act, "--profile", "cmos45-ann", "--json"
    )
    r = json.loads(out)
    assert (
        r["energy_total_pj"] == pytest.approx(419328 * 4.6)
        and r["layers"][0]["layer"] == "block.0.attn"
    )

    page = tmp_path / "report.html"
    code, _, err = _run(capsys, "energy", artifact, "--activity", act, "-o", page)
    assert code == 0 and "html report written" in err
    parsed = _Html()
    parsed.feed(page.read_text())
    assert parsed.title == "lmuneuro: Energy per sample on loihi2"
    assert parsed.rows == 1 + 13 + 1  # header, 9 layers, 3 graded terms, the relay line, total
    assert len(parsed.images) == 2
    for src in parsed.images:  # real PNG charts, of a sensible size
        png = base64.b64decode(src.split(",", 1)[1])
        width, height = struct.unpack(">II", png[16:24])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and width >= 400 and height >= 200


def test_profiles_side_by_side(artifact, tmp_path, capsys):
    act = tmp_path / "run.json"
    assert (
        main(
            ["run", str(artifact), "--dataset", "digits", "--samples", "8"]
            + ["--activity", str(act)]
        )
        == 0
    )
    capsys.readouterr()
    several = ["--activity", act, "--profile", "loihi2,cmos45-snn,cmos45-ann"]
    code, out, _ = _run(capsys, "energy", artifact, *several, "--json")
    rs = json.loads(out)["profiles"]
    assert code == 0 and [r["profile"] for r in rs] == ["loihi2", "cmos45-snn", "cmos45-ann"]
    for r in rs:  # each the report its profile gives alone
        _, alone, _ = _run(
            capsys, "energy", artifact, "--activity", act, "--profile", r["profile"], "--json"
        )
        assert json.loads(alone)["energy_total_pj"] == r["energy_total_pj"]
    code, out, _ = _run(capsys, "energy", artifact, *several)
    lines = out.splitlines()
    loihi = next(x for x in lines if x.startswith("loihi2 "))
    assert code == 0 and "chip synaptic events" in loihi and "SynOps" not in loihi
    assert f"{rs[0]['totals']['chips']}" == loihi.split()[-1]
    assert next(x for x in lines if x.startswith("cmos45-ann ")).split()[1] == "ANN"
    page = tmp_path / "several.html"
    code, _, _ = _run(capsys, "energy", artifact, *several, "-o", page)
    parsed = _Html()
    parsed.feed(page.read_text())
    assert code == 0 and parsed.rows == 1 + 3 and len(parsed.images) == 1
    assert parsed.title == "lmuneuro: Energy per sample, profile by profile"
    code, _, err = _run(capsys, "energy", artifact, "--activity", act, "--profile", "loihi2,nope")
    assert code == 2 and "nope" in err and len(err.strip().splitlines()) == 1


def test_bad_inputs_one_line_and_no_file(artifact, tmp_path, capsys):
    act = tmp_path / "run.json"
    assert (
        main(
            ["run", str(artifact), "--dataset", "digits", "--samples", "3", "--activity", str(act)]
        )
        == 0
    )
    good = json.loads(act.read_text())
    profile = tmp_path / "p.toml"
    from lmuneuro.profiles import load_profile

    text = open(load_profile("loihi2").path).read()
    profile.write_text(text[: text.index("[timing.")])  # static power, nothing to time steps
    no_graded = tmp_path / "no-graded.toml"
    no_graded.write_text(
        open(load_profile("loihi2").path)
        .read()
        .replace("[energy.graded_synaptic_op]", "[energy.unused]")
    )
    cases = [
        ({**good, "artifact_checksum": "0" * 64}, [], "recorded from another artifact"),
        ({**good, "layers": good["layers"][:-1]}, [], "layers do not match the artifact's"),
        (
            {**good, "layers": [{**good["layers"][0], "spikes": -1}] + good["layers"][1:]},
            [],
            "patch_embed.proj_lif.spikes must be a non-negative number",
        ),
        (good, ["--profile", profile], "has static power but no timing constants: give the time"),
        (  # the input and the residual stream send graded messages: a price is needed
            good,
            ["--profile", no_graded],
            "has no energy.graded_synaptic_op to price the",
        ),
        (good, ["--format", "html"], "--format html needs -o FILE"),
        (good, ["--step-us", "0"], "argument --step-us: must be above 0.0"),
    ]
    for i, (content, extra, msg) in enumerate(cases):
        bad = tmp_path / f"bad{i}.json"
        bad.write_text(json.dumps(content))
        out = tmp_path / f"out{i}.json"
        code, _, err = _run(
            capsys,
            "energy",
            artifact,
            "--activity",
            bad,
            *extra,
            *([] if "html" in extra else ["-o", out]),
        )
        assert code == 2 and msg in err and err.count("\n") == 1, err
        assert not out.exists()
    (tmp_path / "junk.json").write_bytes(b"\x00\xff")
    code, _, err = _run(capsys, "energy", artifact, "--activity", tmp_path / "junk.json")
    assert code == 2 and "not a readable activity file" in err


def test_a_range_prices_value_low_and_high_apart():
    from lmuneuro.analysis.runtime import Range
    from lmuneuro.profiles import EnergyConstant

    c = Range.of(EnergyConstant(2.0, 1.0, 4.0, "pJ", "a source"))
    priced = 3 * c + Range(1.0, 1.0, 1.0) - Range(0.5, 0.0, 1.0)
    assert priced == Range(6.5, 4.0, 12.0) and priced.low == 4.0
    assert json.loads(json.dumps({"pj": priced})) == {"pj": [6.5, 4.0, 12.0]}


def test_si_prints_three_figures_with_a_prefix():
    from lmuneuro.analysis.rendering import si

    cases = [
        ((9.601e-05, "J"), "96.0 µJ"),
        ((815.34e-6, "J"), "815 µJ"),
        ((0.232, "W"), "232 mW"),
        ((999.7, "J"), "1.00 kJ"),  # rounds up into the next prefix
        ((0.0, "J"), "0 J"),
        ((-3.2e-9, "J"), "-3.20 nJ"),
        ((1.25e6, "events", True), "1.25 M events"),
        ((110548.7, "", True), "111 k"),
        ((230.0, "events", True), "230 events"),  # a whole count below 1,000 as it is
        ((0.25, "", True), "0.250"),  # no milli-spikes
    ]
    for (x, unit, *count), text in cases:
        assert si(x, unit, count=bool(count)) == text


def _bands(png: bytes, rgb) -> list[int]:
    """Widths in pixels of the horizontal bands (bars) of colour ``rgb`` in a chart, top down."""
    from matplotlib.image import imread

    img = (imread(io.BytesIO(png))[..., :3] * 255).round()
    hit = (np.abs(img - np.array(rgb)).max(axis=-1) <= 6).sum(axis=1)
    bands, run = [], []
    for width in [*hit, 0]:
        if width:
            run.append(width)
        elif run:
            bands += [max(run)] if len(run) >= 3 else []  # a bar, not an antialiased edge
            run = []
    return bands


def _pngs(page: str) -> list[bytes]:
    return [base64.b64decode(x.split('"')[0]) for x in page.split("base64,")[1:]]


@pytest.fixture(scope="module")
def reports(artifact, tmp_path_factory):
    """A run's reports under a profile with static power, one without, and the 45 nm pair; and
    the first with another timing model's runtime and dynamic energy."""
    from lmuneuro.analysis.activity import read_activity
    from lmuneuro.analysis.runtime import Range, Runtime, StepMicroseconds
    from lmuneuro.artifact import read_artifact

    act = tmp_path_factory.mktemp("reports") / "run.json"
    assert (
        main(
            ["run", str(artifact), "--dataset", "digits", "--samples", "8"]
            + ["--activity", str(act)]
        )
        == 0
    )
    net = read_artifact(artifact)
    recorded = read_activity(act, net)
    rs = [
        report(net, recorded, p, frame_ms=10)
        for p in ("loihi2", "loihi1", "cmos45-snn", "cmos45-ann")
    ]
    timed = replace(
        rs[0],
        energy={"synaptic": Range(1.234e6, 0.7e6, 2.5e6), "static": rs[0].energy["static"]},
        runtime=Runtime(
            StepMicroseconds(mean=11.2, min=9.8, max=14.1, low=8.0, high=20.0, chip_mean=10.0),
            latency_s=Range(2.6e-4, 1.9e-4, 4.6e-4),
            throughput_per_s=Range(3880.0, 2170.0, 5100.0),
            bound="communication",
            source="a max-affine model of compute and communication",
            per_step_recorded=True,
            real_time_fraction=0.0112,
        ),
    )
    return rs, timed, act


def test_the_headline_comes_first_and_numbers_read(reports):
    from lmuneuro.analysis.rendering import format_table, render_html, si

    rs, _, _ = reports
    loihi2 = rs[0]
    page, text = render_html(loihi2), format_table(loihi2)
    headline = page[page.index("class='headline'") : page.index("</section>")]
    assert page.index("class='headline'") < page.index("<table")
    static = loihi2.static_modes.back_to_back.static_pj.value
    for label, value in [
        ("energy per sample", si(loihi2.total.value * 1e-12, "J")),
        ("dynamic", si((loihi2.total.value - static) * 1e-12, "J")),
        ("static", si(static * 1e-12, "J")),
        ("latency", si(loihi2.runtime.latency_s.value, "s")),
        ("chips", "1"),
    ]:
        card = f"<div class='l'>{label}</div><div class='v'>{html.escape(value)}</div>"
        assert card in headline
        line = f"{label}: {value} ("
        assert line in text and text.index(line) < text.index("layer  ")
    assert "static: not modelled (this profile has no static power" in format_table(rs[1])
    for out in (page.split("base64,")[0] + page.split("</figure>")[-1], text):
        assert not re.search(r"\d[eE][-+]\d", out)  # no 9.601e-05 G
        # "SynOps" is the model's count only: every number called so is the model's
        model = si(loihi2.totals.model_synops, count=True)
        assert set(re.findall(r"([\d.]+(?: [kMG])?) SynOps", out)) == {model}
        assert "chip synaptic events" in out


def test_profiles_side_by_side_read_as_one_page(reports):
    from lmuneuro.analysis.rendering import format_comparison, render_comparison_html, si

    rs, _, _ = reports
    text, page = format_comparison(rs), render_comparison_html(rs)
    table = text[text.index("profile  ") :].splitlines()
    header, *rows = [re.split(r"\s{2,}", x.strip()) for x in table[: 1 + len(rs)]]
    static = {row[0]: row[header.index("static")] for row in rows}
    assert static["loihi1"] == "not modelled" == static["cmos45-snn"]
    assert static["loihi2"] == si(rs[0].energy["static"].value * 1e-12, "J")
    assert "loihi1: energy per sample" in text and "; static not modelled;" in text
    for out in (text, page):  # the network's paragraphs once, not once per profile
        assert out.count("same network as an ANN") == 1 and out.count("operations per sample") == 1
    assert page.index("<ul class='profiles'>") < page.index("<table")
    assert "static power not modelled by loihi1, cmos45-snn, cmos45-ann" in page  # on the chart
    (chart,) = _pngs(page)
    dynamic, static = _bands(chart, (31, 119, 180)), _bands(chart, (214, 39, 40))
    # every profile's bar shows (on a linear axis, the 45 nm ones were a few pixels wide)
    assert len(dynamic) == 4 and len(static) == 1 and min(dynamic + static) >= 20


def test_per_layer_charts_show_every_layer(reports):
    from lmuneuro.analysis.rendering import render_html

    rs, _, _ = reports
    for r in rs[:2]:
        energy, rate = _pngs(render_html(r))
        layers = [x.energy_total_pj for x in r.layers]
        assert len(_bands(energy, (31, 119, 180))) == len(layers)
        assert len(_bands(rate, (44, 160, 44))) == sum(x.rate > 0 for x in r.layers)
        assert min(_bands(energy, (31, 119, 180))) >= 20
    assert "static energy (" in render_html(rs[0]) and "static power not modelled by this" in (
        render_html(rs[1])
    )
    silent = replace(rs[0], layers=[replace(x, spikes=0.0, rate=0.0) for x in rs[0].layers])
    assert _bands(_pngs(render_html(silent))[1], (44, 160, 44)) == []  # drawn, with no bar


def test_a_runtime_model_is_shown_where_the_report_has_one(reports):
    from lmuneuro.analysis.rendering import format_comparison, format_table, render_html

    rs, timed, _ = reports
    text = format_table(timed)
    assert (
        "latency: 260 µs (range 190 µs to 460 µs; per step 11.2 µs mean, 9.80 µs to 14.1 µs;"
        in text
    )
    assert "bound: communication" in text and "3.88 k samples/s" in text
    assert "dynamic: 1.23 µJ (range 700 nJ to 2.50 µJ;" in text
    assert "the chip computes during 1.1% of each frame" in text
    assert "time per step: a max-affine model" in text
    assert "<div class='v'>260 µs</div>" in render_html(timed)
    row = next(
        x for x in format_comparison([timed, *rs[1:]]).splitlines() if x.startswith("loihi2 ")
    )
    assert "1.23 µJ" in row and "260 µs" in row


def test_an_output_extension_not_written_is_refused_first(reports, artifact, tmp_path, capsys):
    _, _, act = reports
    missing = tmp_path / "no-such-model.h5"  # refused before the artifact is read
    for argv, msg in [
        ([missing, "--activity", act, "-o", tmp_path / "report.pdf"], "no .pdf report is"),
        ([artifact, "--activity", act, "--json", "-o", tmp_path / "r.html"], "contradicts"),
    ]:
        code, out, err = _run(capsys, "energy", *argv)
        assert code == 2 and msg in err and err.count("\n") == 1 and not out, err
    assert list(tmp_path.iterdir()) == []
    code, _, _ = _run(capsys, "energy", artifact, "--activity", act, "-o", tmp_path / "r.txt")
    assert code == 0 and (tmp_path / "r.txt").read_text().startswith("energy per sample on loihi2")


def test_a_report_places_the_network_once(artifact, monkeypatch):
    """Cores, chip-to-chip messages and the runtime model share one placement; a caller that has
    placed the network already (a stream's reports) passes it on and nothing is placed again."""
    from lmuneuro.artifact import read_artifact
    from lmuneuro.compile import mapping
    from lmuneuro.data import get_dataset
    from lmuneuro.profiles import load_profile

    net = read_artifact(artifact)
    x = get_dataset("digits", "test").tensors[0][:4].numpy()
    res = run_backend(net, x, "emulator")
    act = activity(net, x, res.spike_counts, res.step_counts, frames=res.frames)
    split, calls = mapping.split, []  # place() splits each population once
    monkeypatch.setattr(mapping, "split", lambda *a: calls.append(a[1]) or split(*a))
    once = report(net, act, "loihi2")
    assert once.runtime is not None and once.totals.cores >= len(net.populations)
    assert calls == [p.size for p in net.populations]
    board = mapping.place(net, load_profile("loihi2").resources)
    calls.clear()
    given = report(net, act, "loihi2", placed=board)
    assert calls == [] and given.to_dict() == once.to_dict()
    assert [r.cores for r in given.layers] == [p.cores for p in board]


def test_inputs_are_quantised_once_per_run_energy_and_verify(
    digits_checkpoint, artifact, monkeypatch
):
    """The backend's quantised frames are what the activity counts and the clipped values are
    counted from: one quantisation per run, per energy report and per verify (one batch each),
    with the figures a fresh quantisation gives."""
    import lmuneuro
    from lmuneuro.artifact import network as module
    from lmuneuro.artifact import read_artifact
    from lmuneuro.data import get_dataset

    net = read_artifact(artifact)
    x = 3 * get_dataset("digits", "test").tensors[0][:8].numpy()  # some beyond the input range
    clipped = net.quantize_input(x)[1]
    res = run_backend(net, x, "emulator")
    fresh = activity(net, x, res.spike_counts, res.step_counts)
    quantize, calls = module.quantize_input, []
    monkeypatch.setattr(
        module, "quantize_input", lambda *a: calls.append(len(a[0])) or quantize(*a)
    )
    ran = lmuneuro.run(net, x, record_activity=True)
    assert calls == [8] and ran.inputs_clipped == clipped > 0 and ran.activity == fresh
    calls.clear()
    priced = lmuneuro.energy(net, x)
    assert calls == [8] and priced.to_dict() == report(net, fresh, "loihi2").to_dict()
    calls.clear()
    checked = lmuneuro.verify(digits_checkpoint, artifact, inputs=x)
    assert calls == [8] and checked.inputs_clipped == clipped
