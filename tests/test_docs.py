"""What the README and docs/ say about the commands, checked against the commands themselves."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from lmuneuro.cli import build_parser, main
from lmuneuro.profiles import list_profiles

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def command_lines(path: Path) -> list[str]:
    """Every `lmuneuro ...` command in the file's code blocks, continuation lines joined and
    comments dropped."""
    out = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", path.read_text(), re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            m = re.match(r"(?:\.venv/bin/)?lmuneuro (.*)", line)
            if m:
                out.append(m.group(1))
    return out


DOCUMENTED = [(p.relative_to(ROOT).as_posix(), c) for p in DOCS for c in command_lines(p)]


def test_the_docs_show_commands():
    assert len(DOCUMENTED) >= 15  # the extraction finds the README's usage blocks


@pytest.mark.parametrize("where,command", DOCUMENTED)
def test_every_documented_command_line_parses(where, command):
    """Each command as written is accepted by the parser (a missing required option, a renamed
    flag or a wrong choice exits 2); elided ones (`...`) cannot be checked."""
    args = shlex.split(command)
    if "..." in args:
        pytest.skip("elided")
    try:
        build_parser().parse_args(args)
    except SystemExit as e:
        pytest.fail(f"{where}: `lmuneuro {command}` exits {e.code}")


def test_the_model_table_is_the_presets(capsys):
    """README's "Models" table: every preset, with the parameter count `lmuneuro presets` gives."""
    assert main(["presets", "--json"]) == 0
    presets = {r["preset"]: r["parameters"] for r in json.loads(capsys.readouterr().out)}
    section = (ROOT / "README.md").read_text().split("\n## Models\n")[1].split("\n## ")[0]
    table = {}
    for row in re.findall(r"^\| (`.*?) \| ([\d,/ ]+) \|", section, re.M):
        names, counts = re.findall(r"`([^`]+)`", row[0]), row[1].split("/")
        assert len(names) == len(counts), row
        table.update({n: int(c.replace(",", "")) for n, c in zip(names, counts)})
    assert table == presets


def test_energy_help_lists_every_bundled_profile(capsys):
    """The profiles named in energy's and convert's help are the files in hardware_profiles/."""
    bundled = list_profiles()
    assert "kapoho-point" in bundled and "loihi2" in bundled
    for verb in ("energy", "convert"):
        assert main([verb, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert all(name in text for name in bundled), verb
