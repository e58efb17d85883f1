"""The command line's arguments: the parser's classes, typed and checked numbers, paths with
their roles, the argument groups that several verbs share, and the conversion settings' options
(made from ``compile.settings.SETTINGS``). Each verb's own arguments: ``cli_verbs``."""

from __future__ import annotations

import argparse

from .compile.settings import SETTINGS, Setting

EXIT_BAD_INPUT = 2


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown where there is one: not for flags, nor for options whose help says it."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other bad-input error here
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def number(kind: type, lo, hi, *, open_lo: bool = False):
    """An argparse type for a count or a size: ``kind`` within [lo, hi] (lo excluded with
    ``open_lo``), checked when the arguments are parsed."""

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if not (lo < v if open_lo else lo <= v) or not v <= hi:  # also refuses NaN
            raise argparse.ArgumentTypeError(
                f"must be {'above' if open_lo else 'at least'} {lo:,} and at most "
                f"{hi:,}, got {text}"
            )
        return v

    parse.bounds, parse.open_lo = (lo, hi), open_lo  # the command-line contract test reads these
    return parse


INT_MAX = 2**31 - 1  # a count beyond it is a typo, not a request
COUNT = number(int, 1, INT_MAX)
EPOCHS = number(int, 1, 100_000)


def path(s: argparse.ArgumentParser, *flags, role: str, kind: str | None = None, **kw) -> None:
    """A path argument with its role: ``input``/``input-dir`` (read) or ``output``/``output-dir``
    (written). Outputs are checked against every input before the command runs. ``kind``
    (``checkpoint`` or ``artifact``): the file's content is checked to be one (``check_kinds``)."""
    action = s.add_argument(*flags, **kw)
    action.role, action.kind = role, kind


def roles(s: argparse.ArgumentParser) -> dict[str, str]:
    return {a.dest: a.role for a in s._actions if hasattr(a, "role")}


def kinds(s: argparse.ArgumentParser) -> dict[str, str]:
    return {a.dest: a.kind for a in s._actions if getattr(a, "kind", None)}


def settings_given(args) -> dict:
    """The conversion settings given on the command line."""
    return {s.name: getattr(args, s.name) for s in SETTINGS if getattr(args, s.name) is not None}


def add_artifact(s: argparse.ArgumentParser) -> None:
    path(
        s,
        "artifact",
        role="input",
        kind="artifact",
        help="the artifact lmuneuro convert wrote (.h5)",
    )
    s.add_argument(
        "--expect-sha256",
        metavar="HEX",
        help="refuse the artifact unless its SHA-256 is this one (convert prints it): the checksum "
        "inside "
        "an artifact shows damage, not who made it",
    )


def add_inputs(
    s: argparse.ArgumentParser, activity: bool = False, calibration: bool = False
) -> None:
    """The inputs to run on; ``calibration``: the optional data of --weight-sets auto and
    --calibrate."""
    src = s.add_mutually_exclusive_group(required=not calibration)
    if activity:
        path(
            src,
            "--activity",
            role="input",
            metavar="FILE",
            help="activity recorded by lmuneuro run --activity",
        )
    split = "training" if calibration else "test"
    src.add_argument(
        "--dataset", help=f"use this dataset's {split} split (digits, speech-commands, ...)"
    )
    path(src, "--inputs", role="input", help=".npy float array (samples, steps, features)")
    path(s, "--data-dir", role="input-dir", help="dataset folder where the dataset needs one")
    s.add_argument(
        "--samples",
        type=COUNT,
        help="calibrate on N samples spread over the data (default: 256)"
        if calibration
        else "use the first N samples",
    )
    if calibration:
        s.add_argument(
            "--tolerance",
            type=number(float, 0.0, 10.0),
            metavar="FRACTION",
            help="with --weight-sets auto: the logit error one set may add, as a fraction of the "
            "error with two sets everywhere (default: 0.25)",
        )


def add_device(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--device",
        default="cpu",
        help="where the emulator runs: cpu, or cuda / cuda:N for an NVIDIA GPU (bit for bit the "
        "same results)",
    )


# values the command line adds to a setting's choices, with their help: chosen on data
_CHOSEN_ON_DATA = {
    "weight_sets": (
        "auto",
        "auto (convert only): one set into every layer where the network's logits stay within "
        "--tolerance, measured on calibration data (--dataset or --inputs)",
    )
}


def _setting_type(setting: Setting, extra: str | None = None):
    """An argparse type for a conversion setting: the text as its kind (a tuple: comma-separated),
    checked by its declaration, so that a value out of bounds gets the message that ``Settings``
    and a checkpoint's record give; choices are argparse's to name."""

    def parse(text: str):
        if text == extra:
            return text
        kind = setting.kind
        try:
            v = tuple(n for n in text.split(",") if n) if kind is tuple else kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if setting.choices is not None:
            return v
        try:
            return setting.check(v)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    if setting.bounds is not None:  # the command-line contract test reads these
        parse.bounds, parse.open_lo = setting.bounds, setting.open_lo
    return parse


def add_settings(p) -> None:
    """The conversion settings (``compile.settings.SETTINGS``), shared by convert and train."""
    for s in SETTINGS:
        extra, extra_help = _CHOSEN_ON_DATA.get(s.name, (None, None))
        kw = {
            "type": _setting_type(s, extra),
            "help": "; ".join(h for h in (s.help, extra_help) if h)
            + f" (default: {s.default if s.default_help is None else s.default_help})",
        }
        if s.choices is not None:
            kw["choices"] = s.choices + ((extra,) if extra else ())
        if s.metavar is not None:
            kw["metavar"] = s.metavar
        if s.path:
            path(p, s.flag, role="input", **kw)
        else:
            p.add_argument(s.flag, **kw)
