"""Loihi 2's integer arithmetic as lava-nc 0.10's bit-accurate (``fixed_pt``) models compute it: the
one home of the rules that the emulator runs, the converter plans with and the limits bound.
The number formats are ``formats.Formats`` (a profile's ``[precision]`` fields).

- Weights: Lava's sign mode per matrix (``SignMode``, as ``lava.utils.weightutils``): 8-bit
  magnitudes, and with mixed signs even values in [-256, 254] (``lava_weights``).
- A synapse process delivers ``shift(W s, weight_exp)``: ``<<`` for a positive exponent, ``>>``
  (a floor) for a negative one, one step plus its delay later.
- LIF, every value in units of the 24-bit state (``LifStep``, which the emulator runs; its
  constants ``LifConstants``):
  ``u = wrap(decay(u, 4096 - (du + 1)) + (a_in << 6))``;
  ``v = clip(decay(v, 4096 - dv) + u + bias, +-(2^23 - 1))``; a spike when ``v > vth << 6``, then
  ``v = 0``, with ``decay(x, keep) = sign(x) ((|x| keep) >> 12)`` and
  ``bias = bias_mant << bias_exp``.

``tests/test_emulator_kernels.py`` checks each rule against Lava's own models, bit for bit
(``lif_step``: one ``LifStep`` on NumPy arrays).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .formats import LAVA, Formats

__all__ = [
    "check_formats",
    "format_problems",
    "SignMode",
    "lava_weights",
    "shift",
    "dense_accumulate",
    "decay",
    "wrap",
    "LifConstants",
    "LifStep",
    "lif_step",
]

_ARITHMETIC = ("state_bits", "decay_bits", "vth_shift", "activation_shift")
# the least a limit may be and still describe a signed number (a sign and one bit), an unsigned
# exponent or a delay; message_bits_max 0 is a target of binary spikes only (loihi1)
_FLOOR = {
    "weight_bits": 2,
    "activation_bits": 2,
    "message_bits_max": 0,
    "vth_mant_bits": 1,
    "bias_mant_bits": 2,
    "bias_exp_bits": 0,
    "delay_max": 0,
}


def format_problems(fmt: Formats | dict) -> list[str]:
    """What in number formats Lava's models do not compute: an arithmetic field (state, decay and
    shift widths) other than Lava's, a limit looser than Lava's or below ``_FLOOR``, an exponent
    range out of Lava's or empty; each as 'field value (Lava: ...)'."""
    mine, lava = dict(fmt if isinstance(fmt, dict) else fmt.to_dict()), LAVA.to_dict()
    out = [f"{k} {mine[k]} (Lava: {lava[k]})" for k in _ARITHMETIC if mine[k] != lava[k]]
    out += [
        f"{k} {mine[k]} (Lava: {_FLOOR[k]} to {lava[k]})"
        for k in _FLOOR
        if not _FLOOR[k] <= mine[k] <= lava[k]
    ]
    lo, hi = mine["weight_exp_min"], mine["weight_exp_max"]
    span = f"Lava: {lava['weight_exp_min']} to {lava['weight_exp_max']}"
    for k in ("weight_exp_min", "weight_exp_max"):
        if not lava["weight_exp_min"] <= mine[k] <= lava["weight_exp_max"]:
            out.append(f"{k} {mine[k]} ({span})")
    if lo > hi:
        out.append(f"weight_exp_min {lo} (above weight_exp_max {hi})")
    return out


def check_formats(fmt: Formats) -> None:
    """Lava computes in its own number formats: an artifact's arithmetic (state, decay and shift
    widths) must be Lava's, and its limits no looser (one made for a stricter target runs as is)."""
    wrong = format_problems(fmt)
    if wrong:
        raise ValueError(
            f"the artifact's number formats are not Lava's ({', '.join(wrong)}): its target is "
            "not Loihi 2 as Lava computes it"
        )


@dataclass(frozen=True)
class SignMode:
    """The weights one synapse process holds in Lava's sign mode of its matrix
    (``lava.utils.weightutils``): the integers ``lo`` to ``hi`` in steps of ``step``. Mixed
    signs: a signed mantissa of ``weight_bits`` shifted left by one (the lowest bit is lost);
    one sign (or none): ``weight_bits`` of magnitude."""

    lo: int
    hi: int
    step: int

    @classmethod
    def of(cls, w, fmt: Formats = LAVA) -> "SignMode":
        """The mode of the matrix w (any real values; Lava decides on the integers it is given)."""
        w, top = np.asarray(w), 2**fmt.weight_bits
        if (w > 0).any() and (w < 0).any():
            return cls(-top, top - 2, 2)
        if (w >= 0).all():
            return cls(0, top - 1, 1)
        return cls(-(top - 1), 0, 1)

    @property
    def magnitude(self) -> int:
        """The largest |weight| of every sign the matrix holds."""
        return self.hi or -self.lo


def lava_weights(w: np.ndarray, fmt: Formats = LAVA) -> np.ndarray:
    """The integer weights (int64) that Lava's Dense and Sparse models use for ``w``: clipped to
    the sign mode of the whole matrix and truncated (a floor) to its step."""
    w = np.asarray(w).astype(np.int64)
    mode = SignMode.of(w, fmt)
    return np.clip(w, mode.lo, mode.hi) // mode.step * mode.step


def shift(acc: np.ndarray, weight_exp: int, out: np.ndarray | None = None) -> np.ndarray:
    """``acc << weight_exp``, or ``acc >> -weight_exp`` (floor) for a negative exponent. Integer
    arrays exactly; floating arrays that hold integers exactly while they stay below 2^53 (2^24 in
    float32), in place with ``out``."""
    acc = np.asarray(acc)
    if np.issubdtype(acc.dtype, np.integer):
        return acc << weight_exp if weight_exp > 0 else acc >> -weight_exp
    out = np.multiply(acc, acc.dtype.type(2.0**weight_exp), out=out)  # a power of two: exact
    return np.floor(out, out=out) if weight_exp < 0 else out


def dense_accumulate(w: np.ndarray, weight_exp: int, s: np.ndarray) -> np.ndarray:
    """a (batch, n_out) int64 of one process: effective weights w (n_out, n_in), inputs s
    (batch, n_in) of binary spikes or graded integer payloads."""
    return shift(np.asarray(s, dtype=np.int64) @ np.asarray(w, dtype=np.int64).T, weight_exp)


def decay(x: np.ndarray, keep: int, fmt: Formats = LAVA) -> np.ndarray:
    """``sign(x) ((|x| keep) >> decay_bits)``, computed as ``trunc(x keep / 2^decay_bits)`` in
    float64: exact for states of up to 24 bits (the product stays below 2^36, the division is by a
    power of two)."""
    return np.trunc(np.asarray(x, dtype=np.float64) * (keep / 2**fmt.decay_bits))


def wrap(raw, fmt: Formats = LAVA):
    """u as Lava wraps it into the state's width: the second test sees the first's result, the fix
    uses the raw value. Element-wise arithmetic: NumPy arrays and torch tensors alike."""
    top = fmt.state_max
    return raw - 2 * top * (raw > top) + 2 * top * (raw <= -top)


def _power_of_two(keep: float) -> bool:
    """Whether a decay's keep factor is a power of two (then ``x keep`` is exact in any format)."""
    return keep > 0 and float(np.log2(keep)).is_integer()


@dataclass(frozen=True)
class LifConstants:
    """What a LIF population's step computes with, from its decays and threshold in a target's
    formats (``LifStep`` runs it; the Lava backend's ``floating_pt`` parameters derive from it)."""

    keep_u: float  # u's decay keeps trunc(u keep_u): (2^decay_bits - (du + 1)) / 2^decay_bits
    keep_v: float  # v's: (2^decay_bits - dv) / 2^decay_bits (dyadic fractions: exact)
    threshold: int  # a spike where v exceeds it: vth << vth_shift
    act: int  # state units per activation unit: a_in enters u shifted left by activation_shift
    fmt: Formats

    @classmethod
    def of(cls, du: int, dv: int, vth: int, fmt: Formats = LAVA) -> "LifConstants":
        unity = 2**fmt.decay_bits
        return cls(
            keep_u=(unity - (du + 1)) / unity,
            keep_v=(unity - dv) / unity,
            threshold=int(vth) * 2**fmt.vth_shift,
            act=2**fmt.activation_shift,
            fmt=fmt,
        )

    @property
    def state_max(self) -> int:
        """u wraps into (-state_max, state_max] (``wrap``)."""
        return self.fmt.state_max

    @property
    def v_max(self) -> int:
        """v saturates at +-v_max."""
        return self.fmt.state_max - 1

    @property
    def exact_decays(self) -> bool:
        """Whether both decays are exact in any floating format (keep 0 or a power of two)."""
        return all(k == 0 or _power_of_two(k) for k in (self.keep_u, self.keep_v))


class LifStep:
    """One step of a LIF population as ``PyLifModelBitAcc`` computes it, in place on torch
    tensors (batch, n) of integers held in floating point (``dtype`` float32 only where the
    caller's bounds keep every value exact in it). The emulator runs its populations with it, and
    ``lif_step``, which runs it on NumPy arrays, is checked against Lava's model.

    It carries the negated states ``nu = -u`` and ``w = -v``: then the reset is one threshold (w
    keeps its value where ``w > below = -threshold - 1``, else 0: integers) and decay, a
    truncation toward zero, commutes with the sign. ``wraps``/``clamps`` False: the caller has
    proven that u cannot wrap, or v saturate, and skips that work."""

    def __init__(self, c: LifConstants, bias, dtype, device, wraps=True, clamps=True):
        import torch  # a population runs on torch; reading an artifact needs no torch

        self.c, self.wraps, self.clamps = c, wraps, clamps
        self.below = -float(c.threshold) - 1
        self.v_max, self.act = float(c.v_max), float(c.act)
        self.neg_bias = torch.tensor(-np.asarray(bias, np.float64), dtype=dtype, device=device)
        self.decay_u, self.decay_v = (_decayer(k, dtype, device) for k in (c.keep_u, c.keep_v))
        self._threshold, self._add = torch.threshold, torch.add

    def inputs_(self, a):
        """a_in (steps, batch, n) becomes ``-(a_in << activation_shift)``, u's input (in place)."""
        return a.mul_(-self.act)

    def drives_(self, a):
        """a_in (steps, batch, n) becomes ``-(u + bias)`` in place, for a population whose u holds
        one step's input (keep_u 0) and cannot wrap: ``u = a_in << activation_shift``."""
        return self._add(self.neg_bias, a, alpha=-self.act, out=a)

    def charge_v(self, w, pre) -> None:
        """``v = clip(decay(v) + u + bias)``, then the reset: ``pre`` holds ``-(u + bias)`` and
        becomes -v before the reset, w -v after it."""
        self.decay_v(w)
        pre.add_(w)
        if self.clamps:
            pre.clamp_(-self.v_max, self.v_max)
        self._threshold(pre, self.below, 0.0, out=w)

    def __call__(self, nu, w, pre):
        """The whole step: ``u = wrap(decay(u) + (a_in << activation_shift))``, then v
        (``charge_v``). ``pre`` holds u's input (``inputs_``), and becomes -v before the reset.
        Returns nu (a new tensor where u wraps)."""
        self.decay_u(nu)
        nu.add_(pre)
        if self.wraps:
            nu = -wrap(-nu, self.c.fmt)
        self._add(nu, self.neg_bias, out=pre)
        self.charge_v(w, pre)
        return nu

    def fired(self, pre):
        """1 where v exceeded the threshold (the pre-reset ``-v <= below``), else 0: a new
        tensor."""
        return (self.below + 1 - pre).clamp_(0, 1)

    def fired_(self, pre):
        """``fired`` in pre's place."""
        return pre.sub_(self.below + 1).clamp_(-1, 0).abs_()


def _decayer(keep: float, dtype, device):
    """x = trunc(x keep) in place: a division by a power of two where keep is one (by a tensor,
    which torch takes faster than a Python number)."""
    import torch

    if keep == 0:
        return torch.Tensor.zero_
    if _power_of_two(keep):
        by = torch.tensor(1 / keep, dtype=dtype, device=device)
        return lambda x: torch.div(x, by, rounding_mode="trunc", out=x)
    return lambda x: x.mul_(keep).trunc_()


def lif_step(u, v, a_in, du: int, dv: int, bias, vth: int, fmt: Formats = LAVA):
    """One step of a LIF population (``LifStep``) on integer-valued arrays u, v, a_in (batch, n)
    with per-neuron integer ``bias`` (already ``bias_mant << bias_exp``). Returns (spikes bool,
    u, v); u and v hold integers in float64 (exact: every intermediate stays far below 2^53)."""
    import torch

    step = LifStep(LifConstants.of(du, dv, vth, fmt), bias, torch.float64, "cpu")
    nu, w, pre = (torch.tensor(np.asarray(x, np.float64)) for x in (u, v, a_in))
    nu = step(nu.neg_(), w.neg_(), step.inputs_(pre))
    return step.fired_(pre).numpy() > 0, -nu.numpy(), -w.numpy()
