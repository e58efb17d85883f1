"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def median_time(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def train_step(model, x, y_onehot, after=None):
    """One reference-recipe step (BCE on one-hot targets, Adam 2.5e-3, betas 0.95/0.999) as a
    callable."""
    opt = torch.optim.Adam(model.parameters(), lr=2.5e-3, betas=(0.95, 0.999))

    def run():
        loss = F.binary_cross_entropy_with_logits(model(x), y_onehot)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if after is not None:
            after(model)

    return run


def parse_args(doc: str, extra=None) -> argparse.Namespace:
    """The benchmarks' common options (--threads, --repeats, --batch); torch gets the threads."""
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    if extra:
        extra(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    return args


def checkpoint_args(ap: argparse.ArgumentParser) -> None:
    """A checkpoint and the inputs to measure it on (a data set's test split or a .npy array)."""
    ap.add_argument("checkpoint")
    ap.add_argument("--dataset")
    ap.add_argument("--inputs")
    ap.add_argument("--data-dir")
    ap.add_argument("--samples", type=int)


def checkpoint_inputs(args):
    """(model, features (samples, steps, features) float32) of ``checkpoint_args``."""
    from lmuneuro import load_checkpoint
    from lmuneuro.data.inputs import load_inputs

    model = load_checkpoint(args.checkpoint).model
    x, _ = load_inputs(
        dataset=args.dataset,
        inputs=args.inputs,
        data_dir=args.data_dir,
        samples=args.samples,
        n_features=model.config.in_features,
    )
    return model, x
