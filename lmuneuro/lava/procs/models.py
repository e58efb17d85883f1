"""How lmuneuro's Lava processes run: ``fixed_pt`` models bit-accurate to the artifact's integer
semantics (and to ``lmuneuro.emulator``), ``floating_pt`` models without the rounding.

Imports are absolute: Lava's compiler loads this file on its own when it looks for models."""

from __future__ import annotations

import numpy as np

from lmuneuro.lava.compat import ensure_lava

ensure_lava()

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort, PyOutPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402

from lmuneuro.lava.procs.process import Integrator, SpikeCounter, TapDense  # noqa: E402


class _TapDenseBase(PyLoihiProcessModel):
    acc_dtype: type  # of the sums: int64 (a graded payload times a weight, summed, exceeds int32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.period = proc_params["period"]

    def _accumulate(self) -> np.ndarray:
        """(sets, n_dst) sums over taps of W_k @ s[T - 1 - d_k], from the history."""
        return np.einsum("jkns,ks->jn", self.weights, self.history[self.delays], dtype=self.acc_dtype)

    def run_spk(self) -> None:
        if self.period and (self.time_step - 1) % self.period == 0:
            self.history[:] = 0
        self.a_out.send(self._deliver(self._accumulate()))
        self.history = np.roll(self.history, 1, axis=0)
        self.history[0] = self.s_in.recv()


@implements(proc=TapDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyTapDenseFixed(_TapDenseBase):
    """Integer arithmetic: the sets' sums over taps aligned to the lowest exponent and added, then
    shifted by it (floor): one rounding per group and step."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    weights: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=9)
    weight_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=4)
    delays: np.ndarray = LavaPyType(np.ndarray, np.int32)
    history: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    acc_dtype = np.int64

    def _deliver(self, acc: np.ndarray) -> np.ndarray:
        e = self.weight_exp.astype(np.int64)  # shifts need int64 operands like acc
        e_min = e.min(axis=0)
        total = (acc << (e - e_min)).sum(axis=0)
        return np.where(e_min >= 0, total << np.maximum(e_min, 0), total >> np.maximum(-e_min, 0))


@implements(proc=TapDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTapDenseFloat(_TapDenseBase):
    """The same sums without rounding: weights times 2^weight_exp as real numbers."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    weights: np.ndarray = LavaPyType(np.ndarray, float)
    weight_exp: np.ndarray = LavaPyType(np.ndarray, float)
    delays: np.ndarray = LavaPyType(np.ndarray, int)
    history: np.ndarray = LavaPyType(np.ndarray, float)
    acc_dtype = np.float64

    def _deliver(self, acc: np.ndarray) -> np.ndarray:
        return (acc * np.exp2(self.weight_exp)).sum(axis=0)


class _IntegratorBase(PyLoihiProcessModel):
    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.lag, self.period = proc_params["lag"], proc_params["period"]

    def run_spk(self) -> None:
        a = self.a_in.recv()
        if (self.time_step - 1) % self.period < self.lag:
            self.m[:] = 0
        else:
            self.m[:] = self._add(a)
        self.s_out.send(self.m)


@implements(proc=Integrator, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyIntegratorFixed(_IntegratorBase):
    """24-bit state, two's complement wrap-around."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=32)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    m: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def _add(self, a: np.ndarray) -> np.ndarray:
        return (self.m.astype(np.int64) + a + 2**23) % 2**24 - 2**23


@implements(proc=Integrator, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyIntegratorFloat(_IntegratorBase):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    m: np.ndarray = LavaPyType(np.ndarray, float)

    def _add(self, a: np.ndarray) -> np.ndarray:
        return self.m + a


class _SpikeCounterBase(PyLoihiProcessModel):
    def __init__(self, proc_params):
        super().__init__(proc_params)
        # not self.start: the runtime's start() method lives there
        self.period, self.first, self.window = proc_params["period"], proc_params["start"], proc_params["steps"]

    def run_spk(self) -> None:
        s = self.s_in.recv()
        sample, t = divmod(self.time_step - 1, self.period)
        if self.first <= t < self.first + self.window and sample < self.counts.shape[0]:
            self.counts[sample, t - self.first] = s


@implements(proc=SpikeCounter, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeCounterFixed(_SpikeCounterBase):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int32)


@implements(proc=SpikeCounter, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySpikeCounterFloat(_SpikeCounterBase):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    counts: np.ndarray = LavaPyType(np.ndarray, float)
