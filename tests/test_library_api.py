"""The library mirrors the command line's verbs: each takes objects as well as paths and gives what
the command prints with --json; the command line takes its choices from the library."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import lmuneuro
from lmuneuro.analysis.energy import EnergyReport
from lmuneuro.analysis.neurobench import IMPLEMENTATIONS
from lmuneuro.analysis.verify import VerifyReport
from lmuneuro.artifact import read_artifact
from lmuneuro.backends import BACKENDS
from lmuneuro.cli import build_parser, main
from lmuneuro.compile import LMU_MAPPINGS, RESIDUALS
from lmuneuro.compile.convert import Settings, compile_model
from lmuneuro.data.inputs import load_inputs


def _cli_json(capsys, *argv):
    assert main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def converted(digits_checkpoint, tmp_path_factory):
    d = tmp_path_factory.mktemp("api")
    art = d / "m.h5"
    lmuneuro.convert(digits_checkpoint, art)
    x, y = load_inputs(dataset="digits", inputs=None, samples=24, n_features=8)
    np.save(d / "x.npy", x)
    return art, d / "x.npy", x, y


def test_the_package_face_holds_the_verbs():
    from lmuneuro.analysis.calibration import choose_weight_sets
    from lmuneuro.analysis.neurobench import benchmark
    from lmuneuro.analysis.verify import verify
    from lmuneuro.compile.convert import convert
    from lmuneuro.running import energy, run

    assert (lmuneuro.convert, lmuneuro.verify, lmuneuro.run, lmuneuro.energy) == (
        convert,
        verify,
        run,
        energy,
    )
    assert lmuneuro.choose_weight_sets is choose_weight_sets
    assert lmuneuro.benchmark is benchmark
    assert set(lmuneuro.__all__) >= {"convert", "verify", "run", "energy", "load_checkpoint"}
    with pytest.raises(AttributeError, match="has no attribute 'emulate'"):
        lmuneuro.emulate  # noqa: B018


def test_energy_from_paths_or_objects_is_what_the_command_prints(converted, capsys):
    art, npy, x, _ = converted
    cli = _cli_json(
        capsys, "energy", art, "--inputs", npy, "--profile", "loihi2,cmos45-snn", "--json"
    )
    from_paths = lmuneuro.energy(str(art), str(npy), profile=["loihi2", "cmos45-snn"])
    assert json.loads(json.dumps({"profiles": [r.to_dict() for r in from_paths]})) == cli
    net = read_artifact(art)
    one = lmuneuro.energy(net, x, profile="loihi2")
    assert (
        isinstance(one, EnergyReport)
        and json.loads(json.dumps(one.to_dict())) == cli["profiles"][0]
    )
    # the activity a run recorded prices the same
    recorded = lmuneuro.run(net, x, record_activity=True).activity
    assert lmuneuro.energy(net, recorded=recorded).total == one.total
    assert (
        lmuneuro.energy(net, recorded=recorded.to_dict()).total == one.total
    )  # checked, as a file
    with pytest.raises(Exception, match="nope"):  # every profile loads before anything runs
        lmuneuro.energy(net, x, profile=["loihi2", "nope"])


def test_verify_from_objects_equals_verify_from_paths(digits_checkpoint, converted, capsys):
    art, npy, x, y = converted
    from_paths = lmuneuro.verify(digits_checkpoint, art, inputs=str(npy))
    cli = _cli_json(capsys, "verify", digits_checkpoint, art, "--inputs", npy, "--json")
    assert (
        isinstance(from_paths, VerifyReport) and json.loads(json.dumps(from_paths.to_dict())) == cli
    )
    ck = lmuneuro.load_checkpoint(digits_checkpoint)
    from_objects = lmuneuro.verify(ck, read_artifact(art), inputs=x, labels=y)
    with torch.no_grad():  # the labels are scored, against each path's own predictions
        float_pred = ck.model(torch.from_numpy(x)).argmax(-1).numpy()
    fixed_pred = lmuneuro.run(read_artifact(art), x).predictions
    assert from_objects.accuracy_float == np.mean(float_pred == y)
    assert from_objects.accuracy_fixed == np.mean(fixed_pred == y)
    assert from_objects.checkpoint == from_objects.artifact == ""
    assert replace(from_objects, accuracy_float=None, accuracy_fixed=None) == replace(
        from_paths, checkpoint="", artifact=""
    )
    # a network compiled in memory, never written: nothing to pair by checksum
    net = compile_model(ck.model, ck.features, Settings()).net
    assert lmuneuro.verify(ck, net, inputs=x).agreement == from_paths.agreement
    assert lmuneuro.verify(digits_checkpoint, net, inputs=x).samples == len(x)
    for artifact in (art, read_artifact(art)):  # a file's record pairs it with its checkpoint
        with pytest.raises(ValueError, match="was converted from another checkpoint"):
            lmuneuro.verify(npy, artifact, inputs=x)


def test_the_command_line_takes_its_choices_from_the_library():
    sub = build_parser()._subparsers._group_actions[0].choices

    def choices(verb, flag):
        return next(a.choices for a in sub[verb]._actions if flag in a.option_strings)

    assert tuple(choices("run", "--backend")) == BACKENDS
    assert set(choices("energy", "--backend")) == set(BACKENDS) - {"loihi2"}
    assert tuple(choices("convert", "--residual")) == RESIDUALS
    assert tuple(choices("convert", "--lmu-mapping")) == LMU_MAPPINGS
    assert tuple(choices("benchmark", "--implementation")) == IMPLEMENTATIONS


def test_library_errors_speak_the_librarys_words_and_the_command_line_names_its_flags(
    converted, capsys
):
    art, npy, x, _ = converted
    with pytest.raises(ValueError, match="^floating runs Lava's floating_pt models: it needs the "):
        lmuneuro.run(art, x, floating=True)
    assert main(["run", str(art), "--inputs", str(npy), "--float"]) == 2
    assert capsys.readouterr().err == (
        "lmuneuro run: error: --float runs Lava's floating_pt models: it needs --backend lava-sim\n"
    )


def test_the_wheel_lists_every_package():
    """setuptools installs only the packages pyproject.toml lists: a subpackage missing there
    imports in an editable checkout and is absent from an installed wheel."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).parents[1]
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set()
    for name, folder in tool["package-dir"].items():
        for init in (root / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(root / folder).parts
            if not (set(rel) & {"converters", "hardware_profiles"}):  # links in a worktree
                found.add(".".join((name, *rel)))
    assert "lmuneuro.analysis.rendering" in found and set(tool["packages"]) == found
