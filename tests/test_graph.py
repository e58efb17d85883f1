"""The float graph (BatchNorms folded, residual sums as converging synapse groups, the LMU memory
as 128 temporal taps) reproduces the PyTorch model spike for spike."""

import numpy as np
import pytest
import torch
from support import calibrated

from lmuneuro.compile.graph import INPUT, from_model, simulate
from lmuneuro.models import build_model, get_preset, stack_records


def _float64(model):
    model = model.double()
    for mod in model.modules():  # the FFT path on the stored taps, in float64 like the graph
        if hasattr(mod, "fft_H"):
            mod.fft_H = torch.fft.rfft(mod.H, n=2 * mod.H.shape[1], dim=-1)
    return model


@pytest.mark.parametrize("streams", [True, False])
@pytest.mark.parametrize(
    "preset,steps", [("spiking-lmuformer-digits", 8), ("spiking-lmuformer-scv2", 128)]
)
def test_graph_reproduces_every_spike_and_the_logits(preset, steps, streams):
    model = _float64(calibrated(preset))
    torch.manual_seed(5)
    x = torch.randn(2, steps, model.config.in_features, dtype=torch.float64)
    with torch.no_grad(), model.recording() as rec:
        logits = model(x).numpy()
    graph = from_model(model, streams=streams)
    g_logits, spikes = simulate(graph, x.numpy())
    recorded = stack_records(rec)
    assert [p.name for p in graph.populations if not p.graded] == list(recorded)
    # the residual terms several layers read, each a graded population when streams are on
    terms = ["patch_embed.x", "patch_embed.rpe", "block.0.attn"]
    assert [p.name for p in graph.populations if p.graded] == (terms if streams else [])
    for name, (s, _) in recorded.items():
        assert np.array_equal(s.numpy(), spikes[name]), name
        assert s.mean() > 0.01, name  # every population takes part
    assert np.abs(g_logits - logits).max() < 1e-12


def test_graph_structure_of_the_scv2_model():
    graph = from_model(build_model(get_preset("spiking-lmuformer-scv2")).eval())
    groups = {
        p.name: [(g.src, g.weights.shape, min(g.offsets), max(g.offsets)) for g in p.inputs]
        for p in graph.populations
    }
    assert groups["patch_embed.proj_lif"] == [(INPUT, (3, 256, 128), -1, 1)]
    assert graph.population("patch_embed.proj_lif").bias.shape == (
        256,
    )  # the folded BatchNorm's shift
    assert groups["block.0.attn.lmu.f_m"][0] == (
        "block.0.attn.lmu.f_u",
        (128, 512, 1),
        -127,
        0,
    )  # FIR taps
    # residual sums: the head reads the embedding (conv3, rpe) and the LMU block as graded terms,
    # each through one diagonal with its BatchNorm, and the channel mixer (read by it alone)
    assert [g[:2] for g in groups["head_lif"]] == [
        ("patch_embed.x", (1, 256, 256)),
        ("patch_embed.rpe", (1, 256, 256)),
        ("block.0.attn", (1, 256, 256)),
        ("block.0.mlp.fc2_lif", (1, 256, 1024)),
    ]
    diag = graph.population("head_lif").inputs[0].weights[0]
    assert np.count_nonzero(diag - np.diag(np.diag(diag))) == 0
    assert [g[0] for g in groups["patch_embed.x"]] == ["patch_embed.proj_lif2"]
    assert not graph.population("patch_embed.x").bias.any()  # its bias is its readers'
    folded = from_model(build_model(get_preset("spiking-lmuformer-scv2")).eval(), streams=False)
    assert [g.src for g in folded.population("head_lif").inputs] == [
        "patch_embed.proj_lif2",
        "patch_embed.proj_lif3",
        "block.0.attn.lmu.f_h",
        "block.0.mlp.fc2_lif",
    ]
    assert graph.population("block.0.attn.prev_lif").v_th == 0.5
    assert graph.head_weight.shape == (35, 256)
