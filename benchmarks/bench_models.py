"""PyTorch model speed: FFT (parallel) vs recurrent LMU memory in a training step, and the
streaming step API's throughput. Prints a table; ratios are measured side by side in one run.

    .venv/bin/python benchmarks/bench_models.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from common import median_time, parse_args, train_step

from lmuneuro.models import LegendreMemory, build_model, get_preset


def train_step_time(preset: str, batch: int, parallel: bool, repeats: int) -> float:
    torch.manual_seed(0)
    model = build_model(get_preset(preset)).train()
    for m in model.modules():
        if isinstance(m, LegendreMemory):
            m.parallel = parallel
    cfg = model.config
    x = torch.randn(batch, cfg.seq_len, cfg.in_features)
    y = F.one_hot(torch.randint(0, cfg.num_classes, (batch,)), cfg.num_classes).float()
    return median_time(train_step(model, x, y), repeats)


def memory_step_time(preset: str, batch: int, parallel: bool, repeats: int) -> float:
    """The LMU memory alone: forward and backward of (batch, 1, steps) -> (batch, d, steps)."""
    cfg = get_preset(preset)
    mem = LegendreMemory(cfg.memory_size, cfg.theta, cfg.seq_len)
    mem.parallel = parallel
    u = torch.randn(batch, 1, cfg.seq_len, requires_grad=True)
    w = torch.randn(batch, cfg.memory_size, cfg.seq_len)
    return median_time(lambda: (mem(u) * w).sum().backward(), repeats)


@torch.no_grad()
def stream_fps(preset: str, batch: int, frames: int) -> float:
    torch.manual_seed(0)
    model = build_model(get_preset(preset)).eval()
    cfg = model.config
    x = torch.randn(batch, frames, cfg.in_features)
    _, state = model.step(x[:, 0], model.init_state(batch))
    t = time.perf_counter()
    for i in range(1, frames):
        _, state = model.step(x[:, i], state)
    return (frames - 1) * batch / (time.perf_counter() - t)


def main():
    args = parse_args(__doc__)
    print(
        f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, median of "
        f"{args.repeats}"
    )
    print(
        f"\n{'training step (fwd+bwd; model: +Adam)':44s} {'steps':>5s} {'FFT s':>8s} "
        f"{'recurrent s':>12s} {'ratio':>7s}"
    )
    for what, fn in (("model", train_step_time), ("LMU memory only", memory_step_time)):
        for preset in ("spiking-lmuformer-scv2", "spiking-lmuformer-psmnist"):
            steps = get_preset(preset).seq_len
            fft = fn(preset, args.batch, True, args.repeats)
            rec = fn(preset, args.batch, False, args.repeats)
            print(
                f"{preset + ' (' + what + ')':44s} {steps:5d} {fft:8.3f} {rec:12.3f} "
                f"{rec / fft:6.2f}x"
            )
    print(f"\n{'streaming step API':44s} {'batch':>5s} {'frames/s':>10s}")
    for preset in ("spiking-lmuformer-scv2", "lmuformer-scv2"):
        for batch in (1, args.batch):
            print(f"{preset:44s} {batch:5d} {stream_fps(preset, batch, 64):10.0f}")


if __name__ == "__main__":
    main()
