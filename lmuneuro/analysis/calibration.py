"""Weight sets chosen by the fidelity they buy, measured on data (``lmuneuro convert
--weight-sets auto``).

A second 8-bit set doubles a matrix's synapses and its synaptic events; what it buys shows only in
what the network computes. So each choice is converted and run on the emulator over calibration
samples, and measured by the logit error: the root-mean-square difference between the chip's
logits and the float model's, over the standard deviation of the float model's logits. The bound
is the error with two sets everywhere times ``1 + tolerance``. One set everywhere is taken when it
keeps within it; otherwise each layer's weights are tried at one set alone, the layers are ranked
by the error they add per synaptic event they save, and the longest prefix of that ranking that
keeps within the bound (bisection, every candidate measured) takes one set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from ..artifact import Relay
from ..backends import run_backend
from ..checkpoint import load_checkpoint
from ..compile.calibrate import CALIBRATION_SAMPLES, calibration_inputs
from ..compile.convert import ConversionReport, compile_model, convert, resolve_settings
from ..files import check_output
from ..progress import progress_bar
from .activity import activity

__all__ = [
    "Trial",
    "SetChoice",
    "choose_weight_sets",
    "convert_calibrated",
    "CALIBRATION_SAMPLES",
    "TOLERANCE",
]

TOLERANCE = 0.25  # the logit error one set may add, as a fraction of the two-set error


@dataclass
class Trial:
    """One choice of weight sets, converted and run on the calibration samples."""

    single_set: tuple[str, ...]  # the layers whose weights take one set
    error: float  # rms(chip logits - float logits) / std(float logits)
    agreement: float  # top-1 agreement with the float model
    events: float  # the chip's synaptic events per sample, graded ones included
    synapses: int


@dataclass
class SetChoice:
    """What ``choose_weight_sets`` measured and chose."""

    single_set: tuple[str, ...]
    candidates: int  # layers whose weights have a second set with two sets everywhere
    bound: float  # the logit error allowed: two sets' times (1 + tolerance)
    samples: int
    two_sets: Trial
    one_set: Trial
    chosen: Trial
    trials: int  # conversions measured

    def to_dict(self) -> dict:
        return asdict(self)


def choose_weight_sets(
    checkpoint,
    *,
    dataset: str | None = None,
    inputs=None,
    data_dir=None,
    samples: int | None = CALIBRATION_SAMPLES,
    tolerance: float = TOLERANCE,
    preset: str | None = None,
    batch: int = 64,
    progress: bool = False,
    **settings,
) -> SetChoice:
    """The layers of ``checkpoint`` whose weights can take one 8-bit set (module docstring), on
    ``samples`` calibration samples (None: ``CALIBRATION_SAMPLES``) spread over ``dataset``'s
    training split or over ``inputs`` (a .npy path or an array, ``calibration_inputs``).
    ``settings``: the other conversion settings, as ``convert`` takes them."""
    if not 0 <= tolerance <= 10:
        raise ValueError(f"the tolerance must be between 0 and 10, got {tolerance}")
    ck = load_checkpoint(checkpoint, preset=preset)
    base, _, _ = resolve_settings(ck, checkpoint, {**settings, "weight_sets": 2, "single_set": ()})
    model = ck.model
    x = calibration_inputs(
        model, dataset=dataset, inputs=inputs, data_dir=data_dir, samples=samples
    )
    import torch

    with torch.no_grad():
        xt = torch.from_numpy(x)
        ref = np.concatenate(
            [model(xt[i : i + batch]).numpy() for i in range(0, len(x), batch)]
        ).astype(np.float64)
    spread = float(ref.std()) or 1.0
    bar = progress_bar(enabled=progress, desc="weight sets", unit="conversion")
    measured: dict[tuple, Trial] = {}
    processes, names = {}, {}  # per choice: processes into each population; layers and terms

    def measure(single) -> Trial:
        key = tuple(sorted(single))
        if key not in measured:
            net = compile_model(model, ck.features, replace(base, single_set=key), fit=False).net
            res = run_backend(net, x, "emulator", batch=batch)
            act = activity(net, x, res.spike_counts).layers
            measured[key] = Trial(
                key,
                float(np.sqrt(np.mean((res.logits - ref) ** 2)) / spread),
                float(np.mean(res.logits.argmax(-1) == ref.argmax(-1))),
                sum(r.synaptic_events + r.graded_events for r in act),
                sum(s.synapses for s in net.synapses),
            )
            processes[key] = {p.name: len(net.inputs_of(p.name)) for p in net.populations}
            names[key] = [p.name for p in net.populations if not isinstance(p, Relay)]
            bar.update()
        return measured[key]

    with bar:
        two = measure(())
        layers = names[()]
        one = measure(layers)
        # the layers that lose a process with one set; the others' weights are exact in one
        candidates = [n for n in layers if processes[()][n] > processes[one.single_set][n]]
        bound = two.error * (1 + tolerance)
        chosen = one if one.error <= bound else _longest_prefix(measure, two, candidates, bound)
    single = tuple(n for n in chosen.single_set if n in candidates)  # the others: one already
    return SetChoice(single, len(candidates), bound, len(x), two, one, chosen, len(measured))


def _longest_prefix(measure, two: Trial, candidates: list, bound: float) -> Trial:
    """The ``candidates`` ranked by the error each adds at one set alone per synaptic event it
    saves, and the trial of the longest prefix of that ranking that keeps within ``bound``
    (bisection; ``measure``: a choice's ``Trial``, ``two``: two sets everywhere)."""
    ranked = []
    for name in candidates:
        alone = measure([name])
        saved = two.events - alone.events
        if saved > 0:
            ranked.append(((alone.error - two.error) / saved, name))
    order = [n for _, n in sorted(ranked)]
    # 0 layers keep the bound (two sets everywhere); n + 1 is a sentinel that does not
    chosen, lo, hi = two, 0, len(order) + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        trial = measure(order[:mid])
        if trial.error <= bound:
            chosen, lo = trial, mid
        else:
            hi = mid
    return chosen


def convert_calibrated(
    checkpoint, output, *, preset: str | None = None, calibrate: bool = False, **options
) -> ConversionReport:
    """``convert`` with the weight sets of ``choose_weight_sets`` (which takes ``options``: the
    calibration data, the tolerance and the other conversion settings); the report holds the
    choice under ``weight_set_choice``. ``calibrate``: the same data then calibrate the
    conversion (``convert``'s ``calibrate``), read once for both."""
    check_output(output, [checkpoint, options.get("target")])  # before minutes of calibration
    data = {k: options.pop(k) for k in ("dataset", "inputs", "data_dir", "samples") if k in options}
    model = load_checkpoint(checkpoint, preset=preset).model
    x = calibration_inputs(model, **data)
    data = {"inputs": x, "samples": len(x)}
    choice = choose_weight_sets(checkpoint, preset=preset, **data, **options)
    settings = {k: v for k, v in options.items() if k not in ("tolerance", "batch", "progress")}
    report = convert(
        checkpoint,
        output,
        preset=preset,
        calibrate=data if calibrate else None,
        **settings,
        weight_sets=2,
        single_set=choice.single_set,
    )
    return replace(report, weight_set_choice=choice)
