"""The HTML energy reports in a real browser (headless Chromium, the Debian package): the page
loads on its own (no external asset) and its charts are drawn. Slow: `make test-slow`."""

import html
import json
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.image import imread

from lmuneuro.cli import main
from lmuneuro.compile.convert import convert

pytestmark = pytest.mark.slow

C0, STATIC = (31, 119, 180), (214, 39, 40)  # matplotlib's first colour, and static's (fourth)


def _screenshot(page, png):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "headless Chromium is needed: apt-get install chromium (make test-slow does)"
    r = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        + ["--window-size=1100,2600", f"--screenshot={png}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and png.exists(), r.stderr[-1000:]
    return (imread(png)[..., :3] * 255).round().astype(int)


def _layout(page, tmp_path, width: int = 700) -> dict:
    """The page laid out by Chromium in a window ``width`` px wide: how wide it scrolls, where the
    headline and the first table begin, and whether every chart decoded."""
    probe = tmp_path / f"probe-{page.name}"
    probe.write_text(
        page.read_text().replace(
            "</body>",
            "<script>window.onload=()=>{const top=(s)=>document.querySelector(s)"
            ".getBoundingClientRect().top;document.title=JSON.stringify({width:document"
            ".documentElement.scrollWidth,headline:top('.headline, ul.profiles'),table:"
            "top('table'),charts:[...document.images].map((i)=>i.naturalWidth)})}</script>"
            "</body>",
        )
    )
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    r = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},1000"]
        + ["--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-1000:]
    return json.loads(html.unescape(r.stdout.split("<title>")[1].split("</title>")[0]))


def _pixels(img, rgb) -> int:
    return int((np.abs(img - np.array(rgb)).max(axis=-1) <= 6).sum())


def test_reports_render_with_their_charts(digits_checkpoint, tmp_path, capsys):
    art = tmp_path / "model.h5"
    convert(digits_checkpoint, art)
    act = tmp_path / "act.json"
    run = ["run", str(art), "--dataset", "digits", "--samples", "20", "--activity", str(act)]
    assert main(run) == 0
    one, several = tmp_path / "one.html", tmp_path / "several.html"
    assert main(["energy", str(art), "--activity", str(act), "-o", str(one)]) == 0
    profiles = "loihi2,loihi1,cmos45-snn,cmos45-ann"  # loihi1: no static power
    assert (
        main(
            ["energy", str(art), "--activity", str(act), "--profile", profiles, "-o", str(several)]
        )
        == 0
    )
    for page in (one, several):
        text = page.read_text()
        assert "http://" not in text and "https://" not in text  # self-contained
    blank = tmp_path / "blank.html"
    blank.write_text(one.read_text().split("<figure>")[0] + "</main></body></html>")
    img, without = _screenshot(one, tmp_path / "one.png"), _screenshot(blank, tmp_path / "b.png")
    # the per-layer charts' bars are drawn (none of that colour without them)
    assert _pixels(img, C0) > 2000 and _pixels(without, C0) < 50
    for page in (one, several):  # reads at 700 px: no sideways scrolling, the headline first
        laid = _layout(page, tmp_path)
        assert laid["width"] <= 700 and laid["headline"] < laid["table"], laid
        assert laid["charts"] and min(laid["charts"]) >= 400, laid
    img = _screenshot(several, tmp_path / "several.png")
    assert _pixels(img, STATIC) > 2000  # static energy is visible on the comparison chart
    assert _pixels(img, C0) > 200
    capsys.readouterr()
