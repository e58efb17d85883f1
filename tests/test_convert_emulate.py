"""Float graph -> fixed-point network -> batched emulator, on a model trained on digits."""

import numpy as np
import torch

from lmuneuro import load_checkpoint
from lmuneuro.artifact import BOS, CLOCK, EOS
from lmuneuro.convert import quantize_graph
from lmuneuro.data import get_dataset
from lmuneuro.emulator import run
from lmuneuro.graph import from_model


def test_schedule_lags_and_delays():
    from support import calibrated

    net = quantize_graph(from_model(calibrated("spiking-lmuformer-digits")), input_max_abs=1.0)
    lags = {p.name: p.lag for p in net.populations}
    # every k=3 hop looks one frame ahead: +2 steps (latency + look-ahead); pointwise hops +1
    assert lags == {"patch_embed.proj_lif": 2, "patch_embed.proj_lif1": 4, "block.0.attn.prev_lif": 6,
                    "block.0.attn.lmu.f_u": 7, "block.0.attn.lmu.f_m": 8, "block.0.attn.lmu.f_h": 9,
                    "block.0.mlp.fc1_lif": 10, "block.0.mlp.fc2_lif": 11, "head_lif": 12}
    assert net.delay == 12
    first = net.populations[0].inputs
    assert first[0].delays.tolist() == [2, 1, 0]  # offsets -1, 0, +1
    assert [g.src for g in first[1:]] == [CLOCK, BOS, BOS, EOS, EOS]
    f_m = net.populations[4].inputs[0]
    assert f_m.delays.tolist() == list(range(8))  # the LMU's taps are delays from its input neuron


def test_fixed_point_tracks_the_float_model(digits_checkpoint):
    model = load_checkpoint(digits_checkpoint).model
    x, y = get_dataset("digits", "test").tensors
    net = quantize_graph(from_model(model), input_max_abs=1.0)
    res = run(net, x.numpy())
    with torch.no_grad():
        float_pred = model(x).argmax(-1).numpy()
    fixed_pred = res.logits.argmax(-1)
    agreement = (float_pred == fixed_pred).mean()
    acc_float, acc_fixed = (float_pred == y.numpy()).mean(), (fixed_pred == y.numpy()).mean()
    print(f"digits: agreement {agreement:.4f}, accuracy float {acc_float:.4f} fixed {acc_fixed:.4f}")
    assert agreement >= 0.97 and acc_fixed >= acc_float - 0.01
    assert not any(res.saturated.values())
    assert res.per_step.shape == (360, 8, 10) and np.allclose(res.per_step[:, -1], res.logits)
