"""A converted network (``lmuneuro.artifact``) as Lava's own processes, and running it on Lava's
CPU simulator (``Loihi2SimCfg``) or a Loihi 2 board (``Loihi2HwCfg``) sample after sample.

Built from the artifact alone, one ``create_*`` per entry type (as lava-dl netx builds its
networks): every population a ``LIFReset`` (a layer), ``LIF`` (a relay) or ``GradedVec`` (a term
of the residual stream, threshold 0: it sends every non-zero sum), every synapse entry a
``Dense``, ``DelayDense``, ``Sparse`` or ``DelaySparse`` of the same class, the gate a
``RingBuffer`` source repeating one sample's pattern. ``procs.LmuNetwork`` wraps them as one
process with ports; ``run`` feeds it from a ``RingBuffer`` and reads it into a sink.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse

from ...artifact import (
    GATE,
    INPUT,
    FixedNetwork,
    Layer,
    Neurons,
    Relay,
    Synapse,
    Term,
    gate_pattern,
    read_artifact,
)
from ...formats import LAVA, Formats
from ...loihi import LifConstants, check_formats
from ..result import RunResult, readout
from .compat import ensure_lava

__all__ = [
    "Processes",
    "create_processes",
    "create_neurons",
    "create_synapse",
    "create_gate",
    "process_classes",
    "run",
    "CHIP_CLASSES",
]

# What the network is made of: Lava's standard processes with Loihi 2 neuro-core models
# (docs/pipeline.md lists the evidence), and the host source of the gate.
CHIP_CLASSES = ("LIFReset", "LIF", "GradedVec", "Dense", "DelayDense", "Sparse", "DelaySparse")


@dataclass
class Processes:
    gate: object  # lava.proc.io.source.RingBuffer
    populations: dict  # name -> LIFReset, LIF or GradedVec
    synapses: list  # Dense, DelayDense, Sparse, DelaySparse, in the artifact's order
    from_input: list  # the synapses that read the input frames


def create_neurons(p: Neurons, period: int, floating: bool = False, fmt: Formats = LAVA):
    """A population. ``floating``: parameters for Lava's ``floating_pt`` LIF, in activation units
    (it has no << 6 and no bias exponent): u = a (du 1), v = v keep_v + u + bias, with the
    ``loihi.LifConstants`` of the population in ``fmt``."""
    from lava.proc.graded.process import GradedVec
    from lava.proc.lif.process import LIF, LIFReset

    if isinstance(p, Term):
        return GradedVec(shape=(p.size,), vth=0)
    if floating:
        c = LifConstants.of(p.du, p.dv, p.vth, fmt)
        params = dict(
            du=1 - c.keep_u,
            dv=1 - c.keep_v,
            vth=c.threshold / c.act,
            v=p.v_init / c.act,
            bias_mant=p.bias / c.act,
            bias_exp=0,
        )
    else:
        params = dict(
            du=p.du,
            dv=p.dv,
            vth=p.vth,
            v=p.v_init,
            bias_mant=np.asarray(p.bias_mant, np.int32),
            bias_exp=np.asarray(p.bias_exp, np.int32),
        )
    if isinstance(p, Relay):
        return LIF(shape=(p.size,), name=p.name, **params)
    # Lava counts steps from 1: the reset falls before the update of step `lag` (0-based) of each
    # sample
    return LIFReset(
        shape=(p.size,),
        reset_interval=period,
        reset_offset=(p.lag + 1) % period,
        name=p.name,
        **params,
    )


def create_synapse(s: Synapse, message_bits: int, floating: bool = False):
    """A synapse process of the entry's class; ``message_bits`` > 0 for graded payloads.
    ``floating``: the weights as real numbers (Lava's ``floating_pt`` models have no exponent)."""
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.sparse.process import DelaySparse, Sparse

    w = (
        np.asarray(s.weights, np.float64) * 2.0**s.weight_exp
        if floating
        else np.asarray(s.weights, np.int32)
    )
    params = dict(num_message_bits=message_bits, name=s.name)
    if not floating:
        params["weight_exp"] = s.weight_exp
    if s.sparse:
        w = scipy.sparse.csr_matrix(w)
    if s.delay:
        cls = DelaySparse if s.sparse else DelayDense
        return cls(weights=w, delays=int(s.delay), **params)
    return (Sparse if s.sparse else Dense)(weights=w, **params)


def create_gate(net: FixedNetwork, steps: int, period: int):
    """The gate: one sample's pattern (``artifact.gate_pattern``), repeated."""
    from lava.proc.io.source import RingBuffer

    return RingBuffer(data=gate_pattern(net.gate_channels, steps, period).astype(np.int32))


def create_processes(net: FixedNetwork, steps: int, *, floating: bool = False) -> Processes:
    """Every process of ``net`` for samples of ``steps`` frames, connected to each other; the
    synapses that read the input are left for the caller to feed."""
    check_formats(net.formats)
    period = net.delay + steps
    gate = create_gate(net, steps, period)
    pops = {p.name: create_neurons(p, period, floating, net.formats) for p in net.populations}
    syns, from_input = [], []
    graded = {p.name for p in net.populations if isinstance(p, Term)}
    for s in net.synapses:
        bits = (
            net.input_bits
            if s.src == INPUT
            else net.formats.message_bits_max
            if s.src in graded
            else 0
        )
        proc = create_synapse(s, bits, floating)
        if s.src == INPUT:
            from_input.append(proc)
        else:
            (gate if s.src == GATE else pops[s.src]).s_out.connect(proc.s_in)
        proc.a_out.connect(pops[s.dst].a_in)
        syns.append(proc)
    return Processes(gate, pops, syns, from_input)


def process_classes(net: FixedNetwork, steps: int | None = None) -> dict[tuple[str, str], int]:
    """(module, class) -> count of every Lava process the network instantiates, read off the
    processes ``create_processes`` really builds (default ``steps``: the length the model was
    trained on)."""
    ensure_lava()
    with _forgotten_after():
        g = create_processes(net, steps or int(net.meta.get("config", {}).get("seq_len", 1)))
        counts: dict[tuple[str, str], int] = {}
        for p in [g.gate, *g.populations.values(), *g.synapses]:
            key = (type(p).__module__, type(p).__qualname__)
            counts[key] = counts.get(key, 0) + 1
    return counts


# Samples per process graph: bounds the memory of a long run (inputs, sinks) and the work lost
# to a failure; compiling a graph costs a few seconds.
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
    runtime._is_started = runtime._is_running = (
        False  # else its __del__ would stop() the dead actors
    )


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


def off_chip(processes) -> list[str]:
    """The compiled processes of the network's chip classes that did not get a neuro-core model
    (on a board they would run on the host, every message crossing the chip boundary)."""
    from lava.magma.core.resources import NeuroCore

    def on_chip(model) -> bool:
        return any(
            isinstance(r, type) and issubclass(r, NeuroCore)
            for r in getattr(model, "required_resources", ())
        )

    return [
        f"{p.name} ({type(p).__name__}: {p.model_class.__name__})"
        for p in processes.members
        if type(p).__name__ in CHIP_CLASSES and not on_chip(p.model_class)
    ]


def _run_chunk(
    net: FixedNetwork, x: np.ndarray, cfg, record: bool, floating: bool, hardware: bool, bar
) -> tuple:
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from .procs.process import LmuNetwork

    q, clipped = net.quantize_input(x)
    samples, steps = q.shape[:2]
    period = net.delay + steps
    lmu = LmuNetwork(
        net=net, steps=steps, floating=floating, record=samples * period if record else 0
    )
    frames = np.zeros((samples, period, net.input_channels), np.int32)
    frames[:, :steps] = q
    source = Source(data=frames.reshape(-1, net.input_channels).T.copy())
    source.s_out.connect(lmu.frames_in)
    sink = None
    if not record:  # recording: the read-out layer's own sink holds its spikes
        sink = Sink(shape=lmu.spikes_out.shape, buffer=samples * period)
        lmu.spikes_out.connect(sink.a_in)
    graceful = False
    try:
        with _sigint_deferred():
            executable = lmu.compile(run_cfg=cfg)
            if hardware:
                fallback = off_chip(lmu.procs)
                if fallback:
                    raise ValueError(
                        f"{len(fallback)} process(es) got no Loihi 2 neuro-core model, first "
                        f"{fallback[0]}: refusing to run them on the host"
                    )
            lmu.create_runtime(executable=executable)
        for _ in range(samples):
            lmu.run(condition=RunSteps(num_steps=period))
            bar.update()
        spikes, counts, per_step = {}, {}, {}
        for i, p in enumerate(
            net.populations if record else ()
        ):  # Lava reads a Var one element at a time
            s = lmu.recording(i).data.get().T.reshape(samples, period, p.size)
            counts[p.name] = (s != 0).sum(axis=1).astype(np.int64)
            per_step[p.name] = (s != 0).sum(axis=2).astype(np.int64)
            if isinstance(p, Layer):
                spikes[p.name] = s[:, p.lag : p.lag + steps] != 0
        head = (
            spikes[net.readout]
            if record
            else sink.data.get().T.reshape(samples, period, -1)[:, net.delay :] != 0
        )
        graceful = True
    finally:
        _end(lmu.runtime, graceful)
    return head, spikes, counts, per_step, q, clipped


def run(
    net: FixedNetwork | str | Path,
    x: np.ndarray,
    *,
    record: bool = False,
    progress: bool = False,
    hardware: bool = False,
    floating: bool = False,
    chunk: int = CHUNK,
) -> RunResult:
    """Run on Lava's bit-accurate CPU simulator (``hardware``: a Loihi 2 board through Intel's
    extension, every chip process on a neuro-core or a ValueError; ``floating``: the
    ``floating_pt`` models, the same network without rounding); returns an ``RunResult``
    (logits, per-step predictions, and with ``record`` every layer's spikes in each sample's
    window and every population's spike count over each sample's steps, as the emulator's).
    Samples run ``chunk`` at a time, each chunk on a fresh process graph whose OS processes all
    end before the next starts, also when the run fails or is interrupted."""
    if not isinstance(net, FixedNetwork):
        net = read_artifact(net)
    ensure_lava()
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg

    from ...progress import progress_bar

    if chunk < 1 or len(x) == 0:
        raise ValueError(f"nothing to run: {len(x)} samples in chunks of {chunk}")
    # No select tag on a board: Intel's tutorials pass none, and "fixed_pt" can pick CPU models.
    if hardware:
        cfg = Loihi2HwCfg()
    elif floating:  # Lava ships GradedVec's fixed_pt model only
        from lava.proc.graded.process import GradedVec

        from .floating import PyGradedVecModelFloat

        cfg = Loihi2SimCfg(
            select_tag="floating_pt", exception_proc_model_map={GradedVec: PyGradedVecModelFloat}
        )
    else:
        cfg = Loihi2SimCfg(select_tag="fixed_pt")
    parts = []
    with progress_bar(
        total=len(x), desc="loihi2" if hardware else "lava-sim", unit="sample", enabled=progress
    ) as bar:
        for i in range(0, len(x), chunk):
            with _forgotten_after():
                parts.append(
                    _run_chunk(net, x[i : i + chunk], cfg, record, floating, hardware, bar)
                )
    head = np.concatenate([part[0] for part in parts])
    spikes, counts, step_counts = (
        {n: np.concatenate([part[i][n] for part in parts]) for n in parts[0][i]} for i in (1, 2, 3)
    )
    logits, per_step = readout(net, head)
    frames = np.concatenate([part[4] for part in parts])
    clipped = sum(part[5] for part in parts)
    return RunResult(logits, per_step, spikes, counts, step_counts, frames, clipped)
