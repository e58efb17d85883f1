"""A long Lava run in one process: memory and OS processes over --samples samples (default 1,000).

    .venv/bin/python benchmarks/bench_long_run.py [--samples 1000] [--chunk 100]

The digits model (BatchNorms calibrated on random input, so every population fires) runs on
Lava's bit-accurate simulator chunk after chunk, exactly as ``lmuneuro run --backend lava-sim``
does (a fresh process graph per chunk of ``lmuneuro.backends.lava.network.CHUNK`` samples).
Printed: this process's resident memory before the first chunk, after the first and after the
last, the growth per chunk from the second on (least squares), Lava's OS processes still alive
after each chunk, and whether every logit equals the emulator's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import calibrated  # noqa: E402

from lmuneuro.backends.emulator import run as emulate  # noqa: E402
from lmuneuro.backends.lava import network  # noqa: E402
from lmuneuro.compile.graph import from_model  # noqa: E402
from lmuneuro.compile.quantize import quantize_graph  # noqa: E402


def _lava_children(me: psutil.Process) -> int:
    return sum(
        "multiprocessing.resource_tracker" not in " ".join(c.cmdline())
        for c in me.children(recursive=True)
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=network.CHUNK)
    args = ap.parse_args()
    net = quantize_graph(from_model(calibrated("spiking-lmuformer-digits")), input_max_abs=1.0)
    x = np.random.default_rng(0).uniform(0, 1, (args.samples, 8, 8)).astype(np.float32)
    me = psutil.Process()
    rss = [me.memory_info().rss]
    alive, logits = [], []
    t0 = time.perf_counter()
    for i in range(0, args.samples, args.chunk):
        logits.append(network.run(net, x[i : i + args.chunk], chunk=args.chunk).logits)
        rss.append(me.memory_info().rss)
        alive.append(_lava_children(me))
        print(
            f"  {min(i + args.chunk, args.samples):5d} samples  rss {rss[-1] / 2**20:7.1f} MiB  "
            f"Lava processes alive {alive[-1]}",
            flush=True,
        )
    seconds = time.perf_counter() - t0
    same = np.array_equal(np.concatenate(logits), emulate(net, x).logits)
    mib = np.array(rss) / 2**20
    later = mib[1:]
    slope = (
        np.polyfit(np.arange(len(later) - 1), later[1:], 1)[0] if len(later) > 2 else float("nan")
    )
    rows = [
        ("samples (chunks)", f"{args.samples} ({len(later)})"),
        ("seconds", f"{seconds:.0f}"),
        ("seconds per sample", f"{seconds / args.samples:.3f}"),
        ("RSS before the run", f"{mib[0]:.1f} MiB"),
        ("RSS after the first chunk", f"{mib[1]:.1f} MiB"),
        ("RSS after the last chunk", f"{mib[-1]:.1f} MiB"),
        ("growth per chunk after the first", f"{slope:+.2f} MiB"),
        ("Lava processes alive after any chunk", f"{max(alive)}"),
        ("logits equal the emulator's", "yes" if same else "NO"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
