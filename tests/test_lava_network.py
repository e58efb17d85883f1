"""The converted network as a Lava process graph on Lava's bit-accurate CPU simulator: every
population's spikes at every step equal the emulator's."""

import numpy as np
import pytest
import torch

from lmuneuro import load_checkpoint
from lmuneuro.convert import quantize_graph
from lmuneuro.data import get_dataset
from lmuneuro.emulator import run as emulate
from lmuneuro.graph import from_model
from lmuneuro.lava.network import build, run


def first_mismatch(lava, emu) -> str | None:
    for layer, a in emu.spikes.items():
        bad = np.argwhere(lava.spikes[layer] != a)
        if len(bad):
            sample, step, neuron = bad[0]
            return f"{layer}: sample {sample}, step {step}, neuron {neuron}"
    return None


def test_lava_simulation_equals_the_emulator_bit_for_bit(digits_checkpoint):
    model = load_checkpoint(digits_checkpoint).model
    net = quantize_graph(from_model(model), input_max_abs=1.0)
    x = get_dataset("digits", "test").tensors[0][:6].numpy()
    lava, emu = run(net, x, record=True), emulate(net, x, record=True)
    assert first_mismatch(lava, emu) is None, first_mismatch(lava, emu)
    assert sum(s.sum() for s in emu.spikes.values()) > 1000  # a network that is doing something
    assert np.array_equal(lava.per_step, emu.per_step)
    assert {k: v.tolist() for k, v in lava.spike_counts.items()} == {k: v.tolist() for k, v in emu.spike_counts.items()}


def test_graph_handles(digits_checkpoint, tmp_path):
    from lmuneuro.artifact import write_artifact

    net = quantize_graph(from_model(load_checkpoint(digits_checkpoint).model), input_max_abs=1.0)
    write_artifact(tmp_path / "m.h5", net)
    g = build(tmp_path / "m.h5", np.zeros((2, 8, 8), np.float32))  # from the artifact file alone
    assert list(g.populations) == [p.name for p in net.populations] and g.period == 20 and g.num_steps == 40
    assert set(g.sources) == {"input", "clock", "bos", "eos"}
    # one TapDense per (population, source, delays): the two weight sets share a process
    assert len(g.synapses) == sum(len({(s.src, tuple(s.delays)) for s in p.inputs}) for p in net.populations)


def test_scv2_reference_layout_on_lava_equals_the_emulator(tmp_path):
    """The paper's SCv2 network from a reference-layout checkpoint: 11 populations, 144 steps per
    sample, every spike of every population on Lava equal to the emulator's (about a minute)."""
    from support import calibrated

    from lmuneuro.artifact import read_artifact
    from lmuneuro.convert import convert
    from lmuneuro.converters.reference import to_reference_state_dict

    torch.save(to_reference_state_dict(calibrated("spiking-lmuformer-scv2")), tmp_path / "ref.pth")
    convert(tmp_path / "ref.pth", tmp_path / "scv2.h5", input_range=4.0)
    net = read_artifact(tmp_path / "scv2.h5")
    x = np.random.default_rng(0).standard_normal((2, 128, 128)).astype(np.float32)
    lava, emu = run(net, x, record=True), emulate(net, x, record=True)
    assert first_mismatch(lava, emu) is None, first_mismatch(lava, emu)
    assert all(s.sum() > 0 for s in emu.spikes.values())
    assert np.array_equal(lava.per_step, emu.per_step)


@pytest.mark.parametrize("tag", ["fixed_pt", "floating_pt"])
def test_tapdense_on_its_own(tag):
    """TapDense alone: floor(sum_j 2^e_j sum_k W_jk s[T-1-d_k]) (fixed_pt), the real sum
    (floating_pt), and the history cleared every period."""
    from lmuneuro.lava.procs.process import TapDense  # first: it makes Lava importable on 3.11

    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    s = np.array([[3, 0, 1, 5, 0, 0, 2, 0]], np.int32)  # graded payloads, one source neuron, 8 steps
    w = np.array([[[[1]], [[-3]]], [[[5]], [[0]]]])  # sets x taps x 1 x 1
    td = TapDense(weights=w, weight_exp=np.array([[0], [-2]]), delays=np.array([0, 2]), period=4)
    src = RingBuffer(data=s)
    src.s_out.connect(td.s_in)
    mon = Monitor()
    mon.probe(td.a_out, 8)
    try:
        td.run(condition=RunSteps(num_steps=8), run_cfg=Loihi2SimCfg(select_tag=tag))
        got = mon.get_data()[td.name]["a_out"][:, 0]
    finally:
        td.stop()
    expect = []
    for t in range(8):
        start = t - t % 4  # history cleared at the start of every period
        x = lambda k: s[0, k] if start <= k else 0  # noqa: E731
        tap = lambda d: x(t - 1 - d) if t - 1 - d >= 0 else 0  # noqa: E731
        hi, lo = 1 * tap(0) - 3 * tap(2), 5 * tap(0)
        expect.append((4 * hi + lo) // 4 if tag == "fixed_pt" else hi + lo / 4)
    assert got.tolist() == expect


def test_floating_point_models_run_the_same_network(digits_checkpoint):
    """--float: Lava's floating_pt models (TapDense without rounding, float LIF in activation
    units) give nearly the fixed-point network's predictions."""
    model = load_checkpoint(digits_checkpoint).model
    net = quantize_graph(from_model(model), input_max_abs=1.0)
    x = get_dataset("digits", "test").tensors[0][:12].numpy()
    lava_float = run(net, x, floating=True)
    emu = emulate(net, x)
    agree = (lava_float.logits.argmax(-1) == emu.logits.argmax(-1)).mean()
    print(f"floating_pt vs fixed_pt: {agree:.2%} of 12 predictions, logits max |diff| "
          f"{np.abs(lava_float.logits - emu.logits).max():.3f}")
    assert agree >= 10 / 12
    assert 0 < np.abs(lava_float.logits - emu.logits).max() < 0.5  # really without rounding, and close
