"""``make demo``: the main job on built-in data, end to end as far as the toolkit reaches today."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from .checkpoint import load_checkpoint
from .data import get_dataset
from .train import TrainConfig, evaluate, train

PRESET, DATASET = "spiking-lmuformer-digits", "digits"


def run_demo(workdir: str = "runs/demo", epochs: int = 40) -> int:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(workdir) / "model.pt"
    t0 = time.perf_counter()
    print(f"[1/3] training {PRESET} on {DATASET} for {epochs} epochs -> {out}")
    train(TrainConfig(preset=PRESET, dataset=DATASET, output=str(out), epochs=epochs, batch_size=64))
    ck = load_checkpoint(out)
    test = get_dataset(DATASET, "test")
    loader = torch.utils.data.DataLoader(test, batch_size=256)
    acc = evaluate(ck.model, loader, torch.device("cpu"))["accuracy"]
    print(f"[2/3] float model: test accuracy {acc:.4f} on {len(test)} samples")
    x = torch.stack([test[i][0] for i in range(64)])
    with torch.no_grad():
        par = ck.model(x, per_step=True)
        stm = ck.model.stream(x)
    same = (par.argmax(-1) == stm.argmax(-1)).float().mean().item()
    print(f"[3/3] streaming step path vs parallel path: per-step predictions agree on {same:.2%} "
          f"(max |diff| {float((par - stm).abs().max()):.2e}), delay {ck.model.delay} steps")
    print(f"done in {time.perf_counter() - t0:.0f} s; checkpoint {out}")
    return 0
