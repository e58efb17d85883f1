import numpy as np
import pytest
import torch
from scipy.linalg import expm

from lmuneuro.models import LegendreMemory, impulse_response, legendre_state_space


def test_continuous_matrices_by_hand_then_zoh():
    # d = 2, theta = 1: R = (1, 3); A_c = [[-1, -1], [3, -3]], B_c = [1, -3].
    a_c = np.array([[-1.0, -1.0], [3.0, -3.0]])
    b_c = np.array([[1.0], [-3.0]])
    # ZOH by the augmented-matrix exponential, independent of scipy.signal.cont2discrete.
    aug = expm(np.block([[a_c, b_c], [np.zeros((1, 3))]]))
    a, b = legendre_state_space(2, 1.0)
    np.testing.assert_allclose(a, aug[:2, :2], rtol=1e-12)
    np.testing.assert_allclose(b, aug[:2, 2:], rtol=1e-12)


@pytest.mark.parametrize("d,theta", [(512, 128.0), (16, 8.0)])
def test_zoh_closed_form(d, theta):
    q = np.arange(d)
    r = (2 * q + 1) / theta
    a_c = np.array(
        [[r[i] * (-1.0 if i < j else (-1.0) ** (i - j + 1)) for j in range(d)] for i in range(d)]
    )
    b_c = (r * (-1.0) ** q)[:, None]
    a_d = expm(a_c)
    b_d = np.linalg.solve(a_c, (a_d - np.eye(d)) @ b_c)  # A^-1 (e^A - I) B
    a, b = legendre_state_space(d, theta)
    np.testing.assert_allclose(a, a_d, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b, b_d, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("d,theta,steps", [(512, 128.0, 128), (256, 784.0, 784)])
def test_fft_path_equals_recurrent_path(d, theta, steps):
    mem = LegendreMemory(d, theta, steps).double()
    torch.manual_seed(0)
    u = (torch.rand(3, 1, steps, dtype=torch.float64) < 0.3).double()  # spikes, as in the model
    m_fft = mem(u)
    m = torch.zeros(3, d, dtype=torch.float64)
    rec = []
    for t in range(steps):
        m = mem.step(u[:, :, t], m)
        rec.append(m)
    m_rec = torch.stack(rec, dim=-1)
    rel = ((m_fft - m_rec).abs().max() / m_rec.abs().max()).item()
    assert rel < 1e-5, rel


def test_float32_paths_and_other_lengths():
    mem = LegendreMemory(512, 128.0, 128)
    torch.manual_seed(1)
    for steps in (128, 60, 200):  # stored taps, a prefix of them, and more taps than stored
        u = torch.randn(2, 1, steps)
        m = torch.zeros(2, 512)
        rec = []
        for t in range(steps):
            m = mem.step(u[:, :, t], m)
            rec.append(m)
        m_rec = torch.stack(rec, dim=-1)
        rel = ((mem(u) - m_rec).abs().max() / m_rec.abs().max()).item()
        assert rel < 1e-4, (steps, rel)


def test_impulse_response_is_powers_of_a():
    a, b = (torch.from_numpy(m) for m in legendre_state_space(8, 4.0))
    h = impulse_response(a, b, 5)
    assert torch.allclose(h[:, 3:4], torch.linalg.matrix_power(a, 3) @ b, rtol=1e-12)
