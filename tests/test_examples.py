"""The example notebooks, executed top to bottom on small settings (nbclient, a real kernel)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(p.name for p in EXAMPLES.glob("*.ipynb"))


def test_the_three_notebooks_are_there_and_stored_without_outputs():
    assert NOTEBOOKS == [
        "01_convert_and_simulate.ipynb",
        "02_streaming.ipynb",
        "03_energy.ipynb",
        "04_nir_norse.ipynb",
    ]
    for name in NOTEBOOKS:
        cells = nbformat.read(EXAMPLES / name, as_version=4).cells
        assert all(
            not c.get("outputs") and c.get("execution_count") is None
            for c in cells
            if c.cell_type == "code"
        )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, digits_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("LMUNEURO_EXAMPLE_DIR", str(tmp_path))
    monkeypatch.setenv("LMUNEURO_EXAMPLE_CHECKPOINT", str(digits_checkpoint))
    monkeypatch.setenv("LMUNEURO_EXAMPLE_SAMPLES", "6")
    book = nbformat.read(EXAMPLES / name, as_version=4)
    NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) >= 1, (
        f"{name} drew no figure"
    )
    expected = {
        "01_convert_and_simulate.ipynb": "Lava and the emulator agree on every spike",
        "02_streaming.ipynb": "Lava: ",
        "03_energy.ipynb": "45 nm energy ratio SNN/ANN",
        "04_nir_norse.ipynb": "norse and lmuneuro agree on every spike",
    }[name]
    assert expected in text, text[-2000:]
