"""Conversion, the verb that chains the stages: a trained spiking model -> its float graph
(``graph``) -> lags, delays and relays (``schedule``) -> a network of Lava's standard chip
processes (``quantize``) -> its place on the target's cores and chips (``mapping``, ``limits``)
-> an artifact file with the record of its conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..artifact import INPUT, FixedNetwork, ModelOps, write_artifact
from ..checkpoint import CheckpointError, load_checkpoint
from ..files import check_output, sha256
from ..formats import Formats
from ..profiles import Profile, load_profile
from ..version import __version__
from . import LMU_MAPPINGS, RESIDUALS, ConversionError
from .graph import Graph, fold, from_model
from .limits import resources, violations
from .quantize import quantize_graph
from .schedule import LINE_TAPS
from .settings import Settings

if TYPE_CHECKING:  # calibrate imports this module
    from .calibrate import Calibration

__all__ = [
    "map_to_cores",
    "model_layers",
    "convert",
    "ChipUse",
    "ConversionReport",
    "resolve_settings",
    "compile_model",
    "Compiled",
    "Settings",
    "ConversionError",
    "LMU_MAPPINGS",
    "RESIDUALS",
]


def model_layers(graph: Graph) -> list[ModelOps]:
    """The model's own synapses per layer (``artifact.ModelOps``), from a graph whose residual
    terms are graded populations (``from_model(streams=True)``: each convolution once); the
    one-to-one readings of the terms are the chip's, not the model's."""
    graded = {p.name for p in graph.populations if p.graded}
    out = []
    for p in graph.populations:
        for g in p.inputs:
            if g.src in graded:
                continue
            nnz = np.count_nonzero(g.weights, axis=1)  # (taps, n_src)
            if len(g.offsets) >= LINE_TAPS and g.src != INPUT:  # an impulse response, tap by tap
                order = np.argsort(-np.asarray(g.offsets))  # offset 0, -1, ...: tap 0, 1, ...
                out.append(ModelOps(g.src, taps=nnz[order]))
            else:
                out.append(ModelOps(g.src, fanout=nnz.sum(axis=0)))
    # the head reads the last layer's spikes every step (on the host here, a layer to the paper)
    return out + [
        ModelOps(graph.populations[-1].name, fanout=np.count_nonzero(graph.head_weight, axis=0))
    ]


def map_to_cores(net: FixedNetwork, profile: Profile, board_chips: int | None = None) -> list[dict]:
    """Per population its neurons, synapses, processes and neuro-cores (``limits.resources``);
    ConversionError, naming the largest population and the limit, when the network needs more
    cores, neurons or synapses than the target has (with a hint at boards when the target is
    one chip: ``board_chips``, the target's own count before any ``--chips``)."""
    rows = resources(net, profile)
    for line in violations(net, profile, rows):
        hint = (
            " (a board of several chips is a target too: --target kapoho-point)"
            if "neuro-cores on" in line and (board_chips or profile.resources["chips"]) == 1
            else ""
        )
        raise ConversionError(f"the model does not fit: {line}{hint}")
    return rows


DEFAULT_INPUT_RANGE = {"digits": 1.0, "kaldi-fbank": 2.0}


@dataclass
class Compiled:
    """A model compiled for a target: its network and, when checked, its place on the chips."""

    net: FixedNetwork
    settings: Settings  # input_range resolved
    profile: Profile
    board_chips: int  # the target's own chip count, before ``settings.chips``
    layers: list[dict] | None  # per population (``map_to_cores``); None when not checked


def compile_model(
    model,
    features: dict | None,
    settings: Settings,
    *,
    fit: bool = True,
    input_mean_square: float | None = None,
    input_frac_bits: int | None = None,
    bias_shift: dict | None = None,
) -> Compiled:
    """The network of Lava processes that ``model`` (an eval-mode spiking LMUFormer) becomes with
    ``settings``: the one path from weights to integers, shared by ``convert`` and
    quantisation-aware training. ``fit``: also check the target's cores, neurons and synapses.
    Calibration (``calibrate``) measures the features' ``input_mean_square``, their
    ``input_frac_bits`` and ``bias_shift``, {layer: float input (size,)} added to its biases.
    ``settings`` are within their declared bounds (``settings.SETTINGS``); the target's own are
    checked here."""
    profile = load_profile(settings.target)
    if profile.kind != "neuromorphic":
        raise ConversionError(f"target {profile.name!r} is not a neuromorphic chip")
    board_chips = profile.resources["chips"]
    profile = profile.with_chips(settings.chips)
    if settings.lmu_mapping == "recurrent":
        raise ConversionError(
            f"the recurrent LMU mapping cannot be built from {profile.name}'s standard processes "
            "(its 24-bit state would pass through 16-bit Dense outputs and has no per-sample "
            "reset; docs/fixed-point.md section 6): use --lmu-mapping fir"
        )
    if not model.config.spiking:
        raise ConversionError(
            "only spiking models map onto Loihi's LIF neurons; this checkpoint is the non-spiking "
            "LMUFormer"
        )
    fmt = Formats.from_dict(profile.precision)  # complete: load_profile checks every field
    if settings.input_range is None:
        kind = (features or {}).get("kind")
        settings = replace(settings, input_range=DEFAULT_INPUT_RANGE.get(kind, 4.0))
    if not 0 < settings.vth_mant < 2**fmt.vth_mant_bits:
        raise ConversionError(
            f"threshold mantissa {settings.vth_mant} is outside {profile.name}'s vth_mant_bits "
            f"{fmt.vth_mant_bits} (1..{2**fmt.vth_mant_bits - 1})"
        )
    try:
        graph = from_model(model)
        terms = {p.name for p in graph.populations if p.graded}
        chip = graph if settings.residual == "graded" else fold(graph, terms)
        unknown = sorted(set(settings.single_set) - {p.name for p in chip.populations})
        if unknown:
            raise ConversionError(
                f"single_set names {', '.join(unknown)}: not a layer of this network"
            )
        if bias_shift:
            chip = replace(
                chip,
                populations=[
                    replace(p, bias=p.bias + bias_shift[p.name]) if p.name in bias_shift else p
                    for p in chip.populations
                ],
            )
        net = quantize_graph(
            chip,
            input_max_abs=settings.input_range,
            vth_mant=settings.vth_mant,
            fmt=fmt,
            weight_sets=settings.weight_sets,
            set_error=settings.set_error,
            single_set=settings.single_set,
            exponent_classes=settings.exponent_classes,
            input_mean_square=input_mean_square,
            input_frac_bits=input_frac_bits,
        )
    except ConversionError:
        raise
    except ValueError as e:
        raise ConversionError(str(e)) from None
    net.model_ops = model_layers(graph)
    layers = map_to_cores(net, profile, board_chips) if fit else None
    return Compiled(net, settings, profile, board_chips, layers)


def resolve_settings(ck, name, settings: dict) -> tuple[Settings, Settings | None, list[str]]:
    """(settings to convert ``ck`` (a loaded checkpoint, read from ``name``) with, the settings
    it was fine-tuned for or None, warnings): the fields given in ``settings`` (None: not given)
    over a quantisation-aware checkpoint's record, else over ``Settings()``; a given setting that
    differs from the one fine-tuned for is warned about."""
    unknown = sorted(set(settings) - {f.name for f in fields(Settings)})
    if unknown:
        raise TypeError(f"convert: unknown setting(s) {', '.join(unknown)}")
    given = {k: v for k, v in settings.items() if v is not None}
    try:
        learned = Settings.from_dict(ck.quantization) if ck.quantization is not None else None
    except ValueError as e:
        raise CheckpointError(f"{name}: {e}") from None
    chosen = replace(learned or Settings(), **given)
    warnings = [
        f"the checkpoint was fine-tuned for {k} {getattr(learned, k)!r}; converted with "
        f"{getattr(chosen, k)!r} it computes something else than it learned"
        for k in given
        if learned is not None and getattr(learned, k) != getattr(chosen, k)
    ]
    return chosen, learned, warnings


class ChipUse(NamedTuple):
    """The neuro-cores a conversion uses on one chip, and their fraction of the chip's."""

    chip: int
    cores: int
    fraction: float


@dataclass(frozen=True)
class ConversionReport:
    """What ``convert`` wrote. ``to_dict`` is what ``lmuneuro convert --json`` prints."""

    output: str
    sha256: str
    # the artifact's record of its conversion (``FixedNetwork.meta``): the settings, the source,
    # the label classes and features, the delay, cores, chips and processes
    meta: dict
    chip_use: list[ChipUse]
    layers: list[dict]  # per population: Lava class, processes, cores, chips (``limits.resources``)
    warnings: list[str]  # settings that differ from those the checkpoint was fine-tuned for
    # ``analysis.calibration.SetChoice`` where measured (--weight-sets auto)
    weight_set_choice: object | None = None
    calibration: Calibration | None = None  # where calibrated (the meta holds its ``to_dict()``)

    @property
    def delay_steps(self) -> int:
        return self.meta["delay_steps"]

    @property
    def cores(self) -> int:
        return self.meta["cores"]

    @property
    def chips(self) -> int:
        return self.meta["chips"]

    @property
    def processes(self) -> int:
        return self.meta["processes"]

    def to_dict(self) -> dict:
        out = {
            "output": self.output,
            "sha256": self.sha256,
            **self.meta,
            "chip_use": [u._asdict() for u in self.chip_use],
            "layers": self.layers,
            "warnings": self.warnings,
        }
        if self.weight_set_choice is not None:
            out["weight_set_choice"] = self.weight_set_choice.to_dict()
        return out


def convert(
    checkpoint, output, *, preset: str | None = None, calibrate: dict | None = None, **settings
) -> ConversionReport:
    """Checkpoint (native or reference) -> artifact at ``output``. Returns the conversion report.
    ``settings``: fields of ``Settings``; those not given come from a quantisation-aware
    checkpoint's record, else ``Settings()``. Asked-for settings that differ from the ones the
    checkpoint was fine-tuned for are listed in the report's ``warnings``. ``calibrate``: the
    calibration data (``calibrate.calibration_inputs``' arguments: ``dataset`` or ``inputs``,
    ``data_dir``, ``samples``), which then chooses the input range and the biases
    (``calibrate``); the report and the artifact's meta record the choices."""
    given = {k: v for k, v in settings.items() if v is not None}
    if calibrate is not None and "input_range" in given:
        raise ValueError("input_range: calibration chooses the input range from the data")
    check_output(output, [checkpoint, given.get("target")])
    ck = load_checkpoint(checkpoint, preset=preset)
    chosen, learned, warnings = resolve_settings(ck, checkpoint, settings)
    record = None
    if calibrate is None:
        c = compile_model(ck.model, ck.features, chosen)
    else:
        from .calibrate import calibrate as calibrated
        from .calibrate import calibration_inputs

        x = calibration_inputs(ck.model, **calibrate)
        c, record = calibrated(ck.model, ck.features, chosen, x)
        if learned is not None:
            warnings.append(
                "the checkpoint was fine-tuned for its conversion; calibrated (input format and "
                "biases from the data) it computes something else than it learned"
            )
    net, profile = c.net, c.profile
    net.meta = {
        "created_by": f"lmuneuro {__version__}",
        "source_sha256": sha256(checkpoint),
        "source_format": ck.source_format,
        "preset": ck.preset,
        "target": profile.name,
        "quantization": {
            "vth_mant": c.settings.vth_mant,
            "input_range": c.settings.input_range,
            "input_bits": net.input_bits,
            "input_frac_bits": net.input_frac_bits,
            "weight_sets": c.settings.weight_sets,
            "set_error": c.settings.set_error,
            "single_set": list(c.settings.single_set),
            "exponent_classes": c.settings.exponent_classes,
            "lmu_mapping": c.settings.lmu_mapping,
            "residual": c.settings.residual,
            "quantization_aware": learned is not None,
        },
        "classes": ck.classes,
        "features": ck.features,
        "delay_steps": net.delay,
        "cores": sum(r["cores"] for r in c.layers),
        "chips": 1 + max(ch for r in c.layers for ch in r["chips"]),
        "processes": net.processes,
        "config": ck.config.to_dict(),
    }
    if record is not None:
        net.meta["calibration"] = record.to_dict()
    digest = write_artifact(output, net)
    per_chip, total = profile.resources["cores_per_chip"], net.meta["cores"]
    # populations fill the chips in order: every chip but the last is full
    cores_on = [min(per_chip, total - i * per_chip) for i in range(net.meta["chips"])]
    chip_use = [ChipUse(i, n, n / per_chip) for i, n in enumerate(cores_on)]
    return ConversionReport(
        str(output),
        digest,
        net.meta,
        chip_use,
        c.layers,
        warnings,
        calibration=record,
    )
