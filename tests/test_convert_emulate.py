"""Float graph -> fixed-point network -> batched emulator, on a model trained on digits."""

import numpy as np
import pytest
import torch

from lmuneuro import load_checkpoint
from lmuneuro.artifact import BOS, CLOCK, EOS
from lmuneuro.artifact import FixedSynapses
from lmuneuro.convert import _silence, quantize_graph
from lmuneuro.data import get_dataset
from lmuneuro.emulator import run
from lmuneuro.graph import from_model
from lmuneuro.models import stack_records


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
    # every weight as two 8-bit sets (hi, lo); the look-ahead silencing and the end silencing
    assert [g.src for g in first] == ["input", "input", CLOCK, CLOCK, BOS, EOS]
    assert first[1].delays.tolist() == [2, 1, 0] and np.all(first[1].weight_exp < first[0].weight_exp)
    assert first[4].delays.tolist() == [0] and first[5].delays.tolist() == [1]  # steps 1 (float -1), 2 on
    f_m = net.populations[4].inputs[0]
    assert f_m.delays.tolist() == list(range(8))  # the LMU's taps are delays from its input neuron


def test_silencing_by_hand():
    # largest positive input per neuron: 10 and 0 activation units; threshold mantissa 100 ->
    # need 111 and 101: one set at exponent ceil(log2(need / 255)) = -1, weights -222 and -202
    g = FixedSynapses("x", np.array([[[10, -5], [0, 0]]], np.int16), np.array([0, 0]), np.array([0]))
    every = lambda g: np.ones(len(g.delays), bool)  # noqa: E731
    (s,) = _silence([g], 2, 100, {}, EOS, [3], every)
    assert s.src == EOS and s.weight_exp.tolist() == [-1, -1] and s.w_int[:, :, 0].tolist() == [[-222, -202]]
    assert s.delays.tolist() == [3]
    # 200,000 activation units could not be silenced: u = -(a << 6) would wrap around 24 bits
    big = FixedSynapses("x", np.full((1, 1, 800), 250, np.int16), np.array([0]), np.array([0]))
    with pytest.raises(ValueError, match="too much to be silenced within the 24-bit state"):
        _silence([big], 1, 4096, {}, EOS, [0], every)
    # -150,000 units of real input in the silenced step, plus the 4,097 that silence it (129 x 2^5
    # = 4,128 delivered): 154,128 << 6 = 9,864,192 >= 2^23, u would wrap to a positive value and fire
    deep = FixedSynapses("x", np.full((1, 1, 600), -250, np.int16), np.array([0]), np.array([0]))
    with pytest.raises(ValueError, match=r"\(and -150000\), too much to be silenced"):
        _silence([deep], 1, 4096, {}, EOS, [0], every)
    # ... unless that tap cannot deliver anything at the silenced step
    (s,) = _silence([deep], 1, 4096, {}, EOS, [0], lambda g: np.zeros(len(g.delays), bool))
    assert s.w_int.ravel().tolist() == [-129] and s.weight_exp.tolist() == [5]


def test_no_spike_outside_the_sequence(tmp_path):
    """Every spike falls inside the sequence and no u wraps around 24 bits. A digits model after 3
    epochs (seed 0) drives block.0.attn.prev_lif to -136,929 activation units in the steps that
    silence its ends; before the bound on the inhibited state, u wrapped to a positive value there
    and fired 135 spikes outside the sequence, which the layers after it read as real."""
    from lmuneuro.train import TrainConfig, train

    ckpt = tmp_path / "early.pt"
    train(TrainConfig(preset="spiking-lmuformer-digits", dataset="digits", output=str(ckpt), epochs=3),
          log=lambda *a: None, progress=False)
    net = quantize_graph(from_model(load_checkpoint(ckpt).model), input_max_abs=1.0)
    x = get_dataset("digits", "test").tensors[0].numpy()
    res = run(net, x, record=True)
    assert not any(res.wrapped.values())
    for name, counts in res.spike_counts.items():  # counts: every hardware step; spikes: the sequence
        assert counts.sum() == res.spikes[name].sum(), name


def test_fixed_point_tracks_the_float_model(digits_checkpoint):
    model = load_checkpoint(digits_checkpoint).model
    x, y = get_dataset("digits", "test").tensors
    net = quantize_graph(from_model(model), input_max_abs=1.0)
    assert all(max(g.rel_error for g in p.inputs) < 1e-3 for p in net.populations[1:])
    res = run(net, x.numpy())
    with torch.no_grad():
        float_pred = model(x).argmax(-1).numpy()
    fixed_pred = res.logits.argmax(-1)
    agreement = (float_pred == fixed_pred).mean()
    acc_float, acc_fixed = (float_pred == y.numpy()).mean(), (fixed_pred == y.numpy()).mean()
    print(f"digits: agreement {agreement:.4f}, accuracy float {acc_float:.4f} fixed {acc_fixed:.4f}")
    assert agreement >= 0.99 and acc_fixed >= acc_float - 0.005
    assert not any(res.saturated.values()) and not any(res.wrapped.values())
    assert res.spike_counts["head_lif"].sum() > 0.05 * 360 * 8 * 64  # a live network, not a silent one
    assert res.per_step.shape == (360, 8, 10) and np.allclose(res.per_step[:, -1], res.logits)


def test_scv2_reference_layout_weights_agree_on_random_inputs(tmp_path):
    """The paper's SCv2 network, in the reference implementation's checkpoint layout, through
    convert (resources checked against loihi2) and the emulator, against the float model."""
    from support import calibrated

    from lmuneuro.artifact import read_artifact
    from lmuneuro.convert import convert
    from lmuneuro.converters.reference import to_reference_state_dict

    model = calibrated("spiking-lmuformer-scv2")
    with torch.no_grad(), model.recording() as rec:  # centre the read-out: predictions that vary
        model(torch.randn(16, 128, 128))  # from sample to sample, as a trained model's do
        model.head.bias.copy_(-model.head.weight @ stack_records(rec)["head_lif"][0].mean(dim=(0, 1)))
    torch.save(to_reference_state_dict(model), tmp_path / "ref.pth")
    report = convert(tmp_path / "ref.pth", tmp_path / "scv2.h5", input_range=4.0)
    assert report["source_format"] == "reference" and report["delay_steps"] == 16
    errors = {row["layer"]: row["weight_error"] for row in report["layers"]}
    print("SCv2 per-layer weight error:", {k: f"{v:.1e}" for k, v in errors.items()})
    assert errors.pop("patch_embed.proj_lif") < 1e-2 and max(errors.values()) < 1e-3
    net = read_artifact(tmp_path / "scv2.h5")
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
        print(f"{layer:28s} rate {f.mean():.3f}  fixed vs float {np.mean(fixed != f):.4f}  "
              f"float+noise vs float {np.mean(n != f):.4f}")
        assert np.mean(fixed != f) <= 2 * np.mean(n != f) + 0.005, layer
    assert not any(res.wrapped.values()) and not any(res.saturated.values())
