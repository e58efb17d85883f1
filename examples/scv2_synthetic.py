"""The paper's full-size Spiking LMUFormer (spiking-lmuformer-scv2, 1.69 M parameters) trained on
the 35 Speech Commands words spoken by espeak-ng, nothing to download, and measured beside the
paper's figures.

    make scv2-synthetic          (installs espeak-ng, then runs this; about 90 min on 2 cores)
    python examples/scv2_synthetic.py --device cuda --snn-minutes 7 --ann-minutes 3

Each step but the conversion (seconds) is skipped when its output is already in WORKDIR, so a
second run only measures:
  1. the data set (lmuneuro synthesize scv2-synthetic): 35 words x 330 clips, speakers disjoint
     between train, validation and test;
  2. spiking-lmuformer-scv2 (snn.pt) and the non-spiking lmuformer-scv2 (ann.pt), trained for as
     many epochs as fit in the minutes given;
  3. snn.pt converted for Loihi 2 (kapoho-point), with two weight sets (snn.h5, two chips) and
     with one (snn-1set.h5, one chip);
  4. on every test clip: float and fixed-point accuracy, top-1 agreement and per-layer spike
     mismatch with two weight sets and with one, streaming accuracy against the fraction of the
     clip seen, SynOps per clip with one and two weight sets, ANN MACs, energy per clip on loihi2,
     cmos45-snn and cmos45-ann with Loihi 2's latency per clip (the runtime model), and Lava's
     outputs against the emulator's on the first clips.
Writes WORKDIR/figures.json and prints the figures.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from lmuneuro import load_checkpoint
from lmuneuro.analysis.activity import activity
from lmuneuro.analysis.energy import report
from lmuneuro.analysis.verify import verify
from lmuneuro.artifact import read_artifact
from lmuneuro.backends import run_backend
from lmuneuro.compile.convert import convert
from lmuneuro.data import RECIPES, get_dataset
from lmuneuro.data.spoken import build
from lmuneuro.train import TrainConfig, train

DATASET = "scv2-synthetic"
TARGET = "kapoho-point"  # Loihi 2 chips: with two weight sets the network needs two
PROFILES = ("kapoho-point", "cmos45-snn", "cmos45-ann")
# The paper's own figures (arXiv 2402.04882, Speech Commands v2): SNN SynOps and ANN MACs per clip,
# and the fraction of the clip after which the SNN keeps 99 % of its final accuracy.
PAPER = {"synops_g": 0.0309, "ann_macs_g": 0.189, "frames_for_99pct": 87 / 128}
# A spiking head reads spike rates of a few per cent: its learning rate x10, as for the keywords.
RECIPE = {
    "snn.pt": ("spiking-lmuformer-scv2", 10.0),
    "ann.pt": ("lmuformer-scv2", 1.0),
}


def _train(work: Path, data: Path, minutes: dict, device: str) -> None:
    for name, (preset, head_lr_scale) in RECIPE.items():
        out = work / name
        if out.exists():
            print(f"using the trained {out} (delete it to train again)")
            continue
        print(f"training {preset} for up to {minutes[name]:g} min -> {out}")
        train(
            TrainConfig(
                preset=preset,
                dataset=DATASET,
                output=str(out),
                epochs=100,  # the step decay's length; the time budget ends training
                batch_size=64,
                head_lr_scale=head_lr_scale,
                device=device,
                data_dir=str(data),
                time_budget=minutes[name],
            )
        )


def _streaming(per_step: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy after each number of frames, and the fewest frames that keep 99 % of the
    final accuracy."""
    acc = (per_step.argmax(-1) == y[:, None]).mean(axis=0)
    keep = int(np.argmax(acc >= 0.99 * acc[-1])) + 1
    return {"accuracy_per_frames": acc.tolist(), "frames_for_99pct": keep}


def measure(work: Path, data: Path, lava_clips: int) -> dict:
    snn, ann = work / "snn.pt", work / "ann.pt"
    arts = {2: work / "snn.h5", 1: work / "snn-1set.h5"}
    for sets, art in arts.items():  # seconds each: always this lmuneuro's conversion
        convert(snn, art, target=TARGET, weight_sets=sets)
    test = get_dataset(DATASET, "test", data_dir=data, progress=True)
    x, y = (t.numpy() for t in test.tensors)
    fig = {"test_clips": len(y), "paper": PAPER}

    for sets, art in arts.items():  # float vs fixed point, with each number of weight sets
        t = time.perf_counter()
        v = verify(snn, art, dataset=DATASET, data_dir=data)
        fig[f"fidelity_{sets}_sets"] = {
            k: getattr(v, k) for k in ("accuracy_float", "accuracy_fixed", "agreement", "samples")
        } | {
            "drop_points": 100 * (v.accuracy_float - v.accuracy_fixed),
            "mismatch_per_layer": {r.layer: r.mismatch for r in v.layers if r.mismatch is not None},
            "seconds": time.perf_counter() - t,
        }

    model = load_checkpoint(snn).model
    with torch.no_grad():
        float_steps = torch.cat(
            [model(torch.from_numpy(x[i : i + 64]), per_step=True) for i in range(0, len(x), 64)]
        ).numpy()
    fixed = run_backend(read_artifact(arts[2]), x, "emulator", progress=True)
    fig["streaming"] = {
        "float": _streaming(float_steps, y),
        "fixed": _streaming(fixed.per_step, y),
    }

    fig["synops"], fig["energy_uj"] = {}, {}
    for sets, art in arts.items():
        net = read_artifact(art)
        res = fixed if sets == 2 else run_backend(net, x, "emulator", progress=True)
        act = activity(net, x, res.spike_counts, res.step_counts)
        for profile in PROFILES if sets == 2 else PROFILES[:1]:
            r = report(net, act, profile)
            t = r.totals
            fig["synops"][f"{sets}_sets"] = {  # the chip's events and the model's own count
                "chip_g": t.synops / 1e9,
                "binary_g": t.binary_synops / 1e9,
                "graded_g": t.graded_synops / 1e9,
                "model_synops_g": t.model_synops / 1e9,
                "model_graded_macs_g": t.model_graded_macs / 1e9,
                "chip_per_model": t.chip_per_model,
            }
            fig["ann_macs_g"] = r.ann.macs / 1e9
            modes = {m: v for m, v in vars(r.static_modes).items() if v is not None}
            fig["energy_uj"][f"{profile}, {sets} set(s)"] = {
                "total": r.total.value / 1e6,
                "range": [r.total.low / 1e6, r.total.high / 1e6],
                **{f"{m}_total": v.total_pj.value / 1e6 for m, v in modes.items()},
                "dynamic": r.dynamic.value / 1e6,
            }
            if r.runtime is not None:  # the runtime model's latency per clip, back to back
                rt = r.runtime
                fig.setdefault("latency", {})[f"{profile}, {sets} set(s)"] = {
                    "latency_ms": [v * 1e3 for v in rt.latency_s],
                    "step_us": vars(rt.step_us),
                    "bound": rt.bound,
                    "cores": t.cores,
                    "chips": t.chips,
                    "energy_width": r.total.high / r.total.low,
                }

    ann_model = load_checkpoint(ann).model
    with torch.no_grad():
        ann_pred = torch.cat(
            [ann_model(torch.from_numpy(x[i : i + 64])) for i in range(0, len(x), 64)]
        ).argmax(-1)
    fig["ann_accuracy_float"] = float((ann_pred.numpy() == y).mean())

    n = min(lava_clips, len(x))
    t = time.perf_counter()
    lava = run_backend(read_artifact(arts[2]), x[:n], "lava-sim", progress=True)
    fig["lava"] = {
        "clips": n,
        "logits_equal_emulator": bool(np.array_equal(lava.logits, fixed.logits[:n])),
        "seconds": time.perf_counter() - t,
    }
    return fig


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--workdir", default="runs/scv2-synthetic", help="outputs; clips in WORKDIR/data"
    )
    p.add_argument("--device", default="auto", help="training device: auto, cpu, cuda")
    p.add_argument("--snn-minutes", type=float, default=55, help="training time, spiking model")
    p.add_argument("--ann-minutes", type=float, default=20, help="training time, ANN")
    p.add_argument("--lava-clips", type=int, default=3, help="test clips also run on Lava")
    args = p.parse_args()
    work = Path(args.workdir)
    data = work / "data"
    r = build(data, RECIPES[DATASET])
    print(f"{data}: {r['clips']} clips ({'built' if r['built'] else 'checked'})")
    _train(work, data, {"snn.pt": args.snn_minutes, "ann.pt": args.ann_minutes}, args.device)
    fig = measure(work, data, args.lava_clips)
    (work / "figures.json").write_text(json.dumps(fig, indent=2))
    print(json.dumps({k: v for k, v in fig.items() if k != "streaming"}, indent=2))
    for kind, s in fig["streaming"].items():
        print(f"streaming ({kind}): 99 % of final accuracy after {s['frames_for_99pct']} frames")
    print(f"figures written to {work / 'figures.json'}")


if __name__ == "__main__":
    main()
