"""Quantisation-aware fine-tuning, before and after: convert a trained spiking checkpoint and
measure it on the test split, fine-tune it as the chip computes (``lmuneuro train
--quantization-aware``), convert and measure again; for each number of weight sets.

    python examples/quantization_aware.py runs/demo/model.pt --dataset digits
    python examples/quantization_aware.py runs/keywords/model.pt --dataset spoken-keywords \\
        --data-dir runs/keywords/data --batch-size 32 --head-lr-scale 10

Prints a table (accuracy float / fixed point before, fixed point after, the fine-tuned model's
own forward pass against the emulator on the artifact) and writes WORKDIR/figures.json.
"""

import argparse
import json
import time
from pathlib import Path

from torch.utils.data import DataLoader

from lmuneuro import load_checkpoint
from lmuneuro.analysis.verify import verify
from lmuneuro.backends.qat import ChipModel
from lmuneuro.compile.convert import Settings, convert
from lmuneuro.data import dataset_info, get_dataset
from lmuneuro.train import TrainConfig, evaluate, train


def chip_accuracy(checkpoint, dataset, data_dir, settings: Settings) -> tuple[str, float]:
    """(split, accuracy) of the network convert makes with ``settings``, on the split training
    reports on (validation where the data set has one)."""
    ck = load_checkpoint(checkpoint)
    split = dataset_info(dataset)["eval_split"]
    ds = get_dataset(dataset, split, **({"data_dir": data_dir} if data_dir else {}))
    chip = ChipModel(ck.model, ck.features, settings)
    return split, evaluate(chip, DataLoader(ds, batch_size=256), "cpu")["accuracy"]


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("checkpoint", help="a trained spiking checkpoint")
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-dir")
    p.add_argument("--target", default="loihi2")
    p.add_argument("--sets", default="2,1", help="weight sets to fine-tune for, comma-separated")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--head-lr-scale", type=float, default=1.0)
    p.add_argument("--samples", type=int, help="test samples (default: all)")
    p.add_argument("--workdir", help="outputs (default: the checkpoint's folder/qat)")
    args = p.parse_args()
    work = Path(args.workdir or Path(args.checkpoint).parent / "qat")
    work.mkdir(parents=True, exist_ok=True)
    preset = load_checkpoint(args.checkpoint).preset
    data = {"dataset": args.dataset, "data_dir": args.data_dir, "samples": args.samples}
    rows = []
    for sets in (int(s) for s in args.sets.split(",")):
        before_art = work / f"before-{sets}set.h5"
        convert(args.checkpoint, before_art, target=args.target, weight_sets=sets)
        before = verify(args.checkpoint, before_art, **data)
        settings = Settings(target=args.target, weight_sets=sets)
        split, eval_before = chip_accuracy(args.checkpoint, args.dataset, args.data_dir, settings)
        tuned = work / f"aware-{sets}set.pt"
        t0 = time.perf_counter()
        train(
            TrainConfig(
                preset=preset,
                dataset=args.dataset,
                output=str(tuned),
                epochs=args.epochs,
                batch_size=args.batch_size,
                lr=args.lr,
                head_lr_scale=args.head_lr_scale,
                data_dir=args.data_dir,
                init=args.checkpoint,
                quantization_aware=True,
                settings=settings.to_dict(),
            ),
        )
        seconds = time.perf_counter() - t0
        after_art = work / f"aware-{sets}set.h5"
        convert(tuned, after_art)
        after = verify(tuned, after_art, **data)
        _, eval_after = chip_accuracy(tuned, args.dataset, args.data_dir, settings)
        rows.append(
            {
                "weight_sets": sets,
                "samples": before.samples,
                "accuracy_float": before.accuracy_float,
                "accuracy_fixed_before": before.accuracy_fixed,
                "agreement_before": before.agreement,
                "accuracy_fixed_after": after.accuracy_fixed,
                "accuracy_float_after": after.accuracy_float,
                "agreement_float_after": after.agreement,
                "own_vs_emulator_agreement": after.quantization_aware.agreement,
                "own_vs_emulator_logits_identical": after.quantization_aware.logits_identical,
                "eval_split": split,
                "eval_accuracy_fixed_before": eval_before,
                "eval_accuracy_fixed_after": eval_after,
                "fine_tuning_seconds": seconds,
                "epochs": args.epochs,
            }
        )
    (work / "figures.json").write_text(json.dumps(rows, indent=2))
    print(
        "| weight sets | accuracy float | fixed before (agreement) | fixed after QAT | "
        "fine-tuned model vs emulator: agreement, identical logits | fixed on the eval split, "
        "before -> after | fine-tuning |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['weight_sets']} | {r['accuracy_float']:.2%} | {r['accuracy_fixed_before']:.2%} "
            f"({r['agreement_before']:.2%}) | {r['accuracy_fixed_after']:.2%} | "
            f"{r['own_vs_emulator_agreement']:.2%}, {r['own_vs_emulator_logits_identical']:.2%} | "
            f"{r['eval_split']}: {r['eval_accuracy_fixed_before']:.2%} -> "
            f"{r['eval_accuracy_fixed_after']:.2%} | "
            f"{r['epochs']} epochs, {r['fine_tuning_seconds']:.0f} s |"
        )
    print(f"wrote {work / 'figures.json'} ({rows[0]['samples']} test samples)")


if __name__ == "__main__":
    main()
