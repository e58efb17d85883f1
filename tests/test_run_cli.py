"""lmuneuro run: the backends from the command line, their agreement and the activity they
record."""

import json

import pytest

from lmuneuro.analysis.inspection import inspect_network
from lmuneuro.artifact import read_artifact
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
        code, out, _ = _run(
            capsys,
            "run",
            str(artifact),
            "--backend",
            backend,
            "--dataset",
            "digits",
            "--samples",
            "5",
            "--json",
            "--predictions",
            "--logits",
            "--per-step",
            "--activity",
            str(act),
        )
        assert code == 0
        reports[backend], acts[backend] = json.loads(out), json.loads(act.read_text())
    emu, lava = reports["emulator"], reports["lava-sim"]
    assert lava["predictions"] == emu["predictions"] and lava["accuracy"] == emu["accuracy"]
    # the logits, bit for bit (docs/pipeline.md's check for a board): 5 samples x 10 classes
    assert lava["logits"] == emu["logits"] and len(emu["logits"]) == 5
    assert [max(range(10), key=row.__getitem__) for row in emu["logits"]] == emu["predictions"]
    assert lava["per_step"] == emu["per_step"] and [
        r["steps_seen"] for r in emu["per_step"]
    ] == list(range(1, 9))
    assert (
        acts["lava-sim"]["layers"] == acts["emulator"]["layers"]
    )  # spike and synaptic-event counts, exactly
    assert (
        acts["emulator"]["layers"][0]["spikes"] > 0
        and acts["emulator"]["sources"]["input"]["graded_messages"] > 0
    )


def test_emulator_table_and_loihi2_message(artifact, capsys):
    code, out, _ = _run(capsys, "run", str(artifact), "--dataset", "digits", "--per-step")
    assert code == 0 and "emulator: 360 samples" in out and "after    8 steps (100%)" in out
    assert "clipped" not in out  # the digits test set fits the artifact's input range
    code, _, err = _run(capsys, "run", str(artifact), "--backend", "loihi2", "--dataset", "digits")
    assert code == 2 and "needs Intel's Loihi 2 extension for Lava (missing: nxcore" in err
    assert "bit-accurately on the lava-sim backend" in err and err.count("\n") == 1


def test_inputs_beyond_range_are_reported(artifact, tmp_path, capsys):
    import numpy as np

    x = np.random.default_rng(0).random((4, 8, 8))
    x[1, 2, :2] = [1e4, -1e5]  # far beyond any 16-bit input format the digits model gets
    np.save(tmp_path / "x.npy", x)
    code, out, _ = _run(capsys, "run", str(artifact), "--inputs", str(tmp_path / "x.npy"), "--json")
    assert code == 0 and json.loads(out)["inputs_clipped"] == 2
    code, out, _ = _run(capsys, "run", str(artifact), "--inputs", str(tmp_path / "x.npy"))
    assert "inputs: 2 values beyond the artifact's input range were clipped" in out


def test_loihi2_detection(monkeypatch):
    import importlib.util

    from lmuneuro.backends import loihi2_missing

    assert "nxcore" in loihi2_missing()
    real = importlib.util.find_spec
    present = {"nxcore", "lava.magma.compiler.subcompilers.nc"}
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: object() if name in present else real(name, *a),
    )
    assert loihi2_missing() is None


def test_inspect_lists_lavas_processes_and_every_limit(artifact, capsys):
    code, out, _ = _run(capsys, "inspect", str(artifact), "--json")
    assert code == 0
    r = json.loads(out)
    classes = {(p["module"], p["class"]): p["count"] for p in r["processes"]}
    # one count of the network's processes: the ones Lava builds, convert's and the artifact's
    net = read_artifact(artifact)
    assert sum(classes.values()) == net.processes == net.meta["processes"]
    assert set(classes) == {
        ("lava.proc.lif.process", "LIFReset"),
        ("lava.proc.lif.process", "LIF"),
        ("lava.proc.graded.process", "GradedVec"),
        ("lava.proc.dense.process", "Dense"),
        ("lava.proc.dense.process", "DelayDense"),
        ("lava.proc.sparse.process", "Sparse"),
        ("lava.proc.sparse.process", "DelaySparse"),
        ("lava.proc.io.source", "RingBuffer"),
    }
    assert (
        classes[("lava.proc.lif.process", "LIFReset")] == 9
        and classes[("lava.proc.lif.process", "LIF")] == 1
        and classes[("lava.proc.graded.process", "GradedVec")] == 3
    )
    assert r["largest_delay"]["steps"] == 10 and r["largest_delay"]["relays"] == [
        "block.0.attn.lmu.f_u.line"
    ]
    assert -8 <= r["weight_exp_range"][0] <= r["weight_exp_range"][1] <= 7 and r["violations"] == []
    kinds = {v["limit"].split(" (")[0] for v in r["tightest"]}
    assert {
        "a_out within 16 bits",
        "a_in within 16 bits",
        "synaptic delay",
        "graded input payload bits",
        "graded payload within 24 bits",
    } <= kinds
    assert all(v["ok"] and v["margin"] >= 0 for v in r["limits"])
    assert sum(row["cores"] for row in r["layers"]) == r["cores"] == 13
    rep = inspect_network(str(artifact))  # the typed report whose to_dict() --json prints
    assert rep.to_dict() == r and rep.largest_delay.steps == 10 and rep.weight_exp_range[0] >= -8
    assert {(p.module, p.lava_class): p.count for p in rep.processes} == classes
    code, out, _ = _run(capsys, "inspect", str(artifact))
    assert code == 0 and "lava.proc.dense.process.DelayDense" in out and "margin" in out


def test_a_network_beyond_the_chip_limits_is_refused(artifact, tmp_path, capsys):
    """An artifact whose sums break the 16-bit widths (well formed, checksummed, as a colleague
    might send it): inspect names every broken limit on its own line, run refuses it, exit 2."""
    import dataclasses

    from lmuneuro.artifact import read_artifact, write_artifact

    net = read_artifact(artifact)
    s = next(s for s in net.synapses if s.dst == "head_lif" and s.src == "block.0.mlp.fc2_lif")
    s.weights[:] = 254
    s.weight_exp = 7
    bad = tmp_path / "bad.h5"
    write_artifact(bad, net)
    code, _, err = _run(capsys, "inspect", str(bad))
    lines = err.strip().splitlines()
    assert (
        code == 2
        and len(lines) >= 2
        and all(line.startswith("lmuneuro inspect: error: head_lif") for line in lines)
    )
    assert any(
        "a_out within 16 bits: [0, 4,161,536] exceeds [-32,768, 32,767]" in line for line in lines
    ), err
    code, _, err = _run(capsys, "run", str(bad), "--dataset", "digits", "--samples", "2")
    assert code == 2 and "breaks" in err and "chip limit(s)" in err and err.count("\n") == 1
    # arithmetic of another chip (a_in shifted by 5 into u): no Lava model computes it
    net = read_artifact(artifact)
    net.formats = dataclasses.replace(net.formats, activation_shift=5)
    write_artifact(bad, net)
    for backend in ("emulator", "lava-sim"):
        code, _, err = _run(
            capsys, "run", str(bad), "--dataset", "digits", "--samples", "2", "--backend", backend
        )
        assert (
            code == 2 and "number formats are not Lava's (activation_shift 5 (Lava: 6))" in err
        ), err


def test_pinned_sha256_is_the_files_own(digits_checkpoint, tmp_path, capsys):
    """convert prints the artifact's SHA-256 (sha256sum's); --expect-sha256 accepts exactly that
    file and refuses an altered one before reading it, even one whose inner checksum was
    recomputed."""
    import hashlib

    from lmuneuro.artifact import read_artifact, write_artifact

    art = tmp_path / "model.h5"
    code, out, _ = _run(capsys, "convert", str(digits_checkpoint), "-o", str(art))
    pinned = hashlib.sha256(art.read_bytes()).hexdigest()
    assert code == 0 and f"SHA-256 {pinned} " in out
    assert _run(capsys, "inspect", str(art), "--expect-sha256", pinned.upper())[0] == 0
    net = read_artifact(art)
    net.head_bias = net.head_bias + 1  # a deliberate edit, checksum recomputed by the writer
    forged = tmp_path / "forged.h5"
    write_artifact(forged, net)
    assert (
        _run(capsys, "run", str(forged), "--dataset", "digits", "--samples", "2")[0] == 0
    )  # the inner checksum passes
    code, _, err = _run(
        capsys, "run", str(forged), "--dataset", "digits", "--expect-sha256", pinned
    )
    assert (
        code == 2
        and err.strip().startswith(f"lmuneuro run: error: {forged}: SHA-256 ")
        and "differs from the expected" in err
    )
    code, _, err = _run(capsys, "energy", str(art), "--dataset", "digits", "--expect-sha256", "abc")
    assert code == 2 and "is not 64 hexadecimal digits" in err


def test_library_run_is_the_command(artifact, capsys):
    """``lmuneuro.run`` returns what ``lmuneuro run --json`` prints, from a path or from objects."""
    import numpy as np

    import lmuneuro
    from lmuneuro.artifact import read_artifact
    from lmuneuro.data import get_dataset

    argv = ["--dataset", "digits", "--samples", "20", "--json", "--per-step", "--predictions"]
    code, out, _ = _run(capsys, "run", str(artifact), *argv)
    timing = ("seconds", "samples_per_second")
    cli = {k: v for k, v in json.loads(out).items() if k not in timing}
    by_path = lmuneuro.run(str(artifact), dataset="digits", samples=20, per_step=True)
    ds = get_dataset("digits", "test")
    x, y = ds.tensors[0][:20].numpy(), ds.tensors[1][:20].numpy()
    by_object = lmuneuro.run(read_artifact(artifact), x, labels=y, per_step=True)
    mine = {k: v for k, v in by_path.to_dict(predictions=True).items() if k not in timing}
    assert code == 0 and mine == cli and 0.5 < cli["accuracy"] <= 1
    assert np.array_equal(by_object.predictions, by_path.predictions)
    assert by_object.accuracy == by_path.accuracy and by_object.per_step == by_path.per_step
    with pytest.raises(ValueError, match="20 input samples but labels of shape"):
        lmuneuro.run(read_artifact(artifact), x, labels=y[:5])
