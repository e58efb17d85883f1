"""Lava's ``GradedVec`` has a ``fixed_pt`` model only: ``PyGradedVecModelFloat`` is its
``floating_pt`` twin (the same rule on real numbers) for the simulator's ``--float`` runs, which
``network.run`` selects explicitly. Not a chip model: a board runs Intel's."""

from __future__ import annotations

from .compat import ensure_lava

ensure_lava()

import numpy as np  # noqa: E402
from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort, PyOutPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402
from lava.proc.graded.process import GradedVec  # noqa: E402

__all__ = ["PyGradedVecModelFloat"]


@implements(proc=GradedVec, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyGradedVecModelFloat(PyLoihiProcessModel):
    """GradedVec on real numbers: sends its summed input where its magnitude exceeds vth."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    vth: np.ndarray = LavaPyType(np.ndarray, float)
    exp: np.ndarray = LavaPyType(np.ndarray, float)

    def run_spk(self) -> None:
        self.v = self.a_in.recv()
        self.s_out.send(self.v * (np.abs(self.v) > self.vth))
