"""lmuneuro run: the backends from the command line, their agreement and the activity they record."""

import json

import pytest

from lmuneuro.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def artifact(digits_checkpoint, tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "model.h5"
    assert main(["convert", str(digits_checkpoint), "-o", str(path)]) == 0
    return path


def test_lava_sim_reproduces_the_emulator(artifact, tmp_path, capsys):
    reports, acts = {}, {}
    for backend in ("emulator", "lava-sim"):
        act = tmp_path / f"{backend}.json"
        code, out, _ = _run(capsys, "run", str(artifact), "--backend", backend, "--dataset", "digits", "--samples", "5",
                            "--json", "--predictions", "--per-step", "--activity", str(act))
        assert code == 0
        reports[backend], acts[backend] = json.loads(out), json.loads(act.read_text())
    emu, lava = reports["emulator"], reports["lava-sim"]
    assert lava["predictions"] == emu["predictions"] and lava["accuracy"] == emu["accuracy"]
    assert lava["per_step"] == emu["per_step"] and [r["steps_seen"] for r in emu["per_step"]] == list(range(1, 9))
    assert acts["lava-sim"]["layers"] == acts["emulator"]["layers"]  # spike and synaptic-event counts, exactly
    assert acts["emulator"]["layers"][0]["spikes"] > 0 and acts["emulator"]["sources"]["input"]["graded_messages"] > 0


def test_emulator_table_and_loihi2_message(artifact, capsys):
    code, out, _ = _run(capsys, "run", str(artifact), "--dataset", "digits", "--per-step")
    assert code == 0 and "emulator: 360 samples" in out and "after    8 steps (100%)" in out
    assert "beyond range" not in out  # the digits test set fits the artifact's input format
    code, _, err = _run(capsys, "run", str(artifact), "--backend", "loihi2", "--dataset", "digits")
    assert code == 2 and "needs Intel's Loihi 2 extension for Lava (missing: nxcore" in err
    assert "--backend lava-sim" in err and err.count("\n") == 1


def test_inputs_beyond_range_are_reported(artifact, tmp_path, capsys):
    import numpy as np

    x = np.random.default_rng(0).random((4, 8, 8))
    x[1, 2, :2] = [1e4, -1e5]  # far beyond any 16-bit input format the digits model gets
    np.save(tmp_path / "x.npy", x)
    code, out, _ = _run(capsys, "run", str(artifact), "--inputs", str(tmp_path / "x.npy"), "--json")
    assert code == 0 and json.loads(out)["inputs_clipped"] == 2
    code, out, _ = _run(capsys, "run", str(artifact), "--inputs", str(tmp_path / "x.npy"))
    assert "beyond range: 2 input values clipped" in out


def test_loihi2_detection(monkeypatch):
    import importlib.util

    from lmuneuro.backends import loihi2_missing

    assert "nxcore" in loihi2_missing()
    real = importlib.util.find_spec
    present = {"nxcore", "lava.magma.compiler.subcompilers.nc"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name in present else real(name, *a))
    assert loihi2_missing() is None
