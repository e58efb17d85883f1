"""The float graph (BatchNorms folded, residual sums as converging synapse groups, the LMU memory
as 128 temporal taps) reproduces the PyTorch model spike for spike."""

import numpy as np
import pytest
import torch
from support import calibrated

from lmuneuro.graph import INPUT, from_model, simulate
from lmuneuro.models import build_model, get_preset, stack_records


def _float64(model):
    model = model.double()
    for mod in model.modules():  # the FFT path on the stored taps, in float64 like the graph
        if hasattr(mod, "fft_H"):
            mod.fft_H = torch.fft.rfft(mod.H, n=2 * mod.H.shape[1], dim=-1)
    return model


@pytest.mark.parametrize(
    "preset,steps", [("spiking-lmuformer-digits", 8), ("spiking-lmuformer-scv2", 128)]
)
def test_graph_reproduces_every_spike_and_the_logits(preset, steps):
    model = _float64(calibrated(preset))
    torch.manual_seed(5)
    x = torch.randn(2, steps, model.config.in_features, dtype=torch.float64)
    with torch.no_grad(), model.recording() as rec:
        logits = model(x).numpy()
    graph = from_model(model)
    g_logits, spikes = simulate(graph, x.numpy())
    recorded = stack_records(rec)
    assert [p.name for p in graph.populations] == list(recorded)
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
    # residual sums: the head reads the embedding (conv3, rpe), the LMU block, the channel mixer
    assert [g[0] for g in groups["head_lif"]] == [
        "patch_embed.proj_lif2",
        "patch_embed.proj_lif3",
        "block.0.attn.lmu.f_h",
        "block.0.mlp.fc2_lif",
    ]
    assert graph.population("block.0.attn.prev_lif").v_th == 0.5
    assert graph.head_weight.shape == (35, 256)
