"""The Legendre Memory Unit's linear memory: state-space matrices, impulse response, two paths.

Continuous system (Voelker et al. 2019), q = 0..d-1, R_q = (2q + 1) / theta:
    A_ij = R_i * (-1 if i < j else (-1)^(i - j + 1)),   B_i = R_i * (-1)^i
discretised with a zero-order hold at dt = 1. The memory of a scalar input u is
    m_t = A m_{t-1} + B u_t                     (recurrent path: streaming, one step at a time)
        = sum_k H[:, k] u_{t-k},  H[:, k] = A^k B  (parallel path: one FFT convolution for training)
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.signal import cont2discrete
from torch import nn

__all__ = ["legendre_state_space", "impulse_response", "LegendreMemory"]


def legendre_state_space(memory_size: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """Discrete (A, B) in float64: A is (d, d), B is (d, 1)."""
    q = np.arange(memory_size, dtype=np.float64).reshape(-1, 1)
    r = (2 * q + 1) / theta
    i, j = np.meshgrid(q, q, indexing="ij")
    a = r * np.where(i < j, -1.0, (-1.0) ** (i - j + 1))
    b = r * (-1.0) ** q
    ad, bd, *_ = cont2discrete(
        (a, b, np.ones((1, memory_size)), np.zeros((1,))), dt=1.0, method="zoh"
    )
    return ad, bd


def impulse_response(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """H (d, steps) with H[:, k] = A^k B, in the dtype of ``a``."""
    cols, col = [], b
    for _ in range(steps):
        cols.append(col)
        col = a @ col
    return torch.cat(cols, dim=-1)


class LegendreMemory(nn.Module):
    """Memory buffers A (d, d), B (d, 1), H (d, seq_len) and fft_H = rfft(H, 2 seq_len).

    All four are buffers stored in checkpoints, as the reference implementation stores them:
    running a reference checkpoint with its own H and fft_H reproduces its arithmetic exactly.
    Sequences of another length, or runs in another precision, derive H from A and B.
    """

    def __init__(self, memory_size: int, theta: float, seq_len: int):
        super().__init__()
        a, b = legendre_state_space(memory_size, theta)
        a64, b64 = torch.from_numpy(a), torch.from_numpy(b)
        h = impulse_response(a64, b64, seq_len)
        self.register_buffer("A", a64.float())
        self.register_buffer("B", b64.float())
        self.register_buffer("H", h.float())
        self.register_buffer("fft_H", torch.fft.rfft(h.float(), n=2 * seq_len, dim=-1))
        self.memory_size, self.theta, self.seq_len = memory_size, float(theta), seq_len
        self.parallel = True  # False: forward runs the recurrence step by step (for comparison)

    def _fft_h(self, steps: int, dtype: torch.dtype) -> torch.Tensor:
        # The stored buffers keep the precision they were made in (Module.double() leaves the
        # complex fft_H alone): other precisions derive H from A so both paths share one A.
        stored = self.fft_H.real.dtype == dtype
        if stored and steps == self.H.shape[1]:
            return self.fft_H
        if stored and steps < self.H.shape[1]:
            h = self.H[:, :steps]
        else:
            h = impulse_response(self.A.to(dtype), self.B.to(dtype), steps)
        return torch.fft.rfft(h, n=2 * steps, dim=-1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Parallel path: u (batch, 1, N) -> m (batch, d, N)."""
        if not self.parallel:
            m, out = u.new_zeros(u.shape[0], self.memory_size), []
            for t in range(u.shape[-1]):
                m = self.step(u[:, :, t], m)
                out.append(m)
            return torch.stack(out, dim=-1)
        n = u.shape[-1]
        fft_u = torch.fft.rfft(u, n=2 * n, dim=-1)
        m = torch.fft.irfft(fft_u * self._fft_h(n, u.dtype).unsqueeze(0), n=2 * n, dim=-1)
        return m[:, :, :n]

    def step(self, u: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Recurrent path: u (batch, 1), m (batch, d) -> next m (batch, d)."""
        return m @ self.A.T + u @ self.B.T

    def extra_repr(self) -> str:
        return f"memory_size={self.memory_size}, theta={self.theta}, seq_len={self.seq_len}"
