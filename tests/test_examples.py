"""The example notebooks: stored with their outputs (``make notebooks``), and executed top to
bottom on small settings (nbclient, a real kernel) with what they print compared with what is
stored, figures aside: a change that a reader of the stored notebook would notice (a line
printed, renamed or gone, a warning, a plot more or less) fails until ``make notebooks`` runs."""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from notebooks import NOTEBOOKS, execute  # noqa: E402

NAMES = [p.name for p in NOTEBOOKS]
# a number (the settings and the weights change it), with its SI prefix and unit where it has one
NUMBER = re.compile(
    r"[-+]?(\d[\d,]*\.?\d*|\.\d+)(e[-+]?\d+)?(\s?[pnuµmkMG]?(J|s|W|Hz|B)\b|\s[kMG]\b)?"
)
RUN = re.compile(r"#[x%]?(?: #[x%]?)*")


def _printed(cell) -> list[str]:
    """What a code cell shows as text, one entry per line, with what settings and weights change
    masked; a plot as a line of its own."""
    lines = []
    for o in cell.get("outputs", []):
        if "image/png" in o.get("data", {}):
            lines.append("<plot>")
        text = o.get("text", "") or o.get("data", {}).get("text/plain", "")
        if o.get("output_type") == "stream" and o.get("name") == "stderr":
            text = "stderr: " + text
        # numbers masked, a run of them as one (a table leaves a cell blank where a value is
        # zero), runs of spaces (column and array padding) as one, none inside brackets
        lines += [
            re.sub(
                r"([\[(]) | ([\])])",
                r"\1\2",
                RUN.sub("#", " ".join(NUMBER.sub("#", line).split())),
            )
            for line in text.splitlines()
        ]
    return [line for line in lines if line]


def test_the_notebooks_are_stored_with_their_outputs():
    import nbformat

    assert NAMES == [
        "01_convert_and_simulate.ipynb",
        "02_streaming.ipynb",
        "03_energy.ipynb",
        "04_nir_norse.ipynb",
    ]
    for path in NOTEBOOKS:
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        assert all(c.execution_count is not None for c in cells), f"{path.name}: not executed"
        shown = [line for c in cells for line in _printed(c)]
        assert "<plot>" in shown, f"{path.name} stores no figure"
        assert not [line for line in shown if line.startswith("stderr")], shown


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_prints_what_is_stored(name, digits_checkpoint, tmp_path, monkeypatch):
    import nbformat

    monkeypatch.setenv("LMUNEURO_EXAMPLE_DIR", str(tmp_path))
    monkeypatch.setenv("LMUNEURO_EXAMPLE_CHECKPOINT", str(digits_checkpoint))
    monkeypatch.setenv("LMUNEURO_EXAMPLE_SAMPLES", "6")
    path = Path(NOTEBOOKS[NAMES.index(name)])
    ran = execute(path, tmp_path)
    outputs = [o for c in ran.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    expected = {
        "01_convert_and_simulate.ipynb": "Lava and the emulator agree on every spike",
        "02_streaming.ipynb": "Lava: ",
        "03_energy.ipynb": "45 nm energy ratio SNN/ANN",
        "04_nir_norse.ipynb": "norse and lmuneuro agree on every spike",
    }[name]
    assert expected in text, text[-2000:]
    stored = nbformat.read(path, as_version=4).cells
    for now, then in zip(ran.cells, stored):
        if now.cell_type == "code" and "varies" not in now.metadata.get("tags", []):
            assert _printed(now) == _printed(then), (
                f"{name}: what this cell prints changed since the stored run (make notebooks):\n"
                f"{now.source[:200]}"
            )
