"""The documentation site builds strictly (make docs): every page in the navigation, every link
and every API reference resolves, and a broken link fails the build (mkdocs counts a warning
as a failure only when it prints it: never --quiet)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _build(root: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_site_builds_strictly_with_the_api_reference(tmp_path):
    r = _build(ROOT, tmp_path / "site")
    assert r.returncode == 0, r.stderr
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")}
    built = {p.parent.name for p in (tmp_path / "site").glob("*/index.html")}
    assert pages - {"index"} <= built
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for verb in ("checkpoint.load_checkpoint", "compile.convert.convert", "running.run"):
        assert f'id="lmuneuro.{verb}"' in api  # rendered from its docstring


def test_a_broken_link_fails_the_build(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy)
    shutil.copytree(ROOT / "lmuneuro", copy / "lmuneuro", symlinks=True)
    page = copy / "docs" / "index.md"
    page.write_text(page.read_text() + "\n[gone](no-such-page.md)\n")
    r = _build(copy, tmp_path / "site")
    assert r.returncode != 0 and "no-such-page.md" in r.stderr
