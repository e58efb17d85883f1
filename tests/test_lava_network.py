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


def test_graph_handles(digits_checkpoint):
    net = quantize_graph(from_model(load_checkpoint(digits_checkpoint).model), input_max_abs=1.0)
    g = build(net, np.zeros((2, 8, 8), np.float32))
    assert list(g.populations) == [p.name for p in net.populations] and g.period == 20 and g.num_steps == 40
    assert set(g.sources) == {"input", "clock", "bos", "eos"}
    # one TapDense per (population, source, delays): the two weight sets share a process
    assert len(g.synapses) == sum(len({(s.src, tuple(s.delays)) for s in p.inputs}) for p in net.populations)
