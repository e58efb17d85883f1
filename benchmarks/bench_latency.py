"""Latency, time per step and energy per sample on Loihi 2 (the runtime model and the profile's
constants: estimates, not board measurements) for trained checkpoints and for presets with
calibrated random weights (``tests/support.calibrated``) on random inputs.

    .venv/bin/python benchmarks/bench_latency.py --checkpoint runs/demo/model.pt digits \\
        --preset spiking-lmuformer-keywords --preset spiking-lmuformer-scv2 --samples 8
    .venv/bin/python benchmarks/bench_latency.py --checkpoint runs/scv2-synthetic/snn.pt \
        scv2-synthetic --data-dir runs/scv2-synthetic/data --samples 64

A preset that does not fit one chip is placed on a Kapoho Point (8 chips). Per network: neuro-cores
and chips, latency per sample back to back (range), the mean time per step (min-max over the
sample's steps; the chip's share without host I/O), what bounds it, energy per sample with its
range and the range's width, dynamic energy, static's share, and in real time (10 ms frames) the
fraction of each frame the chip computes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from support import calibrated  # noqa: E402

from lmuneuro import energy  # noqa: E402
from lmuneuro.checkpoint import save_checkpoint  # noqa: E402
from lmuneuro.compile.convert import ConversionError, convert  # noqa: E402


def _convert(ckpt: Path, out: Path, weight_sets: int) -> str:
    """The profile the network fits: one Loihi 2 chip, else a Kapoho Point."""
    for target in ("loihi2", "kapoho-point"):
        try:
            convert(ckpt, out, target=target, weight_sets=weight_sets)
            return target
        except ConversionError:
            continue
    raise SystemExit(f"{ckpt} fits neither loihi2 nor kapoho-point")


def _row(name: str, art: Path, target: str, **inputs) -> dict:
    r = energy(art, profile=target, frame_ms=10.0, **inputs)
    rt, total, dyn = r.runtime, r.total, r.dynamic
    return {
        "network": name,
        "cores": r.totals.cores,
        "chips": r.totals.chips,
        "latency_ms": [v * 1e3 for v in rt.latency_s],
        "step_us": vars(rt.step_us),
        "bound": rt.bound,
        "energy_uj": [v / 1e6 for v in total],
        "width": total.high / total.low,
        "dynamic_uj": dyn.value / 1e6,
        "static_share": r.energy["static"].value / total.value,
        "frame_fraction": rt.real_time_fraction,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", nargs=2, action="append", default=[], metavar=("PT", "DATA"))
    ap.add_argument("--data-dir", help="where the checkpoints' data set is (synthesised sets)")
    ap.add_argument("--preset", action="append", default=[])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--weight-sets", type=int, default=2, choices=(1, 2))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (ckpt, dataset) in enumerate(args.checkpoint):
            art = Path(tmp) / f"c{i}.h5"
            target = _convert(Path(ckpt), art, args.weight_sets)
            rows.append(
                _row(
                    f"{ckpt} ({dataset})",
                    art,
                    target,
                    dataset=dataset,
                    data_dir=args.data_dir,
                    samples=args.samples,
                )
            )
        for preset in args.preset:
            model = calibrated(preset)
            ckpt, art = Path(tmp) / f"{preset}.pt", Path(tmp) / f"{preset}.h5"
            save_checkpoint(ckpt, model, preset=preset)
            target = _convert(ckpt, art, args.weight_sets)
            cfg = model.config
            x = torch.randn(args.samples, cfg.seq_len, cfg.in_features).numpy()
            name = f"{preset}, calibrated random weights, {args.weight_sets} weight set(s)"
            rows.append(_row(name, art, target, inputs=x))
    print(
        f"{'network':56s} {'cores':>5s} {'chips':>5s} {'latency ms (range)':>24s} "
        f"{'us/step mean (min-max; chip)':>30s} {'bound':>10s} {'energy uJ (range, width)':>30s} "
        f"{'dynamic':>9s} {'static':>6s} {'of 10ms':>7s}"
    )
    for r in rows:
        lat, s, e = r["latency_ms"], r["step_us"], r["energy_uj"]
        print(
            f"{r['network'][:56]:56s} {r['cores']:5d} {r['chips']:5d} "
            f"{lat[0]:8.3g} ({lat[1]:.3g}-{lat[2]:.3g}) "
            f"{s['mean']:8.3g} ({s['min']:.3g}-{s['max']:.3g}; {s['chip_mean']:.3g}) "
            f"{r['bound']:>10s} {e[0]:9.3g} ({e[1]:.3g}-{e[2]:.3g}, {r['width']:.2f}x) "
            f"{r['dynamic_uj']:9.3g} {r['static_share']:6.1%} {r['frame_fraction']:7.2%}"
        )


if __name__ == "__main__":
    np.random.seed(0)
    torch.manual_seed(0)
    main()
