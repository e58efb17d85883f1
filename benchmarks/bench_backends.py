"""The network as Lava's own processes, per model: process count, memory and seconds per sample on
Lava's bit-accurate CPU simulator (Loihi2SimCfg fixed_pt), beside the emulator on the same
artifact and samples, measured in one run.

    .venv/bin/python benchmarks/bench_backends.py [--models digits keywords scv2] [--lava-samples 3]

Each model is its preset with BatchNorms calibrated on random input (every population fires), or
a checkpoint given as NAME=PATH (for example keywords=runs/keywords/model.pt). Lava's seconds per
sample: a run of all samples minus a run of one (compiling and starting the graph), divided by the
samples beyond the first. Memory: the peak of the summed proportional set size (PSS: shared pages
counted once) of this process and every OS process Lava forks, sampled every 50 ms.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import torch
from common import median_time, parse_args

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import calibrated  # noqa: E402

from lmuneuro import load_checkpoint  # noqa: E402
from lmuneuro.artifact import read_artifact  # noqa: E402
from lmuneuro.backends.emulator import run as emulate  # noqa: E402
from lmuneuro.backends.lava.network import run as lava_run
from lmuneuro.compile.convert import convert  # noqa: E402
from lmuneuro.converters.reference import to_reference_state_dict  # noqa: E402

PRESETS = {
    "digits": "spiking-lmuformer-digits",
    "keywords": "spiking-lmuformer-keywords",
    "scv2": "spiking-lmuformer-scv2",
}


class PeakMemory:
    """The peak summed PSS of this process tree while inside the block, in MiB."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()

    def _sample(self) -> float:
        me = psutil.Process()
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                total += p.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total / 2**20

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._sample())

    def __enter__(self):
        self.peak = self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def artifact(name: str, spec: str | None, tmp: Path) -> tuple[Path, int]:
    """(artifact, frames per sample) for a preset calibrated on random input, or a checkpoint."""
    if spec:
        ckpt = Path(spec)
        steps = load_checkpoint(ckpt).config.seq_len
    else:
        model = calibrated(PRESETS[name])
        ckpt, steps = tmp / f"{name}.pth", model.config.seq_len
        torch.save(to_reference_state_dict(model), ckpt)
    out = tmp / f"{name}.h5"
    # a checkpoint: its features' default range; random normal inputs: +-4
    convert(
        ckpt, out, input_range=None if spec else 4.0, target="loihi2" if spec else "kapoho-point"
    )
    return out, steps


def main():
    def extra(ap):
        ap.add_argument(
            "--models",
            nargs="+",
            default=["digits", "keywords", "scv2"],
            help="digits, keywords, scv2, or NAME=CHECKPOINT",
        )
        ap.add_argument("--lava-samples", type=int, default=3)

    args = parse_args(__doc__, extra)
    print(
        f"Lava's processes per model; {args.lava_samples} samples on lava-sim, emulator at batch "
        "1; "
        f"{args.threads} threads"
    )
    print(
        f"\n{'model':10s} {'processes':>9s} {'steps':>6s} {'lava s/sample':>13s} "
        f"{'first (compile)':>15s} "
        f"{'peak PSS MiB':>12s} {'emulator s/sample':>17s} {'ratio':>7s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.models:
            name, _, path = spec.partition("=")
            art, steps = artifact(name, path or None, Path(tmp))
            net = read_artifact(art)
            count = net.processes
            rng = np.random.default_rng(0)
            x = rng.standard_normal((args.lava_samples, steps, net.input_size)).astype(np.float32)
            with PeakMemory() as mem:
                t = time.perf_counter()
                lava_run(net, x[:1])
                first = time.perf_counter() - t
                t = time.perf_counter()
                res = lava_run(net, x)
                per = (time.perf_counter() - t - first) / max(len(x) - 1, 1)  # one compile less
            emu = median_time(lambda: emulate(net, x[:1]), args.repeats)
            assert np.array_equal(
                res.logits, emulate(net, x).logits
            )  # the same network, the same numbers
            print(
                f"{name:10s} {count:9d} {net.delay + steps:6d} {per:13.2f} {first:15.1f} "
                f"{mem.peak:12.0f} "
                f"{emu:17.4f} {per / emu:6.0f}x"
            )


if __name__ == "__main__":
    main()
