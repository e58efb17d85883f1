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

from dataclasses import asdict, dataclass, field, fields, replace
from typing import NamedTuple

import numpy as np

from ..artifact import GATE, INPUT, FixedNetwork
from ..backends import check_run_size
from ..compile.limits import resources
from ..compile.mapping import interchip_copies, place
from ..files import parse_json, read_text
from ..models.macs import ann_macs
from ..profiles import EnergyConstant, Profile, load_profile
from .activity import Activity, GateActivity, InputActivity, LayerActivity, Sources
from .runtime import StepTimes, step_times, workload

__all__ = [
    "EnergyError",
    "BackToBack",
    "EnergyReport",
    "EnergyTotals",
    "LayerEnergy",
    "ModuleEnergy",
    "Range",
    "RealTime",
    "Runtime",
    "StaticModes",
    "StepMicroseconds",
    "activity_from_dict",
    "report",
    "read_activity",
]


class EnergyError(ValueError):
    """Activity or a request that cannot be priced; one line naming the problem."""


# the counts an activity file gives per population, each checked below
_COUNTS = tuple(f.name for f in fields(LayerActivity) if f.name not in ("layer", "lava_class"))
_SOURCES = ((INPUT, InputActivity), (GATE, GateActivity))


def read_activity(path, net: FixedNetwork) -> Activity:
    """The activity JSON that ``lmuneuro run --activity`` wrote, checked against ``net``."""
    where = str(path)
    try:
        act = parse_json(read_text(path))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise EnergyError(
            f"{where}: not a readable activity file ({str(e).splitlines()[0]})"
        ) from None
    return activity_from_dict(act, net, where)


def activity_from_dict(act, net: FixedNetwork, where: str = "activity") -> Activity:
    """An activity's JSON form (``Activity.to_dict``, as a file holds it) checked against ``net``;
    every problem an ``EnergyError`` naming ``where``."""
    if (
        not isinstance(act, dict)
        or not isinstance(act.get("layers"), list)
        or not isinstance(act.get("sources"), dict)
    ):
        raise EnergyError(f"{where}: not an activity file (write one with lmuneuro run --activity)")
    if act.get("artifact_checksum") != net.checksum:
        raise EnergyError(f"{where}: recorded from another artifact (checksum differs)")
    names = [p.name for p in net.populations]
    if [r.get("layer") if isinstance(r, dict) else None for r in act["layers"]] != names:
        raise EnergyError(f"{where}: layers do not match the artifact's")

    def count(v) -> bool:  # below 1e18, far above any run's, so that every priced total is finite
        return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1e18

    for r, p in zip(act["layers"], net.populations):
        if r.get("neurons") != p.size:
            raise EnergyError(f"{where}: {p.name}.neurons is not its {p.size} neurons")
        for k in _COUNTS:
            if not count(r.get(k)):
                raise EnergyError(
                    f"{where}: {r['layer']}.{k} must be a non-negative number, got {r.get(k)!r}"
                )
    for src, kind in _SOURCES:
        row = act["sources"].get(src)
        for k in (f.name for f in fields(kind)):
            if not isinstance(row, dict) or not count(row.get(k)):
                raise EnergyError(f"{where}: sources.{src}.{k} must be a non-negative number")
    for k in ("samples", "steps", "steps_per_sample"):
        if not isinstance(act.get(k), int) or isinstance(act[k], bool) or act[k] < 1:
            raise EnergyError(f"{where}: field {k} must be a positive integer, got {act.get(k)!r}")
    if act["steps_per_sample"] != act["steps"] + net.delay:
        raise EnergyError(
            f"{where}: steps_per_sample {act['steps_per_sample']} is not its {act['steps']} steps "
            f"plus the artifact's {net.delay} steps of delay"
        )
    try:  # a run this machine could not have made (the ANN count runs the model on its steps)
        check_run_size(net, 1, act["steps"], where)
    except ValueError as e:
        raise EnergyError(str(e)) from None
    if "per_step" in act:  # optional: each source's messages at each step of a sample
        steps = act.get("per_step")
        sources = {INPUT, GATE, *names}
        if not isinstance(steps, dict) or set(steps) != sources:
            raise EnergyError(f"{where}: per_step must list the input, the gate and every layer")
        for k, v in steps.items():
            if (
                not isinstance(v, list)
                or len(v) != act["steps_per_sample"]
                or not all(count(c) for c in v)
            ):
                raise EnergyError(
                    f"{where}: per_step.{k} must be {act['steps_per_sample']} non-negative numbers"
                )
    src = act["sources"]
    return Activity(
        artifact_checksum=act["artifact_checksum"],
        samples=act["samples"],
        steps=act["steps"],
        steps_per_sample=act["steps_per_sample"],
        layers=[  # the class is the artifact's (the names match)
            LayerActivity(r["layer"], p.lava_class, **{k: r[k] for k in _COUNTS})
            for r, p in zip(act["layers"], net.populations)
        ],
        sources=Sources(
            *(kind(**{f.name: src[s][f.name] for f in fields(kind)}) for s, kind in _SOURCES)
        ),
        per_step=act.get("per_step"),
    )


class Range(NamedTuple):
    """A figure at a profile's value, low and high constants (JSON: ``[value, low, high]``)."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, constant) -> "Range":
        """A profile constant (``profiles.EnergyConstant``) as a range."""
        return cls(constant.value, constant.low, constant.high)

    def __add__(self, other: "Range") -> "Range":
        return Range(*(a + b for a, b in zip(self, other)))

    def __sub__(self, other: "Range") -> "Range":
        return Range(*(a - b for a, b in zip(self, other)))

    def __mul__(self, k: float) -> "Range":
        return Range(*(a * k for a in self))

    __rmul__ = __mul__


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
class StepMicroseconds:
    """Microseconds per step over a sample: the realistic figure's mean, min and max, the lower
    and higher bounds' means, the chip's share of the mean (the host's left out)."""

    mean: float
    min: float
    max: float
    low: float
    high: float
    chip_mean: float


@dataclass(frozen=True)
class Runtime:
    """A report's timing (``analysis.runtime``, or a fixed time per step): latency and
    throughput per sample back to back (its algorithmic delay included), what bounds a step."""

    step_us: StepMicroseconds
    latency_s: Range
    throughput_per_s: Range
    bound: str
    source: str
    per_step_recorded: bool
    real_time_fraction: float | None  # of each frame the chip computes (with a frame rate)

    def to_dict(self) -> dict:  # the ranges as lists, as the report has always given them
        return {k: list(v) if isinstance(v, Range) else v for k, v in asdict(self).items()}


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
    ann: dict | None = None  # the same network as an ANN, in the paper's 45 nm convention
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
            out["ann"] = self.ann
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
) -> EnergyReport:
    """Per-layer and total operations and energy (pJ per sample) of activity ``act`` under
    ``profile``; ``step_us`` replaces the profile's time per step, ``frame_ms`` the features'
    frame shift for the real-time static energy."""
    profile = load_profile(profile) if isinstance(profile, str) else profile
    for name, v in (("time per step", step_us), ("frame time", frame_ms)):
        if v is not None and not v > 0:
            raise EnergyError(f"the {name} must be positive, got {v}")
    if frame_ms is None:
        frame_ms = (net.meta.get("features") or {}).get("frame_shift_ms")
    steps, period = act.steps, act.steps_per_sample
    ann = ann_macs(net.meta["config"], steps) if "config" in net.meta else None
    head_macs = int(np.asarray(net.head_weight).size)
    cores = (
        {r["layer"]: r for r in resources(net, profile)} if profile.kind == "neuromorphic" else {}
    )
    weight_bits = net.formats.weight_bits  # what the artifact's synapses store
    graded = sum(r.graded_events for r in act.layers)
    if profile.kind == "neuromorphic" and graded and "graded_synaptic_op" not in profile.energy:
        raise EnergyError(
            f"profile {profile.name} has no energy.graded_synaptic_op to price the "
            f"{graded:,.0f} graded synaptic events per sample (the graded input and the residual "
            "stream's terms)"
        )
    components = ("synaptic", "neuron", "routing")
    priced_layers, totals = [], {c: NONE for c in (*components, "host", "static")}
    for row in act.layers:
        ops = _layer_ops(row, profile)
        priced = {c: _price(ops.get(c, {}), profile) for c in components}
        for c in components:
            totals[c] += priced[c]
        priced_layers.append({c: r.value for c, r in priced.items()})
    src = act.sources
    messages = src.input.graded_messages + src.gate.spikes
    chips_used, interchip = 1, 0.0
    if profile.kind == "neuromorphic":
        totals["routing"] += messages * Range.of(profile.energy["spike_route"])
        chips_used = 1 + max(c for r in cores.values() for c in r["chips"])
        interchip = _interchip(net, act, profile)
        if interchip:
            if "interchip_message" not in profile.energy:
                raise EnergyError(
                    f"profile {profile.name} has no energy.interchip_message to price the "
                    f"messages between the {chips_used} chips the network spans"
                )
            totals["routing"] += interchip * Range.of(profile.energy["interchip_message"])
    if profile.kind == "cmos":
        totals["host"] = head_macs * Range.of(profile.energy["mac"])
    per_step = None
    if "static_power" in profile.energy:
        per_step = _step_times(net, act, profile, step_us)
        watts = chips_used * Range.of(profile.energy["static_power"])
        # W x us = 1e6 pJ; back to back, a sample takes its period of steps
        times = (per_step.value, per_step.low, per_step.high)
        totals["static"] = Range(*(w * t.sum() * 1e6 for w, t in zip(watts, times)))
    total = sum(totals.values(), NONE)
    modes, runtime = StaticModes(), None
    if per_step is not None:
        real_time = None
        if frame_ms is not None:  # in real time, one step per frame: a sample takes its frames
            static = watts * frame_ms * 1e3 * steps * 1e6
            real_time = RealTime(
                frame_ms, frame_ms * steps / 1e3, static, total - totals["static"] + static
            )
        b2b = BackToBack(
            float(per_step.value.mean()), float(per_step.value.sum() / 1e6), totals["static"], total
        )
        modes, runtime = StaticModes(b2b, real_time), _runtime(per_step, frame_ms)
    layers = []
    for row, energy in zip(act.layers, priced_layers):
        synapses = int(sum(np.count_nonzero(s.weights) for s in net.inputs_of(row.layer)))
        energy_total = sum(energy.values())
        layers.append(
            LayerEnergy(
                **vars(row),
                rate=row.spikes / (row.neurons * period),
                synops=row.synaptic_events + row.graded_events,
                chip_per_model=row.caused_events / row.model_synops
                if row.model_synops and row.caused_events  # the head: read on the host
                else None,
                synapses=synapses,
                synapse_memory_bytes=synapses * weight_bits // 8,
                cores=cores[row.layer]["cores"] if cores else None,
                chips=cores[row.layer]["chips"] if cores else None,
                energy_pj=energy,
                energy_total_pj=energy_total,
                share=energy_total / total.value if total.value else 0.0,
            )
        )
    synops = sum(r.synops for r in layers)
    model_synops = sum(r.model_synops for r in layers)
    graded_synops = sum(r.graded_events for r in layers)
    counted = EnergyTotals(
        spikes=sum(r.spikes for r in layers),
        synops=synops,
        binary_synops=sum(r.synaptic_events for r in layers),
        graded_synops=graded_synops,
        model_synops=model_synops,
        model_graded_macs=src.input.model_graded_macs,
        chip_per_model=sum(r.synaptic_events for r in layers) / model_synops
        if model_synops
        else None,
        neuron_updates=sum(r.neuron_updates for r in layers),
        messages_routed=sum(r.spikes for r in layers) + messages,
        interchip_messages=interchip,
        head_macs=head_macs,
        synapses=sum(r.synapses for r in layers),
        synapse_memory_bytes=sum(r.synapse_memory_bytes for r in layers),
        cores=sum(r.cores for r in layers) if cores else None,
        chips=chips_used if cores else None,
    )
    energy, versus_ann = totals, None
    if ann is not None:
        versus_ann = (  # the model's own count where the artifact records it, as the paper's
            _ann_comparison(ann, model_synops, src.input.model_graded_macs, head_macs)
            if model_synops
            else _ann_comparison(ann, synops - graded_synops, graded_synops, head_macs)
        )
        if profile.runs == "ann":  # price the ANN, not the spikes
            mac = profile.energy["mac"].value
            layers = [
                ModuleEnergy(
                    k, v, {"mac": v * mac}, v * mac, v / ann["macs"] if ann["macs"] else 0.0
                )
                for k, v in ann["by_module"].items()
            ]
            energy = {"mac": ann["macs"] * Range.of(profile.energy["mac"])}
    out = EnergyReport(
        artifact_checksum=net.checksum,
        profile=profile.name,
        profile_description=profile.description,
        kind=profile.kind,
        samples=act.samples,
        steps=steps,
        steps_per_sample=period,
        delay_steps=net.delay,
        layers=layers,
        sources=src,
        totals=counted,
        static_modes=modes,
        energy=energy,
        constants=dict(profile.energy),
        step_us=modes.back_to_back.us_per_step if modes.back_to_back else None,
        ann=versus_ann,
        runtime=runtime,
    )
    return replace(out, assumptions=_assumptions(out, profile))


def _step_times(
    net: FixedNetwork, act: Activity, profile: Profile, step_us: float | None
) -> StepTimes:
    """A sample's time per step: ``step_us`` given, else the runtime model where the profile has
    its constants, else the profile's fixed ``[timing.step]``."""
    if step_us is None and profile.timing is not None:
        load, recorded = workload(net, act, profile)
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


def _runtime(t: StepTimes, frame_ms: float | None) -> Runtime:
    """The report's ``runtime``: microseconds per step, seconds per sample back to back (its
    algorithmic delay included) and samples per second."""
    seconds = Range(*(float(x.sum() / 1e6) for x in (t.value, t.low, t.high)))
    return Runtime(
        step_us=StepMicroseconds(
            mean=float(t.value.mean()),
            min=float(t.value.min()),
            max=float(t.value.max()),
            low=float(t.low.mean()),
            high=float(t.high.mean()),
            chip_mean=float(t.chip.mean()),
        ),
        latency_s=seconds,
        throughput_per_s=Range(1 / seconds.value, 1 / seconds.high, 1 / seconds.low),
        bound=t.bound,
        source=t.source,
        per_step_recorded=t.recorded,
        real_time_fraction=float(t.value.mean() / (frame_ms * 1e3)) if frame_ms else None,
    )


def _interchip(net: FixedNetwork, act: Activity, profile: Profile) -> float:
    """Messages per sample between chips: every spike of a population times its copies to the
    cores of its readers on other chips (``mapping.interchip_copies``, as the runtime model
    counts them)."""
    per_chip = profile.resources["cores_per_chip"]
    placed = {p.population: p for p in place(net, profile.resources)}
    spikes = {r.layer: r.spikes for r in act.layers}
    return float(
        sum(
            spikes[s.src] * interchip_copies(placed[s.src], placed[s.dst], per_chip)
            for s in net.synapses
            if s.src in placed
        )
    )


def _ann_comparison(ann: dict, synops: float, graded: float, head_macs: int) -> dict:
    """The paper's convention: SNN = ``synops`` accumulates x 0.9 pJ + the ``graded`` MACs and
    the head's x 4.6 pJ, ANN = MACs x 4.6 pJ (45 nm, Horowitz 2014), from the bundled cmos45
    profiles."""
    snn, cmos = load_profile("cmos45-snn").energy, load_profile("cmos45-ann").energy
    snn_pj = synops * snn["accumulate"].value + (graded + head_macs) * snn["mac"].value
    ann_pj = ann["macs"] * cmos["mac"].value
    return {
        **ann,
        "snn_synops": synops,
        "snn_graded_macs": graded,
        "snn_pj_45nm": snn_pj,
        "ann_pj_45nm": ann_pj,
        "synops_per_mac": synops / ann["macs"] if ann["macs"] else None,
        "energy_ratio_45nm": snn_pj / ann_pj if ann_pj else None,
    }


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
            f"{r.ann['memory_recurrent_macs']:,} MACs.",
        ]
    timing = {f"timing.{q}": c for q, c in (profile.timing or {}).items()}
    lines += [
        f"{q}: {c.value:g} {c.unit} (range {c.low:g}-{c.high:g}), {c.source}"
        for q, c in {**r.constants, **(timing if r.runtime is not None else {})}.items()
    ]
    return lines
