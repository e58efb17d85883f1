import pytest
import torch
from support import calibrated

from lmuneuro import load_checkpoint, load_model
from lmuneuro.checkpoint import CheckpointError, save_checkpoint
from lmuneuro.converters.reference import to_reference_state_dict

PRESET = "spiking-lmuformer-digits"


@pytest.fixture(scope="module")
def model():
    return calibrated(PRESET)


@pytest.fixture
def native(tmp_path, model):
    path = tmp_path / "model.pt"
    save_checkpoint(
        path,
        model,
        preset=PRESET,
        classes=[str(i) for i in range(10)],
        metrics={"history": [{"epoch": 1}]},
        features={"kind": "digits-rows"},
    )
    return path


def test_native_roundtrip(native, model):
    ck = load_checkpoint(native)
    assert ck.preset == PRESET and ck.config == model.config and ck.classes[3] == "3"
    assert ck.metrics["history"][0]["epoch"] == 1 and ck.features == {"kind": "digits-rows"}
    assert not ck.model.training
    x = torch.rand(4, 8, 8)
    with torch.no_grad():
        assert torch.equal(ck.model(x), model(x))
    assert load_model(native, preset=PRESET).config == model.config


def test_reference_layout_detected_and_exact(tmp_path, model):
    path = tmp_path / "best_model.pth"
    sd = to_reference_state_dict(model)
    assert all(k.startswith("module.") for k in sd) and "module.block.0.attn.lmu.fft_H" in sd
    torch.save(sd, path)
    ck = load_checkpoint(path)
    assert ck.source_format == "reference" and ck.config == model.config
    x = torch.rand(4, 8, 8)
    with torch.no_grad():
        assert torch.equal(ck.model(x), model(x))


def _expect(path, pattern, preset=None):
    with pytest.raises(CheckpointError, match=pattern) as e:
        load_checkpoint(path, preset=preset)
    assert "\n" not in str(e.value)


def test_bad_files(tmp_path, native):
    data = native.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    _expect(tmp_path / "trunc.pt", "not a readable PyTorch checkpoint")
    (tmp_path / "noise.pt").write_bytes(bytes(range(256)) * 10)
    _expect(tmp_path / "noise.pt", "not a readable PyTorch checkpoint|corrupt checkpoint")
    _expect(tmp_path / "absent.pt", "no such file")


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {_Evil.marker}",))


def test_hostile_pickle_is_refused_and_never_runs(tmp_path):
    _Evil.marker = tmp_path / "pwned"
    torch.save({"state_dict": _Evil()}, tmp_path / "evil.pt")
    _expect(tmp_path / "evil.pt", "refused: unpickling it would run code")
    assert not _Evil.marker.exists()


def _edit(tmp_path, model, fn, name="edited.pth"):
    sd = to_reference_state_dict(model)
    fn(sd)
    torch.save(sd, tmp_path / name)
    return tmp_path / name


def test_state_dict_problems_are_named(tmp_path, model):
    p = _edit(tmp_path, model, lambda sd: sd.pop("module.block.0.mlp.fc2_conv.bias"))
    _expect(p, r"1 missing key\(s\), first: block.0.mlp.fc2_conv.bias")
    p = _edit(tmp_path, model, lambda sd: sd.update({"module.extra.weight": torch.zeros(1)}))
    _expect(p, r"1 unexpected key\(s\), first: extra.weight")
    p = _edit(
        tmp_path,
        model,
        lambda sd: sd.update({"module.block.0.attn.proj_conv.bias": torch.zeros(3)}),
    )
    _expect(p, r"block.0.attn.proj_conv.bias has shape \(3,\), the model expects \(64,\)")

    def nan(sd):
        sd["module.head.weight"][0, 0] = float("nan")

    _expect(_edit(tmp_path, model, nan), "head.weight contains NaN or Inf")
    torch.save({"foo": torch.zeros(1)}, tmp_path / "other.pt")
    _expect(tmp_path / "other.pt", "unknown checkpoint layout .* first keys: foo")


def test_preset_mismatch(native, tmp_path, model):
    _expect(
        native,
        "does not match preset 'spiking-lmuformer-scv2': in_features=8",
        preset="spiking-lmuformer-scv2",
    )
    _expect(native, "unknown preset 'nope'", preset="nope")


def test_hostile_config_is_refused_before_allocation(tmp_path, native):
    payload = torch.load(native, weights_only=True)
    payload["config"]["dim"] = 10**9
    torch.save(payload, tmp_path / "huge.pt")
    _expect(
        tmp_path / "huge.pt",
        r"invalid model config \(config field dim=1000000000 is outside 1..8192\)",
    )
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    _expect(tmp_path / "future.pt", "format version 99 is not supported")


def test_config_must_describe_the_tensors_before_anything_is_built(tmp_path, native):
    """Within every per-field limit, dim 8192 x depth 64 would build some 30 G parameters."""
    payload = torch.load(native, weights_only=True)
    payload["config"].update(dim=8192, depth=64)
    torch.save(payload, tmp_path / "big.pt")
    _expect(
        tmp_path / "big.pt",
        r"config does not describe its tensors: dim=8192 \(tensors: 64\), depth=64 \(tensors: 1\)",
    )


def test_foreign_formats_come_through_entry_points_only(digits_checkpoint):
    """Native code never imports converters/: a native checkpoint loads and converts without it,
    and the reference importer is found as a registered ``lmuneuro.importers`` entry point."""
    import subprocess
    import sys

    code = (
        "import sys, tempfile, os\n"
        "from lmuneuro.compile.convert import convert\n"
        "from lmuneuro.checkpoint import importers\n"
        f"convert({str(digits_checkpoint)!r}, os.path.join(tempfile.mkdtemp(), 'm.h5'))\n"
        "print(sorted(m for m in sys.modules if m.startswith('lmuneuro.converters')))\n"
        "print(sorted(importers()))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-800:]
    assert r.stdout.splitlines()[-2:] == ["[]", "['reference']"]
