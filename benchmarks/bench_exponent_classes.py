"""Lava has one weight exponent per synapse process: the trade-off of splitting a weight matrix's
rows into processes of similar magnitude (``convert --exponent-classes N``), measured in one run.
Prints, per N: synapse processes, synapses, the largest weight error of a layer, top-1 agreement
between the float model and the emulator and the mean per-layer spike mismatch.

    .venv/bin/python benchmarks/bench_exponent_classes.py CHECKPOINT --dataset digits [--classes 1 2
    4 8]

Give a trained checkpoint and its dataset (or --inputs a .npy of features for an untrained one).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from common import checkpoint_args, checkpoint_inputs, parse_args

from lmuneuro.artifact import read_artifact
from lmuneuro.backends.emulator import run
from lmuneuro.compile.convert import convert
from lmuneuro.models import stack_records


def main():
    def extra(ap):
        checkpoint_args(ap)
        ap.add_argument("--classes", type=int, nargs="+", default=[1, 2, 4, 8])

    args = parse_args(__doc__, extra)
    model, x = checkpoint_inputs(args)
    with torch.no_grad(), model.recording() as rec:
        float_pred = model(torch.from_numpy(x)).argmax(-1).numpy()
    float_spikes = {n: s.numpy() > 0 for n, (s, _) in stack_records(rec).items()}
    print(f"{args.checkpoint}: {len(x)} samples")
    print(
        f"\n{'classes':>7s} {'syn procs':>9s} {'synapses':>10s} {'max weight err':>14s} "
        f"{'agreement':>9s} "
        f"{'spike mismatch':>14s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.classes:
            art = Path(tmp) / f"c{n}.h5"
            report = convert(args.checkpoint, art, exponent_classes=n)
            net = read_artifact(art)
            res = run(net, x, record=True)
            mismatch = np.mean([np.mean(res.spikes[k] != float_spikes[k]) for k in res.spikes])
            print(
                f"{n:7d} {len(net.synapses):9d} {sum(s.synapses for s in net.synapses):10,d} "
                f"{max(r['weight_error'] for r in report.layers):14.2e} "
                f"{np.mean(res.logits.argmax(-1) == float_pred):9.2%} {mismatch:14.4%}"
            )


if __name__ == "__main__":
    main()
