"""Synaptic operations on the chip against the model's own count, per way of carrying the residual
stream and per weight-set setting, measured in one run on the same inputs. Prints, per setting:
the chip's spike-driven synaptic events and graded events per sample (the emulator's spikes, as
``lmuneuro energy`` counts them), their ratio to the model's SynOps in the paper's convention
(``models.snn_synops``, on the float model's spikes), neuro-cores, synapses and top-1 agreement
with the float model.

    .venv/bin/python benchmarks/bench_synops.py CHECKPOINT --dataset digits
    .venv/bin/python benchmarks/bench_synops.py runs/scv2-synthetic/snn.pt \\
        --dataset scv2-synthetic --data-dir runs/scv2-synthetic/data --target kapoho-point

``--auto T ...`` adds, per tolerance T, the weight sets that ``lmuneuro convert --weight-sets auto
--tolerance T`` chooses, calibrated on the training split (or spread over ``--inputs``), measured
on the same inputs as the others.

Targets (issue 21): chip events at most 1.25x the model's with the weight sets in use, 1.1x with
one set; agreement no worse than with the stream folded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from common import checkpoint_args, checkpoint_inputs, parse_args

from lmuneuro.analysis.activity import activity
from lmuneuro.analysis.calibration import choose_weight_sets
from lmuneuro.artifact import read_artifact
from lmuneuro.backends import run_backend
from lmuneuro.compile.convert import convert
from lmuneuro.models import snn_synops


def main():
    def extra(ap):
        checkpoint_args(ap)
        ap.add_argument("--target", default="loihi2")
        ap.add_argument(
            "--set-error",
            type=float,
            nargs="*",
            default=[],
            help="also graded, 2 sets where one set's relative error exceeds each bound",
        )
        ap.add_argument(
            "--auto",
            type=float,
            nargs="*",
            default=[],
            metavar="TOLERANCE",
            help="also graded, the sets chosen on calibration data at each tolerance",
        )

    args = parse_args(__doc__, extra)
    model, x = checkpoint_inputs(args)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        float_pred = torch.cat(
            [model(xt[i : i + args.batch]) for i in range(0, len(x), args.batch)]
        ).argmax(-1)
    model_ops = snn_synops(model, xt, batch=args.batch)
    print(
        f"{args.checkpoint}: {len(x)} samples; the model {model_ops['synops']:,.0f} SynOps + "
        f"{model_ops['graded_macs']:,.0f} graded MACs per sample (the paper's convention)\n"
    )
    head = (
        f"{'residual':>8s} {'sets':>10s} {'chip events':>12s} {'x model':>8s} {'graded':>10s} "
        f"{'cores':>5s} {'synapses':>10s} {'agreement':>9s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        settings = [(r, n, {}, f"{n:4d}") for r in ("folded", "graded") for n in (2, 1)]
        settings += [("graded", 2, {"set_error": b}, f"   2 >{b:.3f}") for b in args.set_error]
        for t in args.auto:
            choice = choose_weight_sets(
                args.checkpoint,
                dataset=args.dataset,
                inputs=args.inputs,
                data_dir=args.data_dir,
                tolerance=t,
                target=args.target,
            )
            settings.append(("graded", 2, {"single_set": choice.single_set}, f"auto {t:.2f}"))
            print(
                f"auto {t:.2f}: one set into {len(choice.single_set)} of {choice.candidates} "
                f"layers, calibration logit error {choice.chosen.error:.4f} (two sets "
                f"{choice.two_sets.error:.4f}, one set {choice.one_set.error:.4f}), "
                f"{choice.trials} conversions"
            )
        print(head)
        for i, (residual, sets, extra, which) in enumerate(settings):
            art = Path(tmp) / f"{i}.h5"
            report = convert(
                args.checkpoint,
                art,
                weight_sets=sets,
                residual=residual,
                target=args.target,
                **extra,
            )
            net = read_artifact(art)
            res = run_backend(net, x, "emulator", batch=args.batch)
            act = activity(net, x, res.spike_counts)
            events = sum(r.synaptic_events for r in act.layers)
            graded = sum(r.graded_events for r in act.layers)
            agree = np.mean(res.logits.argmax(-1) == float_pred.numpy())
            ratio = events / model_ops["synops"]
            print(
                f"{residual:>8s} {which:>10s} {events:12,.0f} {ratio:7.2f}x "
                f"{graded:10,.0f} {report.cores:5d} "
                f"{sum(s.synapses for s in net.synapses):10,d} {agree:9.2%}"
            )


if __name__ == "__main__":
    main()
