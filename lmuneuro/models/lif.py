"""The leaky integrate-and-fire neuron of the Spiking LMUFormer.

Semantics (spikingjelly's ``MultiStepLIFNode(tau, detach_reset=True)`` as the paper trains it):

    h_t = v_{t-1} + (x_t - v_{t-1}) / tau        charge ("decay_input" form), v_0 = 0
    s_t = 1 if h_t >= v_th else 0                 fire (note: >=, Loihi fires on >)
    v_t = 0 if s_t else h_t                       hard reset to 0, reset detached from the graph

Gradient: the spike uses the sigmoid surrogate ``alpha * sig(alpha (h - v_th)) * (1 - sig(...))``
with alpha = 4. norse 1.1's ``lif_box`` charges the same way but fires on a strict ``>`` and has no
sigmoid surrogate, so the neuron is written here once: a functional core (``lif_step`` for
streaming, ``lif_sequence`` for whole sequences) wrapped by the thin ``LIF`` module.

``lif_sequence`` runs the time loop without building an autograd graph per step and computes
the backward pass in closed form: the per-step graph is what makes naive SNN training slow.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["LIF", "lif_potentials", "lif_sequence", "lif_step", "substitute"]


def lif_step(x: torch.Tensor, v: torch.Tensor, v_th: float, tau: float):
    """One time step. Returns ``(spikes, v_next)``; same arithmetic as ``lif_sequence``."""
    h = v + (x - v) / tau
    s = h >= v_th
    return s.to(x.dtype), h.masked_fill(s, 0.0)


def _lif_loop(x: torch.Tensor, v_th: float, tau: float, time_dim: int) -> torch.Tensor:
    """Runs the population over ``time_dim``; returns hn = -h, the negated potentials before
    firing, time first (T, ...). Spikes are ``hn <= -v_th``.

    Written for speed, because per-step overhead dominates on CPU: the loop runs on negated
    values so that fire-and-reset is one ``threshold`` (keeps -h where h < v_th, else 0), and
    every step writes into preallocated buffers. Negation is exact, so h and the spikes are
    bit-identical to ``lif_step``; the 1/tau multiply is used only where it is exact.
    """
    xt = x.movedim(time_dim, 0)
    xn = torch.empty(xt.shape, dtype=x.dtype, device=x.device)
    torch.neg(xt, out=xn)  # one pass: transpose to time-major and negate
    hn = torch.empty_like(xn)
    w = torch.zeros_like(xn[0])  # -v
    d = torch.empty_like(w)
    inv_tau = 1.0 / tau
    exact = math.frexp(tau)[0] == 0.5  # tau a power of two: d * (1/tau) == d / tau
    for t in range(xn.shape[0]):
        torch.sub(xn[t], w, out=d)
        if exact:
            torch.add(w, d, alpha=inv_tau, out=hn[t])
        else:
            torch.add(w, d.div_(tau), out=hn[t])
        torch.threshold(hn[t], -v_th, 0.0, out=w)
    return hn


def _to_layout(t_first: torch.Tensor, time_dim: int) -> torch.Tensor:
    return t_first.movedim(0, time_dim).contiguous()


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, v_th: float, tau: float, alpha: float, time_dim: int):
        hn = _lif_loop(x, v_th, tau, time_dim)
        fired = hn <= -v_th
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(hn, fired)
        ctx.consts = (v_th, tau, alpha, time_dim)
        return _to_layout(fired.to(x.dtype), time_dim)

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor):
        hn, fired = ctx.saved_tensors
        v_th, tau, alpha, time_dim = ctx.consts
        sig = torch.sigmoid(-alpha * (hn + v_th))  # sigmoid(alpha (h - v_th))
        direct = grad_spikes.movedim(time_dim, 0) * (alpha * sig * (1.0 - sig))  # through s_t
        keep = (~fired).to(hn.dtype) * (1.0 - 1.0 / tau)  # h_t -> v_t -> h_{t+1}, reset detached
        grad_h = torch.empty_like(hn)
        carry = torch.zeros_like(hn[0])
        for t in range(hn.shape[0] - 1, -1, -1):
            carry = torch.addcmul(direct[t], keep[t], carry, out=grad_h[t])
        return _to_layout(grad_h / tau, time_dim), None, None, None, None


def lif_sequence(
    x: torch.Tensor, v_th: float, tau: float = 2.0, alpha: float = 4.0, time_dim: int = 0
):
    """Spikes (same shape and dtype as ``x``) of a LIF population driven by ``x`` over
    ``time_dim``."""
    return _LIFSequence.apply(x, v_th, tau, alpha, time_dim % x.dim())


def lif_potentials(
    x: torch.Tensor, v_th: float, tau: float = 2.0, time_dim: int = 0
) -> torch.Tensor:
    """The potentials h before firing (same layout as ``x``), for diagnostics."""
    with torch.no_grad():
        return _to_layout(-_lif_loop(x, v_th, tau, time_dim % x.dim()), time_dim % x.dim())


class _Substitute(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, value: torch.Tensor):
        ctx.dtype = x.dtype
        return value.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad.to(ctx.dtype), None


def substitute(x: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``value`` (exactly, in its own dtype) in the forward pass, the identity to ``x`` in the
    backward pass: the straight-through estimator of a computation that ``x`` approximates."""
    if value.shape != x.shape:
        raise ValueError(f"substitute: shape {tuple(value.shape)} for {tuple(x.shape)}")
    return _Substitute.apply(x, value.detach())


class LIF(nn.Module):
    """A population of LIF neurons; stateless between calls (state lives in the step API).

    Set ``record`` to a list to collect ``(spikes, potentials)`` of every call, time on dim 1
    (diagnostics: the models' ``recording()`` does this for every population). Set ``forced``
    to spikes (batch, time, ...) to output those instead of its own, with its own surrogate
    gradient (quantisation-aware training: the models' ``forcing()``).
    """

    def __init__(self, v_threshold: float = 1.0, tau: float = 2.0, alpha: float = 4.0):
        super().__init__()
        self.v_threshold, self.tau, self.alpha = float(v_threshold), float(tau), float(alpha)
        self.record: list | None = None
        self.forced: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, time_dim: int = -1) -> torch.Tensor:
        s = lif_sequence(x, self.v_threshold, self.tau, self.alpha, time_dim)
        if self.forced is not None:
            s = substitute(s, self.forced.movedim(1, time_dim).to(s))
        if self.record is not None:
            with torch.no_grad():
                h = lif_potentials(x, self.v_threshold, self.tau, time_dim)
            self.record.append((s.movedim(time_dim, 1).detach(), h.movedim(time_dim, 1)))
        return s

    def step(self, x: torch.Tensor, v: torch.Tensor):
        """One frame x (batch, ...) with state v -> (spikes, next v)."""
        s, v_next = lif_step(x, v, self.v_threshold, self.tau)
        if self.record is not None:
            self.record.append(
                (s.unsqueeze(1).detach(), (v + (x - v) / self.tau).unsqueeze(1).detach())
            )
        return s, v_next

    def extra_repr(self) -> str:
        return (
            f"v_threshold={self.v_threshold}, tau={self.tau}, surrogate=sigmoid(alpha={self.alpha})"
        )
