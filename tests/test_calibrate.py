"""Calibration at conversion (convert --calibrate): the choices measured on unlabelled data, their
record in the artifact, what they do to held-out inputs, and the refusals of bad data."""

import json
import shutil

import h5py
import numpy as np
import pytest
import torch
from support import calibrated

from lmuneuro.analysis.verify import verify
from lmuneuro.artifact import ArtifactError, read_artifact
from lmuneuro.checkpoint import load_checkpoint
from lmuneuro.cli import main
from lmuneuro.compile.calibrate import (
    CALIBRATION_MIN,
    Calibration,
    _Runs,
    calibrate,
    calibration_inputs,
)
from lmuneuro.compile.convert import (
    ConversionError,
    Settings,
    compile_model,
    convert,
)
from lmuneuro.compile.graph import from_model
from lmuneuro.compile.quantize import quantize_graph
from lmuneuro.data.inputs import load_inputs
from lmuneuro.models import stack_records

# First-layer spike mismatch on held-out inputs, calibrated against not: on the digits model of
# make demo 0.044 % -> 0.009 % (16 and 256 calibration samples), on the keywords model of make
# keywords 1.41 % -> 0.65 %, on the random reference-layout SCv2 network 0.25 % -> 0.20 %.
# Calibration may not add more than this (a tenth of a percent point: more than twice the largest
# first-layer mismatch measured without it on digits and SCv2).
SPREAD = 1e-3


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _first_layer_mismatch(model, net, x) -> float:
    from lmuneuro.backends.emulator import run

    name = net.layers[0].name
    with torch.no_grad(), model.recording() as rec:
        model(torch.from_numpy(x))
    ref = stack_records(rec)[name][0].numpy() > 0
    return float(np.mean(run(net, x, record=True).spikes[name] != ref))


def test_the_quantiser_without_calibration_is_todays():
    """The measured mean square of uniform inputs, and zero bias shifts, build exactly the network
    a conversion without calibration builds: calibration changes what it measures only."""
    model = calibrated("spiking-lmuformer-digits")
    graph = from_model(model)
    plain = quantize_graph(graph, input_max_abs=1.0)
    uniform = quantize_graph(graph, input_max_abs=1.0, input_mean_square=1.0 / 3)
    assert uniform.input_frac_bits == plain.input_frac_bits
    for a, b in zip(plain.synapses, uniform.synapses):
        assert np.array_equal(a.weights, b.weights) and a.weight_exp == b.weight_exp
    finer = quantize_graph(graph, input_max_abs=1.0, input_frac_bits=plain.input_frac_bits + 1)
    assert finer.input_frac_bits == plain.input_frac_bits + 1
    with pytest.raises(ConversionError, match="does not fit 16 signed bits with 16 fraction bits"):
        quantize_graph(graph, input_max_abs=1.0, input_frac_bits=16)  # |x| <= 1 needs a bit
    zeros = {p.name: np.zeros(p.size) for p in graph.populations if not p.graded}
    nets = [
        compile_model(model, None, Settings(input_range=1.0), fit=False, bias_shift=shift).net
        for shift in (None, zeros)
    ]
    for a, b in zip(*(n.layers for n in nets)):
        assert np.array_equal(a.bias_mant, b.bias_mant) and a.vth == b.vth


def test_calibrated_digits_conversion_records_its_choices_and_keeps_the_first_layer(
    digits_checkpoint, tmp_path
):
    out = tmp_path / "c.h5"
    report = convert(digits_checkpoint, out, calibrate={"dataset": "digits", "samples": 64})
    net = read_artifact(out)
    rec = Calibration.from_dict(net.meta["calibration"])  # what read_artifact validated
    assert report.calibration.to_dict() == net.meta["calibration"]
    assert rec.samples == 64 and rec.input_range == net.meta["quantization"]["input_range"]
    assert rec.values == 64 * 8 * 8 and 0 <= rec.clipped <= rec.values
    assert rec.input_range in [c.input_range for c in rec.candidates]
    assert [r.layer for r in rec.layers] == [p.name for p in net.layers]
    plain = tmp_path / "p.h5"
    assert "calibration" not in convert(digits_checkpoint, plain).meta
    model = load_checkpoint(digits_checkpoint).model
    x, _ = load_inputs(
        dataset="digits", inputs=None, samples=None, n_features=8
    )  # the test split: held out
    base = _first_layer_mismatch(model, read_artifact(plain), x)
    cal = _first_layer_mismatch(model, net, x)
    print(f"digits first-layer mismatch on the test split: {base:.4%} -> {cal:.4%} calibrated")
    assert cal <= base + SPREAD
    # verify compares with the network a conversion without calibration makes: that very one
    checked, alone = (verify(digits_checkpoint, a, dataset="digits") for a in (out, plain))
    assert alone.uncalibrated is None
    u = checked.uncalibrated
    assert u.agreement == alone.agreement and u.accuracy_fixed == alone.accuracy_fixed
    assert [r.mismatch for r in u.layers] == [r.mismatch for r in alone.layers]
    assert checked.layers[0].mismatch == pytest.approx(cal) and u.layers[0].mismatch == (
        pytest.approx(base)
    )
    assert checked.to_dict()["uncalibrated"]["agreement"] == alone.agreement


def test_bias_corrections_are_kept_only_where_the_head_gains(digits_checkpoint):
    """Each layer's correction, measured with those before it kept, stays only where the head's
    agreement with the float model on the calibration samples rises, or holds with closer logits:
    the calibrated network is never worse by that measure than the same one without them."""
    ck = load_checkpoint(digits_checkpoint)
    x = calibration_inputs(ck.model, dataset="digits", samples=16)
    compiled, rec = calibrate(ck.model, ck.features, Settings(), x)
    assert rec.bias_corrected == bool(rec.bias_shifts)
    assert set(rec.bias_shifts) <= {p.name for p in compiled.net.layers}
    assert all(r.bias_shift > 0 for r in rec.layers if r.layer in rec.bias_shifts)
    settings = Settings(input_range=rec.input_range)
    fixed = {"input_mean_square": rec.input_mean_square}
    fixed["input_frac_bits"] = compiled.net.input_frac_bits
    runs = _Runs(ck.model, x, 64)
    plain = runs.measure(compile_model(ck.model, ck.features, settings, fit=False, **fixed).net)
    got = runs.measure(compiled.net)
    assert got.mismatch == {r.layer: r.mismatch_after for r in rec.layers}
    if rec.bias_corrected:
        assert got.better(plain) and not plain.better(got)
    else:
        assert got == plain
    one_less = dict(rec.bias_shifts)
    if one_less:  # the last correction kept gained over the network without it
        del one_less[[n for n in got.mismatch if n in one_less][-1]]
        net = compile_model(
            ck.model, ck.features, settings, fit=False, **fixed, bias_shift=one_less
        )
        assert got.better(runs.measure(net.net))


@pytest.mark.parametrize(
    "preset, target, held_out",
    [
        ("spiking-lmuformer-digits", "loihi2", 64),
        pytest.param("spiking-lmuformer-scv2", "kapoho-point", 8, marks=pytest.mark.slow),  # 20 s
    ],
)
def test_calibrated_reference_layout_with_few_samples(preset, target, held_out, tmp_path):
    """A network with random weights in the reference layout (the paper's SCv2 one in the slow
    suite), calibrated on CALIBRATION_MIN samples: the first layer on other random inputs within
    the spread."""
    from lmuneuro.converters.reference import to_reference_state_dict

    model = calibrated(preset)
    torch.save(to_reference_state_dict(model), tmp_path / "ref.pth")
    rng = np.random.default_rng(0)
    shape = (model.config.seq_len, model.config.in_features)
    x_cal = rng.standard_normal((CALIBRATION_MIN, *shape)).astype(np.float32)
    x_eval = rng.standard_normal((held_out, *shape)).astype(np.float32)
    settings = {"target": target}
    report = convert(
        tmp_path / "ref.pth", tmp_path / "c.h5", calibrate={"inputs": x_cal}, **settings
    )
    convert(tmp_path / "ref.pth", tmp_path / "p.h5", input_range=4.0, **settings)
    rec = report.calibration
    assert rec.samples == CALIBRATION_MIN and rec.values == x_cal.size
    # the largest |value| is a candidate, and any range taken clips what lies beyond it
    assert max(c.input_range for c in rec.candidates) == pytest.approx(np.abs(x_cal).max())
    assert rec.clipped == int((np.abs(x_cal) > rec.input_range).sum())
    base = _first_layer_mismatch(model, read_artifact(tmp_path / "p.h5"), x_eval)
    cal = _first_layer_mismatch(model, read_artifact(tmp_path / "c.h5"), x_eval)
    print(f"{preset} random first-layer mismatch: {base:.4%} -> {cal:.4%} calibrated")
    assert cal <= base + SPREAD


def test_calibration_cli_reports_and_bad_data_is_refused(
    digits_checkpoint, tmp_path, capsys, monkeypatch
):
    import lmuneuro.data.inputs as inputs

    reads, load = [], inputs.load_inputs
    monkeypatch.setattr(inputs, "load_inputs", lambda **kw: reads.append(kw) or load(**kw))
    out = tmp_path / "c.h5"
    code, text, _ = _cli(
        capsys, "convert", digits_checkpoint, "-o", out, "--calibrate", "--dataset", "digits",
        "--samples", 16, "--weight-sets", "auto",
    )  # fmt: skip
    assert code == 0 and "calibration on 16 samples: input range" in text
    assert "weight sets: one set into" in text  # chosen on the same data first
    assert [(r["split"], r["samples"]) for r in reads] == [("train", 16)]  # read once for both
    net = read_artifact(out)
    assert net.meta["calibration"]["samples"] == 16
    rows = {line.split()[0] for line in text.splitlines()}
    assert {p.name for p in net.layers} <= rows  # a before/after row per layer
    code, text, _ = _cli(
        capsys, "verify", digits_checkpoint, out, "--dataset", "digits", "--samples", 16
    )
    assert code == 0 and "calibration: without it on the same inputs, agreement" in text
    good = np.random.default_rng(0).random((CALIBRATION_MIN, 8, 8)).astype(np.float32)
    nan = good.copy()
    nan[1, 2, 3] = np.nan
    for name, data, message in (
        ("shape.npy", good[:, :, :5], "expected a float array (samples, steps, 8)"),
        ("nan.npy", nan, "contains NaN or Inf"),
        ("empty.npy", good[:0], "holds no samples"),
        ("few.npy", good[: CALIBRATION_MIN - 1], f"at least {CALIBRATION_MIN} samples"),
        ("zero.npy", 0 * good, "all zero"),
    ):
        np.save(tmp_path / name, data)
        target = tmp_path / f"{name}.h5"
        code, _, err = _cli(
            capsys, "convert", digits_checkpoint, "-o", target, "--calibrate", "--inputs",
            tmp_path / name,
        )  # fmt: skip
        assert code == 2 and message in err and err.count("\n") == 1, (name, err)
        assert not target.exists()
    for argv, message in (
        (["--calibrate"], "--calibrate measures on data: give --dataset or --inputs"),
        (
            ["--calibrate", "--dataset", "digits", "--input-range", 2],
            "--input-range: --calibrate chooses the input range from the data",
        ),
        (["--calibrate", "--dataset", "digits", "--tolerance", 0.1], "--tolerance: for"),
    ):
        code, _, err = _cli(capsys, "convert", digits_checkpoint, "-o", tmp_path / "x.h5", *argv)
        assert code == 2 and message in err and err.count("\n") == 1, (argv, err)
        assert not (tmp_path / "x.h5").exists()


def test_a_calibration_record_is_validated_on_read(digits_checkpoint, tmp_path):
    src = tmp_path / "c.h5"
    convert(digits_checkpoint, src, calibrate={"dataset": "digits", "samples": CALIBRATION_MIN})
    record = read_artifact(src).meta["calibration"]

    def edited(change) -> str:
        path = tmp_path / "edited.h5"
        shutil.copy(src, path)
        with h5py.File(path, "r+") as f:
            meta = json.loads(f.attrs["meta"])
            meta["calibration"] = change(json.loads(json.dumps(record)))
            f.attrs["meta"] = json.dumps(meta)
        return path

    for change, message in (
        (lambda r: {**r, "extra": 1}, "does not hold exactly the fields"),
        (lambda r: {**r, "samples": 0}, "values from 0 samples"),
        (lambda r: {**r, "clipped": r["values"] + 1}, "of"),
        (lambda r: {**r, "input_range": -1.0}, "input_range -1.0 is not a finite number"),
        (lambda r: {**r, "input_range": r["input_range"] * 4}, "is not the network's"),
        (lambda r: {**r, "bias_corrected": "yes"}, "bias_corrected is not true or false"),
        (
            lambda r: {**r, "layers": [{**r["layers"][0], "layer": "nope"}]},
            "'nope', not a layer of the network",
        ),
        (
            lambda r: {**r, "layers": [{**r["layers"][0], "mismatch_after": 2.0}]},
            "mismatch_after 2.0 is above 1",
        ),
        (lambda r: [], "does not hold exactly the fields"),
    ):
        with pytest.raises(ArtifactError, match="meta: calibration") as e:
            read_artifact(edited(change))
        assert message in str(e.value), str(e.value)
    assert read_artifact(edited(lambda r: r)).meta["calibration"] == record
