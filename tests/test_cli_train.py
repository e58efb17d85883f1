import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lmuneuro import load_checkpoint
from lmuneuro.cli import build_parser, main

COMMANDS = [
    "presets",
    "train",
    "convert",
    "verify",
    "run",
    "stream",
    "inspect",
    "energy",
    "benchmark",
    "export",
    "synthesize",
    "demo",
]


def test_help_for_every_subcommand(capsys):
    for argv in [[]] + [[c] for c in COMMANDS]:
        assert main(argv + ["--help"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: lmuneuro") and "--help" in out and len(out) > 150
        assert "(default: None)" not in out and "(default: False)" not in out
        if argv == ["train"]:  # a default of 0 is still a default worth showing
            assert "augmentation (default: 0)" in " ".join(out.split())
    assert set(build_parser()._subparsers._group_actions[0].choices) == set(COMMANDS)


def test_help_answers_without_importing_torch_or_lava():
    code = (
        "import sys; from lmuneuro.cli import main\n"
        "assert main(['convert', '--help']) == 0\n"
        "print(sorted(m for m in ('torch', 'lava', 'h5py') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "[]", (
        r.stdout[-500:] + r.stderr[-500:]
    )


def test_console_script_and_module_entry_points():
    script = Path(sys.executable).parent / "lmuneuro"
    for cmd in ([str(script), "--version"], [sys.executable, "-m", "lmuneuro", "--version"]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stdout.strip() == "lmuneuro 0.1.0"


def test_presets_json(capsys):
    assert main(["presets", "--json"]) == 0
    rows = {r["preset"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["spiking-lmuformer-scv2"]["parameters"] == 1_689_894
    assert rows["lmuformer-scv2"]["parameters"] == 1_621_796


def _train(out, *extra):
    return main(
        [
            "train",
            "--preset",
            "spiking-lmuformer-digits",
            "--dataset",
            "digits",
            "-o",
            str(out),
            "--batch-size",
            "64",
            "--max-batches",
            "4",
            "--no-progress",
            *extra,
        ]
    )


def test_train_writes_self_describing_checkpoint_and_resumes(tmp_path, capsys):
    out = tmp_path / "model.pt"
    assert _train(out, "--epochs", "2", "--json") == 0
    final = json.loads(capsys.readouterr().out)
    assert final["epoch"] == 2 and 0.0 <= final["eval_accuracy"] <= 1.0
    ck = load_checkpoint(out)
    assert ck.preset == "spiking-lmuformer-digits" and ck.classes == [str(i) for i in range(10)]
    assert ck.features["kind"] == "digits" and [r["epoch"] for r in ck.metrics["history"]] == [1, 2]
    assert ck.train_state["epoch"] == 1 and ck.metrics["train_config"]["seed"] == 0
    first_two = ck.metrics["history"]
    # An interrupted run (stopped after epoch 2 of 3) resumes at epoch 3 and keeps epochs 1-2.
    assert _train(out, "--epochs", "3", "--resume") == 0
    ck3 = load_checkpoint(out)
    assert [r["epoch"] for r in ck3.metrics["history"]] == [1, 2, 3]
    assert ck3.metrics["history"][:2] == first_two
    # The resumed run ends where an uninterrupted one does.
    straight = tmp_path / "straight.pt"
    assert _train(straight, "--epochs", "3") == 0
    a, b = load_checkpoint(straight).model.state_dict(), ck3.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_bad_input_exit_2(tmp_path, capsys):
    assert (
        main(["train", "--preset", "nope", "--dataset", "digits", "-o", str(tmp_path / "m.pt")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err == "lmuneuro train: error: unknown preset 'nope'; known: " + err.split("known: ")[1]
    assert (
        main(
            [
                "train",
                "--preset",
                "spiking-lmuformer-scv2",
                "--dataset",
                "digits",
                "-o",
                str(tmp_path / "m.pt"),
            ]
        )
        == 2
    )
    assert "takes 128 features / 35 classes; dataset 'digits' has 8 / 10" in capsys.readouterr().err
    assert main(["train", "--preset"]) == 2
    assert not list(tmp_path.iterdir())  # nothing written


def test_torchrun_distributed_training_on_cpu(tmp_path):
    """The DistributedDataParallel path, with the gloo backend on two CPU processes."""
    out = tmp_path / "ddp.pt"
    torchrun = Path(sys.executable).parent / "torchrun"
    r = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node",
            "2",
            "-m",
            "lmuneuro",
            "train",
            "--preset",
            "spiking-lmuformer-digits",
            "--dataset",
            "digits",
            "-o",
            str(out),
            "--epochs",
            "2",
            "--max-batches",
            "3",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-800:]
    assert r.stdout.count(f"wrote {out}") == 1  # rank 0 only
    assert [row["epoch"] for row in load_checkpoint(out).metrics["history"]] == [1, 2]


def test_head_starts_at_the_class_prior_and_takes_its_own_learning_rate(tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert _train(out, "--epochs", "1", "--max-batches", "1", "--head-lr-scale", "10") == 0
    ck = load_checkpoint(out)
    groups = ck.train_state["optimizer"]["param_groups"]
    assert [g["lr"] for g in groups] == pytest.approx([2.5e-3, 2.5e-2])
    # BCE on one-hot targets over 10 classes: the prior log-odds is -log 9; one Adam step moves
    # each bias by at most about the head's learning rate.
    bias = ck.model.head.bias.detach()
    assert torch.all((bias + torch.log(torch.tensor(9.0))).abs() <= 2.5e-2 * 1.01)
    assert _train(tmp_path / "bad.pt", "--head-lr-scale", "0") == 2
    assert capsys.readouterr().err.strip() == (
        "lmuneuro train: error: argument --head-lr-scale: must be above 0.0 and "
        "at most 1,000,000.0, got 0"
    )
    assert not (tmp_path / "bad.pt").exists()


def test_progress_bars_are_quiet_when_output_is_not_a_terminal(digits_checkpoint, tmp_path):
    """Logs of CI jobs and batch runs get the commands' lines, not redrawn bars (training and a
    Lava run, the two long stages)."""
    script = str(Path(sys.executable).parent / "lmuneuro")
    art = tmp_path / "m.h5"
    assert main(["convert", str(digits_checkpoint), "-o", str(art)]) == 0
    for argv in (
        [
            "train",
            "--preset",
            "spiking-lmuformer-digits",
            "--dataset",
            "digits",
            "-o",
            str(tmp_path / "m.pt"),
            "--epochs",
            "2",
            "--max-batches",
            "3",
        ],
        ["run", str(art), "--backend", "lava-sim", "--dataset", "digits", "--samples", "2"],
    ):
        r = subprocess.run([script, *argv], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-500:]
        assert "\r" not in r.stderr + r.stdout and "/s]" not in r.stderr, r.stderr[-500:]
        assert (
            r.stdout.count("epoch") == 2
            if argv[0] == "train"
            else "lava-sim: 2 samples" in r.stdout
        )


def test_time_budget_stops_before_an_epoch_that_would_pass_it(tmp_path, capsys):
    out = tmp_path / "model.pt"
    assert _train(out, "--epochs", "50", "--time-budget", "0.0001") == 0
    assert "stopping before epoch 2: the time budget of 0.0001 min would be passed" in (
        capsys.readouterr().out
    )
    assert [r["epoch"] for r in load_checkpoint(out).metrics["history"]] == [1]


def test_init_starts_from_a_checkpoints_weights(tmp_path, digits_checkpoint, capsys):
    out = tmp_path / "tuned.pt"
    start = dict(load_checkpoint(digits_checkpoint).model.named_parameters())
    assert _train(out, "--init", str(digits_checkpoint), "--lr", "1e-12") == 0
    assert f"starting from the weights of {digits_checkpoint}" in capsys.readouterr().out
    tuned = dict(load_checkpoint(out).model.named_parameters())
    # one epoch at a negligible learning rate: the trained weights, not a fresh initialisation
    assert all(torch.allclose(tuned[k], start[k], atol=1e-6) for k in start)
    assert _train(out, "--init", str(digits_checkpoint), "--resume") == 2
    assert "--init starts a new run and --resume continues one" in capsys.readouterr().err
    argv = ["train", "--preset", "lmuformer-digits", "--dataset", "digits", "-o", str(out)]
    assert main(argv + ["--init", str(digits_checkpoint)]) == 2
    assert "does not match preset 'lmuformer-digits': spiking=True" in capsys.readouterr().err
