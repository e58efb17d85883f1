"""The model's own synaptic operations in the paper's convention (``models.snn_synops``): against
hand counts, against a count from the recorded spikes of every population, and beside the chip's
synaptic events in ``verify``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lmuneuro import load_checkpoint
from lmuneuro.cli import main
from lmuneuro.compile.convert import convert
from lmuneuro.data import get_dataset
from lmuneuro.models import snn_synops
from lmuneuro.models.macs import fir_synops


def test_hand_counts():
    # FIR: h (2 outputs, 3 taps) has 1, 0 and 2 non-zero entries per tap; spikes at t = 0 and 2
    # of 3 steps reach taps 0..2 (1 + 0 + 2) and tap 0 only (1)
    h = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    assert fir_synops(torch.tensor([[1.0, 0.0, 1.0]]), h) == 4

    class Tiny(nn.Module):  # a spiking convolution, then a linear layer on real values
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(2, 3, 3, padding=1, bias=False)
            self.linear = nn.Linear(3, 2)

        def forward(self, x):
            return self.linear(self.conv(x).transpose(1, 2))

    tiny = Tiny()
    with torch.no_grad():
        w = tiny.conv.weight
        w.zero_()
        w[0, 0, 0] = w[1, 0, 2] = w[2, 0, 1] = w[2, 0, 0] = 0.5  # input 0: 4 synapses
        w[0, 1, 1] = w[1, 1, 1] = -0.25  # input 1: 2 synapses
        tiny.linear.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
    x = torch.zeros(1, 2, 5)
    x[0, 0, [0, 2, 4]] = 1.0  # 3 spikes of input 0, 1 of input 1
    x[0, 1, 3] = 1.0
    r = snn_synops(tiny, x)
    assert [(row["layer"], row["synops"], row["graded_macs"]) for row in r["layers"]] == [
        ("conv", 3 * 4 + 1 * 2, 0.0),
        ("linear", 0.0, 5 * 3),  # real values: 5 positions x 3 non-zero weights
    ]
    assert (r["synops"], r["graded_macs"]) == (14, 15)


P, B = "patch_embed", "block.0"
READS = {  # model layer -> the populations whose spikes it reads, in the order of its inputs
    f"{P}.proj_conv1": [f"{P}.proj_lif"],
    f"{P}.rpe_conv": [f"{P}.proj_lif1"],
    f"{B}.attn.lmu.W_u": [f"{B}.attn.prev_lif"],
    f"{B}.attn.lmu.W_h": [f"{B}.attn.lmu.f_m", f"{B}.attn.prev_lif"],
    f"{B}.attn.proj_conv": [f"{B}.attn.lmu.f_h"],
    f"{B}.mlp.fc1_conv": [f"{B}.mlp.fc1_lif"],
    f"{B}.mlp.fc2_conv": [f"{B}.mlp.fc2_lif"],
    "head": ["head_lif"],
}
MEMORY, MEMORY_SOURCE = f"{B}.attn.lmu.memory", f"{B}.attn.lmu.f_u"


def _fan_outs(model, sizes: dict) -> dict[tuple[str, str], np.ndarray]:
    """(layer, source population) -> the non-zero weights of the layer leaving each of the
    source's neurons, by loops over the model's own weights (independent of snn_synops and of
    the artifact)."""
    modules, out = dict(model.named_modules()), {}
    for layer, sources in READS.items():
        w = modules[layer].weight.detach().numpy()
        start = 0
        for src in sources:
            cols = range(start, start + sizes[src])
            out[layer, src] = np.array([np.count_nonzero(w[:, c]) for c in cols])
            start += sizes[src]
        assert start == w.shape[1], layer
    return out


def _memory_synops(model, u: np.ndarray) -> int:
    """The LMU memory's taps reached by the spikes u (batch, steps) of its single input neuron:
    a spike at t reaches the taps within the sequence."""
    h = dict(model.named_modules())[MEMORY].H.numpy()
    steps = u.shape[1]
    return sum(np.count_nonzero(h[:, k]) for _, t in zip(*np.nonzero(u)) for k in range(steps - t))


def test_model_count_equals_a_count_from_every_populations_recorded_spikes(digits_checkpoint):
    model = load_checkpoint(digits_checkpoint).model
    ds = get_dataset("digits", "test")
    x = torch.stack([ds[i][0] for i in range(96)])
    with torch.no_grad(), model.recording() as rec:
        model(x)
    spikes = {n: torch.cat([s for s, _ in r], dim=1).numpy() for n, r in rec.items()}  # (B, T, n)
    per_channel = {n: s.sum(axis=(0, 1)) for n, s in spikes.items()}
    fan = _fan_outs(model, {n: len(c) for n, c in per_channel.items()})
    expect = {layer: 0.0 for layer in READS}
    for (layer, src), f in fan.items():
        expect[layer] += per_channel[src] @ f / len(x)
    expect[MEMORY] = _memory_synops(model, spikes[MEMORY_SOURCE][:, :, 0]) / len(x)
    first = dict(model.named_modules())[f"{P}.proj_conv"].weight.detach().numpy()
    r = snn_synops(model, x, batch=40)  # batches of unequal size: the mean over all samples
    got = {row["layer"]: row for row in r["layers"]}
    assert set(got) == set(expect) | {f"{P}.proj_conv"}
    for layer, value in expect.items():
        assert got[layer]["synops"] == pytest.approx(value, rel=1e-12), layer
        assert got[layer]["graded_macs"] == 0
    assert got[f"{P}.proj_conv"]["synops"] == 0
    assert got[f"{P}.proj_conv"]["graded_macs"] == np.count_nonzero(first) * x.shape[1]
    assert r["synops"] == pytest.approx(sum(expect.values()), rel=1e-12)


def test_verify_shows_the_models_count_beside_the_chips(digits_checkpoint, tmp_path, capsys):
    import json

    art = tmp_path / "m.h5"
    convert(digits_checkpoint, art)
    assert main(["verify", str(digits_checkpoint), str(art), "--dataset", "digits",
                 "--samples", "64", "--json"]) == 0  # fmt: skip
    ops = json.loads(capsys.readouterr().out)["operations"]
    model = load_checkpoint(digits_checkpoint).model
    ds = get_dataset("digits", "test")
    x = torch.stack([ds[i][0] for i in range(64)])
    assert ops["model_synops"] == pytest.approx(snn_synops(model, x)["synops"], rel=1e-12)
    # two weight sets: every synapse twice, the gate's inhibition and the relays besides
    assert ops["chip_per_model_synop"] == ops["chip_synaptic_events"] / ops["model_synops"] > 2
    assert main(["verify", str(digits_checkpoint), str(art), "--dataset", "digits",
                 "--samples", "64"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert (
        f"the model {ops['model_synops']:,.0f} SynOps (the paper's convention) + "
        f"{ops['model_graded_macs']:,.0f} MACs on the graded input; the chip "
        f"{ops['chip_synaptic_events']:,.0f} spike-driven synaptic events "
        f"({ops['chip_per_model_synop']:.2f} x the model's)"
    ) in out


@pytest.mark.parametrize("sets", [2, 1])
def test_energy_counts_the_models_operations_on_the_runs_spikes(digits_checkpoint, tmp_path, sets):
    """The artifact records the model's layers (``ModelOps``); ``activity`` prices a run's spikes
    with them. On the emulator's spikes forced into the float model, ``snn_synops`` counts the
    same, the LMU memory's taps through the relay line included. Per source population, the
    model's count from its own weights and the chip's events from the artifact's processes, each
    counted here, are what the report divides; and a neuron causes at most ``sets`` events on the
    chip per model synapse it drives: every process of a weight set has its non-zeros where the
    float weights do (BatchNorm folds into a layer's rows, and a zero quantises to zero)."""
    from lmuneuro.analysis.activity import activity
    from lmuneuro.analysis.energy import report
    from lmuneuro.artifact import GATE, INPUT, Relay, read_artifact
    from lmuneuro.backends.emulator import run

    art = tmp_path / "m.h5"
    convert(digits_checkpoint, art, weight_sets=sets)
    net = read_artifact(art)
    # 9 layers of the model and the head, W_h recorded per source (f_m and prev_lif): 11 entries
    assert [m.source for m in net.model_ops][0] == "input" and len(net.model_ops) == 11
    x = get_dataset("digits", "test").tensors[0][:96]
    res = run(net, x.numpy(), record=True)
    act = activity(net, x.numpy(), res.spike_counts)
    model = load_checkpoint(digits_checkpoint).model
    with model.forcing({n: torch.from_numpy(s).float() for n, s in res.spikes.items()}):
        expect = snn_synops(model, x, batch=len(x))  # the forced spikes: one batch
    rows = {r.layer: r for r in act.layers}
    assert sum(r.model_synops for r in rows.values()) == pytest.approx(expect["synops"], rel=1e-12)
    assert act.sources.input.model_graded_macs == expect["graded_macs"]
    assert rows[MEMORY_SOURCE].model_synops > 0  # the memory's taps, via the line

    n = len(x)
    model_fan = {}  # per source layer, counted from the model's weights
    model_synops = {MEMORY_SOURCE: _memory_synops(model, res.spikes[MEMORY_SOURCE][..., 0]) / n}
    for (_, src), f in _fan_outs(model, {p.name: p.size for p in net.populations}).items():
        model_fan[src] = model_fan.get(src, 0) + f
        model_synops[src] = model_synops.get(src, 0.0) + res.spikes[src].sum(axis=(0, 1)) @ f / n
    origin = {}  # a relay -> the layer whose spikes it copies
    for p in net.populations:
        if isinstance(p, Relay):
            (src,) = {s.src for s in net.inputs_of(p.name)} - {GATE, p.name}
            origin[p.name] = origin.get(src, src)
    chip_fan, caused = {}, {}  # per source layer: its processes; the events, its relays' included
    for s in net.synapses:
        if s.src in (INPUT, GATE):
            continue
        src, nnz = origin.get(s.src, s.src), np.count_nonzero(s.weights, axis=0)
        caused[src] = caused.get(src, 0.0) + res.spike_counts[s.src].sum(axis=0) @ nnz / n
        if s.src == src:
            chip_fan[src] = chip_fan.get(src, 0) + nnz
    r = report(net, act, "loihi2")
    priced = {row.layer: row.chip_per_model for row in r.layers}
    assert {k for k, v in priced.items() if v is not None} == set(model_synops) - {net.readout}
    for src, value in model_synops.items():
        assert rows[src].model_synops == pytest.approx(value, rel=1e-12), src
        if priced[src] is not None:
            assert priced[src] == pytest.approx(caused[src] / value, rel=1e-12), src
    # the head reads its source on the host; a relay line holds none of its source's synapses
    for src in set(model_fan) - set(origin.values()) - {net.readout}:
        assert (chip_fan[src] <= sets * model_fan[src]).all(), src
        assert 0 < priced[src] <= sets, src
    assert r.totals.chip_per_model == pytest.approx(r.totals.binary_synops / r.totals.model_synops)
