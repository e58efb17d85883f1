import pytest
import torch

from lmuneuro.models import LIF, lif_sequence, lif_step


def test_hand_worked_spike_train():
    # h1 = 0.5, h2 = 0.75, h3 = 0.875, h4 = 0.875 + (3 - 0.875) / 2 = 1.9375 -> spike, reset
    # h5 = 0 + (2 - 0) / 2 = 1.0 -> spike: the threshold is inclusive (>=) as in the reference.
    x = torch.tensor([1.0, 1.0, 1.0, 3.0, 2.0, 0.0])
    s = lif_sequence(x, v_th=1.0, tau=2.0)
    assert s.tolist() == [0, 0, 0, 1, 1, 0]
    assert s.dtype == x.dtype


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tau", [2.0, 3.0])
def test_sequence_equals_step_loop_bitwise(dtype, tau):
    torch.manual_seed(0)
    x = torch.randn(4, 7, 50, dtype=dtype) * 2
    spikes = lif_sequence(x, 0.5, tau, time_dim=-1)
    v = torch.zeros(4, 7, dtype=dtype)
    for t in range(50):
        s, v = lif_step(x[..., t], v, 0.5, tau)
        assert torch.equal(s, spikes[..., t]), f"step {t}"
    rate = spikes.mean().item()
    assert 0.05 < rate < 0.6


def _naive(x, v_th, tau, alpha):
    """Per-step autograd reference: sigmoid surrogate, detached hard reset."""
    v = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        h = v + (x[t] - v) / tau
        sig = torch.sigmoid(alpha * (h - v_th))
        s = (h >= v_th).to(x.dtype) + (sig - sig.detach())  # value: heaviside; grad: sigmoid'
        out.append(s)
        v = h * (1 - s.detach())
    return torch.stack(out)


def test_gradient_matches_per_step_autograd():
    torch.manual_seed(1)
    x = (torch.randn(30, 5, 8, dtype=torch.float64) * 1.5).requires_grad_()
    w = torch.randn(30, 5, 8, dtype=torch.float64)
    (lif_sequence(x, 1.0, 2.0, 4.0) * w).sum().backward()
    g_fast = x.grad.clone()
    x.grad = None
    (_naive(x, 1.0, 2.0, 4.0) * w).sum().backward()
    assert torch.allclose(g_fast, x.grad, rtol=1e-10, atol=1e-12)
    assert g_fast.abs().max() > 0.1


def test_module_records_spikes_and_potentials():
    lif = LIF(v_threshold=1.0)
    lif.record = []
    x = torch.tensor([[[1.0, 1.0, 1.0, 3.0]]])  # (batch, channel, time)
    lif(x)
    s, h = lif.record[0]
    assert s.shape == (1, 4, 1)
    assert h[0, :, 0].tolist() == [0.5, 0.75, 0.875, 1.9375]


def test_norse_lif_box_fires_strictly_above_threshold():
    """Why the neuron is our own: norse's lif_box charges the same way but fires on '>'."""
    import norse.torch.functional.lif_box as norse_lif

    p = norse_lif.LIFBoxParameters(
        tau_mem_inv=torch.tensor(500.0),
        v_leak=torch.tensor(0.0),
        v_th=torch.tensor(1.0),
        v_reset=torch.tensor(0.0),
    )
    z, _ = norse_lif.lif_box_feed_forward_step(
        torch.tensor([2.0]), norse_lif.LIFBoxFeedForwardState(v=torch.zeros(1)), p, dt=0.001
    )
    assert z.item() == 0.0  # h = 1.0 exactly: norse is silent ...
    assert lif_sequence(torch.tensor([2.0]), 1.0, 2.0).item() == 1.0  # ... the reference spikes
