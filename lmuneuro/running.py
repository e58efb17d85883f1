"""``lmuneuro run``, ``lmuneuro energy`` and ``lmuneuro convert`` as library calls: a converted
network on inputs, on one backend, and what the run measured (``RunReport``), or what it costs
under hardware profiles; a checkpoint converted with the choices made on data that the command's
options ask for (``convert_checkpoint``). The command line only prints them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .analysis.activity import Activity, activity, activity_from_dict, read_activity
from .analysis.energy import EnergyReport, report
from .artifact import FixedNetwork, read_artifact
from .backends import run_backend
from .backends.result import RunResult
from .compile.convert import ConversionReport, convert
from .data.inputs import inputs_from
from .profiles import Profile, load_profile

__all__ = ["StreamPoint", "RunReport", "run", "energy", "artifact_path", "convert_checkpoint"]


@dataclass(frozen=True)
class StreamPoint:
    """The streaming read-out after a prefix of each sequence."""

    steps_seen: int
    fraction: float
    accuracy: float | None  # None without labels
    agreement_with_final: float  # same top-1 as after the whole sequence


@dataclass
class RunReport:
    """One run of an artifact: its backend's result and what it measured."""

    artifact: str
    backend: str
    samples: int
    seconds: float
    delay_steps: int
    predictions: np.ndarray  # (samples,) top-1 class
    inputs_clipped: int  # feature values beyond the artifact's input range
    result: RunResult
    accuracy: float | None = None  # with labels
    per_step: list[StreamPoint] | None = None
    activity: Activity | None = None  # per-layer spikes and synaptic events

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds

    def to_dict(self, predictions: bool = False, logits: bool = False) -> dict:
        """What ``lmuneuro run --json`` prints (the activity goes to its own file); ``logits``:
        every sample's, exactly (JSON's numbers round-trip a float64)."""
        out = {
            "artifact": self.artifact,
            "backend": self.backend,
            "samples": self.samples,
            "seconds": self.seconds,
            "samples_per_second": self.samples_per_second,
            "delay_steps": self.delay_steps,
            "inputs_clipped": self.inputs_clipped,
        }
        if predictions:
            out["predictions"] = self.predictions.tolist()
        if logits:
            out["logits"] = self.result.logits.tolist()
        if self.accuracy is not None:
            out["accuracy"] = self.accuracy
        if self.per_step is not None:
            out["per_step"] = [
                {k: v for k, v in vars(p).items() if v is not None} for p in self.per_step
            ]
        return out


def _stream(res: RunResult, y: np.ndarray | None) -> list[StreamPoint]:
    """The read-out after 10 %, 20 %, ... of each sequence."""
    steps = res.per_step.shape[1]
    final = res.logits.argmax(-1)
    points = []
    for s in sorted({max(1, round(steps * k / 10)) for k in range(1, 11)}):
        pred = res.per_step[:, s - 1].argmax(-1)
        points.append(
            StreamPoint(
                s,
                s / steps,
                None if y is None else float((pred == y).mean()),
                float((pred == final).mean()),
            )
        )
    return points


def run(
    artifact: str | FixedNetwork,
    inputs=None,
    *,
    labels: np.ndarray | None = None,
    dataset: str | None = None,
    data_dir=None,
    samples: int | None = None,
    backend: str = "emulator",
    device: str = "cpu",
    floating: bool = False,
    per_step: bool = False,
    record_activity: bool = False,
    progress: bool = False,
) -> RunReport:
    """Run a converted network (a path or a ``FixedNetwork``) on ``inputs`` (a .npy path or an
    array (samples, steps, features), with optional ``labels``) or on a ``dataset``'s test split,
    on ``backend`` (``backends.BACKENDS``; the emulator on ``device``)."""
    net = artifact if isinstance(artifact, FixedNetwork) else read_artifact(artifact)
    x, y = inputs_from(
        inputs,
        labels=labels,
        dataset=dataset,
        data_dir=data_dir,
        samples=samples,
        n_features=net.input_size,
    )
    t = time.perf_counter()
    res = run_backend(
        net, x, backend, record=record_activity, progress=progress, floating=floating, device=device
    )
    seconds = time.perf_counter() - t
    pred = res.logits.argmax(-1)
    return RunReport(
        artifact=str(artifact) if not isinstance(artifact, FixedNetwork) else "",
        backend=backend + (" (floating_pt)" if floating else ""),
        samples=len(x),
        seconds=seconds,
        delay_steps=net.delay,
        predictions=pred,
        inputs_clipped=res.inputs_clipped,
        result=res,
        accuracy=None if y is None else float((pred == y).mean()),
        per_step=_stream(res, y) if per_step else None,
        activity=activity(net, x, res.spike_counts, res.step_counts, frames=res.frames)
        if record_activity
        else None,
    )


def energy(
    artifact: str | FixedNetwork,
    inputs=None,
    *,
    dataset: str | None = None,
    data_dir=None,
    samples: int | None = None,
    recorded: str | Activity | dict | None = None,
    profile: str | Profile | list = "loihi2",
    backend: str = "emulator",
    device: str = "cpu",
    step_us: float | None = None,
    frame_ms: float | None = None,
    progress: bool = False,
) -> EnergyReport | list[EnergyReport]:
    """The energy report (``analysis.energy.report``) of a converted network (a path or a
    ``FixedNetwork``) run on ``inputs`` (an array or a .npy path) or a ``dataset``'s test split,
    or of the activity ``recorded`` by ``run`` (its ``Activity``, the file ``lmuneuro run
    --activity`` wrote or that file's dict, both checked against the network), under ``profile``
    (a name, a .toml path or a ``Profile``); a list of profiles gives a list of reports. Every
    profile is loaded before anything runs."""
    several = isinstance(profile, (list, tuple))
    asked = profile if several else [profile]
    profiles = [p if isinstance(p, Profile) else load_profile(p) for p in asked]
    net = artifact if isinstance(artifact, FixedNetwork) else read_artifact(artifact)
    if isinstance(recorded, Activity):
        act = recorded
    elif isinstance(recorded, dict):
        act = activity_from_dict(recorded, net, "recorded")
    elif recorded is not None:
        act = read_activity(recorded, net)
    else:
        x, _ = inputs_from(
            inputs, dataset=dataset, data_dir=data_dir, samples=samples, n_features=net.input_size
        )
        res = run_backend(
            net, x, backend, record=backend != "emulator", progress=progress, device=device
        )
        act = activity(net, x, res.spike_counts, res.step_counts, frames=res.frames)
    reports = [report(net, act, p, step_us=step_us, frame_ms=frame_ms) for p in profiles]
    return reports if several else reports[0]


def artifact_path(checkpoint) -> str:
    """Where ``lmuneuro convert`` writes when not told: the checkpoint's name with .h5."""
    return str(Path(checkpoint).with_suffix(".h5"))


def convert_checkpoint(
    checkpoint,
    output,
    *,
    preset: str | None = None,
    settings: dict,
    calibrate: bool = False,
    dataset: str | None = None,
    inputs=None,
    data_dir=None,
    samples: int | None = None,
    tolerance: float | None = None,
    progress: bool = False,
) -> ConversionReport:
    """``lmuneuro convert``: ``settings`` (``Settings`` fields given; ``weight_sets`` may be
    "auto": the weight sets chosen on the data, ``analysis.calibration.convert_calibrated``,
    within ``tolerance``); ``calibrate``: the input range and the biases chosen on the data
    (``dataset``'s training split or ``inputs``, ``data_dir``, ``samples``). Data given where no
    choice reads it is an error, as is a setting that a choice on data makes."""
    settings = dict(settings)
    data = {"dataset": dataset, "inputs": inputs}
    options = {**data, "data_dir": data_dir, "samples": samples, "tolerance": tolerance}
    given = {k: v for k, v in options.items() if v is not None}
    if calibrate and not any(data.values()):
        raise ValueError("--calibrate measures on data: give --dataset or --inputs")
    if calibrate and "input_range" in settings:
        raise ValueError("--input-range: --calibrate chooses the input range from the data")
    if settings.get("weight_sets") != "auto":
        if given and not calibrate:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ValueError(
                f"{flags}: calibration data for --weight-sets auto or --calibrate only"
            )
        if tolerance is not None:
            raise ValueError("--tolerance: for --weight-sets auto only")
        return convert(
            checkpoint, output, preset=preset, calibrate=given if calibrate else None, **settings
        )
    if not any(data.values()):
        raise ValueError("--weight-sets auto measures fidelity on data: give --dataset or --inputs")
    if "single_set" in settings:
        raise ValueError("--single-set: --weight-sets auto chooses those layers itself")
    from .analysis.calibration import convert_calibrated

    del settings["weight_sets"]
    return convert_calibrated(
        checkpoint,
        output,
        preset=preset,
        progress=progress,
        calibrate=calibrate,
        **given,
        **settings,
    )
