"""What the README and docs/ say about the commands, checked against the commands themselves."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify

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
    assert len(DOCUMENTED) >= 15  # the extraction finds the usage blocks


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
    """docs/models.md's table: every preset, with the parameter count `lmuneuro presets` gives."""
    assert main(["presets", "--json"]) == 0
    presets = {r["preset"]: r["parameters"] for r in json.loads(capsys.readouterr().out)}
    section = (ROOT / "docs" / "models.md").read_text().split("\n## ")[0]
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


# docs/usage.md's command blocks that need no board, GPU or data from outside, run as written in
# this order, each with the tiny settings given here appended (argparse: the last one wins).
RUN_AS_WRITTEN = {
    "presets": [],
    "train --preset spiking-lmuformer-digits --dataset digits -o model.pt": [
        "--epochs", "1", "--max-batches", "2", "--no-progress",
    ],
    "convert model.pt --target loihi2 -o model.h5": [],
    "verify model.pt model.h5 --dataset digits": ["--samples", "8"],
    "convert model.pt -o lean.h5 --weight-sets auto --dataset digits": ["--samples", "16"],
    "train --preset spiking-lmuformer-digits --dataset digits --init model.pt "
    "--quantization-aware --weight-sets 1 --epochs 5 --lr 1e-4 -o aware.pt": [
        "--epochs", "1", "--max-batches", "1", "--no-progress",
    ],
    "inspect model.h5": [],
    "run model.h5 --backend emulator --dataset digits --per-step": ["--samples", "8"],
    "run model.h5 --backend lava-sim --dataset digits --samples 20 --activity run.json": [
        "--samples", "2",
    ],
    "energy model.h5 --profile loihi2 --activity run.json": [],
    "energy model.h5 --profile cmos45-snn --dataset digits": ["--samples", "8"],
    "energy model.h5 --activity run.json -o report.html": [],
}  # fmt: skip


def test_the_usage_commands_run(tmp_path, monkeypatch, capsys):
    """Each listed command of docs/usage.md exits 0 where the one before it left its files; a
    command edited there is no longer found here, and this test says so."""
    usage = [" ".join(c.split()) for c in command_lines(ROOT / "docs" / "usage.md")]
    monkeypatch.chdir(tmp_path)
    for command, tiny in RUN_AS_WRITTEN.items():
        assert command in usage, f"docs/usage.md no longer shows `lmuneuro {command}`"
        code = main([*shlex.split(command), *tiny])
        err = capsys.readouterr().err
        assert code == 0, f"`lmuneuro {command}` exits {code}: {err[-500:]}"
    assert (tmp_path / "report.html").stat().st_size > 0 and (tmp_path / "aware.pt").is_file()


def test_the_readme_starts_with_the_two_commands_ci_runs():
    """The README's first code block is the set-up: `make demo`, then `make test`, the command
    that .ci/run runs."""
    first = re.search(r"^```\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)[1]
    commands = [line.split("#")[0].strip() for line in first.splitlines()]
    assert commands == ["make demo", "make test"]
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert ci[-1] == "make test"


def test_the_readme_links_resolve():
    """Every relative link and image of the README names a file of the repository, and every
    anchor a heading of that page (mkdocs checks docs/ itself, not the README)."""
    links = re.findall(r"\]\(([^)\s]+)\)", (ROOT / "README.md").read_text())
    local = [link for link in links if "://" not in link]
    assert len(local) >= 10
    for link in local:
        path, _, anchor = link.partition("#")
        assert (ROOT / path).is_file(), link
        if anchor:
            headings = re.findall(r"^#+ (.*)$", (ROOT / path).read_text(), re.M)
            assert anchor in {slugify(h, "-") for h in headings}, link
