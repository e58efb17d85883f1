"""The recurrent LMU mapping (convert --lmu-mapping recurrent): the memory as graded integrator
neurons holding its state, from the float graph through the artifact to the emulator and Lava."""

import json

import h5py
import numpy as np
import pytest
import torch

from lmuneuro import load_checkpoint
from lmuneuro.artifact import ArtifactError, read_artifact, write_artifact
from lmuneuro.cli import main
from lmuneuro.convert import choose_mapping, quantize_graph
from lmuneuro.data import get_dataset
from lmuneuro.emulator import _integrate, _synaptic_input, run as emulate
from lmuneuro.fixedpoint import memory_impulse_errors
from lmuneuro.graph import from_model, simulate
from lmuneuro.models import stack_records
from support import calibrated

MEMORY = "block.0.attn.lmu.memory"


@pytest.fixture(scope="module")
def recurrent(digits_checkpoint):
    model = load_checkpoint(digits_checkpoint).model
    return model, quantize_graph(from_model(model, lmu_mapping="recurrent"), input_max_abs=1.0)


@pytest.mark.parametrize("preset,steps", [("spiking-lmuformer-digits", 8), ("spiking-lmuformer-scv2", 128)])
def test_float_graph_with_the_recurrent_memory_reproduces_every_spike(preset, steps):
    model = calibrated(preset).double()
    torch.manual_seed(5)
    x = torch.randn(2, steps, model.config.in_features, dtype=torch.float64)
    with torch.no_grad(), model.recording() as rec:
        model(x)
    graph = from_model(model, lmu_mapping="recurrent")
    _, spikes = simulate(graph, x.numpy())
    memory = graph.population(MEMORY)
    assert memory.kind == "integrator" and memory.horizon == model.config.seq_len
    assert [p.name for p in graph.populations if p.kind == "lif"] == list(stack_records(rec))
    for name, (s, _) in stack_records(rec).items():
        assert np.array_equal(s.numpy(), spikes[name]), name
    # the state is the LMU's memory of the input neuron's spikes: m_t = sum_k H[:, k] u_{t-k}
    u, h = spikes["block.0.attn.lmu.f_u"][..., 0], model.block[0].attn.lmu.memory.H.numpy()
    m = np.stack([sum(h[:, k] * u[:, t - k, None] for k in range(t + 1)) for t in range(steps)], axis=1)
    assert np.abs(spikes[MEMORY] - m).max() < 1e-5 * np.abs(m).max()


def test_schedule_and_artifact_of_the_integrator(recurrent, tmp_path):
    _, net = recurrent
    lags = {p.name: p.lag for p in net.populations}
    # the memory is one hop after f_u, and f_m one hop after it: one step more than FIR's 12
    assert lags["block.0.attn.lmu.f_u"] == 7 and lags[MEMORY] == 8 and lags["block.0.attn.lmu.f_m"] == 9
    assert net.delay == 13
    mem = next(p for p in net.populations if p.name == MEMORY)
    assert mem.kind == "integrator" and mem.size == 16 and mem.scale == 2.0**15
    groups = {(src, delays): len(sets) for src, delays, sets in mem.synapse_groups()}
    assert groups == {("block.0.attn.lmu.f_u", (0,)): 2, (MEMORY, (0,)): 2}  # B and A - I, two 8-bit sets each
    write_artifact(tmp_path / "m.h5", net)
    back = read_artifact(tmp_path / "m.h5")
    assert [p.kind for p in back.populations] == [p.kind for p in net.populations]
    with h5py.File(tmp_path / "m.h5") as f:
        i = [p.name for p in net.populations].index(MEMORY)
        assert f[f"layer/{i}"].attrs["type"] == "integrator" and f[f"layer/{i}/neuron"].attrs["gradedSpike"]
        assert f.attrs["format_version"] == 2


def test_built_integrator_has_the_reported_impulse_response(recurrent):
    """The artifact's integrator, fed one spike of its input neuron, follows exactly the response
    whose error convert reports (fixedpoint.memory_impulse_errors)."""
    model, net = recurrent
    mem = next(p for p in net.populations if p.name == MEMORY)
    lmu = model.block[0].attn.lmu.memory
    h = lmu.H.double().numpy()
    steps = h.shape[1]
    total = mem.lag + steps
    hist = {"input": np.zeros((total, 1, 8)), "block.0.attn.lmu.f_u": np.zeros((total, 1, 1))}
    hist["block.0.attn.lmu.f_u"][mem.lag - 1] = 1  # float time 0 of the input neuron
    m, wraps = _integrate(mem, _synaptic_input(mem, hist))
    response = m[mem.lag:, 0].T / mem.scale
    reported = memory_impulse_errors(lmu.A.double().numpy(), lmu.B.double().numpy(), h)
    assert reported["frac_bits"] == 15 and wraps == 0
    error = np.linalg.norm(response - h) / np.linalg.norm(h)
    assert error == pytest.approx(reported["recurrent"], rel=1e-12)
    assert 1e-3 < error < 2e-2 and reported["fir"] < 1e-4  # why auto chooses FIR
    assert np.all(m[:mem.lag] == 0)  # zero before its float time 0


def test_recurrent_mapping_meets_the_digits_targets(recurrent):
    model, net = recurrent
    x, y = get_dataset("digits", "test").tensors
    res = emulate(net, x.numpy(), record=True)
    with torch.no_grad():
        float_pred = model(x).argmax(-1).numpy()
    fixed_pred = res.logits.argmax(-1)
    agreement = (float_pred == fixed_pred).mean()
    acc_float, acc_fixed = (float_pred == y.numpy()).mean(), (fixed_pred == y.numpy()).mean()
    print(f"digits, recurrent LMU: agreement {agreement:.4f}, accuracy float {acc_float:.4f} fixed {acc_fixed:.4f}")
    assert agreement >= 0.99 and acc_fixed >= acc_float - 0.005
    assert not any(res.wrapped.values()) and not any(res.saturated.values())
    # no spike outside the sequence: the memory keeps its state after it, f_m is silenced against that too
    for name, counts in res.spike_counts.items():
        if name != MEMORY:
            assert counts.sum() == res.spikes[name].sum(), name


def test_lava_runs_the_integrator_bit_for_bit(recurrent):
    from lmuneuro.lava.network import run as lava_run

    _, net = recurrent
    x = get_dataset("digits", "test").tensors[0][:4].numpy()
    lava, emu = lava_run(net, x, record=True), emulate(net, x, record=True)
    for name, a in emu.spikes.items():  # the memory's graded payloads included
        assert np.array_equal(np.asarray(lava.spikes[name], np.float64), np.asarray(a, np.float64)), name
        assert np.array_equal(lava.spike_counts[name], emu.spike_counts[name]), name
    assert np.abs(emu.spikes[MEMORY]).max() > 2**14 and np.array_equal(lava.per_step, emu.per_step)
    floating = lava_run(net, x, floating=True)  # Lava's floating_pt models: the same network unrounded
    assert 0 < np.abs(floating.logits - emu.logits).max() < 0.5


def test_choose_mapping():
    rows = [{"impulse_response_error": {"fir": 2e-5, "recurrent": 1e-2}},
            {"impulse_response_error": {"fir": 3e-5, "recurrent": 2e-5}}]
    assert choose_mapping(rows) == "fir"  # by the worst memory
    assert choose_mapping(rows[1:]) == "recurrent" and choose_mapping(rows, "recurrent") == "recurrent"
    with pytest.raises(ValueError, match="unknown LMU mapping 'iir'"):
        choose_mapping(rows, "iir")


def test_convert_and_verify_recurrent_from_the_command_line(digits_checkpoint, tmp_path, capsys):
    art = tmp_path / "rec.h5"
    assert main(["convert", str(digits_checkpoint), "-o", str(art), "--lmu-mapping", "recurrent"]) == 0
    out = capsys.readouterr().out
    assert f"{MEMORY}: integrator, state with 15 fraction bits, impulse-response error" in out
    assert "9 LIF populations and 1 integrator(s) on 10 loihi2 neuro-cores, algorithmic delay 13 steps" in out
    assert main(["verify", str(digits_checkpoint), str(art), "--dataset", "digits", "--json"]) == 0
    v = json.loads(capsys.readouterr().out)
    row = next(r for r in v["layers"] if r["layer"] == MEMORY)
    # its own error: the float memory fed the same spikes, over 360 samples
    assert row["kind"] == "integrator" and 1e-3 < row["state_error"] < 2e-2 and row["u_wrapped"] == 0
    assert row["synops_fixed"] > 0 and v["agreement"] >= 0.99
    f_m = next(r for r in v["layers"] if r["layer"] == "block.0.attn.lmu.f_m")
    assert f_m["kind"] == "lif" and f_m["mismatch"] < 0.01
    assert main(["verify", str(digits_checkpoint), str(art), "--dataset", "digits", "--samples", "20"]) == 0
    assert "state error" in capsys.readouterr().out


def test_energy_counts_the_memory_messages_as_graded(recurrent):
    from lmuneuro.backends import activity

    _, net = recurrent
    x = get_dataset("digits", "test").tensors[0][:20].numpy()
    res = emulate(net, x)
    rows = {r["layer"]: r for r in activity(net, x, res.spike_counts)["layers"]}
    messages = res.spike_counts[MEMORY].sum(axis=1).mean()  # non-zero payloads per sample
    assert rows[MEMORY]["spikes"] == pytest.approx(messages) and messages > 0
    mem = next(p for p in net.populations if p.name == MEMORY)
    f_m = next(p for p in net.populations if p.name == "block.0.attn.lmu.f_m")
    fan_in = {g.src: 0 for g in f_m.inputs}
    for g in f_m.inputs:
        fan_in[g.src] += (np.asarray(g.w_int) != 0).sum(axis=(0, 1))
    expect = (res.spike_counts[MEMORY] @ fan_in[MEMORY]).mean()
    assert rows["block.0.attn.lmu.f_m"]["graded_events"] == pytest.approx(expect)
    own = sum((np.asarray(g.w_int) != 0).sum(axis=(0, 1)) for g in mem.inputs if g.src == MEMORY)
    assert rows[MEMORY]["graded_events"] == pytest.approx((res.spike_counts[MEMORY] @ own).mean())


def test_artifact_versions_and_integrator_checks(recurrent, tmp_path):
    from lmuneuro.artifact import _digest, _datasets, _structure

    model, net = recurrent
    fir = quantize_graph(from_model(model), input_max_abs=1.0)
    path = tmp_path / "v1.h5"
    write_artifact(path, fir)
    structure = _structure(fir)  # a version 1 file (before integrators): no kind in its structure
    for layer in structure["layers"]:
        del layer["kind"]
    with h5py.File(path, "r+") as f:
        f.attrs.update(format_version=1, structure=json.dumps(structure),
                       checksum=_digest(_datasets(fir), structure))
    assert [p.kind for p in read_artifact(path).populations] == ["lif"] * 9
    mem = next(p for p in net.populations if p.name == MEMORY)
    own = next(g for g in mem.inputs if g.src == MEMORY)
    inputs = list(mem.inputs)
    for change, message in ((lambda: setattr(own, "delays", np.array([1])), "reads itself through one tap of delay 0"),
                            (lambda: setattr(mem, "inputs", [g for g in inputs if g.src != MEMORY]),
                             "needs one synapse group from itself"),
                            (lambda: own.weight_exp.__setitem__(0, 40), "one weight exponent per neuron, within")):
        saved = (own.delays, own.weight_exp.copy())
        change()
        try:
            write_artifact(tmp_path / "bad.h5", net)  # a well-formed, checksummed file with a hostile network
            with pytest.raises(ArtifactError, match=message):
                read_artifact(tmp_path / "bad.h5")
        finally:
            (own.delays, own.weight_exp), mem.inputs = saved, list(inputs)


def test_a_memory_too_fine_for_the_recurrent_mapping_is_a_clear_error(tmp_path, capsys):
    """psMNIST's theta 784 puts A - I far below the 8-bit weights' finest step 2^-8: the recurrent
    memory's impulse-response error is about 3, and the layer reading it cannot be held in 24 bits."""
    from lmuneuro.checkpoint import save_checkpoint

    ckpt, out = tmp_path / "psmnist.pt", tmp_path / "psmnist.h5"
    save_checkpoint(ckpt, calibrated("spiking-lmuformer-psmnist", steps=64), preset="spiking-lmuformer-psmnist")
    assert main(["convert", str(ckpt), "-o", str(out), "--lmu-mapping", "recurrent"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and not out.exists()
    assert "layer block.0.attn.lmu.f_m:" in err and "--lmu-mapping fir holds the memory exactly" in err
    assert main(["convert", str(ckpt), "-o", str(out)]) == 0 and out.exists()  # auto: FIR
