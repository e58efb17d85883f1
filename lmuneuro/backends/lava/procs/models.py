"""How ``LmuNetwork`` runs: as the network of Lava's standard processes that
``lmuneuro.backends.lava.network.create_processes`` builds from the artifact (no model of
lmuneuro's own computes anything).

Imports are absolute: Lava's compiler loads this file on its own when it looks for models."""

from __future__ import annotations

from lmuneuro.backends.lava.compat import ensure_lava

ensure_lava()

from lava.magma.core.decorator import implements  # noqa: E402
from lava.magma.core.model.sub.model import AbstractSubProcessModel  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402
from lava.proc.io.sink import RingBuffer as Sink  # noqa: E402

from lmuneuro.backends.lava.network import create_processes  # noqa: E402
from lmuneuro.backends.lava.procs.process import LmuNetwork, sink_name  # noqa: E402


@implements(proc=LmuNetwork, protocol=LoihiProtocol)
class LmuNetworkModel(AbstractSubProcessModel):
    """The sub-processes, each an attribute (Lava finds them there): ``gate``, ``pop_<i>``,
    ``syn_<j>`` and, when recording, a sink per population (``sink_name``)."""

    def __init__(self, proc: LmuNetwork) -> None:
        params = proc.proc_params
        net = params["net"]
        g = create_processes(net, params["steps"], floating=params["floating"])
        self.gate = g.gate
        for i, p in enumerate(g.populations.values()):
            setattr(self, f"pop_{i:04d}", p)
            if params["record"]:
                sink = Sink(shape=p.s_out.shape, buffer=params["record"])
                p.s_out.connect(sink.a_in)
                setattr(self, sink_name(i), sink)
        for j, s in enumerate(g.synapses):
            setattr(self, f"syn_{j:04d}", s)
        for s in g.from_input:
            proc.in_ports.frames_in.connect(s.in_ports.s_in)
        g.populations[net.readout].out_ports.s_out.connect(proc.out_ports.spikes_out)
