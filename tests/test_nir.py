"""NIR export, run back by another simulator: nirtorch with norse's LIF cells reproduces lmuneuro's
float model spike for spike in float64, and the export refuses what it cannot carry."""

import json

import nir
import numpy as np
import pytest
import torch

from lmuneuro import load_checkpoint
from lmuneuro.cli import main
from lmuneuro.compile.nirgraph import run_norse
from lmuneuro.converters.reference import to_reference_state_dict
from lmuneuro.data import get_dataset
from lmuneuro.models.lmuformer import stack_records


@pytest.fixture(scope="module")
def exported(digits_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("nir") / "model.nir"
    assert main(["export", str(digits_checkpoint), "--format", "nir", "-o", str(out)]) == 0
    return out


def _float64(checkpoint, x):
    model = load_checkpoint(checkpoint).model.double().eval()
    with torch.no_grad(), model.recording() as rec:
        logits = model(torch.from_numpy(x)).numpy()
    return logits, {n: s.numpy() > 0 for n, (s, _) in stack_records(rec).items()}


def test_norse_runs_the_exported_graph_spike_for_spike(digits_checkpoint, exported, capsys):
    graph = nir.read(exported)
    x = get_dataset("digits", "test").tensors[0].numpy()[:120].astype(np.float64)
    logits, ref = _float64(digits_checkpoint, x)
    run = run_norse(graph, x)
    assert set(run.spikes) == set(ref) and len(ref) == 9
    for name, s in ref.items():
        assert np.array_equal(run.spikes[name], s), name  # every spike of every population
    assert np.allclose(run.logits, logits, rtol=1e-12, atol=0)
    f32 = run_norse(graph, x, dtype=torch.float32)
    flips = sum(int((f32.spikes[n] != s).sum()) for n, s in ref.items())
    assert flips < 1e-3 * sum(s.size for s in ref.values())
    assert (f32.logits.argmax(-1) == logits.argmax(-1)).mean() >= 0.99
    print(f"NIR in float32: {flips} spike flips in {sum(s.size for s in ref.values())}")
    capsys.readouterr()


def test_the_readers_named_are_the_ones_measured(exported, capsys):
    """export --help names norse through run_norse as the reader (run above) and the importers
    that refuse the graph: those installed here refuse it, as docs/nir.md says."""
    import importlib.util

    import norse.torch

    graph = nir.read(exported)
    with pytest.raises(KeyError, match="input_delay2"):
        norse.torch.from_nir(graph)
    if importlib.util.find_spec("snntorch") is not None:  # not a dependency: where installed
        from snntorch.import_nir import import_from_nir

        with pytest.raises(ValueError, match="Unknown node type"):
            import_from_nir(graph)
    assert main(["export", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "nirtorch's graph executor (lmuneuro.compile.nirgraph.run_norse)" in text
    assert "norse's own from_nir, snnTorch 1.0, sinabs 3.1 and rockpool 3.1 refuse" in text


def test_graph_states_its_discretisation_and_nodes(exported):
    graph = nir.read(exported)
    meta = graph.metadata
    assert meta["dt"] == 0.01 and "forward Euler" in meta["discretisation"]
    lifs = {k: v for k, v in graph.nodes.items() if isinstance(v, nir.LIF)}
    for name, node in lifs.items():
        assert np.allclose(node.tau, 2 * meta["dt"]) and np.all(node.v_reset == 0)
        # the reference's v >= v_th as NIR's v > v_threshold: the float64 number just below
        assert np.all(np.nextafter(node.v_threshold, np.inf) > node.v_threshold)
    assert int(meta["readout_window"][1]) - int(meta["readout_window"][0]) == meta["seq_len"]
    assert {type(n).__name__ for n in graph.nodes.values()} == {
        "Input",
        "Output",
        "Affine",
        "Linear",
        "Delay",
        "LIF",
        "Scale",
    }
    # every delay is a whole number of steps, none negative
    for node in graph.nodes.values():
        if isinstance(node, nir.Delay):
            steps = node.delay / meta["dt"]
            assert np.all(steps >= 1) and np.allclose(steps, np.round(steps))


def test_reference_layout_checkpoint_exports_the_same_graph(
    digits_checkpoint, exported, tmp_path, capsys
):
    ref = tmp_path / "reference.pth"
    torch.save(to_reference_state_dict(load_checkpoint(digits_checkpoint).model), ref)
    out = tmp_path / "ref.nir"
    capsys.readouterr()
    assert main(["export", str(ref), "--format", "nir", "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["nodes"]["LIF"] == 9 and summary["output"] == str(out)
    a, b = nir.read(exported), nir.read(out)
    assert set(a.nodes) == set(b.nodes) and sorted(a.edges) == sorted(b.edges)
    x = get_dataset("digits", "test").tensors[0].numpy()[:20].astype(np.float64)
    assert np.array_equal(run_norse(a, x).logits, run_norse(b, x).logits)


def test_refusals_one_line_and_no_file(tmp_path, capsys):
    from lmuneuro.train import TrainConfig, train

    ann = tmp_path / "ann.pt"
    train(
        TrainConfig("lmuformer-digits", "digits", str(ann), epochs=1, max_batches=1),
        log=lambda *a: None,
        progress=False,
    )
    out = tmp_path / "out.nir"
    for src, message in (
        (ann, "a non-spiking model has no LIF populations to export"),
        (tmp_path / "missing.pt", "no such file"),
    ):
        assert main(["export", str(src), "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err
        assert not out.exists()
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 not a zip")
    assert main(["export", str(tmp_path / "junk.pt"), "-o", str(out), "--json"]) == 2
    assert not out.exists() and len(capsys.readouterr().err.strip().splitlines()) == 1
