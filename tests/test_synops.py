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


def _fan_out(w: np.ndarray) -> np.ndarray:
    """Non-zero weights leaving each input channel, by loops (independent of snn_synops)."""
    return np.array([np.count_nonzero(w[:, c]) for c in range(w.shape[1])])


def test_model_count_equals_a_count_from_every_populations_recorded_spikes(digits_checkpoint):
    model = load_checkpoint(digits_checkpoint).model
    ds = get_dataset("digits", "test")
    x = torch.stack([ds[i][0] for i in range(96)])
    with torch.no_grad(), model.recording() as rec:
        model(x)
    spikes = {n: torch.cat([s for s, _ in r], dim=1).numpy() for n, r in rec.items()}  # (B, T, n)
    per_channel = {n: s.sum(axis=(0, 1)) for n, s in spikes.items()}
    p, b = "patch_embed", "block.0"
    reads = {  # layer -> the population whose spikes it reads
        f"{p}.proj_conv1": f"{p}.proj_lif",
        f"{p}.rpe_conv": f"{p}.proj_lif1",
        f"{b}.attn.lmu.W_u": f"{b}.attn.prev_lif",
        f"{b}.attn.proj_conv": f"{b}.attn.lmu.f_h",
        f"{b}.mlp.fc1_conv": f"{b}.mlp.fc1_lif",
        f"{b}.mlp.fc2_conv": f"{b}.mlp.fc2_lif",
        "head": "head_lif",
    }
    modules = dict(model.named_modules())
    expect = {}
    for layer, src in reads.items():
        w = modules[layer].weight.detach().numpy()
        expect[layer] = per_channel[src] @ _fan_out(w) / len(x)
    w_h = modules[f"{b}.attn.lmu.W_h"].weight.detach().numpy()  # reads [f_m, prev_lif]
    both = np.concatenate([per_channel[f"{b}.attn.lmu.f_m"], per_channel[f"{b}.attn.prev_lif"]])
    expect[f"{b}.attn.lmu.W_h"] = both @ _fan_out(w_h) / len(x)
    h = modules[f"{b}.attn.lmu.memory"].H.numpy()
    u = spikes[f"{b}.attn.lmu.f_u"][:, :, 0]  # (B, T)
    steps = u.shape[1]
    fir = sum(
        np.count_nonzero(h[:, k])
        for i, t in zip(*np.nonzero(u))
        for k in range(steps - t)  # a spike at t reaches the taps within the sequence
    )
    expect[f"{b}.attn.lmu.memory"] = fir / len(x)
    first = modules[f"{p}.proj_conv"].weight.detach().numpy()
    r = snn_synops(model, x, batch=40)  # batches of unequal size: the mean over all samples
    got = {row["layer"]: row for row in r["layers"]}
    assert set(got) == set(expect) | {f"{p}.proj_conv"}
    for layer, value in expect.items():
        assert got[layer]["synops"] == pytest.approx(value, rel=1e-12), layer
        assert got[layer]["graded_macs"] == 0
    assert got[f"{p}.proj_conv"]["synops"] == 0
    assert got[f"{p}.proj_conv"]["graded_macs"] == np.count_nonzero(first) * x.shape[1]
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
    same, the LMU memory's taps through the relay line included; per source population the chip
    causes about ``sets`` times as many events (one-to-one readings of graded terms apart)."""
    from lmuneuro.analysis.activity import activity
    from lmuneuro.analysis.energy import report
    from lmuneuro.artifact import read_artifact
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
    rows = {r["layer"]: r for r in act["layers"]}
    assert sum(r["model_synops"] for r in rows.values()) == pytest.approx(
        expect["synops"], rel=1e-12
    )
    assert act["sources"]["input"]["model_graded_macs"] == expect["graded_macs"]
    assert rows["block.0.attn.lmu.f_u"]["model_synops"] > 0  # the memory's taps, via the line
    r = report(net, act, "loihi2")
    for row in r.layers:  # spike-driven layers: the chip's events per model SynOp
        if row["chip_per_model"] is not None and row["layer"] != "block.0.attn.lmu.f_u":
            assert sets - 0.1 < row["chip_per_model"] < sets + 0.1, row["layer"]
    assert r.totals["chip_per_model"] == pytest.approx(
        r.totals["binary_synops"] / r.totals["model_synops"]
    )
