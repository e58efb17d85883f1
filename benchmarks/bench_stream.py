"""Always-on keyword spotting's speed: hours of audio per hour of compute, side by side in one run.

    .venv/bin/python benchmarks/bench_stream.py [--checkpoint model.pt] [--minutes 5] [--repeats 3]

One stream of ``--minutes`` of noise with a tone burst every two seconds (no espeak-ng needed) goes
through what ``lmuneuro stream`` does: the log-mel features, the converted network run without
resets on the emulator (CPU, and CUDA where torch sees a GPU), the read-out; and the float model
on the same features. The network is ``--checkpoint``'s (converted here), or the keywords preset
with BatchNorms calibrated on random input (every population fires). Printed: seconds per stream
(median of ``--repeats``) and the real-time factor, audio seconds per compute second.
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

from lmuneuro.backends import run_backend  # noqa: E402
from lmuneuro.checkpoint import load_checkpoint  # noqa: E402
from lmuneuro.compile.convert import Settings, compile_model  # noqa: E402
from lmuneuro.data import FeatureConfig  # noqa: E402
from lmuneuro.data.features import logmel_stream  # noqa: E402
from lmuneuro.spotting import _float_probabilities, probabilities  # noqa: E402


def _audio(minutes: float, rate: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(round(minutes * 60 * rate)) * 0.01
    t = np.arange(int(0.4 * rate)) / rate
    for start in range(rate, len(x) - len(t), 2 * rate):
        x[start : start + len(t)] += 0.5 * np.sin(2 * np.pi * rng.uniform(300, 1800) * t)
    return x


def _median_seconds(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        work()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--checkpoint", help="a keyword checkpoint (default: the calibrated preset)")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.checkpoint:
        ck = load_checkpoint(args.checkpoint)
        model, features = ck.model, ck.features
    else:
        model, features = calibrated("spiking-lmuformer-keywords"), FeatureConfig().to_dict()
    net = compile_model(model, features, Settings()).net
    cfg = FeatureConfig.from_dict(features)
    audio = _audio(args.minutes)
    audio_s = len(audio) / cfg.sample_rate
    x = logmel_stream(audio, cfg.sample_rate, cfg)
    c = cfg.target_length

    def chip(device: str):
        def work():
            res = run_backend(net, x[None], "emulator", record=True, device=device)
            probabilities(res.spikes[net.readout][0], net.head_weight, net.head_bias, c)

        return work

    rows = [("log-mel features", lambda: logmel_stream(audio, cfg.sample_rate, cfg))]
    rows.append(("chip network, emulator on the CPU", chip("cpu")))
    if torch.cuda.is_available():
        rows.append((f"chip network, emulator on {torch.cuda.get_device_name()}", chip("cuda")))
    rows.append(
        ("float model (torch, CPU)", lambda: _float_probabilities(model, x, net.readout, c))
    )
    print(
        f"{args.minutes:g} min stream ({len(x):,} frames), "
        f"{sum(p.size for p in net.populations):,} neurons, torch threads "
        f"{torch.get_num_threads()}, median of {args.repeats}"
    )
    print(f"{'stage':44s} {'seconds':>9s} {'x real time':>12s}")
    for name, work in rows:
        s = _median_seconds(work, args.repeats)
        print(f"{name:44s} {s:9.2f} {audio_s / s:12,.0f}")


if __name__ == "__main__":
    main()
