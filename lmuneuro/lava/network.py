"""A converted network (``lmuneuro.artifact``) as a Lava process graph, and running it on Lava's
CPU simulator (``Loihi2SimCfg``) sample after sample.

Built from the artifact alone: every LIF population is a ``LIFReset`` (reset at its float time 0
in every sample), every integrator an ``Integrator``, every synapse group a ``TapDense`` (the sets of a split weight, reading one source
with the same delays, are one process), the input frames and the clock, bos and eos sources
``RingBuffer``s, and a ``SpikeCounter`` records the read-out population's spikes in each
sample's window. Samples run back to back, ``period = delay + steps`` steps each.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..artifact import INPUT, FixedNetwork, read_artifact, source_patterns
from ..fixedpoint import quantize_input
from .compat import ensure_lava

__all__ = ["LavaNetwork", "build", "run"]


@dataclass
class LavaNetwork:
    """Handles of the process graph: probe any of them with a Lava Monitor before running."""

    net: FixedNetwork
    samples: int
    steps: int
    period: int
    sources: dict  # input, clock, bos, eos -> RingBuffer
    populations: dict  # name -> LIFReset or Integrator
    synapses: list  # TapDense, in build order
    output: object  # SpikeCounter on the last population
    monitors: dict = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return self.samples * self.period


def _source_data(net: FixedNetwork, q: np.ndarray, period: int) -> dict:
    """RingBuffer data (n, steps): the input's frames of every sample back to back, and one
    period of the clock, bos and eos (a RingBuffer repeats its data)."""
    samples, steps = q.shape[:2]
    frames = np.zeros((samples, period, net.input_size), np.int32)
    frames[:, :steps] = q
    patterns = {k: v.astype(np.int32)[None] for k, v in source_patterns(steps, period).items()}
    return {INPUT: frames.reshape(-1, net.input_size).T.copy(), **patterns}


def build(net: FixedNetwork | str | Path, x: np.ndarray, *, floating: bool = False) -> LavaNetwork:
    """The process graph of ``net`` (a network or an artifact file) fed the real-valued features
    x (samples, steps, input_size).

    ``floating``: parameters for the ``floating_pt`` models, in activation units (Lava's float LIF
    has no << 6): u = a (du 1), v = v (1 - dv / 4096) + u, spike when v > vth; no rounding."""
    if not isinstance(net, FixedNetwork):
        net = read_artifact(net)
    ensure_lava()
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIFReset

    from .procs.process import Integrator, SpikeCounter, TapDense

    q, _ = quantize_input(x, net.input_frac_bits, net.input_bits)
    samples, steps = q.shape[:2]
    period = net.delay + steps
    sources = {name: RingBuffer(data=data) for name, data in _source_data(net, q, period).items()}
    ports = {name: src.s_out for name, src in sources.items()}
    pops, synapses = {}, []
    for p in net.populations:
        if p.kind == "integrator":
            lif = Integrator(shape=(p.size,), lag=p.lag, period=period, name=p.name)
        else:
            decays = dict(du=(p.du + 1) / 4096, dv=p.dv / 4096) if floating else dict(du=p.du, dv=p.dv)
            lif = LIFReset(shape=(p.size,), **decays, vth=p.vth, bias_mant=0, bias_exp=0,
                           reset_interval=period, reset_offset=(p.lag + 1) % period, name=p.name)
        ports[p.name] = lif.s_out  # before its groups: an integrator reads itself
        for src, delays, groups in p.synapse_groups():
            syn = TapDense(weights=np.stack([g.w_int for g in groups]).astype(np.int32),
                           weight_exp=np.stack([g.weight_exp for g in groups]).astype(np.int32),
                           delays=np.array(delays), period=period, name=f"{p.name}<-{src}")
            ports[src].connect(syn.s_in)
            syn.a_out.connect(lif.a_in)
            synapses.append(syn)
        pops[p.name] = lif
    last = net.populations[-1]
    out = SpikeCounter(shape=(last.size,), samples=samples, period=period, start=last.lag, steps=steps,
                       name="readout")
    pops[last.name].s_out.connect(out.s_in)
    return LavaNetwork(net, samples, steps, period, sources, pops, synapses, out)


# Samples per process graph: bounds the memory of a long run (inputs, monitors) and the work lost
# to a failure; compiling a graph costs about a second.
CHUNK = 100


@contextlib.contextmanager
def _sigint_deferred():
    """Lava's runtime forks its actors here: they inherit a handler that only takes note, so a
    Ctrl-C reaches this process alone (which then ends them), never a worker mid-message. A
    Ctrl-C during the start-up is raised when it is done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = []
    old = signal.signal(signal.SIGINT, lambda *_: pending.append(1))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if pending:
        raise KeyboardInterrupt


def _end(runtime, graceful: bool) -> None:
    """Stop a Lava runtime and make sure every OS process it started has ended. After a failure
    or Ctrl-C the actors may be mid-step, where Lava's own stop() can wait for ever: kill them."""
    if runtime is None:
        return
    if graceful:
        runtime.stop()
        return
    # lava-nc 0.10 internals: the actors, the shared-memory manager, the watchdogs
    infra = runtime._messaging_infrastructure
    if infra is not None:
        for actor in infra.actors:
            if actor.is_alive():
                actor.kill()
        for actor in infra.actors:
            actor.join()
        if infra.smm is not None:
            infra.smm.shutdown()
    if runtime._watchdog_manager is not None:
        runtime._watchdog_manager.stop()
    runtime._is_started = runtime._is_running = False  # else its __del__ would stop() the dead actors


@contextlib.contextmanager
def _forgotten_after():
    """Lava's ProcessServer and VarServer singletons keep every process and Var ever made: drop
    those made inside, once their graph has ended (benchmarks/bench_long_run.py: growth per chunk
    of 100 digits samples 2.4 -> 1.2 MiB; the rest is Lava's compiler re-executing process-model
    modules at each compile). Ids stay unique (the counters are not reset)."""
    from lava.magma.core.process.process import ProcessServer
    from lava.magma.core.process.variable import VarServer

    processes, variables = ProcessServer(), VarServer()
    n_processes, n_vars = len(processes.processes), len(variables.vars)
    try:
        yield
    finally:
        del processes.processes[n_processes:]
        del variables.vars[n_vars:]


def _run_chunk(net: FixedNetwork, x: np.ndarray, cfg, record: bool, floating: bool, bar) -> tuple:
    with _forgotten_after():
        return _run_graph(net, x, cfg, record, floating, bar)


def _run_graph(net: FixedNetwork, x: np.ndarray, cfg, record: bool, floating: bool, bar) -> tuple:
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc.monitor.process import Monitor

    g = build(net, x, floating=floating)
    if record:
        for name, lif in g.populations.items():
            g.monitors[name] = Monitor()
            g.monitors[name].probe(lif.s_out, g.num_steps)
    anchor = g.output
    graceful = False
    try:
        with _sigint_deferred():
            anchor.create_runtime(run_cfg=cfg)
        for _ in range(g.samples):
            anchor.run(condition=RunSteps(num_steps=g.period))
            bar.update()
        head = g.output.counts.get().astype(bool)
        spikes, counts = {}, {}
        for p in net.populations if record else ():
            s = g.monitors[p.name].get_data()[p.name]["s_out"].reshape(g.samples, g.period, p.size)
            window = s[:, p.lag:p.lag + g.steps]  # an integrator's payloads, a LIF's spikes
            spikes[p.name] = window if p.kind == "integrator" else window > 0
            counts[p.name] = (s != 0).sum(axis=1).astype(np.int64)
        graceful = True
    finally:
        _end(anchor.runtime, graceful)
    return head, spikes, counts


def run(net: FixedNetwork, x: np.ndarray, *, record: bool = False, progress: bool = False, hardware: bool = False,
        floating: bool = False, chunk: int = CHUNK):
    """Run on Lava's bit-accurate CPU simulator (``hardware``: Loihi2HwCfg; ``floating``: the
    ``floating_pt`` models, the same network without rounding); returns an ``EmulatorResult`` (logits, per-step
    predictions, and with ``record`` every population's spikes in each sample's window and its
    spike count over each sample's steps, as the emulator's). Samples run ``chunk`` at a time,
    each chunk on a fresh process graph whose OS processes all end before the next starts, also
    when the run fails or is interrupted."""
    ensure_lava()
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg
    from tqdm import tqdm

    from ..emulator import EmulatorResult, readout

    if chunk < 1 or len(x) == 0:
        raise ValueError(f"nothing to run: {len(x)} samples in chunks of {chunk}")
    # On a board, Loihi's own LIF runs on the chip; processes without a chip model run on the host.
    tag = "floating_pt" if floating else "fixed_pt"
    cfg = Loihi2HwCfg(select_tag=tag) if hardware else Loihi2SimCfg(select_tag=tag)
    parts = []
    with tqdm(total=len(x), desc="loihi2" if hardware else "lava-sim", unit="sample", disable=not progress) as bar:
        for i in range(0, len(x), chunk):
            parts.append(_run_chunk(net, x[i:i + chunk], cfg, record, floating, bar))
    head = np.concatenate([h for h, _, _ in parts])
    spikes = {n: np.concatenate([s[n] for _, s, _ in parts]) for n in parts[0][1]}
    counts = {n: np.concatenate([c[n] for _, _, c in parts]) for n in parts[0][2]}
    logits, per_step = readout(net, head)
    return EmulatorResult(logits, per_step, spikes, counts, {}, {})
