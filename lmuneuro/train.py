"""Training: the reference recipe (Adam, step decay, BCE on one-hot targets), resumable.

The checkpoint at ``output`` is rewritten atomically after every epoch with the optimizer and
scheduler state, so an interrupted run resumes at the next epoch with nothing lost. Under
``torchrun`` (WORLD_SIZE > 1) the model is wrapped in DistributedDataParallel; rank 0 writes.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from .checkpoint import CheckpointError, check_preset, load_checkpoint, save_checkpoint
from .data import dataset_info, get_dataset
from .files import check_output
from .models import build_model, get_preset
from .progress import progress_bar

__all__ = ["TrainConfig", "train", "evaluate"]


@dataclass
class TrainConfig:
    preset: str
    dataset: str
    output: str
    epochs: int = 20
    batch_size: int = 128
    lr: float = 2.5e-3
    betas: tuple = (0.95, 0.999)
    lr_decay: float = 0.85  # x lr_decay every lr_step epochs from epoch lr_start (the reference's)
    lr_start: int = 10
    lr_step: int = 10
    seed: int = 0
    device: str = "auto"
    data_dir: str | None = None
    resume: bool = False
    num_workers: int = 0
    max_batches: int | None = None  # per epoch; for smoke runs
    augment: bool = True  # the reference's augmentation where the dataset has one (speech-commands)
    # A spiking head reads spike rates of a few per cent, so its weights must grow some 20x larger
    # than the rest; Adam moves every weight by about lr per step, and long sequences stall there.
    head_lr_scale: float = 1.0  # the head's learning rate is lr x this (1: the reference's recipe)
    time_budget: float | None = None  # minutes: start no epoch that would end after it
    init: str | None = None  # a checkpoint of the same preset to start from (fresh optimizer)
    # Fine-tune as the chip computes (``qat``): the forward pass is the network that convert makes
    # with ``settings`` (fields of ``convert.Settings``; None: its defaults)
    quantization_aware: bool = False
    settings: dict | None = None


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but this torch sees no CUDA device")
    return torch.device(name)


def _lr_factor(cfg: TrainConfig, epoch: int) -> float:
    return (
        cfg.lr_decay ** ((epoch - cfg.lr_start) // cfg.lr_step + 1)
        if epoch >= cfg.lr_start
        else 1.0
    )


@torch.no_grad()
def evaluate(model, loader, device, max_batches=None) -> dict:
    model.eval()
    correct = total = 0
    loss_sum = 0.0
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(-1) == y).sum().item()
        total += len(y)
    return {
        "accuracy": correct / max(total, 1),
        "ce_loss": loss_sum / max(total, 1),
        "samples": total,
    }


def _seed_all(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _start_from(model, path, preset: str, classes: list, log) -> None:
    """Load --init's weights into ``model`` (``preset``'s, for the data set's ``classes``). A
    checkpoint of the same network with other classes (a clip model before it learns an unknown
    class) gives every weight but the linear head's, and the head's rows of the classes both name;
    the other rows keep their fresh start."""
    ck = load_checkpoint(path)
    got, want = ck.config.to_dict(), get_preset(preset).to_dict()
    if got["num_classes"] != want["num_classes"] and all(
        got[k] == v for k, v in want.items() if k != "num_classes"
    ):
        state = {k: v for k, v in ck.model.state_dict().items() if not k.startswith("head.")}
        model.load_state_dict(state, strict=False)
        shared = [(i, ck.classes.index(c)) for i, c in enumerate(classes) if c in ck.classes]
        with torch.no_grad():
            for new, old in shared:
                model.head.weight[new] = ck.model.head.weight[old]
                model.head.bias[new] = ck.model.head.bias[old]
        log(
            f"starting from the weights of {path}; its head has {got['num_classes']} classes, "
            f"this one {want['num_classes']}: {len(shared)} taken over by name, the others new"
        )
        return
    check_preset(ck.config, preset, str(path))
    model.load_state_dict(ck.model.state_dict())
    log(f"starting from the weights of {path}")


def _aware_settings(cfg: TrainConfig, model_cfg, info: dict):
    """The conversion settings of a quantisation-aware fine-tuning, checked before any data is
    read: a spiking preset, a trained start, and a network that fits the target."""
    from .compile.convert import ConversionError, Settings, compile_model

    if not model_cfg.spiking:
        raise ConversionError(
            f"quantisation-aware training needs a spiking preset; {cfg.preset!r} is the "
            "non-spiking LMUFormer, which does not run on Loihi"
        )
    if cfg.init is None and not (cfg.resume and Path(cfg.output).exists()):
        raise ValueError(
            "quantisation-aware training fine-tunes a trained model: give the checkpoint to start "
            "from (--init)"
        )
    start = load_checkpoint(cfg.init if cfg.init is not None else cfg.output, preset=cfg.preset)
    try:  # a quantisation-aware start's settings, where not given: it goes on learning the same
        settings = Settings.from_dict({**(start.quantization or {}), **(cfg.settings or {})})
    except (TypeError, ValueError) as e:
        raise ConversionError(str(e)) from None
    compile_model(start.model, info.get("features"), settings)
    return settings


def train(cfg: TrainConfig, log=print, progress: bool = True) -> dict:
    """Train ``cfg.preset`` on ``cfg.dataset``; returns the final metrics. Writes ``cfg.output``."""
    distributed, rank, device = _join(cfg)
    check_output(cfg.output, [cfg.data_dir])  # before any work: never after the training
    model_cfg, info, settings = _check_request(cfg)
    t_start = time.perf_counter()
    train_set, eval_set = _datasets(cfg, info, progress and rank == 0)
    model, opt = _model_and_optimizer(cfg, model_cfg, device)
    out = Path(cfg.output)
    history, start_epoch = _start(cfg, model, opt, info["classes"], out, log)

    chip = None
    if cfg.quantization_aware:
        from .backends.qat import ChipModel

        chip = ChipModel(model, info.get("features"), settings)
    net = model if chip is None else chip
    sampler = None
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
        sampler = torch.utils.data.distributed.DistributedSampler(train_set, seed=cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    train_loader, eval_loader = _loaders(cfg, train_set, eval_set, sampler, gen)

    for epoch in range(start_epoch, cfg.epochs):
        if _out_of_time(cfg, history, time.perf_counter() - t_start, epoch, log):
            break
        if sampler is not None:
            sampler.set_epoch(epoch)
        # the generator's position depends on the epoch only: a resumed run shuffles the same way
        gen.manual_seed(cfg.seed * 1000 + epoch)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * _lr_factor(cfg, epoch) * g["lr_scale"]
        t0 = time.perf_counter()
        loss, accuracy = _epoch(net, opt, train_loader, cfg, epoch, device, progress and rank == 0)
        if chip is not None:
            chip.check_fit()  # the checkpoint written is one that convert accepts
        ev = evaluate(net if chip is not None else model, eval_loader, device, cfg.max_batches)
        row = {
            "epoch": epoch + 1,
            "lr": opt.param_groups[0]["lr"],
            "train_loss": loss,
            "train_accuracy": accuracy,
            "eval_accuracy": ev["accuracy"],
            "eval_ce_loss": ev["ce_loss"],
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        if rank == 0:
            log(
                f"epoch {row['epoch']:3d}/{cfg.epochs}  loss {row['train_loss']:.4f}  "
                f"train acc {row['train_accuracy']:.4f}  eval acc {row['eval_accuracy']:.4f}  "
                f"lr {row['lr']:.2e}  {row['seconds']:.1f}s"
            )
            save_checkpoint(
                out,
                model,
                preset=cfg.preset,
                features=info.get("features"),
                classes=info["classes"],
                metrics={"history": history, "final": row, "train_config": asdict(cfg)},
                train_state={
                    "epoch": epoch,
                    "optimizer": opt.state_dict(),
                    "rng": torch.get_rng_state(),
                },
                quantization=None if chip is None else chip.settings.to_dict(),
            )
    if distributed:
        torch.distributed.destroy_process_group()
    return history[-1] if history else {}


def _join(cfg: TrainConfig) -> tuple[bool, int, torch.device]:
    """(distributed, rank, device): under torchrun, this process's place in the process group."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    if not distributed:
        return False, rank, _device(cfg.device)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    return True, rank, device


def _check_request(cfg: TrainConfig) -> tuple:
    """(model config, data set info, quantisation-aware settings or None), every one checked
    against the others before any data is loaded."""
    for name in ("epochs", "batch_size"):
        if getattr(cfg, name) < 1:
            raise ValueError(
                f"{name.replace('_', ' ')} must be at least 1, got {getattr(cfg, name)}"
            )
    model_cfg = get_preset(cfg.preset)
    info = dataset_info(cfg.dataset)
    settings = _aware_settings(cfg, model_cfg, info) if cfg.quantization_aware else None
    if (
        info["num_features"] != model_cfg.in_features
        or len(info["classes"]) != model_cfg.num_classes
    ):
        raise ValueError(
            f"preset {cfg.preset!r} takes {model_cfg.in_features} features / "
            f"{model_cfg.num_classes} classes; dataset {cfg.dataset!r} has "
            f"{info['num_features']} / {len(info['classes'])}"
        )
    return model_cfg, info, settings


def _datasets(cfg: TrainConfig, info: dict, progress: bool) -> tuple:
    """The training and evaluation splits, neither empty."""
    kw = {"data_dir": cfg.data_dir, "progress": progress} if cfg.data_dir else {}
    train_set = get_dataset(cfg.dataset, "train", augment=cfg.augment, **kw)
    eval_set = get_dataset(cfg.dataset, info["eval_split"], **kw)
    for split, ds in (("training", train_set), ("evaluation", eval_set)):
        if len(ds) == 0:
            raise ValueError(
                f"dataset {cfg.dataset!r} has an empty {split} split; there is nothing to train on"
            )
    return train_set, eval_set


def _loaders(cfg: TrainConfig, train_set, eval_set, sampler, gen) -> tuple:
    """The training loader (shuffled by ``gen``, or split by the distributed ``sampler``) and the
    evaluation one."""
    train_loader = DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=gen,
        num_workers=cfg.num_workers,
        drop_last=False,
    )
    return train_loader, DataLoader(
        eval_set, batch_size=cfg.batch_size, num_workers=cfg.num_workers
    )


def _model_and_optimizer(cfg: TrainConfig, model_cfg, device) -> tuple:
    """The seeded model and its Adam, the head in a group of its own (``head_lr_scale``)."""
    _seed_all(cfg.seed)
    model = build_model(model_cfg).to(device)
    # The head's bias starts at the prior log-odds of BCE on one-hot targets (1 / classes):
    # otherwise the first epochs lower every logit by silencing the spikes the head reads (a
    # spiking model on long sequences never recovers from that).
    if model_cfg.num_classes > 1:
        torch.nn.init.constant_(model.head.bias, -math.log(model_cfg.num_classes - 1))
    if not cfg.head_lr_scale > 0:
        raise ValueError(f"head learning-rate scale must be positive, got {cfg.head_lr_scale}")
    head = {id(p) for p in model.head.parameters()}
    opt = torch.optim.Adam(
        [
            {"params": [p for p in model.parameters() if id(p) not in head], "lr_scale": 1.0},
            {"params": list(model.head.parameters()), "lr_scale": cfg.head_lr_scale},
        ],
        lr=cfg.lr,
        betas=tuple(cfg.betas),
    )
    return model, opt


def _start(cfg: TrainConfig, model, opt, classes: list, out: Path, log) -> tuple[list, int]:
    """(history, first epoch): a new run, one from ``cfg.init``'s weights, or ``out`` resumed."""
    if cfg.init is not None:
        if cfg.resume:
            raise ValueError("init starts a new run and resume continues one: choose one")
        _start_from(model, cfg.init, cfg.preset, classes, log)
    if not (cfg.resume and out.exists()):
        return [], 0
    ck = load_checkpoint(out, preset=cfg.preset)
    if not ck.train_state:
        raise CheckpointError(f"{out}: has no training state to resume from")
    model.load_state_dict(ck.model.state_dict())
    opt.load_state_dict(ck.train_state["optimizer"])
    torch.set_rng_state(ck.train_state["rng"])
    start_epoch = int(ck.train_state["epoch"]) + 1
    log(f"resuming {out} at epoch {start_epoch + 1}/{cfg.epochs}")
    return list(ck.metrics.get("history", [])), start_epoch


def _out_of_time(cfg: TrainConfig, history: list, spent: float, epoch: int, log) -> bool:
    """Whether another epoch, as long as the last three took on average, would pass the budget."""
    if cfg.time_budget is None or not history:
        return False
    mean = sum(r["seconds"] for r in history[-3:]) / len(history[-3:])
    if spent + mean <= 60 * cfg.time_budget:
        return False
    log(
        f"stopping before epoch {epoch + 1}: the time budget of "
        f"{cfg.time_budget:g} min would be passed"
    )
    return True


def _epoch(net, opt, loader, cfg: TrainConfig, epoch: int, device, progress: bool) -> tuple:
    """One epoch of training (at most ``cfg.max_batches``); (mean loss, accuracy) over it."""
    net.train()
    seen = correct = 0
    loss_sum = 0.0
    total = len(loader) if cfg.max_batches is None else min(cfg.max_batches, len(loader))
    bar = progress_bar(
        loader,
        total=total,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        leave=False,
        enabled=progress,
        unit="batch",
    )
    for i, (x, y) in enumerate(bar):
        if i >= total:
            break
        x, y = x.to(device), y.to(device)
        logits = net(x)
        target = (
            y if y.is_floating_point() else F.one_hot(y, logits.shape[-1]).to(logits.dtype)
        )  # soft: mixup
        loss = F.binary_cross_entropy_with_logits(logits, target)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(
                f"loss became {loss.item()} at epoch {epoch + 1}, batch {i + 1}"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(-1) == target.argmax(-1)).sum().item()
        seen += len(y)
        bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
    return loss_sum / max(seen, 1), correct / max(seen, 1)
