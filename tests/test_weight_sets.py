"""How many 8-bit weight sets each layer gets: the data-free rule (--set-error), the layers named in
the settings, and the choice measured on calibration data (--weight-sets auto)."""

import json

import numpy as np
import pytest

from lmuneuro.analysis.calibration import choose_weight_sets
from lmuneuro.artifact import GATE, read_artifact
from lmuneuro.backends import run_backend
from lmuneuro.checkpoint import load_checkpoint
from lmuneuro.cli import main
from lmuneuro.compile.convert import (
    ConversionError,
    Settings,
    compile_model,
    convert,
)
from lmuneuro.compile.quantize import WeightSets
from lmuneuro.data.inputs import load_inputs
from lmuneuro.formats import LAVA


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_second_set_only_where_one_errs_more_than_the_bound_or_the_layer_is_not_single():
    # one set: exponent 0, mantissas 255 and 1, so 1.3 is off by 0.3: relative error 0.3 / 255.0033
    c = np.array([[255.0, 1.3]])
    assert WeightSets(2, 0.0).for_matrix(c, LAVA, "a") == 2  # wherever it adds anything
    assert WeightSets(2, 0.001).for_matrix(c, LAVA, "a") == 2  # 0.00118 > 0.001
    assert WeightSets(2, 0.002).for_matrix(c, LAVA, "a") == 1
    assert WeightSets(2, 0.0, frozenset({"a"})).for_matrix(c, LAVA, "a") == 1
    assert WeightSets(2, 0.0, frozenset({"a"})).for_matrix(c, LAVA, "b") == 2
    assert WeightSets(1, 0.0).for_matrix(c, LAVA, "b") == 1


def _processes(net):
    """Synapse processes per target layer, the gate's inhibition left out."""
    out = {}
    for s in net.synapses:
        if s.src != GATE:
            out[s.dst] = out.get(s.dst, 0) + 1
    return out


def test_single_set_layers_get_one_set_and_the_others_two(digits_checkpoint):
    ck = load_checkpoint(digits_checkpoint)
    nets = {
        k: compile_model(ck.model, ck.features, s, fit=False).net
        for k, s in {
            "two": Settings(),
            "one": Settings(weight_sets=1),
            "mixed": Settings(single_set=["head_lif", "block.0.mlp.fc2_lif"]),
        }.items()
    }
    two, one, mixed = (_processes(nets[k]) for k in ("two", "one", "mixed"))
    # head_lif reads fc2_lif (2 sets / 1 set) and 3 residual terms one-to-one (one set at the
    # finest exponent: a second adds nothing)
    assert two["head_lif"] == 5 and one["head_lif"] == 4
    for layer, n in mixed.items():
        single = layer in ("head_lif", "block.0.mlp.fc2_lif")
        assert n == (one if single else two)[layer], layer
    assert nets["mixed"].meta == {}  # compile_model leaves the record to convert


def test_single_set_is_recorded_and_checked(digits_checkpoint, tmp_path):
    s = Settings(single_set=["head_lif", "head_lif", "block.0.attn"])
    assert s.single_set == ("block.0.attn", "head_lif")
    assert Settings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    for bad in ("head_lif", [1], None):
        with pytest.raises(ValueError, match="conversion settings: single_set is"):
            Settings(single_set=bad)
    art = tmp_path / "a.h5"
    report = convert(digits_checkpoint, art, single_set=["head_lif"])
    assert report.meta["quantization"]["single_set"] == ["head_lif"]
    assert read_artifact(art).meta["quantization"]["single_set"] == ["head_lif"]
    with pytest.raises(ConversionError, match=r"^single_set names nope: not a layer of this"):
        convert(digits_checkpoint, tmp_path / "b.h5", single_set=["nope", "head_lif"])
    assert not (tmp_path / "b.h5").exists()
    with pytest.raises(ConversionError, match="single_set names patch_embed.x"):  # folded away
        convert(
            digits_checkpoint, tmp_path / "b.h5", single_set=["patch_embed.x"], residual="folded"
        )


def test_calibration_samples_are_spread_over_the_data(tmp_path):
    x = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((10, 2, 3), np.float32)
    np.save(tmp_path / "x.npy", x)
    got, _ = load_inputs(
        dataset=None, inputs=str(tmp_path / "x.npy"), samples=4, n_features=3, spread=True
    )
    assert got[:, 0, 0].tolist() == [0, 3, 6, 9]
    first, _ = load_inputs(dataset=None, inputs=str(tmp_path / "x.npy"), samples=4, n_features=3)
    assert first[:, 0, 0].tolist() == [0, 1, 2, 3]


def test_the_choice_keeps_the_measured_bound_and_is_what_the_artifact_computes(
    digits_checkpoint, tmp_path
):
    choice = choose_weight_sets(digits_checkpoint, dataset="digits", samples=96)
    two, one, chosen = choice.two_sets, choice.one_set, choice.chosen
    assert choice.samples == 96 and choice.bound == pytest.approx(two.error * 1.25)
    assert chosen.error <= choice.bound and chosen.synapses <= two.synapses
    assert set(choice.single_set) <= set(one.single_set) and choice.candidates >= 8
    assert one.synapses < two.synapses and one.events < two.events
    # the error it measured is the converted artifact's, on the same samples
    art = tmp_path / "a.h5"
    convert(digits_checkpoint, art, single_set=choice.single_set)
    ck = load_checkpoint(digits_checkpoint)
    x, _ = load_inputs(
        dataset="digits", inputs=None, samples=96, n_features=8, split="train", spread=True
    )
    import torch

    with torch.no_grad():
        ref = ck.model(torch.from_numpy(x)).numpy().astype(np.float64)
    logits = run_backend(read_artifact(art), x, "emulator").logits
    assert np.sqrt(np.mean((logits - ref) ** 2)) / ref.std() == pytest.approx(chosen.error, 1e-9)
    # a loose bound takes one set everywhere; none at all keeps within two sets' error
    assert (
        choose_weight_sets(digits_checkpoint, dataset="digits", samples=96, tolerance=10).chosen
        == one
    )
    strict = choose_weight_sets(digits_checkpoint, dataset="digits", samples=96, tolerance=0)
    assert strict.chosen.error <= two.error


def test_convert_weight_sets_auto_from_the_command_line(digits_checkpoint, tmp_path, capsys):
    art = tmp_path / "auto.h5"
    code, out, _ = _cli(
        capsys, "convert", digits_checkpoint, "-o", art, "--weight-sets", "auto",
        "--dataset", "digits", "--samples", 64, "--tolerance", 0.5, "--json",
    )  # fmt: skip
    assert code == 0
    r = json.loads(out)
    choice = r["weight_set_choice"]
    assert choice["samples"] == 64 and choice["bound"] == pytest.approx(
        choice["two_sets"]["error"] * 1.5
    )
    assert read_artifact(art).meta["quantization"]["single_set"] == choice["single_set"]
    assert r["quantization"]["weight_sets"] == 2
    code, out, _ = _cli(
        capsys, "convert", digits_checkpoint, "-o", tmp_path / "t.h5", "--weight-sets", "auto",
        "--dataset", "digits", "--samples", 32,
    )  # fmt: skip
    assert code == 0 and "calibration samples" in out.splitlines()[-2]
    code, _, _ = _cli(
        capsys, "convert", digits_checkpoint, "-o", tmp_path / "s.h5", "--single-set",
        ",".join(choice["single_set"]),
    )  # fmt: skip
    assert (
        code == 0
        and read_artifact(tmp_path / "s.h5").meta["quantization"]["single_set"]
        == (choice["single_set"])
    )
    for argv, message in (
        (["--weight-sets", "auto"], "--weight-sets auto measures fidelity on data: give --dataset"),
        (
            ["--samples", 5],
            "--samples: calibration data for --weight-sets auto or --calibrate only",
        ),
        (["--tolerance", 0.1, "--dataset", "digits"], "--dataset, --tolerance: calibration data"),
        (["--weight-sets", "3"], "argument --weight-sets: invalid choice: 3"),
        (["--weight-sets", "auto", "--dataset", "nope"], "nope"),
        (["--single-set", "head_lif,nope"], "single_set names nope: not a layer of this network"),
        (
            ["--single-set", "head_lif", "--weight-sets", "auto", "--dataset", "digits"],
            "--single-set: --weight-sets auto chooses those layers itself",
        ),
    ):
        code, _, err = _cli(capsys, "convert", digits_checkpoint, "-o", tmp_path / "x.h5", *argv)
        assert code == 2 and message in err and err.count("\n") == 1, (argv, err)
        assert not (tmp_path / "x.h5").exists()
    # the output is checked before minutes of calibration
    code, _, err = _cli(
        capsys, "convert", digits_checkpoint, "-o", digits_checkpoint, "--weight-sets", "auto",
        "--dataset", "digits",
    )  # fmt: skip
    assert code == 2 and "input" in err
    code, _, err = _cli(
        capsys, "train", "--preset", "spiking-lmuformer-digits", "--dataset", "digits",
        "-o", tmp_path / "m.pt", "--quantization-aware", "--weight-sets", "auto",
    )  # fmt: skip
    assert code == 2 and "--weight-sets auto is chosen on data at conversion" in err
