"""``make demo``: the whole pipeline on built-in data (no download): train, convert for Loihi 2,
run on the emulator and on Lava's bit-accurate simulator, compare accuracies, write the energy
report. ``examples/spoken_keywords.py`` runs the same on synthesised speech (``KEYWORDS``)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .analysis.activity import activity
from .analysis.energy import report
from .analysis.rendering import CHIP_EVENTS, render_html, si
from .artifact import read_artifact
from .backends import run_backend
from .checkpoint import load_checkpoint
from .compile.convert import convert
from .data import get_dataset
from .files import to_json, write_output
from .train import TrainConfig, train

DIGITS = {
    "preset": "spiking-lmuformer-digits",
    "dataset": "digits",
    "batch_size": 64,
    "head_lr_scale": 1.0,
}
# 128-step audio: a spiking head learns its scale slowly at the reference's learning rate (train.py)
KEYWORDS = {
    "preset": "spiking-lmuformer-keywords",
    "dataset": "spoken-keywords",
    "batch_size": 32,
    "head_lr_scale": 10.0,
}


def _same_spikes(a, b) -> bool:
    """Every layer's spikes in its window, every population's count and every logit, equal."""
    return (
        np.array_equal(a.logits, b.logits)
        and all(np.array_equal(a.spikes[k], v) for k, v in b.spikes.items())
        and all(np.array_equal(a.spike_counts[k], v) for k, v in b.spike_counts.items())
    )


def run_demo(
    workdir: str = "runs/demo",
    epochs: int = 40,
    lava_samples: int = 30,
    recipe: dict = DIGITS,
    data_dir: str | None = None,
) -> dict:
    """Returns the figures it printed (accuracies, agreement, energy) as a dict."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    work = Path(workdir)
    ckpt, art, html = work / "model.pt", work / "model.h5", work / "energy.html"
    preset, dataset = recipe["preset"], recipe["dataset"]
    t0 = time.perf_counter()
    print(f"[1/5] training {preset} on {dataset} for {epochs} epochs -> {ckpt}")
    train(
        TrainConfig(
            preset=preset,
            dataset=dataset,
            output=str(ckpt),
            epochs=epochs,
            data_dir=data_dir,
            batch_size=recipe["batch_size"],
            head_lr_scale=recipe["head_lr_scale"],
        )
    )

    print(f"[2/5] converting for Loihi 2 -> {art}")
    conv = convert(ckpt, art, target="loihi2")
    net = read_artifact(art)
    print(
        f"      {len(net.layers)} LIF layers as {conv.processes} of Lava's chip processes on "
        f"{conv.cores} "
        f"neuro-cores, algorithmic delay {net.delay} steps"
    )

    test = get_dataset(dataset, "test", data_dir=data_dir)
    x, y = (t.numpy() for t in test.tensors)
    figures, emu = _accuracies(net, ckpt, x, y, lava_samples)
    print(f"[5/5] energy per sample on Loihi 2 -> {html}")
    figures.update(_energy(net, x, emu, html))
    write_output(work / "demo.json", to_json(figures, indent=2))
    where = f" --data-dir {data_dir}" if data_dir else ""
    print(
        f"done in {time.perf_counter() - t0:.0f} s; outputs in {work}/ "
        f"(lmuneuro energy {art} --dataset {dataset}{where} for the full table)"
    )
    return figures


def _accuracies(net, ckpt: Path, x: np.ndarray, y: np.ndarray, lava_samples: int) -> tuple:
    """(figures, the emulator's result): the float model's, the emulator's (every sample) and
    Lava's (the first ``lava_samples``) accuracies, and whether Lava's spikes equal the
    emulator's."""
    with torch.no_grad():
        float_pred = load_checkpoint(ckpt).model(torch.from_numpy(x)).argmax(-1).numpy()
    print(f"[3/5] emulator (bit-accurate, batched) on all {len(x)} test samples")
    emu = run_backend(net, x, "emulator")
    emu_pred = emu.logits.argmax(-1)

    n = min(lava_samples, len(x))
    print(
        "[4/5] Lava's bit-accurate simulator (Loihi2SimCfg fixed_pt, Lava's own processes) on the "
        f"first {n} samples"
    )
    lava = run_backend(net, x[:n], "lava-sim", record=True, progress=True)
    lava_pred = lava.logits.argmax(-1)

    acc = lambda p, k=len(x): float((p[:k] == y[:k]).mean())  # noqa: E731
    figures = {
        "samples": len(x),
        "accuracy_float": acc(float_pred),
        "accuracy_fixed": acc(emu_pred),
        "agreement_float_fixed": float((float_pred == emu_pred).mean()),
        "lava_samples": n,
        "accuracy_float_lava_subset": acc(float_pred, n),
        "accuracy_fixed_lava_subset": acc(emu_pred, n),
        "accuracy_lava": acc(lava_pred, n),
        "lava_equals_emulator": _same_spikes(
            lava, run_backend(net, x[:n], "emulator", record=True)
        ),
    }
    print(
        f"      accuracy on {len(x)} samples: float {figures['accuracy_float']:.2%}, fixed point "
        f"{figures['accuracy_fixed']:.2%} (top-1 agreement {figures['agreement_float_fixed']:.2%})"
    )
    print(
        f"      accuracy on the first {n}: float {figures['accuracy_float_lava_subset']:.2%}, "
        "fixed point "
        f"{figures['accuracy_fixed_lava_subset']:.2%}, Lava {figures['accuracy_lava']:.2%}; every "
        "spike of every "
        f"population on Lava {'equals' if figures['lava_equals_emulator'] else 'DIFFERS FROM'} the "
        "emulator's"
    )
    return figures, emu


def _energy(net, x: np.ndarray, emu, html: Path) -> dict:
    """The energy figures of the emulator's run on the loihi2 profile, its report written as
    ``html``."""
    r = report(net, activity(net, x, emu.spike_counts, emu.step_counts), "loihi2")
    write_output(html, render_html(r))
    total, dynamic, a, rt = r.total, r.dynamic, r.ann, r.runtime
    figures = dict(
        energy_uj=total.value / 1e6,
        dynamic_energy_uj=dynamic.value / 1e6,
        latency_ms=rt.latency_s.value * 1e3,
        synops=r.totals.synops,
        ann_macs=a.macs,
        energy_ratio_45nm=a.energy_ratio_45nm,
    )
    lat = [s * 1e3 for s in rt.latency_s]
    print(
        f"      latency {lat[0]:.2f} ms per sample (range {lat[1]:.2f} to {lat[2]:.2f} ms; "
        f"{si(rt.step_us.mean * 1e-6, 's')} per step, bound by {rt.bound}); "
        f"{si(r.totals.synops, CHIP_EVENTS, count=True)}; {si(total.value * 1e-12, 'J')} "
        f"(range {si(total.low * 1e-12, 'J')} to {si(total.high * 1e-12, 'J')}): dynamic "
        f"{si(dynamic.value * 1e-12, 'J')}, static {si(r.energy['static'].value * 1e-12, 'J')}; "
        f"as an ANN {si(a.macs, 'MACs', count=True)}; at 45 nm the SNN needs "
        f"{a.energy_ratio_45nm:.2f}x the ANN's energy (estimates from the loihi2 profile, "
        "not board measurements)"
    )
    return figures
