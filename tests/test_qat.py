"""Quantisation-aware fine-tuning: the fine-tuned model's own forward pass is the converted
network's, bit for bit; gradients reach every weight through the rounding; convert uses the
settings a checkpoint was fine-tuned for; bad starts are refused before any epoch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lmuneuro import load_checkpoint
from lmuneuro.artifact import read_artifact
from lmuneuro.backends import emulator
from lmuneuro.backends.qat import ChipModel
from lmuneuro.checkpoint import save_checkpoint
from lmuneuro.cli import main
from lmuneuro.compile.convert import Settings
from lmuneuro.data import get_dataset
from lmuneuro.models import build_model, get_preset
from lmuneuro.models.lif import substitute
from lmuneuro.profiles import load_profile
from lmuneuro.train import TrainConfig, train


def _cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def aware(digits_checkpoint, tmp_path_factory):
    """One epoch of quantisation-aware fine-tuning (10 batches) for one weight set."""
    path = tmp_path_factory.mktemp("qat") / "aware.pt"
    train(
        TrainConfig(
            preset="spiking-lmuformer-digits",
            dataset="digits",
            output=str(path),
            epochs=1,
            batch_size=64,
            lr=1e-4,
            max_batches=10,
            init=str(digits_checkpoint),
            quantization_aware=True,
            settings={"weight_sets": 1},
        ),
        log=lambda *a: None,
        progress=False,
    )
    return path


def _digits(n=None):
    ds = get_dataset("digits", "test")
    items = [ds[i] for i in range(len(ds) if n is None else n)]
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])


def test_own_forward_pass_is_the_artifacts_emulator_run_bit_for_bit(aware, tmp_path, capsys):
    ck = load_checkpoint(aware)
    assert ck.quantization == {**Settings(weight_sets=1).to_dict(), "input_range": 1.0}
    art = tmp_path / "aware.h5"
    code, _, err = _cli(capsys, "convert", aware, "-o", art)
    assert code == 0 and err == ""  # the recorded settings: no warning
    net = read_artifact(art)
    assert net.meta["quantization"]["weight_sets"] == 1
    assert net.meta["quantization"]["quantization_aware"] is True
    x, _ = _digits()  # all 360 test samples
    with torch.no_grad():
        own = ChipModel(ck.model, ck.features, Settings.from_dict(ck.quantization))(x).numpy()
    chip = emulator.run(net, x.numpy()).logits
    assert own.dtype == np.float64 and np.array_equal(own, chip)
    # and verify says so, from the checkpoint and the artifact alone
    code, out, _ = _cli(capsys, "verify", aware, art, "--dataset", "digits", "--samples", 100)
    assert code == 0
    assert (
        "its own forward pass vs fixed: top-1 agreement 100.00%, logits bit-identical for 100.00%"
        in out
    )


def test_a_record_from_before_graded_residual_terms_converts_folded(aware, tmp_path):
    old = tmp_path / "old.pt"
    payload = torch.load(aware, weights_only=True)
    del payload["quantization"]["residual"]
    torch.save(payload, old)
    assert load_checkpoint(old).quantization["residual"] == "folded"
    assert load_checkpoint(aware).quantization["residual"] == "graded"


def test_fine_tuning_a_fine_tuned_checkpoint_keeps_its_settings(aware, tmp_path):
    again = tmp_path / "again.pt"
    cfg = dict(preset="spiking-lmuformer-digits", dataset="digits", epochs=1, max_batches=2)
    train(
        TrainConfig(**cfg, output=str(again), init=str(aware), quantization_aware=True),
        log=lambda *a: None,
        progress=False,
    )
    assert load_checkpoint(again).quantization["weight_sets"] == 1
    other = tmp_path / "other.pt"
    train(
        TrainConfig(
            **cfg,
            output=str(other),
            init=str(aware),
            quantization_aware=True,
            settings={"weight_sets": 2},
        ),
        log=lambda *a: None,
        progress=False,
    )
    assert load_checkpoint(other).quantization["weight_sets"] == 2


def test_convert_warns_when_asked_for_other_settings_than_the_learned_ones(aware, tmp_path, capsys):
    art = tmp_path / "two.h5"
    code, _, err = _cli(capsys, "convert", aware, "-o", art, "--weight-sets", 2)
    assert code == 0 and read_artifact(art).meta["quantization"]["weight_sets"] == 2
    assert err == (
        "warning: the checkpoint was fine-tuned for weight_sets 1; converted with 2 it computes "
        "something else than it learned\n"
    )
    code, out, _ = _cli(capsys, "verify", aware, art, "--dataset", "digits", "--samples", 100)
    assert code == 0 and "logits bit-identical for 100.00%" not in out


def test_training_gradient_is_the_float_models_at_the_chips_spikes(digits_checkpoint):
    ck = load_checkpoint(digits_checkpoint)
    chip = ChipModel(ck.model, ck.features, Settings())
    x, y = _digits(48)
    logits = chip(x)
    with torch.no_grad():
        assert torch.equal(logits, chip(x))  # the training pass computes what evaluation does
    torch.nn.functional.cross_entropy(logits, y).backward()
    grads = {n: p.grad.clone() for n, p in chip.named_parameters()}
    assert len(grads) == len(list(ck.model.parameters())) and all(
        g.abs().sum() > 0 and torch.isfinite(g).all() for g in grads.values()
    )
    # the same gradient by hand: the float model driven by the emulator's recorded spikes
    res = emulator.run(chip.network(), x.numpy(), record=True)
    model = load_checkpoint(digits_checkpoint).model
    with model.forcing({n: torch.from_numpy(s).float() for n, s in res.spikes.items()}):
        float_logits = model(x)
    torch.nn.functional.cross_entropy(float_logits.double(), y).backward()
    for n, p in model.named_parameters():  # float32 sums in another order: roundoff apart
        torch.testing.assert_close(p.grad, grads["model." + n], rtol=1e-5, atol=1e-7)


def test_forcing_a_model_with_its_own_spikes_changes_nothing(digits_checkpoint):
    model = load_checkpoint(digits_checkpoint).model
    x, _ = _digits(16)
    with model.recording() as rec:
        plain = model(x)
    spikes = {n: torch.cat([s for s, _ in r], dim=1) for n, r in rec.items()}
    with model.forcing(spikes):
        forced = model(x)
    assert torch.equal(plain, forced)
    silent = {n: torch.zeros_like(s) for n, s in spikes.items()}
    with model.forcing(silent):  # no spike reaches the head: the logits are its bias
        assert torch.equal(model(x), model.head.bias.expand(16, -1))
    with pytest.raises(ValueError, match="exactly the model's populations"):
        with model.forcing({"head_lif": silent["head_lif"]}):
            pass


def test_substitute_is_the_value_forward_and_the_identity_backward():
    x = torch.tensor([0.25, 2.0], requires_grad=True)
    value = torch.tensor([1.0 / 3.0, -7.0], dtype=torch.float64)
    y = substitute(x, value)
    assert y.dtype == torch.float64 and torch.equal(y, value)
    (y * torch.tensor([3.0, 5.0], dtype=torch.float64)).sum().backward()
    assert x.grad.dtype == torch.float32 and x.grad.tolist() == [3.0, 5.0]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--preset", "lmuformer-digits", "--init", "{ann}"],
            "quantisation-aware training needs a spiking preset; 'lmuformer-digits' is the "
            "non-spiking LMUFormer, which does not run on Loihi",
        ),
        (
            ["--preset", "spiking-lmuformer-digits"],
            "quantisation-aware training fine-tunes a trained model: give the checkpoint to "
            "start from (--init)",
        ),
        (
            ["--preset", "spiking-lmuformer-digits", "--init", "{snn}", "--target", "{tiny}"],
            "does not fit: network (largest: *neuro-cores on 1 loihi2 chip(s) (cores_per_chip 2)",
        ),
        (
            ["--preset", "spiking-lmuformer-digits", "--init", "{snn}", "--target", "cmos45-snn"],
            "target 'cmos45-snn' is not a neuromorphic chip",
        ),
    ],
)
def test_bad_starts_are_refused_before_any_epoch(
    args, message, digits_checkpoint, tmp_path, capsys, monkeypatch
):
    import lmuneuro.train as train_module

    ann = tmp_path / "ann.pt"
    save_checkpoint(ann, build_model(get_preset("lmuformer-digits")), preset="lmuformer-digits")
    tiny = tmp_path / "tiny.toml"
    loihi2 = Path(load_profile("loihi2").path).read_text()
    tiny.write_text(loihi2.replace("cores_per_chip = 128", "cores_per_chip = 2"))
    monkeypatch.setattr(
        train_module, "get_dataset", lambda *a, **k: pytest.fail("data read before the refusal")
    )
    out = tmp_path / "out.pt"
    args = [a.format(ann=ann, snn=digits_checkpoint, tiny=tiny) for a in args]
    code, _, err = _cli(
        capsys, "train", "--dataset", "digits", "-o", out, "--quantization-aware", *args
    )
    assert code == 2 and err.count("\n") == 1 and not out.exists()
    head, _, tail = message.partition("*")
    assert head in err and tail in err


def test_settings_without_quantization_aware_and_a_hostile_record_are_one_line(
    digits_checkpoint, tmp_path, capsys
):
    code, _, err = _cli(
        capsys, "train", "--preset", "spiking-lmuformer-digits", "--dataset", "digits", "-o",
        tmp_path / "x.pt", "--weight-sets", 1,
    )  # fmt: skip
    assert code == 2 and err.endswith(
        "--weight-sets: conversion settings apply to --quantization-aware training only\n"
    )
    obj = torch.load(digits_checkpoint, weights_only=True)
    for record, expect in (
        ({"weight_sets": "2"}, "conversion settings: weight_sets is '2'"),
        ({"rm -rf": 1}, "conversion settings: unknown field(s) rm -rf"),
        ({"input_range": float("nan")}, "conversion settings: input_range is nan"),
        ({"input_range": 1e5}, "input range 100000 does not fit the graded input's 16 signed"),
        ({"target": "x" * 5000}, "unknown hardware profile 'xxxxxxxx"),
    ):
        bad = tmp_path / "bad.pt"
        torch.save({**obj, "quantization": record}, bad)
        art = tmp_path / "bad.h5"
        code, _, err = _cli(capsys, "convert", bad, "-o", art)
        assert code == 2 and err.count("\n") == 1 and expect in err and not art.exists()


def test_the_before_and_after_example_runs(digits_checkpoint, tmp_path):
    import json
    import subprocess
    import sys

    example = Path(__file__).parent.parent / "examples" / "quantization_aware.py"
    done = subprocess.run(
        [sys.executable, example, digits_checkpoint, "--dataset", "digits", "--sets", "1",
         "--epochs", "1", "--samples", "40", "--workdir", tmp_path],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = json.loads((tmp_path / "figures.json").read_text())
    assert row["weight_sets"] == 1 and row["samples"] == 40 and row["eval_split"] == "test"
    assert row["own_vs_emulator_logits_identical"] == 1.0
    assert "| 1 | " in done.stdout


def test_the_network_is_compiled_again_exactly_when_the_weights_change(digits_checkpoint):
    ck = load_checkpoint(digits_checkpoint)
    chip = ChipModel(ck.model, ck.features, Settings())
    first = chip.network()
    assert chip.network() is first  # unchanged weights: the same network
    with torch.no_grad():
        ck.model.head_bn.bias.add_(0.5)  # an in-place update, as an optimizer's step
    second = chip.network()
    assert second is not first
    assert not np.array_equal(
        second.population("head_lif").bias_mant, first.population("head_lif").bias_mant
    )
