"""Float graph -> network of Lava processes -> batched emulator, on a model trained on digits."""

import numpy as np
import torch
from support import ACCURACY_LOSS_MAX, AGREEMENT_MIN, SEED, calibrated

from lmuneuro import load_checkpoint
from lmuneuro.artifact import GATE, INPUT, Relay, Term, gate_pattern
from lmuneuro.backends.emulator import run
from lmuneuro.compile.graph import Graph, Population, Synapses, from_model
from lmuneuro.compile.limits import a_out_range, check, input_payload, regions
from lmuneuro.compile.quantize import quantize_graph
from lmuneuro.data import get_dataset
from lmuneuro.models import stack_records


def test_schedule_lags_delays_and_processes():
    from support import calibrated

    net = quantize_graph(from_model(calibrated("spiking-lmuformer-digits")), input_max_abs=1.0)
    lags = {p.name: p.lag for p in net.populations if p.lag is not None}
    # every k=3 hop looks one frame ahead: +2 steps (latency + look-ahead); pointwise hops +1; a
    # residual term read by several layers is a graded population: one more hop to its readers
    assert lags == {
        "patch_embed.proj_lif": 2,
        "patch_embed.x": 4,
        "patch_embed.proj_lif1": 5,
        "patch_embed.rpe": 7,
        "block.0.attn.prev_lif": 8,
        "block.0.attn.lmu.f_u": 9,
        "block.0.attn.lmu.f_m": 10,
        "block.0.attn.lmu.f_h": 11,
        "block.0.attn": 12,
        "block.0.mlp.fc1_lif": 13,
        "block.0.mlp.fc2_lif": 14,
        "head_lif": 15,
    }
    assert net.delay == 15
    assert [p.lava_class for p in net.populations if isinstance(p, Term)] == ["GradedVec"] * 3
    # the head reads each term through one diagonal process (delays make up for the hops)
    assert [(s.src, s.delay) for s in net.inputs_of("head_lif")][:3] == [
        ("patch_embed.x", 10),
        ("patch_embed.rpe", 7),
        ("block.0.attn", 2),
    ]
    first = net.inputs_of("patch_embed.proj_lif")
    # the taps at offsets -1, 0, +1 are delays 2, 1, 0, each two 8-bit processes (a coarse and a
    # fine exponent), then the gate's inhibition
    assert [(s.src, s.lava_class, s.delay) for s in first] == [
        (INPUT, "DelayDense", 2),
        (INPUT, "DelayDense", 2),
        (INPUT, "DelayDense", 1),
        (INPUT, "DelayDense", 1),
        (INPUT, "Dense", 0),
        (INPUT, "Dense", 0),
        (GATE, "Sparse", 0),
    ]
    assert first[1].weight_exp < first[0].weight_exp
    # the LMU memory's 8 taps: tap 0 from f_u itself, taps 1..7 from a line of 7 relays, emptied by
    # the gate when f_u's sample is over
    line = net.population("block.0.attn.lmu.f_u.line")
    assert line.lava_class == "LIF" and line.size == 7 and line.vth == 0
    assert [s.src for s in net.inputs_of(line.name)] == ["block.0.attn.lmu.f_u", line.name, GATE]
    assert net.gate_channels[-1] == (9, "end")
    assert {s.src for s in net.inputs_of("block.0.attn.lmu.f_m")} == {
        "block.0.attn.lmu.f_u",
        line.name,
        GATE,
    }
    assert all(s.delay <= 62 for s in net.synapses) and all(v.ok for v in check(net))


def test_gate_pattern_by_hand():
    # 3 frames, period 5: a spike at step s arrives at s + 1. A layer of lag 2 computes its
    # frames at steps 2, 3, 4: silenced at arrivals 0 and 1, so spikes at steps 4 (-> 0) and 0 (->
    # 1).
    # A line whose source has lag 1 is emptied at step 1 + 3 = 4: a spike at step 3.
    assert gate_pattern([(2, "outside"), (1, "end")], 3, 5).tolist() == [
        [1, 0, 0, 0, 1],
        [0, 0, 0, 1, 0],
    ]


def test_inhibition_and_bounds_by_hand():
    """Layer b (lag 3) reads a (lag 2) at offset 0: S = 64 * 4096 + 1 = 262,145 state units per
    float unit, so weights 1.0 and -0.5 are 2048.0078 and -1024.0039 activation units: 128 and
    -64 at exponent 4, and a fine set for the rest. Its only input arrives inside its window, and
    its bias is 0, so one unit of inhibition (weight -1, exponent 0) silences it before and
    after."""
    graph = Graph(
        1,
        [
            Population(
                "a",
                1,
                1.0,
                2.0,
                np.array([0.5]),
                [Synapses(INPUT, np.array([[[0.25]], [[0.5]], [[-0.125]]]), (-1, 0, 1))],
            ),
            Population(
                "b", 2, 1.0, 2.0, np.zeros(2), [Synapses("a", np.array([[[1.0], [-0.5]]]), (0,))]
            ),
        ],
        np.ones((1, 2)),
        np.zeros(1),
    )
    net = quantize_graph(graph, input_max_abs=1.0)
    coarse, fine, gate = net.inputs_of("b")
    assert (
        coarse.weights.tolist() == [[128], [-64]] and coarse.weight_exp == 4 and fine.weight_exp < 0
    )
    column = net.gate_channels.index((3, "outside"))
    assert (
        gate.src == GATE and gate.weights[:, column].tolist() == [-1, -1] and gate.weight_exp == 0
    )
    assert np.count_nonzero(gate.weights) == 2  # one channel per layer
    b = net.population("b")
    assert (b.lag, b.vth, b.bias_mant.tolist()) == (3, 4096, [0, 0])
    # a: bias 0.5 is S * 0.5 / 2 = 65,536.25 state units: mantissa 2048 << 5; its taps at offsets
    # +1 and -1 deliver before and after its window, so the gate must beat the larger of them
    # plus the bias (1,024 activation units) and one more unit
    a = net.population("a")
    assert (a.bias_mant.tolist(), a.bias_exp.tolist()) == ([2048], [5])
    ins = net.inputs_of("a")
    payload = input_payload(
        net.input_size, net.input_max
    )  # the feature's, and the rounding channel's 1
    parts = [
        (
            *a_out_range(s.weights, s.weight_exp, None if s.src == GATE else payload),
            {2: 1, 1: 0, 0: -1}.get(s.delay) if s.src != GATE else 0,
            s.src == GATE,
        )
        for s in ins
    ]
    r = regions(parts[:-1], net.delay)
    need = max(r["before"][1][0], r["after"][1][0]) + 1024 + 1
    gate = ins[-1]
    inhibition = -gate.weights[0, net.gate_channels.index((2, "outside"))] * 2**gate.weight_exp
    assert need <= inhibition < need + 2**gate.weight_exp
    r = regions(parts, net.delay)
    assert r["before"][1][0] < 0 and r["after"][1][0] < 0  # silenced: whatever arrives, a_in < 0
    # the input processes with a negative exponent carry half an output unit from the rounding
    # channel (the last column): their floor rounds to nearest; but a positive weight in the tap of
    # -0.125 would change Lava's sign mode of that all-negative matrix: it keeps its floor
    assert [s.weights[0].tolist() for s in ins[:-1]] == [[8, 128], [16, 128], [-4, 0]]
    assert [s.weight_exp for s in ins[:-1]] == [-8, -8, -8]


def test_no_spike_outside_the_sequence(tmp_path):
    """Every spike of a layer falls inside its window (the gate), on a model after 3 epochs, whose
    first layers are driven hard at the sequence's ends."""
    from lmuneuro.train import TrainConfig, train

    ckpt = tmp_path / "early.pt"
    train(
        TrainConfig(
            preset="spiking-lmuformer-digits",
            dataset="digits",
            output=str(ckpt),
            epochs=3,
            seed=SEED,
        ),
        log=lambda *a: None,
        progress=False,
    )
    net = quantize_graph(from_model(load_checkpoint(ckpt).model), input_max_abs=1.0)
    x = get_dataset("digits", "test").tensors[0].numpy()
    res = run(net, x, record=True)
    for p in net.layers:  # counts: every hardware step; spikes: the layer's window
        assert res.spike_counts[p.name].sum() == res.spikes[p.name].sum() > 0, p.name


def test_fixed_point_tracks_the_float_model(digits_checkpoint):
    model = load_checkpoint(digits_checkpoint).model
    x, y = get_dataset("digits", "test").tensors
    net = quantize_graph(from_model(model), input_max_abs=1.0)
    assert all(max(s.rel_error for s in net.inputs_of(p.name)) < 5e-3 for p in net.layers)
    res = run(net, x.numpy())
    with torch.no_grad():
        float_pred = model(x).argmax(-1).numpy()
    fixed_pred = res.logits.argmax(-1)
    agreement = (float_pred == fixed_pred).mean()
    acc_float, acc_fixed = (float_pred == y.numpy()).mean(), (fixed_pred == y.numpy()).mean()
    print(
        f"digits: agreement {agreement:.4f}, accuracy float {acc_float:.4f} fixed {acc_fixed:.4f}"
    )
    assert agreement >= AGREEMENT_MIN and acc_fixed >= acc_float - ACCURACY_LOSS_MAX
    assert (
        res.spike_counts["head_lif"].sum() > 0.05 * 360 * 8 * 64
    )  # a live network, not a silent one
    assert res.per_step.shape == (360, 8, 10) and np.allclose(res.per_step[:, -1], res.logits)


def test_scv2_reference_layout_weights_agree_on_random_inputs(tmp_path):
    """The paper's SCv2 network, in the reference implementation's checkpoint layout, through
    convert (resources checked against loihi2) and the emulator, against the float model."""
    from support import calibrated

    from lmuneuro.artifact import read_artifact
    from lmuneuro.compile.convert import convert
    from lmuneuro.converters.reference import to_reference_state_dict

    model = calibrated("spiking-lmuformer-scv2")
    with torch.no_grad(), model.recording() as rec:  # centre the read-out: predictions that vary
        model(torch.randn(16, 128, 128))  # from sample to sample, as a trained model's do
        model.head.bias.copy_(
            -model.head.weight @ stack_records(rec)["head_lif"][0].mean(dim=(0, 1))
        )
    torch.save(to_reference_state_dict(model), tmp_path / "ref.pth")
    report = convert(
        tmp_path / "ref.pth", tmp_path / "scv2.h5", input_range=4.0, target="kapoho-point"
    )
    net = read_artifact(tmp_path / "scv2.h5")
    assert report.meta["source_format"] == "reference" and report.delay_steps == 19
    errors = {row["layer"]: row["weight_error"] for row in report.layers if row["lag"]}
    print("SCv2 per-layer weight error:", {k: f"{v:.1e}" for k, v in errors.items()})
    # the layers that read graded terms hold their BatchNorm in a one-to-one weight per channel,
    # one exponent for all (here random BatchNorms spread them widely); the spikes below are the
    # measure that counts
    graded = {p.name for p in net.populations if isinstance(p, Term)}
    readers = {s.dst for s in net.synapses if s.src in graded}
    assert max(errors.pop(k) for k in readers) < 3e-2
    assert errors.pop("patch_embed.proj_lif") < 1e-2 and max(errors.values()) < 1e-3
    x = np.random.default_rng(0).standard_normal((32, 128, 128)).astype(np.float32)
    res = run(net, x, record=True)
    # Random weights leave predictions on margins of ~0.01: even the float model itself, fed the
    # same inputs plus noise of the input's rounding size, keeps only ~30 % of its predictions. So
    # the yardstick is that noise: the fixed-point network may diverge at most twice as much.
    h = 2.0 ** -(net.input_frac_bits + 1)
    noisy = x + np.random.default_rng(1).uniform(-h, h, x.shape).astype(np.float32)
    spikes = {}
    for name, inp in (("float", x), ("noisy", noisy)):
        with torch.no_grad(), model.recording() as rec:
            model(torch.from_numpy(inp))
        spikes[name] = {k: s.numpy() > 0 for k, (s, _) in stack_records(rec).items()}
    for layer, fixed in res.spikes.items():
        f, n = spikes["float"][layer], spikes["noisy"][layer]
        print(
            f"{layer:28s} rate {f.mean():.3f}  fixed vs float {np.mean(fixed != f):.4f}  "
            f"float+noise vs float {np.mean(n != f):.4f}"
        )
        assert np.mean(fixed != f) <= 2 * np.mean(n != f) + 0.005, layer


def test_relays_for_delays_beyond_the_chip(digits_checkpoint):
    """On a target whose synapses hold delays of at most 2 steps, the residual branches (delays up
    to 10) read relays, copies of their source 3 steps later each: the same spikes and logits as
    with direct delays, on the emulator and on Lava (DelaySparse relays included)."""
    import dataclasses

    from lmuneuro.backends.lava.network import run as lava_run
    from lmuneuro.formats import LAVA

    model = load_checkpoint(digits_checkpoint).model
    short = dataclasses.replace(LAVA, delay_max=2)
    # graded terms have no relays (those carry spikes): one that a reader would need beyond the
    # longest delay is folded into its readers; the LMU block's term (delays 0 and 2) stays
    streamed = quantize_graph(from_model(model), input_max_abs=1.0, fmt=short)
    assert [p.name for p in streamed.populations if isinstance(p, Term)] == ["block.0.attn"]
    assert all(v.ok for v in check(streamed))
    graph = from_model(model, streams=False)
    direct = quantize_graph(graph, input_max_abs=1.0)
    relayed = quantize_graph(graph, input_max_abs=1.0, fmt=short)
    relays = [
        p
        for p in relayed.populations
        if isinstance(p, Relay) and p.name.split(".")[-1].startswith("delay")
    ]
    assert len(relays) >= 2 and max(s.delay for s in relayed.synapses) == 2
    assert {p.name for p in relays} >= {
        "patch_embed.proj_lif.delay3",
        "patch_embed.proj_lif.delay6",
    }
    assert {s.lava_class for s in relayed.synapses} >= {"DelaySparse"}
    x = get_dataset("digits", "test").tensors[0].numpy()
    a, b = run(direct, x, record=True), run(relayed, x, record=True)
    assert np.array_equal(a.logits, b.logits)
    assert all(np.array_equal(a.spikes[k], b.spikes[k]) for k in a.spikes)
    lava = lava_run(relayed, x[:3], record=True)
    assert np.array_equal(lava.logits, b.logits[:3])
    assert all(np.array_equal(lava.spike_counts[k], b.spike_counts[k][:3]) for k in b.spike_counts)


def test_a_checkpoint_saved_without_features_converts_and_reads(tmp_path):
    """``save_checkpoint`` without a features record (a model built in Python): the artifact
    records null and reads back (it was refused as 'features is not a mapping')."""
    from lmuneuro.artifact import read_artifact
    from lmuneuro.checkpoint import save_checkpoint
    from lmuneuro.compile.convert import convert

    ckpt, art = tmp_path / "m.pt", tmp_path / "m.h5"
    preset = "spiking-lmuformer-digits"
    save_checkpoint(ckpt, calibrated(preset), preset=preset)
    convert(ckpt, art)
    net = read_artifact(art)
    assert net.meta["features"] is None and len(net.populations) > 0


_NO_LAVA = """
import importlib.abc, sys

class NoLava(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "lava" or name.startswith("lava."):
            raise ImportError(f"{name} is blocked")

sys.meta_path.insert(0, NoLava())
try:
    import lava  # noqa: F401
    sys.exit("lava imported despite the block")
except ImportError:
    pass
import numpy as np
from lmuneuro.artifact import read_artifact
from lmuneuro.backends.emulator import run

res = run(read_artifact(sys.argv[1]), np.load(sys.argv[2]))
np.save(sys.argv[3], res.logits)
"""


def test_reading_and_emulating_an_artifact_needs_no_lava(digits_checkpoint, tmp_path):
    """An artifact reads (with its weights checked in Lava's sign mode) and runs on the emulator
    in a process where every ``lava`` import fails, with the logits of a run here."""
    import subprocess
    import sys

    from lmuneuro.artifact import read_artifact
    from lmuneuro.compile.convert import convert

    art, xs, out = tmp_path / "m.h5", tmp_path / "x.npy", tmp_path / "logits.npy"
    convert(digits_checkpoint, art)
    x = get_dataset("digits", "test").tensors[0][:16].numpy()
    np.save(xs, x)
    done = subprocess.run(
        [sys.executable, "-c", _NO_LAVA, str(art), str(xs), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert np.array_equal(np.load(out), run(read_artifact(art), x).logits)
