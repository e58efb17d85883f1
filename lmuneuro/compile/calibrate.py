"""Calibration at conversion (``lmuneuro convert --calibrate``): unlabelled samples of the
deployment's inputs drive the choices that the converter otherwise makes for worst-case inputs,
each measured on the emulator against the float model on those samples.

- The input's range: candidates at the largest |feature| and at quantiles that clip a few rare
  values; the one whose first layers' spikes differ least from the float model's is taken (the
  largest on a tie). The limits (``limits``) then hold for every input within that range: beyond
  it, features are clipped, and ``run`` and ``verify`` report how many were.
- The input's resolution: the features' measured mean square replaces that of inputs uniform in
  the range in the trade-off between the input's rounding and its weights'
  (``quantize._input_frac_bits``); at the range taken, one fraction bit fewer and one and two more
  are measured too, and the best kept.
- Bias correction: each layer's mean rounding loss, the float model's input (its sources' spikes
  forced to the chip's, ``model.forcing``) minus the chip's ``a_in`` and bias, per neuron over
  the samples' steps, returned in its bias: layer by layer in order, each one's loss measured
  with the corrections kept before it, and kept where the head's top-1 agreement with the float
  model on the samples rises, or stays with closer logits (a layer's own mismatch may fall while
  the later layers', trained on the float model's spikes, rise).

Every threshold mantissa and weight exponent follows from these as without calibration: a layer's
sums are bounded for any input within the range, not only for the samples'. The bounds take every
spike pattern of a layer's sources, which the data cannot narrow (only the graded input's range
comes from them): a mantissa sized on the samples' sums would hold for those samples only.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace

import numpy as np

__all__ = [
    "Calibration",
    "InputTrial",
    "LayerCalibration",
    "calibrate",
    "calibration_inputs",
    "CALIBRATION_SAMPLES",
    "CALIBRATION_MIN",
    "CLIP_FRACTIONS",
    "FRAC_STEPS",
]

CALIBRATION_SAMPLES = 256  # spread over the calibration data
CALIBRATION_MIN = 8  # samples: fewer measure a layer's mean loss no better than its prediction
CLIP_FRACTIONS = (0.0, 1e-4, 1e-3, 1e-2)  # of the feature values each candidate range clips
FRAC_STEPS = (-1, 1, 2)  # input fraction bits tried beside the predicted ones


@dataclass(frozen=True)
class InputTrial:
    """One candidate input format, converted and run on the calibration samples."""

    input_range: float
    frac_bits: int
    clipped: int  # calibration feature values beyond it
    mismatch: float  # spike mismatch of the layers that read the input


@dataclass(frozen=True)
class LayerCalibration:
    """One layer: its spike mismatch on the calibration samples without calibration and with it,
    and the bias it was given back (mean |shift| per neuron, as a fraction of its threshold)."""

    layer: str
    mismatch_before: float
    mismatch_after: float
    bias_shift: float


@dataclass(frozen=True)
class Calibration:
    """The choices calibration made (the artifact's meta records ``to_dict()`` as
    ``calibration``); ``bias_shifts`` (float input per neuron, per layer) are in the network's
    biases, not in the record."""

    samples: int
    input_range: float
    uncalibrated_input_range: float  # the range a conversion without calibration takes
    input_mean_square: float  # of the features clipped to input_range
    values: int  # calibration feature values
    clipped: int  # of them beyond input_range
    candidates: tuple[InputTrial, ...]
    bias_corrected: bool
    layers: tuple[LayerCalibration, ...]
    bias_shifts: dict = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict:
        out = asdict(self)
        del out["bias_shifts"]
        out["candidates"] = [asdict(c) for c in self.candidates]
        out["layers"] = [asdict(r) for r in self.layers]
        return out

    @classmethod
    def from_dict(cls, d) -> "Calibration":
        """From an untrusted record (an artifact's meta): unknown or missing fields, wrong types
        and values out of range are errors (ValueError)."""
        d = _fields(d, cls, "calibration", skip=("bias_shifts",))
        samples, values, clipped = (_count(d[k], k) for k in ("samples", "values", "clipped"))
        if samples < 1 or clipped > values:
            raise ValueError(f"calibration: {clipped} of {values} values from {samples} samples")
        if not isinstance(d["bias_corrected"], bool):
            raise ValueError("calibration: bias_corrected is not true or false")
        for k in ("input_range", "uncalibrated_input_range"):
            _real(d[k], k, positive=True)
        _real(d["input_mean_square"], "input_mean_square")
        if not isinstance(d["candidates"], list) or not isinstance(d["layers"], list):
            raise ValueError("calibration: candidates and layers must be lists")
        candidates = []
        for c in d["candidates"]:
            c = _fields(c, InputTrial, "calibration candidate")
            candidates.append(
                InputTrial(
                    _real(c["input_range"], "input_range", positive=True),
                    _frac_bits(c["frac_bits"]),
                    _count(c["clipped"], "clipped"),
                    _fraction(c["mismatch"], "mismatch"),
                )
            )
        layers = []
        for r in d["layers"]:
            r = _fields(r, LayerCalibration, "calibration layer")
            if not (isinstance(r["layer"], str) and r["layer"].isprintable() and r["layer"]):
                raise ValueError("calibration: a layer's name is not printable text")
            layers.append(
                LayerCalibration(
                    r["layer"][:200],
                    _fraction(r["mismatch_before"], "mismatch_before"),
                    _fraction(r["mismatch_after"], "mismatch_after"),
                    _real(r["bias_shift"], "bias_shift"),
                )
            )
        return cls(
            samples,
            float(d["input_range"]),
            float(d["uncalibrated_input_range"]),
            float(d["input_mean_square"]),
            values,
            clipped,
            tuple(candidates),
            d["bias_corrected"],
            tuple(layers),
        )


def _fields(d, cls, what: str, skip=()) -> dict:
    names = {f for f in cls.__dataclass_fields__ if f not in skip}
    if not isinstance(d, dict) or set(d) != names:
        raise ValueError(f"{what} does not hold exactly the fields {', '.join(sorted(names))}")
    return d


def _real(v, name: str, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise ValueError(f"calibration: {name} {str(v)[:20]} is not a finite number >= 0")
    if positive and not v > 0:
        raise ValueError(f"calibration: {name} is 0")
    return float(v)


def _count(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"calibration: {name} {str(v)[:20]} is not a count")
    return v


def _frac_bits(v) -> int:
    if _count(v, "frac_bits") > 64:  # as the artifact's own input format
        raise ValueError(f"calibration: frac_bits {v} is above 64")
    return v


def _fraction(v, name: str) -> float:
    if _real(v, name) > 1:
        raise ValueError(f"calibration: {name} {v} is above 1")
    return float(v)


@dataclass(frozen=True)
class _Measured:
    """A network's run on the calibration samples against the float model's."""

    mismatch: dict  # per layer: the fraction of (sample, step, neuron) whose spikes differ
    agreement: float  # of the head's top-1 class
    logit_error: float  # rms(chip logits - float logits) / std(float logits)

    def better(self, other: "_Measured") -> bool:
        """The head agrees on more samples, or on as many with closer logits."""
        return (self.agreement, -self.logit_error) > (other.agreement, -other.logit_error)


class _Runs:
    """The float model's spikes on the calibration samples, and what a network's emulator run
    makes of them."""

    def __init__(self, model, x: np.ndarray, batch: int):
        import torch

        from ..models import stack_records

        self.model, self.x, self.batch = model, x, batch
        parts, logits = [], []
        for lo in range(0, len(x), batch):
            with torch.no_grad(), model.recording() as rec:
                out = model(torch.from_numpy(x[lo : lo + batch]))
            parts.append({n: s.numpy() > 0 for n, (s, _) in stack_records(rec).items()})
            logits.append(out.double().numpy())
        self.float = {n: np.concatenate([p[n] for p in parts]) for n in parts[0]}
        self.logits = np.concatenate(logits)
        self.spread = float(self.logits.std()) or 1.0

    def measure(self, net) -> "_Measured":
        """What the network's emulator run makes of the samples."""
        from ..backends.emulator import Emulator

        emulate, differ, logits = Emulator(net), {p.name: 0 for p in net.layers}, []
        for lo in range(0, len(self.x), self.batch):
            res = emulate(self.x[lo : lo + self.batch], record=True)
            logits.append(res.logits)
            for name, s in res.spikes.items():
                differ[name] += int((s != self.float[name][lo : lo + self.batch]).sum())
        logits = np.concatenate(logits)
        return _Measured(
            {p.name: differ[p.name] / self.float[p.name].size for p in net.layers},
            float(np.mean(logits.argmax(-1) == self.logits.argmax(-1))),
            float(np.sqrt(np.mean((logits - self.logits) ** 2)) / self.spread),
        )

    def rounding_loss(self, net, taus: dict) -> dict[str, np.ndarray]:
        """Per layer and neuron the mean of the float model's input minus the chip's (``a_in``
        and bias, in float input units), the float model fed its sources' spikes from the chip."""
        import torch

        from ..backends.emulator import Emulator
        from ..models.lif import LIF

        emulate = Emulator(net)
        act = 2**net.formats.activation_shift
        total = {p.name: np.zeros(p.size) for p in net.layers}
        lifs = {n: m for n, m in self.model.named_modules() if isinstance(m, LIF)}
        for lo in range(0, len(self.x), self.batch):
            xb = self.x[lo : lo + self.batch]
            a_in: dict = {}
            res = emulate(xb, record=True, layer_inputs=a_in)
            seen: dict = {}

            def hook(name):
                def grab(module, args, kwargs, out):
                    time_dim = args[1] if len(args) > 1 else kwargs.get("time_dim", -1)
                    seen[name] = args[0].movedim(time_dim, 1).double().numpy()

                return grab

            handles = [m.register_forward_hook(hook(n), with_kwargs=True) for n, m in lifs.items()]
            spikes = {n: torch.from_numpy(s).float() for n, s in res.spikes.items()}
            try:
                with torch.no_grad(), self.model.forcing(spikes):
                    self.model(torch.from_numpy(xb))
            finally:
                for h in handles:
                    h.remove()
            for p in net.layers:
                bias = p.bias_mant.astype(np.float64) * 2.0**p.bias_exp
                chip = (a_in[p.name] * act + bias) * taus[p.name] / p.state_scale
                total[p.name] += (seen[p.name] - chip).sum(axis=(0, 1))
        steps = self.x.shape[0] * self.x.shape[1]
        return {name: t / steps for name, t in total.items()}


def calibration_inputs(
    model,
    *,
    dataset: str | None = None,
    inputs=None,
    data_dir=None,
    samples: int | None = CALIBRATION_SAMPLES,
) -> np.ndarray:
    """Calibration features (samples, steps, features) float32: ``samples`` (None:
    ``CALIBRATION_SAMPLES``) spread over ``dataset``'s training split (never its evaluation
    split) or over ``inputs`` (a .npy path or an array), checked finite, of the model's features
    (``calibrate`` checks that they are at least ``CALIBRATION_MIN``)."""
    from ..data.inputs import inputs_from, load_inputs

    n = CALIBRATION_SAMPLES if samples is None else samples
    features = model.config.in_features
    if inputs is not None and not isinstance(inputs, (str, bytes, os.PathLike)):
        x, _ = inputs_from(inputs, dataset=dataset, n_features=features)
        x = x[np.linspace(0, len(x) - 1, min(n, len(x))).round().astype(np.int64)]
    else:
        x, _ = load_inputs(
            dataset=dataset,
            inputs=None if inputs is None else str(inputs),
            data_dir=data_dir,
            samples=n,
            n_features=features,
            split="train",
            spread=True,
        )
    return x


def _first_layers(net) -> list[str]:
    from ..artifact import INPUT

    return [p.name for p in net.layers if any(s.src == INPUT for s in net.inputs_of(p.name))]


def calibrate(model, features: dict | None, settings, x: np.ndarray, *, batch: int = 64):
    """(``convert.Compiled`` of the calibrated network, ``Calibration``) for ``model`` with
    ``settings`` (``convert.Settings``; its input range is chosen here) on calibration features
    x (samples, steps, features), checked finite and at least ``CALIBRATION_MIN`` samples."""
    from .convert import compile_model
    from .graph import from_model

    if len(x) < CALIBRATION_MIN:
        raise ValueError(
            f"calibration needs at least {CALIBRATION_MIN} samples; the data hold {len(x)}"
        )
    mags = np.abs(x.astype(np.float64)).ravel()
    if not mags.max() > 0:
        raise ValueError("the calibration inputs are all zero: they give no input range")
    runs = _Runs(model, x, batch)
    base = compile_model(model, features, settings, fit=False)
    before = runs.measure(base.net).mismatch
    trials, best, got, fixed = _input_format(
        model, features, settings, runs, mags, _first_layers(base.net)
    )
    chosen = replace(settings, input_range=best.input_range)
    plain = compile_model(model, features, chosen, **fixed)
    graph = {p.name: p for p in from_model(model).populations}
    taus = {n: p.tau for n, p in graph.items()}
    compiled, got, shifts = _correct_biases(model, features, chosen, fixed, runs, plain, got, taus)
    after = got.mismatch
    record = Calibration(
        samples=len(x),
        input_range=best.input_range,
        uncalibrated_input_range=float(base.settings.input_range),
        input_mean_square=fixed["input_mean_square"],
        values=int(mags.size),
        clipped=best.clipped,
        candidates=tuple(trials),
        bias_corrected=bool(shifts),
        layers=tuple(
            LayerCalibration(
                p.name,
                before[p.name],
                after[p.name],
                float(np.mean(np.abs(shifts[p.name]))) / graph[p.name].v_th
                if p.name in shifts
                else 0.0,
            )
            for p in compiled.net.layers
        ),
        bias_shifts=shifts,
    )
    return compiled, record


def _input_format(model, features, settings, runs: _Runs, mags: np.ndarray, first: list) -> tuple:
    """The input's range and resolution (module docstring), measured by the mismatch of the
    ``first`` layers: (every ``InputTrial``, the best, its ``_Measured``, the ``compile_model``
    arguments that reproduce its format)."""
    from .convert import compile_model

    def mean(m: dict) -> float:
        return float(np.mean([m[n] for n in first]))

    ranges = sorted(
        {float(np.quantile(mags, 1 - f, method="higher")) for f in CLIP_FRACTIONS} - {0.0},
        reverse=True,
    )
    trials, measured, asked = [], {}, {}  # asked: the fraction bits each was converted with

    def measure(r: float, frac: int | None = None) -> None:
        ms = float(np.mean(np.minimum(mags, r) ** 2))
        try:
            net = compile_model(
                model,
                features,
                replace(settings, input_range=r),
                fit=False,
                input_mean_square=ms,
                input_frac_bits=frac,
            ).net
        except ValueError:  # a format whose network does not fit: not a candidate
            return
        if (r, net.input_frac_bits) not in measured:
            asked[r, net.input_frac_bits] = frac  # None: the predicted, at every mantissa tried
            got = measured[r, net.input_frac_bits] = runs.measure(net)
            trials.append(
                InputTrial(r, net.input_frac_bits, int((mags > r).sum()), mean(got.mismatch))
            )

    for r in ranges:  # each at the fraction bits the mean square predicts
        measure(r)
    if not trials:
        raise ValueError("no input range measured on the calibration data fits the target")
    best = min(trials, key=lambda t: t.mismatch)  # the first, the largest range, on a tie
    for frac in FRAC_STEPS:  # then finer and coarser inputs at that range
        measure(best.input_range, best.frac_bits + frac)
    best = min(trials, key=lambda t: t.mismatch)
    ms = float(np.mean(np.minimum(mags, best.input_range) ** 2))
    fixed = {"input_mean_square": ms, "input_frac_bits": asked[best.input_range, best.frac_bits]}
    return trials, best, measured[best.input_range, best.frac_bits], fixed


def _correct_biases(model, features, chosen, fixed: dict, runs: _Runs, plain, got, taus: dict):
    """Bias correction (module docstring) from the ``plain`` compile, whose run is ``got``:
    (the network compiled with the corrections kept, its ``_Measured``, the bias shifts)."""
    from .convert import compile_model

    # layer by layer in order, each one's loss measured with the layers before it corrected; kept
    # where the head improves on the samples (a layer's own mismatch may fall while later ones,
    # which learned from the float model's spikes, rise)
    compiled, shifts, loss = plain, {}, None
    for p in plain.net.layers:
        if loss is None:
            loss = runs.rounding_loss(compiled.net, taus)
        trial = {**shifts, p.name: loss[p.name]}
        try:
            c = compile_model(model, features, chosen, **fixed, bias_shift=trial)
        except ValueError:  # a bias beyond the target's: without it
            continue
        m = runs.measure(c.net)
        if m.better(got):
            compiled, got, shifts, loss = c, m, trial, None
    return compiled, got, shifts
