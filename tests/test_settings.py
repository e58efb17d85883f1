"""Conversion settings are declared once (``compile.settings.SETTINGS``): every declared setting
is an option of convert and train with its help and default, a field of ``Settings`` and a value
of a checkpoint's record, and a value beyond its bounds gets the same one-line message from the
command line, from ``Settings`` and from a checkpoint. A new setting is covered without editing
this file."""

from __future__ import annotations

from dataclasses import fields

import pytest

from lmuneuro.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from lmuneuro.cli import build_parser, main
from lmuneuro.cli_options import settings_given
from lmuneuro.compile.settings import SETTINGS, Settings
from lmuneuro.models import build_model, get_preset
from lmuneuro.profiles import list_profiles

PRESET = "spiking-lmuformer-digits"
BOUNDED = [s for s in SETTINGS if s.bounds is not None]


def _other(s):
    """A valid value of ``s`` that is not its default."""
    if s.choices is not None:
        return next(c for c in s.choices if c != s.default)
    if s.bounds is not None:
        return s.bounds[1]
    if s.kind is tuple:
        return ("block.0.attn", "head_lif")
    return next(p for p in list_profiles() if p != s.default)  # a target: another bundled one


OTHER = Settings(**{s.name: _other(s) for s in SETTINGS})


@pytest.fixture(scope="module")
def model():
    return build_model(get_preset(PRESET))


def test_every_setting_is_a_field_of_settings_with_its_default():
    assert [f.name for f in fields(Settings)] == [s.name for s in SETTINGS]
    assert [f.default for f in fields(Settings)] == [s.default for s in SETTINGS]
    assert all(getattr(OTHER, s.name) == _other(s) != s.default for s in SETTINGS)
    assert Settings(single_set=["head_lif", "block.0.attn", "head_lif"]).single_set == (
        "block.0.attn",
        "head_lif",
    )


@pytest.mark.parametrize("verb", ["convert", "train"])
def test_every_setting_is_an_option_with_its_help_and_default(verb):
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[verb]
    options = {a.option_strings[0]: a for a in sub._actions if a.option_strings}
    argv = [verb, "m.pt"] if verb == "convert" else [verb, "--preset", PRESET]
    argv += ["--dataset", "digits", "-o", "out"]
    for s in SETTINGS:
        a = options[s.flag]
        default = s.default if s.default_help is None else s.default_help
        assert a.help.startswith(s.help) and a.help.endswith(f" (default: {default})")
        assert a.default is None  # not given: a quantisation-aware checkpoint's record decides
        assert a.choices is None or set(s.choices) <= set(a.choices)
        value = _other(s)
        argv += [s.flag, ",".join(value) if s.kind is tuple else str(value)]
    assert Settings(**settings_given(parser.parse_args(argv))) == OTHER
    assert settings_given(parser.parse_args(argv[: argv.index(SETTINGS[0].flag)])) == {}


def test_every_setting_round_trips_through_a_checkpoints_record(model, tmp_path):
    path = tmp_path / "aware.pt"
    save_checkpoint(path, model, preset=PRESET, quantization=OTHER.to_dict())
    ck = load_checkpoint(path)
    assert ck.quantization == OTHER.to_dict()
    assert Settings.from_dict(ck.quantization) == OTHER
    assert OTHER.to_dict()["single_set"] == ["block.0.attn", "head_lif"]  # a list, as JSON has


def test_an_example_of_the_message():
    with pytest.raises(ValueError) as e:
        Settings(set_error=0.7)
    assert str(e.value) == "conversion settings: set_error is 0.7, not in [0, 0.5]"
    with pytest.raises(ValueError) as e:
        Settings(input_range=0)
    assert str(e.value) == "conversion settings: input_range is 0, not in (0, 1e+06]"


@pytest.mark.parametrize("s", BOUNDED, ids=lambda s: s.name)
def test_a_value_beyond_the_bounds_is_one_message_wherever_it_comes_from(
    s, model, tmp_path, capsys
):
    lo, hi = s.bounds
    assert getattr(Settings(**{s.name: hi}), s.name) == hi
    if not s.open_lo:
        assert getattr(Settings(**{s.name: lo}), s.name) == lo
    for bad in (lo if s.open_lo else lo - 1, hi * 2):
        with pytest.raises(ValueError) as e:
            Settings(**{s.name: bad})
        message = str(e.value)
        assert message.startswith(f"conversion settings: {s.name} is {bad!r}, not in ")
        assert "\n" not in message

        out = tmp_path / "x.h5"
        code = main(["convert", str(tmp_path / "m.pt"), "-o", str(out), s.flag, str(bad)])
        err = capsys.readouterr().err
        assert code == 2 and err == f"lmuneuro convert: error: argument {s.flag}: {message}\n"

        path = tmp_path / "bad.pt"
        save_checkpoint(path, model, preset=PRESET, quantization={s.name: bad})
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(path)
        assert str(e.value) == f"{path}: quantization record: {message}"
        code = main(["convert", str(path), "-o", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and err == f"lmuneuro convert: error: {e.value}\n"
        assert not out.exists()
