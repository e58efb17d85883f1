"""Seconds per sample on the same artifact and samples, measured in one run: Lava's bit-accurate
CPU simulation (fixed_pt, after compilation), the emulator at batch 1 and at batch 32 (median of
--repeats runs).

    .venv/bin/python benchmarks/bench_backends.py [--preset spiking-lmuformer-scv2] [--lava-samples 2]

The model is the preset with BatchNorms calibrated on random input (every population fires); both
backends produce identical spikes (tests/test_lava_network.py), so this compares their speed only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import calibrated  # noqa: E402

from common import median_time  # noqa: E402
from lmuneuro.convert import quantize_graph  # noqa: E402
from lmuneuro.emulator import run as emulate  # noqa: E402
from lmuneuro.graph import from_model  # noqa: E402
from lmuneuro.lava.network import build  # noqa: E402


def lava_seconds_per_sample(net, x) -> tuple[float, float]:
    """(compile + first sample, median of the following samples) in seconds."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    g = build(net, x)
    times = []
    try:
        for _ in range(g.samples):
            t = time.perf_counter()
            g.output.run(condition=RunSteps(num_steps=g.period), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            times.append(time.perf_counter() - t)
    finally:
        g.output.stop()
    return times[0], float(np.median(times[1:]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="spiking-lmuformer-scv2")
    ap.add_argument("--lava-samples", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="emulator timings: median of this many runs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = calibrated(args.preset)
    cfg = model.config
    net = quantize_graph(from_model(model), input_max_abs=4.0)
    x = np.random.default_rng(0).standard_normal((32, cfg.seq_len, cfg.in_features)).astype(np.float32)
    first, lava = lava_seconds_per_sample(net, x[:args.lava_samples])
    emu1 = median_time(lambda: emulate(net, x[:1]), args.repeats)
    emu32 = median_time(lambda: emulate(net, x), args.repeats) / len(x)
    print(f"{args.preset}: {len(net.populations)} populations, {net.delay + cfg.seq_len} steps per sample, "
          f"{args.threads} threads")
    print(f"\n{'backend':34s} {'s / sample':>11s} {'vs lava-sim':>12s}")
    print(f"{'lava-sim (fixed_pt)':34s} {lava:11.3f} {1:11.0f}x   (compile + first sample: {first:.1f} s)")
    print(f"{'emulator, batch 1':34s} {emu1:11.4f} {lava / emu1:11.0f}x")
    print(f"{'emulator, batch 32':34s} {emu32:11.4f} {lava / emu32:11.0f}x")


if __name__ == "__main__":
    main()
