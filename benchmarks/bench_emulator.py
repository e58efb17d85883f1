"""Conversion time and fixed-point emulator throughput on the SCv2 preset (batch 32 x 128 steps),
beside the float PyTorch model on the same inputs, measured in one run. Prints a table.

    .venv/bin/python benchmarks/bench_emulator.py [--threads 2] [--repeats 3] [--batch 32]
        [--device cuda]

The model is the SCv2 preset with BatchNorms calibrated on random input (every population fires),
saved in the reference implementation's checkpoint layout; the emulator is bit-exact to Lava's
fixed-point models, so its speed is that of the arithmetic, not of an approximation. Both run
on ``--device``; on a GPU the emulator's logits and spike counts are also checked against its run
on the CPU, bit for bit.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import median_time, parse_args

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import calibrated  # noqa: E402

from lmuneuro.artifact import read_artifact  # noqa: E402
from lmuneuro.backends.emulator import Emulator  # noqa: E402
from lmuneuro.compile.convert import convert  # noqa: E402
from lmuneuro.converters.reference import to_reference_state_dict  # noqa: E402


def _device(ap) -> None:
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")


def main():
    args = parse_args(__doc__, _device)
    device = torch.device(args.device)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    model = calibrated("spiking-lmuformer-scv2")
    x = np.random.default_rng(0).standard_normal((args.batch, 128, 128)).astype(np.float32)
    print(
        f"spiking-lmuformer-scv2, batch {args.batch} x 128 steps, {args.device} ({card}), "
        f"{args.threads} threads, median of {args.repeats}"
    )
    print(f"\n{'':50s} {'seconds':>9s} {'clips/s':>9s} {'vs float':>9s}")
    on_device = model.to(device)
    x_device = torch.from_numpy(x).to(device)
    with torch.no_grad():
        t_float = median_time(lambda: on_device(x_device).cpu(), args.repeats)
    print(
        f"{'float model (PyTorch, ours)':50s} {t_float:9.3f} {args.batch / t_float:9.1f} "
        f"{1.0:8.2f}x"
    )
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "ref.pth"
        torch.save(to_reference_state_dict(model), ckpt)
        for sets in (1, 2):
            art = Path(tmp) / f"scv2-{sets}.h5"
            t = time.perf_counter()
            convert(ckpt, art, input_range=4.0, weight_sets=sets, target="kapoho-point")
            t_convert = time.perf_counter() - t
            net = read_artifact(art)
            emulator = Emulator(net, device)
            t_emu = median_time(lambda: emulator(x), args.repeats)
            same = ""
            if device.type != "cpu":
                here, cpu = emulator(x), Emulator(net)(x)
                counts = here.spike_counts.items()
                same = "   bit-exact vs cpu: " + str(
                    np.array_equal(here.logits, cpu.logits)
                    and all(np.array_equal(c, cpu.spike_counts[k]) for k, c in counts)
                )
            print(
                f"{f'emulator, {sets} weight set(s), {len(net.synapses)} synapse processes':50s} "
                f"{t_emu:9.3f} "
                f"{args.batch / t_emu:9.1f} {t_float / t_emu:8.2f}x   (convert: {t_convert:.1f} s)"
                + same
            )


if __name__ == "__main__":
    main()
