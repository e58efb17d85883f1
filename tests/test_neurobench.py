"""NeuroBench's metrics (``lmuneuro benchmark``): lmuneuro's implementation against NeuroBench's
own harness on the same inputs (a trained digits model, a reference-layout SCv2 checkpoint, the
non-spiking model), MembraneUpdates by hand, the chip's figures against the emulator's recorded
spikes and the resource model, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from support import calibrated
from torch import nn

from lmuneuro import benchmark, load_checkpoint
from lmuneuro.analysis import neurobench as nb
from lmuneuro.analysis.activity import activity
from lmuneuro.artifact import read_artifact
from lmuneuro.backends import run_backend
from lmuneuro.checkpoint import save_checkpoint
from lmuneuro.cli import main
from lmuneuro.compile.convert import convert
from lmuneuro.compile.limits import resources
from lmuneuro.converters.reference import to_reference_state_dict
from lmuneuro.data import get_dataset
from lmuneuro.models import build_model, get_preset
from lmuneuro.models.lif import LIF
from lmuneuro.profiles import load_profile


def _digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    ds = get_dataset("digits", "test")
    return (
        torch.stack([ds[i][0] for i in range(n)]).numpy(),
        np.array([int(ds[i][1]) for i in range(n)]),
    )


def _same_as_harness(model, x, y, batch):
    """lmuneuro's figures against the harness's: counts exactly; ActivationSparsity to the last
    bits of the harness's per-batch weighting; accuracy to float32 (the harness's mean)."""
    pytest.importorskip("neurobench")
    ours = nb.float_metrics(model, x, y, batch)
    theirs = nb.harness_metrics(model, x, y, batch)
    assert set(theirs) == set(nb.HARNESS_METRICS) - (
        {"ClassificationAccuracy"} if y is None else set()
    )
    for k in ("Footprint", "ConnectionSparsity", "SynapticOperations"):
        assert ours[k] == theirs[k], k
    assert ours["ActivationSparsity"] == pytest.approx(theirs["ActivationSparsity"], rel=1e-12)
    if y is not None:
        assert ours["ClassificationAccuracy"] == pytest.approx(
            theirs["ClassificationAccuracy"], abs=1e-7
        )
    return ours


def test_float_metrics_equal_the_harness_on_the_trained_digits_model(digits_checkpoint):
    model = load_checkpoint(digits_checkpoint).model
    x, y = _digits(50)
    ours = _same_as_harness(model, x, y, batch=16)  # batches of 16, 16, 16 and 2
    ops = ours["SynapticOperations"]
    # the figures are not degenerate: spikes, graded MACs (the first convolution) and ACs
    assert 0 < ours["ActivationSparsity"] < 1 and ops["Effective_MACs"] > 0
    assert 0 < ops["Effective_ACs"] < ops["Dense"]
    assert ours["ClassificationAccuracy"] > 0.5
    # the first convolution reads the graded input: every non-zero input times every non-zero
    # weight that reaches an output position (the padding reaches none), by hand
    conv = model.patch_embed.proj_conv
    w = conv.weight.detach().numpy() != 0  # (out, in, k)
    nz = x != 0  # (samples, steps, in)
    steps, pad = x.shape[1], conv.padding[0]
    macs = 0
    for t in range(steps):
        for j in range(w.shape[2]):
            src = t + j - pad
            if 0 <= src < steps:
                macs += int((nz[:, src] @ w[:, :, j].sum(axis=0)).sum())
    assert ops["Effective_MACs"] == macs / len(x)


def test_float_metrics_equal_the_harness_on_a_reference_layout_scv2_checkpoint(tmp_path):
    path = tmp_path / "best_model.pth"
    torch.save(to_reference_state_dict(calibrated("spiking-lmuformer-scv2")), path)
    ck = load_checkpoint(path)
    assert ck.source_format == "reference"
    x = np.random.default_rng(0).standard_normal((3, 24, 128)).astype(np.float32)
    ours = _same_as_harness(ck.model, x, None, batch=2)
    assert 0 < ours["ActivationSparsity"] < 1 and ours["SynapticOperations"]["Effective_ACs"] > 0
    assert "ClassificationAccuracy" not in ours


def test_a_non_spiking_model_gets_the_ann_metrics():
    torch.manual_seed(0)
    model = build_model(get_preset("lmuformer-digits")).eval()
    x, y = _digits(12)
    ours = _same_as_harness(model, x, y, batch=5)
    assert ours["SynapticOperations"]["Effective_ACs"] == 0
    assert 0 < ours["SynapticOperations"]["Effective_MACs"] <= ours["SynapticOperations"]["Dense"]
    assert "MembraneUpdates" not in ours  # no spiking neuron has a membrane


class _OneLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 2, bias=False)
        self.lif = LIF(v_threshold=1.0, tau=2.0)

    def forward(self, x):  # (batch, steps, 1) -> (batch, 2): the LIF runs over time last
        return self.lif(self.fc(x).transpose(1, 2)).mean(-1)


def test_membrane_updates_by_hand():
    """NeuroBench's MembraneUpdates: every neuron at the first step, then each step where its
    potential (before firing, as snnTorch's ``mem``) changed."""
    model = _OneLayer().eval()
    with torch.no_grad():
        model.fc.weight.copy_(torch.tensor([[1.0], [0.0]]))
    # neuron 0: h = 1 (fires, v = 0), 0, 0, 1 (fires): changes at steps 1 and 3; neuron 1: h = 0
    x = np.array([[[2.0], [0.0], [0.0], [2.0]]], dtype=np.float32)
    got = nb.float_metrics(model, x, None)
    assert got["MembraneUpdates"] == 2 + 2
    assert got["ActivationSparsity"] == 1 - 2 / 8  # two spikes in 2 neurons x 4 steps
    assert got["SynapticOperations"] == {"Effective_MACs": 2, "Effective_ACs": 0, "Dense": 8}


@pytest.fixture(scope="module")
def converted(digits_checkpoint, tmp_path_factory):
    art = tmp_path_factory.mktemp("nb") / "digits.h5"
    convert(digits_checkpoint, art)
    return art


@pytest.fixture(params=["digits", "scv2-reference"])
def run_inputs(request, digits_checkpoint, converted, tmp_path_factory):
    """(checkpoint, artifact, inputs, labels): the trained digits model on 40 test samples; a
    reference-layout SCv2 checkpoint (calibrated random weights) on a board of chips, on 2 random
    clips of 24 frames."""
    if request.param == "digits":
        return (digits_checkpoint, converted, *_digits(40))
    d = tmp_path_factory.mktemp("scv2")
    torch.save(to_reference_state_dict(calibrated("spiking-lmuformer-scv2")), d / "best.pth")
    convert(d / "best.pth", d / "scv2.h5", target="kapoho-point")  # 204 cores: several chips
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 24, 128)).astype(np.float32)
    return d / "best.pth", d / "scv2.h5", x, rng.integers(0, 35, 2)


def test_chip_figures_from_the_emulators_spikes_and_the_resource_model(run_inputs):
    checkpoint, artifact, x, y = run_inputs
    r = benchmark(checkpoint, artifact, inputs=x, labels=y, implementation="lmuneuro")
    chip, net = r.chip, read_artifact(artifact)
    res = run_backend(net, x, "emulator", record=True)
    period = net.delay + x.shape[1]
    # ActivationSparsity by hand: the spikes (a graded term's non-zero payloads) of every
    # population at every step of every sample, over the neuron-steps
    sent = sum(int(c.sum()) for c in res.step_counts.values())
    assert set(res.step_counts) == {p.name for p in net.populations}
    neuron_steps = len(x) * period * sum(p.size for p in net.populations)
    assert chip["ActivationSparsity"] == pytest.approx(1 - sent / neuron_steps, rel=1e-12)
    assert 0 < chip["ActivationSparsity"] < 1
    # Footprint: the resource model's synapse memory (64-bit words per core) and 2 x 24-bit state
    profile = load_profile(net.meta["target"])
    assert profile.resources["synmem_word_bits"] == 64 and net.formats.state_bits == 24
    rows = resources(net, profile)
    words = sum(row["cores"] * row["synmem_words"] for row in rows)
    assert chip["Footprint"] == words * 8 + sum(row["neurons"] for row in rows) * 2 * 3
    # ConnectionSparsity of the quantised weights of every synapse process
    w = [np.asarray(s.weights) for s in net.synapses]
    zeros = sum(int((a == 0).sum()) for a in w) / sum(a.size for a in w)
    assert chip["ConnectionSparsity"] == round(zeros, 4) and 0 < zeros < 1
    assert chip["MembraneUpdates"] == period * sum(p.size for p in net.populations)
    # the model's layers on the chip's spikes, with the LMU memory apart, add up to the paper's
    # count (``activity``): NeuroBench's figure leaves nothing out of the layers it counts
    act = activity(net, x, res.spike_counts)
    paper = sum(row.model_synops for row in act.layers)
    ext = r.extensions["chip"]
    assert chip["SynapticOperations"]["Effective_ACs"] + ext["LMUMemory_ACs"] == pytest.approx(
        paper, rel=1e-12
    )
    assert ext["LMUMemory_ACs"] > 0 and ext["RelaySpikes"] > 0 and ext["ResidualGradedEvents"] > 0
    assert chip["SynapticEvents"]["binary"] == sum(row.synaptic_events for row in act.layers)
    assert chip["ClassificationAccuracy"] == float((res.logits.argmax(-1) == y).mean())
    # the float model on the same inputs: NeuroBench's count of the same layers, close to the
    # chip's (the float and fixed spikes agree on most samples)
    f = r.float_model["SynapticOperations"]["Effective_ACs"]
    assert chip["SynapticOperations"]["Effective_ACs"] == pytest.approx(f, rel=0.1)
    assert r.computed_by["MembraneUpdates"] == "lmuneuro"
    assert set(r.computed_by.values()) == {"lmuneuro"}


def test_the_harness_computes_the_float_figures_where_installed(digits_checkpoint, monkeypatch):
    pytest.importorskip("neurobench")
    x, y = _digits(8)
    r = benchmark(digits_checkpoint, inputs=x, labels=y)
    version = nb.neurobench_version()
    assert version == "2.3.0"
    assert {k for k, v in r.computed_by.items() if v == f"neurobench {version}"} == set(
        nb.HARNESS_METRICS
    )
    assert r.chip is None and set(r.extensions) == {"float"}
    monkeypatch.setattr(nb, "neurobench_version", lambda: None)
    assert set(benchmark(digits_checkpoint, inputs=x).computed_by.values()) == {"lmuneuro"}
    with pytest.raises(ValueError, match="neurobench is not installed"):
        benchmark(digits_checkpoint, inputs=x, implementation="neurobench")


def test_the_harness_imports_with_snntorch_alone():
    """neurobench 2.3.0 declares torchaudio, tonic and numba; its harness and metrics need none."""
    pytest.importorskip("neurobench")
    code = (
        "import sys\n"
        "from neurobench.benchmarks import Benchmark\n"
        "from neurobench.models import TorchModel\n"
        "from neurobench.metrics.static import Footprint, ConnectionSparsity\n"
        "from neurobench.metrics.workload import ActivationSparsity, SynapticOperations\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torchaudio', 'tonic', 'numba', 'snntorch'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['snntorch']"


def test_cli(digits_checkpoint, converted, tmp_path, capsys):
    x, _ = _digits(6)
    np.save(tmp_path / "x.npy", x)
    args = [
        "benchmark",
        str(digits_checkpoint),
        str(converted),
        "--inputs",
        str(tmp_path / "x.npy"),
    ]
    assert main([*args, "--json", "--implementation", "lmuneuro"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert set(r) >= {"float", "chip", "extensions", "computed_by"}
    assert set(r["float"]["SynapticOperations"]) == {"Effective_MACs", "Effective_ACs", "Dense"}
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{r['chip']['Footprint']:,.0f}" in out and "not in NeuroBench's figures" in out
    assert main([*args, "-o", str(tmp_path / "report.html")]) == 0
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!doctype html>") and f"{r['float']['Footprint']:,.0f}" in page


def _refused(args, capsys, pattern):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and pattern in err, err


def test_bad_input(digits_checkpoint, converted, tmp_path, capsys):
    x, _ = _digits(4)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "empty.npy", x[:0])
    other = tmp_path / "other.pt"
    torch.manual_seed(1)
    save_checkpoint(other, build_model(get_preset("spiking-lmuformer-digits")))
    inputs = ["--inputs", str(tmp_path / "x.npy")]
    _refused(
        ["benchmark", str(other), str(converted), *inputs],
        capsys,
        "was converted from another checkpoint",
    )
    _refused(
        ["benchmark", str(digits_checkpoint), "--inputs", str(tmp_path / "empty.npy")],
        capsys,
        "no samples",
    )
    _refused(
        ["benchmark", str(digits_checkpoint), *inputs, "--expect-sha256", "00"],
        capsys,
        "--expect-sha256 pins an artifact",
    )
    _refused(
        ["benchmark", str(digits_checkpoint), *inputs, "-o", str(tmp_path / "r.pdf")],
        capsys,
        "give a name ending in .html, .json or .txt",
    )
    _refused(
        ["benchmark", str(digits_checkpoint), *inputs, "--json", "-o", str(tmp_path / "r.html")],
        capsys,
        "contradicts --json",
    )
    assert not (tmp_path / "r.pdf").exists() and not (tmp_path / "r.html").exists()
    # a non-spiking checkpoint: the ANN metrics, said so
    ann = tmp_path / "ann.pt"
    save_checkpoint(ann, build_model(get_preset("lmuformer-digits")))
    assert main(["benchmark", str(ann), *inputs]) == 0
    assert "non-spiking checkpoint: the ANN metrics" in capsys.readouterr().out
    assert main(["benchmark", str(ann), *inputs, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    cfg = get_preset("lmuformer-digits")
    m = cfg.memory_size  # the memory's recurrent form per step, every block
    assert r["extensions"]["float"] == {"LMUMemory_MACs": cfg.depth * (m * m + m) * x.shape[1]}
    assert r["float"]["SynapticOperations"]["Effective_ACs"] == 0


def test_the_docs_snippet_runs_lmuneuros_model_in_neurobenchs_benchmark(
    digits_checkpoint, tmp_path, monkeypatch, capsys
):
    pytest.importorskip("neurobench")
    text = (Path(__file__).parents[1] / "docs" / "neurobench.md").read_text()
    code = text.split("```python\n")[1].split("```")[0]
    (tmp_path / "model.pt").write_bytes(Path(digits_checkpoint).read_bytes())
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/neurobench.md", "exec"), {})
    printed = capsys.readouterr().out
    x, y = _digits(360)
    ours = nb.float_metrics(load_checkpoint(digits_checkpoint).model, x, y)
    assert f"'Footprint': {ours['Footprint']}" in printed
    assert f"'Effective_ACs': {ours['SynapticOperations']['Effective_ACs']}" in printed
