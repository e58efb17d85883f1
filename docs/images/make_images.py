"""Regenerates the README's pictures: pipeline.svg (drawn here) and streaming.png (the plot stored
in the executed notebook examples/02_streaming.ipynb; `make notebooks` runs it again first).

    .venv/bin/python docs/images/make_images.py
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE.parents[1] / "examples" / "02_streaming.ipynb"

# (x, y) centre, text, colour; the host's side is blue, the chip's network orange
BOXES = {
    "ckpt": ((1.4, 2.6), "checkpoint\nlmuneuro train\nor the paper's code", "#dbe9f6"),
    "h5": ((4.6, 2.6), "model.h5\nfixed-point network of\nLava's chip processes", "#fde2c4"),
    "emu": ((8.0, 3.9), "emulator\nbatched, bit-exact\n(CPU or GPU)", "#fde2c4"),
    "lava": ((8.0, 2.6), "lava-sim\nLava's bit-accurate\nsimulator", "#fde2c4"),
    "board": ((8.0, 1.3), "loihi2\na board (Intel's\nextension)", "#f3f3f3"),
    "energy": ((11.4, 2.6), "energy report\nSynOps, energy,\nlatency per layer", "#dbe9f6"),
    "nir": ((1.4, 0.9), "model.nir\nnorse runs it", "#dbe9f6"),
}
ARROWS = [
    ("ckpt", "h5", "convert"),
    ("h5", "emu", "run"),
    ("h5", "lava", "run"),
    ("h5", "board", "run"),
    ("emu", "energy", "activity"),
    ("lava", "energy", ""),
    ("ckpt", "nir", "export"),
]
W, H = 2.6, 1.0


def pipeline(path: Path) -> None:
    plt.rcParams["svg.hashsalt"] = "lmuneuro"  # ids stable from run to run
    plt.rcParams["svg.fonttype"] = "none"  # text stays text
    fig, ax = plt.subplots(figsize=(10.2, 3.9))
    ax.set_xlim(0, 12.8)
    ax.set_ylim(0, 4.6)
    ax.axis("off")
    for (x, y), text, colour in BOXES.values():
        box = FancyBboxPatch(
            (x - W / 2, y - H / 2), W, H, boxstyle="round,pad=0.05", fc=colour, ec="#555555"
        )
        ax.add_patch(box)
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5)
    for a, b, label in ARROWS:
        (xa, ya), (xb, yb) = BOXES[a][0], BOXES[b][0]
        if abs(ya - yb) > H and abs(xa - xb) < W:  # straight down
            start, end = (xa, ya - H / 2 - 0.05), (xb, yb + H / 2 + 0.05)
        else:
            start, end = (xa + W / 2 + 0.05, ya), (xb - W / 2 - 0.05, yb)
        ax.annotate("", end, start, arrowprops={"arrowstyle": "->", "color": "#333333"})
        if label:
            mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12)
            ax.text(*mid, label, ha="center", va="bottom", fontsize=8, style="italic")
    ax.text(8.0, 4.5, "verify: float vs fixed point, layer by layer", ha="center", fontsize=8)
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})


def streaming(path: Path) -> None:
    """The notebook's stored plot: accuracy against the fraction of the sequence seen."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    pngs = [o["data"]["image/png"] for c in cells for o in c.get("outputs", []) if "data" in o]
    if len(pngs) != 1:
        raise SystemExit(f"{NOTEBOOK} holds {len(pngs)} plots, not 1: run `make notebooks`")
    path.write_bytes(base64.b64decode(pngs[0]))


if __name__ == "__main__":
    pipeline(HERE / "pipeline.svg")
    streaming(HERE / "streaming.png")
