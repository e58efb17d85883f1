"""The emulator's number formats and devices: float32 where exact, float64 otherwise, the same
bits either way; its LIF loop against ``loihi.lif_step`` where u wraps and v saturates; a GPU run
identical to the CPU's; clear errors for a device that is not there."""

import numpy as np
import pytest
import torch

from lmuneuro import load_checkpoint
from lmuneuro.artifact import Layer, Synapse
from lmuneuro.backends.emulator import Emulator, _Population
from lmuneuro.cli import main
from lmuneuro.compile.graph import from_model
from lmuneuro.compile.quantize import quantize_graph
from lmuneuro.data import get_dataset
from lmuneuro.formats import LAVA
from lmuneuro.loihi import decay, lif_step, wrap


@pytest.fixture(scope="module")
def digits_net(digits_checkpoint):
    return quantize_graph(from_model(load_checkpoint(digits_checkpoint).model), input_max_abs=1.0)


@pytest.fixture(scope="module")
def x():
    return get_dataset("digits", "test").tensors[0][:48].numpy()


def _same(a, b) -> bool:
    return (
        np.array_equal(a.logits, b.logits)
        and np.array_equal(a.per_step, b.per_step)
        and all(np.array_equal(b.spike_counts[k], c) for k, c in a.spike_counts.items())
        and all(np.array_equal(b.spikes[k], s) for k, s in a.spikes.items())
    )


def test_float64_products_give_the_same_bits(digits_net, x):
    """With float32 products not exact (reduced precision allowed), every product is float64."""
    fast = Emulator(digits_net)
    assert torch.float32 in {w.dtype for f in fast.fan_out.values() for *_, w, _ in f.direct}
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        slow = Emulator(digits_net)
    finally:
        torch.set_float32_matmul_precision(before)
    dtypes = {f.weights.dtype for f in slow.fan_out.values() if f.weights is not None}
    dtypes |= {w.dtype for f in slow.fan_out.values() for *_, w, _ in f.direct}
    assert dtypes == {torch.float64}
    a, b = fast(x, record=True), slow(x, record=True)
    assert _same(a, b) and sum(c.sum() for c in a.spike_counts.values()) > 10_000


@pytest.mark.parametrize("kind", ["leaky-current", "relay-line"])
def test_population_loop_is_lif_step(kind):
    """The population loop against ``loihi.lif_step`` step by step, where the fast paths do not
    apply: current memory (du < 4095) with decays that are no power of two and u wrapping at 24
    bits, or a process from itself (a relay line's) with v saturating at both ends."""
    rng = np.random.default_rng(3)
    n, batch, total, lag = 6, 3, 40, 5
    leaky = kind == "leaky-current"
    du, dv, vth = (300, 1000, 4000) if leaky else (4095, 10, 2**17 - 1)
    p = Layer(
        "p",
        n,
        du,
        dv,
        vth=vth,
        bias_mant=rng.integers(-500, 500, n),
        bias_exp=rng.integers(0, 3, n),
        v_init=-50_000,
        lag=lag,
        state_scale=1.0,
    )
    syns = [] if leaky else [Synapse("p", "p", rng.integers(-200, 255, (n, n)), -1, delay=1)]
    top = 2**15 if leaky else 2**14
    low = -top // 8 if leaky else -top  # leaky: mostly positive, so that u grows past 2^23
    a = rng.integers(low, top, (total, batch, n)).astype(np.float64)
    if not leaky:  # half the neurons driven up (to spike at the ceiling), half down
        a += np.where(np.arange(n) % 2, top // 2, -top // 2)
    reach = np.abs(a).max() + sum(np.abs(s.weights).sum(axis=1).max() for s in syns)
    lif = _Population(p, syns, float(reach), torch.device("cpu"), True, LAVA)
    assert lif.step.wraps == leaky and lif.step.clamps and lif.dtype == torch.float64
    got = lif(torch.from_numpy(a.copy()), total - lag).numpy()  # a_in is consumed

    bias = p.bias_mant << p.bias_exp
    u, v = np.zeros((batch, n)), np.full((batch, n), float(p.v_init))
    want = np.zeros((total, batch, n))
    wrapped = saturated = False
    for t in range(total):
        if t == lag:
            u, v = np.zeros_like(u), np.zeros_like(v)
        a_t = a[t].copy()
        for s in syns:
            if t >= s.delay + 1:
                a_t += np.floor(want[t - s.delay - 1] @ s.weights.T * 2.0**s.weight_exp)
        u_raw = a_t * 64 + decay(u, 4096 - (du + 1))
        v_raw = decay(v, 4096 - dv) + wrap(u_raw) + bias
        wrapped |= bool((np.abs(u_raw) > 2**23).any())
        saturated |= bool((v_raw > 2**23).any() and (v_raw < -(2**23)).any())
        s, u, v = lif_step(u, v, a_t, du, dv, bias, p.vth)
        want[t] = s
    assert np.array_equal(got, want), f"first differs at step {np.argwhere(got != want)[0][0]}"
    assert 0 < want.mean() < 1 and (wrapped if leaky else saturated)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_is_bit_exact(digits_net, x):
    assert _same(Emulator(digits_net, "cuda")(x, record=True), Emulator(digits_net)(x, record=True))


@pytest.fixture(scope="module")
def artifact(digits_checkpoint, tmp_path_factory):
    path = tmp_path_factory.mktemp("device") / "model.h5"
    assert main(["convert", str(digits_checkpoint), "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--device", "tpu"], "device 'tpu' is not a torch device (cpu, cuda, cuda:N)"),
        (["--device", "mps"], "device 'mps': the emulator runs on cpu or cuda"),
        (["--device", "cuda:x"], "device 'cuda:x' is not a torch device (cpu, cuda, cuda:N)"),
        (["--device", "cuda:7", "--backend", "lava-sim"], "only the emulator runs on a GPU"),
    ],
)
def test_device_errors_are_one_line(artifact, capsys, argv, message):
    code = main(["run", str(artifact), "--dataset", "digits", "--samples", "2", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_cuda_runs_or_says_why(artifact, capsys):
    code = main(["run", str(artifact), "--dataset", "digits", "--samples", "4", "--device", "cuda"])
    err = capsys.readouterr().err
    if torch.cuda.is_available():
        assert code == 0
    else:
        assert code == 2 and "torch sees no CUDA GPU here" in err and err.count("\n") == 1
