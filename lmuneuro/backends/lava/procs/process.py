"""``LmuNetwork``: a converted Spiking LMUFormer as one hierarchical Lava process with ports.

Imports are absolute: Lava's compiler loads this file on its own when it looks for models.
"""

from __future__ import annotations

from pathlib import Path

from lmuneuro.backends.lava.compat import ensure_lava

ensure_lava()

from lava.magma.core.process.ports.ports import InPort, OutPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402

from lmuneuro.artifact import FixedNetwork, read_artifact  # noqa: E402

__all__ = ["LmuNetwork", "sink_name"]


def sink_name(index: int) -> str:
    """The attribute that holds the sink recording population ``index``."""
    return f"sink_{index:04d}"


class LmuNetwork(AbstractProcess):
    """A network converted by ``lmuneuro convert``, built from the artifact alone out of Lava's
    standard processes (``LIFReset``, ``LIF``, ``Dense``, ``DelayDense``, ``Sparse``,
    ``DelaySparse`` and a ``RingBuffer`` for the gate; ``lmuneuro.backends.lava.network``).

    Ports:
    - ``frames_in`` (input_size + 1,): graded feature frames as ``net.quantize_input(x)`` makes
      them (the features, then a rounding channel of 1). Sample k's frame t arrives at step
      ``k * period + t`` (``period = net.delay + steps``); send zeros at the other steps of each
      sample.
    - ``spikes_out`` (readout size,): the read-out layer's spikes; sample k's float time t leaves
      at step ``k * period + net.delay + t``. ``readout`` turns them into class scores.

    ``steps``: frames per sample (at most the length the LMU's taps cover). ``floating``: parameters
    for Lava's ``floating_pt`` models. ``record``: steps to record every population's spikes for
    (``recording(i)`` after compiling, i the population's index in the artifact), 0: none.
    """

    def __init__(
        self,
        *,
        net: FixedNetwork | str | Path,
        steps: int,
        floating: bool = False,
        record: int = 0,
        name: str | None = None,
    ) -> None:
        if not isinstance(net, FixedNetwork):
            net = read_artifact(net)
        if steps < 1:
            raise ValueError(f"a sample needs at least one frame, got {steps}")
        super().__init__(net=net, steps=steps, floating=floating, record=record, name=name)
        self.frames_in = InPort(shape=(net.input_channels,))
        self.spikes_out = OutPort(shape=(net.population(net.readout).size,))

    def recording(self, index: int):
        """The sink that recorded population ``index`` (after compiling, with ``record``)."""
        return getattr(self.procs, sink_name(index))

    @property
    def period(self) -> int:
        """Steps per sample: its frames, then the pipeline's delay."""
        return self.proc_params["net"].delay + self.proc_params["steps"]
