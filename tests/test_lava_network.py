"""The converted network as Lava's own processes on Lava's bit-accurate CPU simulator: every spike
of every population at every step equals the emulator's."""

import numpy as np
import pytest
import torch

from lmuneuro import load_checkpoint
from lmuneuro.backends.emulator import run as emulate
from lmuneuro.backends.lava.network import CHIP_CLASSES, off_chip, process_classes, run
from lmuneuro.compile.graph import from_model
from lmuneuro.compile.quantize import quantize_graph
from lmuneuro.data import get_dataset


def first_mismatch(lava, emu) -> str | None:
    for layer, a in emu.spikes.items():
        bad = np.argwhere(lava.spikes[layer] != a)
        if len(bad):
            sample, step, neuron = bad[0]
            return f"{layer}: sample {sample}, step {step}, neuron {neuron}"
    return None


@pytest.fixture(scope="module")
def digits_net(digits_checkpoint):
    return quantize_graph(from_model(load_checkpoint(digits_checkpoint).model), input_max_abs=1.0)


def test_lava_simulation_equals_the_emulator_bit_for_bit(digits_net):
    """30 test samples back to back on one graph of Lava's processes (Loihi2SimCfg fixed_pt)."""
    x = get_dataset("digits", "test").tensors[0][:30].numpy()
    lava, emu = run(digits_net, x, record=True), emulate(digits_net, x, record=True)
    assert first_mismatch(lava, emu) is None, first_mismatch(lava, emu)
    assert sum(s.sum() for s in emu.spikes.values()) > 5000  # a network that is doing something
    assert emu.spike_counts["block.0.attn.lmu.f_u.line"].sum() > 0  # the relay line carried spikes
    assert np.array_equal(lava.per_step, emu.per_step)
    for counts in ("spike_counts", "step_counts"):  # per neuron, and per step of each sample
        assert {k: v.tolist() for k, v in getattr(lava, counts).items()} == {
            k: v.tolist() for k, v in getattr(emu, counts).items()
        }


def test_only_lavas_standard_processes(digits_net):
    """What the network instantiates is Lava's own: LIFReset, LIF, GradedVec (the residual
    stream's terms), Dense, DelayDense, Sparse and the RingBuffer of the gate; compiled, each gets
    one of Lava's own models (on this machine its CPU model, which on a board ``--backend loihi2``
    refuses, naming the process)."""
    from lava.magma.core.run_configs import Loihi2SimCfg

    from lmuneuro.backends.lava.procs.process import LmuNetwork

    classes = process_classes(digits_net)
    assert {m for m, _ in classes} <= {
        "lava.proc.lif.process",
        "lava.proc.graded.process",
        "lava.proc.dense.process",
        "lava.proc.sparse.process",
        "lava.proc.io.source",
    }
    assert classes[("lava.proc.io.source", "RingBuffer")] == 1
    assert classes[("lava.proc.graded.process", "GradedVec")] == 3
    assert sum(n for (_, c), n in classes.items() if c in CHIP_CLASSES) == len(
        digits_net.populations
    ) + len(digits_net.synapses)
    lmu = LmuNetwork(net=digits_net, steps=8)
    lmu.compile(run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    models = {type(p).__name__: p.model_class for p in lmu.procs.members}
    assert all(m.__module__.startswith("lava.proc.") for m in models.values()), models
    fallback = off_chip(lmu.procs)
    assert len(fallback) == len(digits_net.populations) + len(digits_net.synapses)
    assert fallback[0].startswith("patch_embed.proj_lif (LIFReset: PyLifResetModelBitAcc)")


def test_network_process_with_ports_streams_samples(digits_net):
    """LmuNetwork as a user wires it: frames from their own source into ``frames_in``, read-out
    spikes from ``spikes_out`` into their own sink, one sample every period."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from lmuneuro.backends.lava.procs.process import LmuNetwork
    from lmuneuro.backends.result import readout

    x = get_dataset("digits", "test").tensors[0][30:33].numpy()
    q, _ = digits_net.quantize_input(x)
    lmu = LmuNetwork(net=digits_net, steps=8)
    period = lmu.period
    frames = np.zeros((3, period, 9), np.int32)  # 8 features and the rounding channel
    frames[:, :8] = q
    source, sink = Source(data=frames.reshape(-1, 9).T.copy()), Sink(shape=(64,), buffer=3 * period)
    source.s_out.connect(lmu.frames_in)
    lmu.spikes_out.connect(sink.a_in)
    try:
        for _ in range(3):
            lmu.run(
                condition=RunSteps(num_steps=period), run_cfg=Loihi2SimCfg(select_tag="fixed_pt")
            )
        out = sink.data.get().T.reshape(3, period, 64)
    finally:
        lmu.stop()
    logits, _ = readout(digits_net, out[:, digits_net.delay :] > 0)
    assert np.array_equal(logits, emulate(digits_net, x).logits)
    assert out[:, : digits_net.delay].sum() == 0  # nothing leaves before the pipeline's delay


def test_scv2_reference_layout_on_lava_equals_the_emulator(tmp_path):
    """The paper's SCv2 network from a reference-layout checkpoint: 11 layers and a relay line of
    127 neurons as about 120 Lava processes, 144 steps per sample, every spike of every population
    on Lava equal to the emulator's (about 90 s on 2 cores)."""
    from support import calibrated

    from lmuneuro.artifact import read_artifact
    from lmuneuro.compile.convert import convert
    from lmuneuro.converters.reference import to_reference_state_dict

    torch.save(to_reference_state_dict(calibrated("spiking-lmuformer-scv2")), tmp_path / "ref.pth")
    convert(tmp_path / "ref.pth", tmp_path / "scv2.h5", input_range=4.0, target="kapoho-point")
    net = read_artifact(tmp_path / "scv2.h5")
    x = np.random.default_rng(0).standard_normal((2, 128, 128)).astype(np.float32)
    lava, emu = run(net, x, record=True), emulate(net, x, record=True)
    assert first_mismatch(lava, emu) is None, first_mismatch(lava, emu)
    assert all(s.sum() > 0 for s in emu.spikes.values())
    for counts in ("spike_counts", "step_counts"):  # per neuron, and per step of each sample
        assert {k: v.tolist() for k, v in getattr(lava, counts).items()} == {
            k: v.tolist() for k, v in getattr(emu, counts).items()
        }
    assert np.array_equal(lava.per_step, emu.per_step)


def test_floating_point_models_run_the_same_network(digits_net):
    """--float: Lava's floating_pt models of the same processes (no exponent, no rounding, the
    LIF in activation units) give nearly the fixed-point network's predictions."""
    x = get_dataset("digits", "test").tensors[0][:12].numpy()
    lava_float = run(digits_net, x, floating=True)
    emu = emulate(digits_net, x)
    agree = (lava_float.logits.argmax(-1) == emu.logits.argmax(-1)).mean()
    print(
        f"floating_pt vs fixed_pt: {agree:.2%} of 12 predictions, logits max |diff| "
        f"{np.abs(lava_float.logits - emu.logits).max():.3f}"
    )
    assert agree >= 10 / 12
    diff = np.abs(lava_float.logits - emu.logits)
    assert (
        0 < diff.max() and diff.mean() < 0.05 * np.abs(emu.logits).mean()
    )  # really without rounding, and close
