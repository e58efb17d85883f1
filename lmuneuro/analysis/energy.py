"""Synaptic operations and energy per layer, from measured activity, under a hardware profile.

The last stage of the pipeline: it reads an artifact and the activity of a run (``lmuneuro run
--activity``, or a run it starts itself) and prices the counted operations with a profile's
constants. Every figure is per sample. What is counted:

- synaptic events: each spike (or graded message: the input's and the residual terms') times its
  non-zero synapses in each synapse process that reads it (``analysis.activity``), relays and the
  gate's inhibition included. On a neuromorphic target graded events are priced as such
  (``energy.graded_synaptic_op``: a weight times a payload of up to 24 bits); a profile without
  that price cannot price a network with graded messages (``EnergyError``);
- neuron updates: every neuron of every population at every step of a sample (Loihi updates all
  compartments of a core each step); those that fire are priced as active updates, the rest idle;
- routing: one message per spike sent, per graded input message and per gate spike;
- real-valued MACs that remain: the graded input layer (its events are multiply-accumulates on a
  CMOS target) and the read-out head (classes x neurons once per sample, on the host);
- chip-to-chip messages: where the network spans several chips of a board, each spike of a
  population is one message per core of its readers on another chip (Loihi's axons address one
  core each; ``energy.interchip_message``);
- static energy: the profile's static power per chip x the chips in use x the time a sample
  takes, in two modes: back to back (each step of a sample timed by ``analysis.runtime`` from
  the run's activity, or a fixed time per step; the headline figure, with the latency) and real
  time (one step per input frame: ``frame_ms``, by default the
  features' frame shift, x the sample's frames).

The same network as a non-spiking ANN is counted by ``models.macs`` on the model that the
artifact's config describes; ``rendering`` turns the report into a table or an HTML page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..artifact import FixedNetwork
from ..compile.mapping import Placement, interchip_copies, place
from ..models.macs import ann_macs
from ..profiles import EnergyConstant, Profile, load_profile
from .activity import Activity, LayerActivity, Sources
from .runtime import Range, Runtime, StepTimes, step_times, workload

__all__ = [
    "EnergyError",
    "AnnComparison",
    "BackToBack",
    "EnergyReport",
    "EnergyTotals",
    "LayerEnergy",
    "ModuleEnergy",
    "RealTime",
    "StaticModes",
    "report",
]


class EnergyError(ValueError):
    """A request that cannot be priced; one line naming the problem."""


NONE = Range(0.0, 0.0, 0.0)


@dataclass(frozen=True)
class LayerEnergy(LayerActivity):
    """One population's row of a report: its activity, what the chip holds of it and what it
    costs per sample (JSON: the activity's fields but the class, then these in order)."""

    rate: float  # spikes per neuron per step
    synops: float  # the chip's synaptic events, binary and graded
    chip_per_model: float | None  # its caused events per model SynOp (None: no model count)
    synapses: int
    synapse_memory_bytes: int
    cores: int | None  # neuromorphic profiles only, as ``chips``
    chips: list[int] | None
    energy_pj: dict[str, float]  # per component
    energy_total_pj: float
    share: float  # of the report's total

    def to_dict(self) -> dict:  # the activity's class is not repeated
        return _on_chip({k: v for k, v in super().to_dict().items() if k != "class"})


@dataclass(frozen=True)
class ModuleEnergy:
    """One module's row of a report that prices the network as an ANN (``Profile.runs``)."""

    layer: str
    macs: int
    energy_pj: dict[str, float]
    energy_total_pj: float
    share: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EnergyTotals:
    """A report's counts per sample summed over its populations (``LayerEnergy``), the sources'
    messages in ``messages_routed``; ``cores`` and ``chips`` (in use) on neuromorphic profiles."""

    spikes: float
    synops: float
    binary_synops: float
    graded_synops: float
    model_synops: float
    model_graded_macs: float
    chip_per_model: float | None
    neuron_updates: int
    messages_routed: float
    interchip_messages: float
    head_macs: int
    synapses: int
    synapse_memory_bytes: int
    cores: int | None = None
    chips: int | None = None

    def to_dict(self) -> dict:
        return _on_chip(asdict(self))


def _on_chip(row: dict) -> dict:
    """A row without its cores and chips where the profile places nothing (CMOS)."""
    return {k: v for k, v in row.items() if v is not None or k not in ("cores", "chips")}


@dataclass(frozen=True)
class BackToBack:
    """A sample's static energy with its steps back to back, at the modelled (or given) time per
    step."""

    us_per_step: float  # the mean
    seconds_per_sample: float
    static_pj: Range
    total_pj: Range  # dynamic and static


@dataclass(frozen=True)
class RealTime:
    """A sample's static energy in real time: one step per input frame."""

    frame_ms: float
    seconds_per_sample: float
    static_pj: Range
    total_pj: Range  # dynamic and static


@dataclass(frozen=True)
class StaticModes:
    """Where the profile has static power: the sample's steps back to back, and in real time
    where the features have a frame rate."""

    back_to_back: BackToBack | None = None
    real_time: RealTime | None = None

    def to_dict(self) -> dict:
        return {k: asdict(m) for k, m in vars(self).items() if m is not None}


@dataclass(frozen=True)
class AnnComparison:
    """The same network as a non-spiking ANN (``models.macs.ann_macs``: MACs per sample, per
    module, the LMU memory's recurrent form apart, parameters) beside the SNN in the paper's
    convention: SNN = ``snn_synops`` accumulates x 0.9 pJ + the graded MACs and the head's x
    4.6 pJ, ANN = MACs x 4.6 pJ (45 nm, Horowitz 2014, the bundled cmos45 profiles)."""

    macs: int
    by_module: dict[str, int]
    memory_recurrent_macs: int
    parameters: int
    snn_synops: float  # the model's own count where the artifact records it, as the paper's
    snn_graded_macs: float
    snn_pj_45nm: float
    ann_pj_45nm: float
    synops_per_mac: float | None
    energy_ratio_45nm: float | None

    @classmethod
    def of(cls, ann: dict, t: EnergyTotals) -> "AnnComparison":
        """``ann`` (``ann_macs``) beside the SNN's counts ``t``."""
        synops, graded = (
            (t.model_synops, t.model_graded_macs)
            if t.model_synops
            else (t.synops - t.graded_synops, t.graded_synops)
        )
        snn, cmos = load_profile("cmos45-snn").energy, load_profile("cmos45-ann").energy
        snn_pj = synops * snn["accumulate"].value + (graded + t.head_macs) * snn["mac"].value
        ann_pj = ann["macs"] * cmos["mac"].value
        return cls(
            **ann,
            snn_synops=synops,
            snn_graded_macs=graded,
            snn_pj_45nm=snn_pj,
            ann_pj_45nm=ann_pj,
            synops_per_mac=synops / ann["macs"] if ann["macs"] else None,
            energy_ratio_45nm=snn_pj / ann_pj if ann_pj else None,
        )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EnergyReport:
    """What a run's activity costs per sample under one profile, as ``rendering`` draws it;
    ``to_dict`` is what ``lmuneuro energy --json`` prints."""

    artifact_checksum: str
    profile: str
    profile_description: str
    kind: str  # the profile's: "neuromorphic" or "cmos"
    samples: int
    steps: int
    steps_per_sample: int
    delay_steps: int
    # per population its activity, priced; a profile that prices the ANN: per module of the model
    layers: list[LayerEnergy] | list[ModuleEnergy]
    sources: Sources  # the input's and the gate's activity
    totals: EnergyTotals
    static_modes: StaticModes
    energy: dict[str, Range]  # pJ per sample, per component
    constants: dict[str, EnergyConstant]  # the profile's, with their sources and ranges
    step_us: float | None
    ann: AnnComparison | None = None  # the same network as an ANN, in the paper's convention
    runtime: Runtime | None = None  # where the profile has static power
    assumptions: list[str] = field(default_factory=list)

    @property
    def total(self) -> Range:
        """pJ per sample, with its range from the constants' ranges."""
        return sum(self.energy.values(), NONE)

    @property
    def dynamic(self) -> Range:
        """pJ per sample of everything but static power."""
        return sum((v for c, v in self.energy.items() if c != "static"), NONE)

    def to_dict(self) -> dict:
        total = self.total
        out = {
            "artifact_checksum": self.artifact_checksum,
            "profile": self.profile,
            "profile_description": self.profile_description,
            "kind": self.kind,
            "samples": self.samples,
            "steps": self.steps,
            "steps_per_sample": self.steps_per_sample,
            "delay_steps": self.delay_steps,
            "layers": [r.to_dict() for r in self.layers],
            "sources": self.sources.to_dict(),
            "totals": self.totals.to_dict(),
            "static_modes": self.static_modes.to_dict(),
            "energy_pj": {c: v.value for c, v in self.energy.items()},
            "energy_total_pj": total.value,
            "energy_range_pj": [total.low, total.high],
            "energy_dynamic_pj": self.dynamic.value,
            "energy_dynamic_range_pj": [self.dynamic.low, self.dynamic.high],
            "constants": {q: vars(c) for q, c in self.constants.items()},
            "step_us": self.step_us,
        }
        if self.ann is not None:
            out["ann"] = self.ann.to_dict()
        if self.runtime is not None:
            out["runtime"] = self.runtime.to_dict()
        out["assumptions"] = self.assumptions
        return out


def _price(counts: dict, profile: Profile) -> Range:
    """pJ of ``counts`` (quantity -> operations) at the profile's constants."""
    return sum((n * Range.of(profile.energy[q]) for q, n in counts.items()), NONE)


def _layer_ops(row: LayerActivity, profile: Profile) -> dict[str, dict]:
    """Operations per energy component for one population: component -> {constant: count}."""
    if profile.kind == "cmos":
        return {"synaptic": {"accumulate": row.synaptic_events, "mac": row.graded_events}}
    fired = row.spikes
    return {
        "synaptic": {
            "synaptic_op": row.synaptic_events,
            **({"graded_synaptic_op": row.graded_events} if row.graded_events else {}),
        },
        "neuron": {
            "neuron_update_active": fired,
            "neuron_update_idle": row.neuron_updates - fired,
        },
        "routing": {"spike_route": fired},
    }


def report(
    net: FixedNetwork,
    act: Activity,
    profile: Profile | str,
    *,
    step_us: float | None = None,
    frame_ms: float | None = None,
    placed: list[Placement] | None = None,
) -> EnergyReport:
    """Per-layer and total operations and energy (pJ per sample) of activity ``act`` under
    ``profile``; ``step_us`` replaces the profile's time per step, ``frame_ms`` the features'
    frame shift for the real-time static energy; ``placed``: ``net`` on the profile's board
    where the caller has placed it already (``mapping.place``)."""
    profile = load_profile(profile) if isinstance(profile, str) else profile
    for name, v in (("time per step", step_us), ("frame time", frame_ms)):
        if v is not None and not v > 0:
            raise EnergyError(f"the {name} must be positive, got {v}")
    if frame_ms is None:
        frame_ms = (net.meta.get("features") or {}).get("frame_shift_ms")
    board = None  # placed once: its cores, its chip-to-chip messages and its time per step
    if profile.kind == "neuromorphic":
        board = place(net, profile.resources) if placed is None else placed
    per_layer, energy, interchip = _dynamic(net, act, profile, board)
    modes, runtime = StaticModes(), None
    if "static_power" in profile.energy:
        times = _step_times(net, act, profile, step_us, board)
        watts = _chips(board) * Range.of(profile.energy["static_power"])
        # W x us = 1e6 pJ; back to back, a sample takes its period of steps
        energy["static"] = Range(
            *(w * t.sum() * 1e6 for w, t in zip(watts, (times.value, times.low, times.high)))
        )
        modes = _static_modes(times, watts, energy, frame_ms, act.steps)
        runtime = Runtime.of(times, frame_ms)
    layers = _layers(net, act, per_layer, board, sum(energy.values(), NONE))
    totals = _totals(net, act, layers, interchip, board)
    versus_ann = None
    if "config" in net.meta:
        versus_ann = AnnComparison.of(ann_macs(net.meta["config"], act.steps), totals)
        if profile.runs == "ann":  # price the ANN, not the spikes
            mac, macs = profile.energy["mac"].value, versus_ann.macs
            layers = [
                ModuleEnergy(k, v, {"mac": v * mac}, v * mac, v / macs if macs else 0.0)
                for k, v in versus_ann.by_module.items()
            ]
            energy = {"mac": macs * Range.of(profile.energy["mac"])}
    out = EnergyReport(
        artifact_checksum=net.checksum,
        profile=profile.name,
        profile_description=profile.description,
        kind=profile.kind,
        samples=act.samples,
        steps=act.steps,
        steps_per_sample=act.steps_per_sample,
        delay_steps=net.delay,
        layers=layers,
        sources=act.sources,
        totals=totals,
        static_modes=modes,
        energy=energy,
        constants=dict(profile.energy),
        step_us=modes.back_to_back.us_per_step if modes.back_to_back else None,
        ann=versus_ann,
        runtime=runtime,
    )
    return replace(out, assumptions=_assumptions(out, profile))


def _chips(board: list[Placement] | None) -> int:
    """The chips a placed network spans (one where nothing is placed)."""
    return 1 + max(c for p in board for c in p.chips) if board else 1


def _dynamic(
    net: FixedNetwork, act: Activity, profile: Profile, board: list[Placement] | None
) -> tuple[list[dict], dict[str, Range], float]:
    """(per population its pJ per component, pJ per component of the whole network with the
    static energy still 0, chip-to-chip messages per sample)."""
    graded = sum(r.graded_events for r in act.layers)
    if profile.kind == "neuromorphic" and graded and "graded_synaptic_op" not in profile.energy:
        raise EnergyError(
            f"profile {profile.name} has no energy.graded_synaptic_op to price the "
            f"{graded:,.0f} graded synaptic events per sample (the graded input and the residual "
            "stream's terms)"
        )
    components = ("synaptic", "neuron", "routing")
    per_layer, totals = [], {c: NONE for c in (*components, "host", "static")}
    for row in act.layers:
        ops = _layer_ops(row, profile)
        priced = {c: _price(ops.get(c, {}), profile) for c in components}
        for c in components:
            totals[c] += priced[c]
        per_layer.append({c: r.value for c, r in priced.items()})
    interchip = 0.0
    if profile.kind == "neuromorphic":
        messages = act.sources.input.graded_messages + act.sources.gate.spikes
        totals["routing"] += messages * Range.of(profile.energy["spike_route"])
        interchip = _interchip(net, act, profile, board)
        if interchip:
            if "interchip_message" not in profile.energy:
                raise EnergyError(
                    f"profile {profile.name} has no energy.interchip_message to price the "
                    f"messages between the {_chips(board)} chips the network spans"
                )
            totals["routing"] += interchip * Range.of(profile.energy["interchip_message"])
    if profile.kind == "cmos":
        totals["host"] = int(np.asarray(net.head_weight).size) * Range.of(profile.energy["mac"])
    return per_layer, totals, interchip


def _static_modes(
    times: StepTimes, watts: Range, energy: dict[str, Range], frame_ms: float | None, steps: int
) -> StaticModes:
    """A sample's static energy back to back (``energy``'s) and, with a frame rate, in real
    time."""
    total, real_time = sum(energy.values(), NONE), None
    if frame_ms is not None:  # in real time, one step per frame: a sample takes its frames
        static = watts * frame_ms * 1e3 * steps * 1e6
        real_time = RealTime(
            frame_ms, frame_ms * steps / 1e3, static, total - energy["static"] + static
        )
    b2b = BackToBack(
        float(times.value.mean()), float(times.value.sum() / 1e6), energy["static"], total
    )
    return StaticModes(b2b, real_time)


def _layers(
    net: FixedNetwork,
    act: Activity,
    per_layer: list[dict],
    board: list[Placement] | None,
    total: Range,
) -> list[LayerEnergy]:
    """Each population's row: its activity, its synapses and cores, its energy and share."""
    at = {p.population: p for p in board} if board else {}
    rows = []
    for row, energy in zip(act.layers, per_layer):
        synapses = int(sum(np.count_nonzero(s.weights) for s in net.inputs_of(row.layer)))
        energy_total = sum(energy.values())
        rows.append(
            LayerEnergy(
                **vars(row),
                rate=row.spikes / (row.neurons * act.steps_per_sample),
                synops=row.synaptic_events + row.graded_events,
                chip_per_model=row.caused_events / row.model_synops
                if row.model_synops and row.caused_events  # the head: read on the host
                else None,
                synapses=synapses,
                synapse_memory_bytes=synapses * net.formats.weight_bits // 8,
                cores=at[row.layer].cores if at else None,
                chips=list(at[row.layer].chips) if at else None,
                energy_pj=energy,
                energy_total_pj=energy_total,
                share=energy_total / total.value if total.value else 0.0,
            )
        )
    return rows


def _totals(
    net: FixedNetwork,
    act: Activity,
    layers: list[LayerEnergy],
    interchip: float,
    board: list[Placement] | None,
) -> EnergyTotals:
    """The rows' counts summed, the sources' messages with the populations'."""
    model_synops = sum(r.model_synops for r in layers)
    binary = sum(r.synaptic_events for r in layers)
    src = act.sources
    return EnergyTotals(
        spikes=sum(r.spikes for r in layers),
        synops=sum(r.synops for r in layers),
        binary_synops=binary,
        graded_synops=sum(r.graded_events for r in layers),
        model_synops=model_synops,
        model_graded_macs=src.input.model_graded_macs,
        chip_per_model=binary / model_synops if model_synops else None,
        neuron_updates=sum(r.neuron_updates for r in layers),
        messages_routed=sum(r.spikes for r in layers)
        + (src.input.graded_messages + src.gate.spikes),
        interchip_messages=interchip,
        head_macs=int(np.asarray(net.head_weight).size),
        synapses=sum(r.synapses for r in layers),
        synapse_memory_bytes=sum(r.synapse_memory_bytes for r in layers),
        cores=sum(r.cores for r in layers) if board else None,
        chips=_chips(board) if board else None,
    )


def _step_times(
    net: FixedNetwork,
    act: Activity,
    profile: Profile,
    step_us: float | None,
    board: list[Placement] | None,
) -> StepTimes:
    """A sample's time per step: ``step_us`` given, else the runtime model where the profile has
    its constants, else the profile's fixed ``[timing.step]``."""
    if step_us is None and profile.timing is not None:
        load, recorded = workload(net, act, profile, board)
        return replace(step_times(load, profile.timing), recorded=recorded)
    fixed = step_us if step_us is not None else profile.step_us
    if fixed is None:
        raise EnergyError(
            f"profile {profile.name} has static power but no timing constants: give the time per "
            "step (--step-us)"
        )
    us = Range(fixed, fixed, fixed) if step_us is not None else Range.of(fixed)
    flat = [np.full(act.steps_per_sample, v) for v in us]
    how = "given (--step-us)" if step_us is not None else "the profile's timing.step"
    return StepTimes(flat[1], flat[0], flat[2], flat[0], "fixed time per step", False, how)


def _interchip(net: FixedNetwork, act: Activity, profile: Profile, board: list[Placement]) -> float:
    """Messages per sample between chips: every spike of a population times its copies to the
    cores of its readers on other chips (``mapping.interchip_copies``, as the runtime model
    counts them)."""
    per_chip = profile.resources["cores_per_chip"]
    placed = {p.population: p for p in board}
    spikes = {r.layer: r.spikes for r in act.layers}
    return float(
        sum(
            spikes[s.src] * interchip_copies(placed[s.src], placed[s.dst], per_chip)
            for s in net.synapses
            if s.src in placed
        )
    )


def _assumptions(r: EnergyReport, profile: Profile) -> list[str]:
    lines = [
        f"{r.samples} samples, {r.steps} steps each plus {r.delay_steps} steps of "
        "pipeline delay; "
        "figures per sample."
    ]
    if profile.kind == "neuromorphic":
        lines += [
            "Every neuron is updated every step; updates that fire are priced as active, the rest "
            "idle.",
            "One routed message per spike, per graded input message and per gate spike; hops "
            "between cores "
            "not modelled.",
            "Relay neurons (the LMU memory's delay line) and the gate's inhibition are priced as "
            "the chip's "
            "own work.",
            f"The read-out head ({r.totals.head_macs} MACs) runs on the host: not in the "
            "chip energy.",
        ]
        if r.runtime is not None:
            rt, step = r.static_modes.real_time, r.runtime.step_us
            modelled = r.runtime.bound != "fixed time per step"
            how = r.runtime.source
            lines.append(
                f"Static energy of {r.totals.chips} chip(s) back to back over the modelled "
                f"time: {step.mean:.3g} us per step on average (range {step.low:.3g}-"
                f"{step.high:.3g}; from {how}); this is the headline figure."
                + (
                    f" In real time (one step per {rt.frame_ms:g} ms frame, "
                    f"{rt.seconds_per_sample:g} s per sample) it is "
                    f"{rt.static_pj.value / 1e6:,.0f} uJ per sample."
                    if rt
                    else " No real-time figure: the features have no frame rate (--frame-ms)."
                )
            )
            if modelled and not r.runtime.per_step_recorded:
                lines.append(
                    "The activity has no per-step counts: each sample's spikes are spread evenly "
                    "over its steps, so the busiest steps are timed as average ones."
                )
            if r.totals.chips > 1:
                lines.append(
                    "Chip-to-chip messages: each spike read on another chip is one message per "
                    "core it reaches there (energy.interchip_message; Loihi's axons address one "
                    "core each)."
                )
    elif profile.runs == "snn":
        lines += [
            "Binary spikes cost an accumulate per synaptic event; graded input events and the head "
            "cost MACs.",
            "Neuron updates, routing and memory access are not priced (the SNN literature's "
            "convention).",
        ]
    else:
        lines += [
            "The same network as a non-spiking ANN: every synapse a MAC every step (PyTorch's FLOP "
            "counter).",
            "The LMU memory (FFT in the reference) is not a MAC; its recurrent form would add "
            f"{r.ann.memory_recurrent_macs:,} MACs.",
        ]
    timing = {f"timing.{q}": c for q, c in (profile.timing or {}).items()}
    lines += [
        f"{q}: {c.value:g} {c.unit} (range {c.low:g}-{c.high:g}), {c.source}"
        for q, c in {**r.constants, **(timing if r.runtime is not None else {})}.items()
    ]
    return lines
