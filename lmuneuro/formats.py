"""Loihi's number formats, the parameters of its arithmetic (``lmuneuro.loihi``) and of every
float -> fixed conversion (``lmuneuro.fixedpoint``).

Number formats (``Formats``, read from a hardware profile's ``[precision]``; Lava's are the
defaults):
- state (u, v): ``state_bits``-bit signed integers in *state units*. A population with float
  threshold ``v_th`` gets the scale ``S = (2**vth_shift * vth_mant + 1) / v_th`` state units per
  float unit, so that the reference's ``h >= v_th`` is exactly Loihi's ``v > vth_mant << 6`` for
  integer v.
- activation (a_in, a_out): ``activation_bits``-bit signed integers in *activation units*, each
  ``2**activation_shift`` state units (Loihi shifts a_in left by 6 into u).
- weights ``w_mant``: what Lava's Dense really uses (8 bits: a matrix with mixed signs holds even
  values in [-256, 254], a one-signed one [0, 255] or [-255, 0]) and one ``weight_exp`` per
  synapse process; a process delivers ``floor(2**weight_exp * (w_mant @ s))`` activation units.
- bias: per neuron ``bias_mant << bias_exp`` state units, mantissa ``bias_mant_bits`` signed bits,
  exponent ``bias_exp_bits`` unsigned bits.
- input features: graded spikes ``q = round(x * 2**input_frac_bits)`` in ``input_bits`` signed bits.
- decays: ``du = 4095`` (u holds one step's input only), ``dv = round(4096 / tau)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Formats:
    """Loihi's number formats as a target declares them (profile ``[precision]``)."""

    weight_bits: int = 8
    weight_exp_min: int = -8
    weight_exp_max: int = 7
    activation_bits: int = 16  # Dense a_out and LIF a_in
    message_bits_max: int = 24  # graded-spike payload
    state_bits: int = 24  # u and v
    decay_bits: int = 12
    vth_mant_bits: int = 17
    vth_shift: int = 6
    bias_mant_bits: int = 13
    bias_exp_bits: int = 3
    activation_shift: int = 6
    delay_max: int = 62  # synaptic delay of DelayDense/DelaySparse, in steps

    @classmethod
    def from_dict(cls, d: dict) -> "Formats":
        missing = [f.name for f in fields(cls) if f.name not in d]
        if missing:
            raise ValueError(f"number formats lack {', '.join(missing)}")
        return cls(**{f.name: int(d[f.name]) for f in fields(cls)})

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def a_max(self) -> int:
        """Largest a_in / a_out (activation units)."""
        return 2 ** (self.activation_bits - 1) - 1

    @property
    def a_min(self) -> int:
        return -(2 ** (self.activation_bits - 1))

    @property
    def state_max(self) -> int:
        """u and v hold values in (-state_max, state_max]."""
        return 2 ** (self.state_bits - 1)

    @property
    def exp_range(self) -> tuple[int, int]:
        return self.weight_exp_min, self.weight_exp_max

    @property
    def bias_mant_max(self) -> int:
        return 2 ** (self.bias_mant_bits - 1) - 1

    @property
    def bias_exp_max(self) -> int:
        return 2**self.bias_exp_bits - 1


LAVA = Formats()  # what lava-nc 0.10's bit-accurate models compute
