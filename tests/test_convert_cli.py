"""lmuneuro convert / verify from the command line, including bad input (exit 2, no output)."""

import hashlib
import json

import h5py
import numpy as np
import pytest
import torch
from support import ACCURACY_LOSS_MAX, AGREEMENT_MIN

from lmuneuro.artifact import (
    ArtifactError,
    Layer,
    LifNeurons,
    Neurons,
    Relay,
    Term,
    read_artifact,
    validate,
    write_artifact,
)
from lmuneuro.artifact.writing import _datasets, digest
from lmuneuro.checkpoint import save_checkpoint
from lmuneuro.cli import main
from lmuneuro.models import build_model, get_preset


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_convert_then_verify(digits_checkpoint, tmp_path, capsys, monkeypatch):
    from lmuneuro.compile import convert

    art, hashed, sha256 = tmp_path / "model.h5", [], convert.sha256
    monkeypatch.setattr(convert, "sha256", lambda p: hashed.append(p) or sha256(p))
    code, out, _ = _run(capsys, "convert", str(digits_checkpoint), "-o", str(art), "--json")
    assert code == 0
    report = json.loads(out)
    # the artifact's SHA-256 from the bytes written, not read back: the checkpoint's alone read
    assert report["sha256"] == hashlib.sha256(art.read_bytes()).hexdigest()
    assert [str(p) for p in hashed] == [str(digits_checkpoint)]
    assert (
        report["target"] == "loihi2"
        and report["delay_steps"] == 15
        and report["cores"] == 13
        and report["chips"] == 1
    )
    assert report["quantization"]["lmu_mapping"] == "fir" and len(report["source_sha256"]) == 64
    rows = {r["layer"]: r for r in report["layers"]}
    assert (
        rows["block.0.attn.lmu.f_u.line"]["class"] == "LIF"
        and rows["block.0.attn.lmu.f_u.line"]["neurons"] == 7
    )
    # the table's processes and the gate's source
    assert report["processes"] == sum(r["processes"] for r in report["layers"]) + 1 > 50
    assert all(4096 >= r["vth_mant"] >= 64 for r in report["layers"] if r["class"] == "LIFReset")
    net = read_artifact(art)
    assert net.layers[-1].name == net.readout == "head_lif" and net.meta["classes"][9] == "9"
    with h5py.File(art) as f:  # one entry per Lava process, named by its class
        structure = json.loads(f.attrs["structure"])
        assert {e["class"] for e in structure["neurons"]} == {"LIFReset", "LIF", "GradedVec"}
        assert {e["class"] for e in structure["synapses"]} == {
            "Dense",
            "DelayDense",
            "Sparse",
            "DelaySparse",  # the one-to-one reading of a residual term from an earlier step
        }
        assert f["synapse/0/weight"].ndim == 2 and f.attrs["format_version"] == 4
    code, out, _ = _run(
        capsys, "verify", str(digits_checkpoint), str(art), "--dataset", "digits", "--json"
    )
    assert code == 0
    v = json.loads(out)
    assert v["samples"] == 360 and v["agreement"] >= AGREEMENT_MIN
    assert v["accuracy_fixed"] >= v["accuracy_float"] - ACCURACY_LOSS_MAX
    assert [row["layer"] for row in v["layers"]][0] == "patch_embed.proj_lif" and v[
        "inputs_clipped"
    ] == 0
    assert all(0 <= row["mismatch"] < 0.05 for row in v["layers"] if "mismatch" in row)
    x = np.random.default_rng(0).random((5, 8, 8))
    np.save(tmp_path / "x.npy", x)
    code, out, _ = _run(
        capsys, "verify", str(digits_checkpoint), str(art), "--inputs", str(tmp_path / "x.npy")
    )
    assert code == 0 and "5 samples: top-1 agreement" in out and "clipped" not in out
    x[0, 0, :3] = [
        1e4,
        -1e4,
        1.2,
    ]  # beyond the input range (+-1): clipped to it, as every bound assumes
    np.save(tmp_path / "x.npy", x)
    code, out, _ = _run(
        capsys, "verify", str(digits_checkpoint), str(art), "--inputs", str(tmp_path / "x.npy")
    )
    assert code == 0 and "inputs: 3 values beyond the artifact's input range were clipped" in out


def test_population_kinds_are_classes(digits_checkpoint, tmp_path, capsys):
    """A layer, a relay and a term are three classes with their own fields: a term has no LIF
    arithmetic, its scale is in payload units and a layer's in state units; files keep one table."""
    art = tmp_path / "m.h5"
    assert _run(capsys, "convert", str(digits_checkpoint), "-o", str(art))[0] == 0
    net = read_artifact(art)
    kinds = {type(p) for p in net.populations}
    assert kinds == {Layer, Relay, Term} and net.layers == [
        p for p in net.populations if type(p) is Layer
    ]
    term = next(p for p in net.populations if isinstance(p, Term))
    assert not isinstance(term, LifNeurons) and not hasattr(term, "bias_mant")
    assert term.payload_scale > 0 and all(p.state_scale > 0 for p in net.layers)
    assert all(p.lag is None for p in net.populations if isinstance(p, Relay))
    write_artifact(tmp_path / "again.h5", net)
    again = read_artifact(tmp_path / "again.h5")
    assert again.checksum == net.checksum  # every field, arrays and scales included
    assert [(type(p), p.name) for p in again.populations] == [
        (type(p), p.name) for p in net.populations
    ]
    with pytest.raises(ArtifactError, match="Neurons is not a Layer, Relay or Term"):
        net.populations[0] = Neurons(term.name, term.size)
        validate(net)
    with h5py.File(art, "r+") as f:  # a GradedVec declaring LIF arithmetic, checksum made to fit
        structure = json.loads(f.attrs["structure"])
        entry = next(e for e in structure["neurons"] if e["class"] == "GradedVec")
        entry["du"] = 5
        f.attrs["structure"] = json.dumps(structure)
        f.attrs["checksum"] = digest(_datasets(again), structure)
    code, _, err = _run(capsys, "inspect", str(art))
    assert code == 2 and f"neurons {entry['name']!r}: a GradedVec has no LIF parameters" in err


def test_recurrent_mapping_and_old_artifacts_are_refused(digits_checkpoint, tmp_path, capsys):
    art = tmp_path / "m.h5"
    code, _, err = _run(
        capsys, "convert", str(digits_checkpoint), "-o", str(art), "--lmu-mapping", "recurrent"
    )
    assert (
        code == 2
        and "recurrent LMU mapping cannot be built from loihi2's standard processes" in err
    )
    assert "use --lmu-mapping fir" in err and err.count("\n") == 1 and not art.exists()
    assert _run(capsys, "convert", str(digits_checkpoint), "-o", str(art))[0] == 0
    with h5py.File(art, "r+") as f:  # what an artifact of the previous format declares
        f.attrs["format_version"] = 2
    for argv in (["run", str(art), "--dataset", "digits"], ["inspect", str(art)]):
        code, _, err = _run(capsys, *argv)
        assert code == 2 and "artifact format version 2 is not supported" in err, err
        assert "convert its checkpoint again with lmuneuro convert" in err and err.count("\n") == 1


def test_bad_input_exit_2_and_no_file(digits_checkpoint, tmp_path, capsys):
    art = tmp_path / "out.h5"
    ann = tmp_path / "ann.pt"
    save_checkpoint(ann, build_model(get_preset("lmuformer-digits")), preset="lmuformer-digits")
    code, _, err = _run(capsys, "convert", str(ann), "-o", str(art))
    assert code == 2 and "only spiking models map onto Loihi" in err and not art.exists()
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    code, _, err = _run(capsys, "convert", str(tmp_path / "bad.pt"), "-o", str(art))
    assert code == 2 and err.count("\n") == 1 and not art.exists()


@pytest.mark.parametrize(
    "limit, expect",
    [
        (
            "cores_per_chip = 2",
            "does not fit: network (largest: *neuro-cores on 1 loihi2 chip(s) (cores_per_chip 2): "
            "13 exceeds 2 (a board of several chips is a target too: --target kapoho-point)",
        ),
        (
            "synmem_words_per_core = 100",
            "does not fit: * at one neuron per core: synapse memory per neuro-core "
            "(synmem_words_per_core 100 words): * exceeds 100",
        ),
        (
            "neurons_per_chip = 100",
            "field resources.neurons_per_core (8,192) exceeds neurons_per_chip (100)",
        ),
        ("chips = 1", "field resources.chips must be positive, got 0"),
        (
            "synapses_per_chip = 100000",
            "synapses on 1 loihi2 chip(s) (synapses_per_chip 100,000): * exceeds 100,000",
        ),
        (
            "weight_exp_max = 7",
            "layer block.0.mlp.fc2_lif: weights up to *, above the target's maximum 7, even at "
            "threshold mantissa 64",
        ),
        (
            "activation_bits = 16",
            "layer patch_embed.proj_lif: *beyond the 9-bit a_out, even at threshold mantissa 64",
        ),
        ("delay_max = 62", "missing field precision.delay_max"),
        (
            "vth_mant_bits = 17",
            "threshold mantissa 200000 is outside loihi2's vth_mant_bits 17 (1..131071)",
        ),
    ],
)
def test_models_that_do_not_fit(digits_checkpoint, tmp_path, capsys, limit, expect):
    """A model beyond the profile's resources or precision: one line naming the layer and the
    limit, exit 2, no artifact and no temporary file; never a silent clamp."""
    from lmuneuro.profiles import load_profile

    text = open(load_profile("loihi2").path).read()
    key = limit.split(" = ")[0]
    profile = tmp_path / "small.toml"
    changed = {"activation_bits": "activation_bits = 9", "delay_max": "", "chips": "chips = 0"}.get(
        key, limit
    )
    profile.write_text(
        "\n".join(changed if line.startswith(key + " ") else line for line in text.splitlines())
    )
    ckpt, extra = digits_checkpoint, []
    if key == "weight_exp_max":  # weights far beyond 8 bits x 2^7
        obj = torch.load(digits_checkpoint, weights_only=True)
        obj["state_dict"]["block.0.mlp.fc1_conv.weight"] *= 1e6
        ckpt = tmp_path / "huge.pt"
        torch.save(obj, ckpt)
    elif key == "vth_mant_bits":
        extra = ["--vth-mant", "200000"]
    art = tmp_path / "out.h5"
    code, _, err = _run(
        capsys, "convert", str(ckpt), "-o", str(art), "--target", str(profile), *extra
    )
    assert code == 2 and all(part in err for part in expect.split("*")) and err.count("\n") == 1, (
        err
    )
    assert not art.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.h5")]


def test_modified_artifact_and_wrong_inputs(digits_checkpoint, tmp_path, capsys):
    art = tmp_path / "m.h5"
    assert _run(capsys, "convert", str(digits_checkpoint), "-o", str(art))[0] == 0
    np.save(tmp_path / "bad.npy", np.zeros((2, 8, 7)))
    code, _, err = _run(
        capsys, "verify", str(digits_checkpoint), str(art), "--inputs", str(tmp_path / "bad.npy")
    )
    assert code == 2 and "expected a float array (samples, steps, 8)" in err
    with h5py.File(art, "r+") as f:
        f["synapse/0/weight"][0, 0] += 2
    code, _, err = _run(capsys, "verify", str(digits_checkpoint), str(art), "--dataset", "digits")
    assert code == 2 and "checksum mismatch" in err
    other = tmp_path / "other.pt"
    torch.manual_seed(1)
    save_checkpoint(
        other,
        build_model(get_preset("spiking-lmuformer-digits")),
        preset="spiking-lmuformer-digits",
    )
    assert _run(capsys, "convert", str(digits_checkpoint), "-o", str(tmp_path / "n.h5"))[0] == 0
    code, _, err = _run(capsys, "verify", str(other), str(tmp_path / "n.h5"), "--dataset", "digits")
    assert code == 2 and "was converted from another checkpoint" in err


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("case", ["nan", "preset", "pickle", "missing", "shape", "truncated"])
def test_convert_refuses_bad_checkpoints(digits_checkpoint, tmp_path, capsys, monkeypatch, case):
    """Each bad checkpoint: one line naming the problem, exit 2, no artifact, no code run."""
    monkeypatch.chdir(tmp_path)
    obj = torch.load(digits_checkpoint, weights_only=True)
    sd = obj["state_dict"]
    bad, preset = tmp_path / "bad.pt", None
    if case == "nan":
        sd["block.0.mlp.fc1_conv.weight"][0, 0, 0] = float("nan")
        expect = "block.0.mlp.fc1_conv.weight contains NaN or Inf"
    elif case == "preset":
        preset, expect = "spiking-lmuformer-scv2", "does not match preset 'spiking-lmuformer-scv2'"
    elif case == "pickle":
        obj = {"state_dict": _Evil()}
        expect = "refused: unpickling it would run code"
    elif case == "missing":
        del sd["head.bias"]
        expect = "1 missing key(s), first: head.bias"
    elif case == "shape":
        sd["head.bias"] = torch.zeros(3)
        expect = "head.bias has shape (3,), the model expects (10,)"
    torch.save(obj, bad)
    if case == "truncated":
        bad.write_bytes(open(digits_checkpoint, "rb").read()[:5000])
        expect = "bad.pt"
    out = tmp_path / "bad.h5"
    code, _, err = _run(
        capsys, "convert", str(bad), "-o", str(out), *(["--preset", preset] if preset else [])
    )
    assert code == 2 and expect in err and err.count("\n") == 1, err
    assert not out.exists() and not (tmp_path / "pwned").exists()
