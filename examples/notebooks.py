"""Executes the example notebooks in place, so that they are stored with their outputs (plots
visible on the code host without running them): ``make notebooks``. The test suite executes them
on small settings with the same function and compares what they print with what is stored
(``tests/test_examples.py``).

Settings come from the environment (``LMUNEURO_EXAMPLE_*``, read by each notebook's first cell);
the defaults are the full ones that the stored outputs show.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` executed top to bottom in ``cwd`` (a real kernel), without the
    timing metadata that would make every run a new diff."""
    book = nbformat.read(path, as_version=4)
    NotebookClient(
        book,
        timeout=1800,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
    ).execute()
    return book


def main() -> None:
    root = EXAMPLES.parent  # the notebooks' default WORK (runs/examples) is relative to it
    for path in NOTEBOOKS:
        print(f"executing {path.name}", file=sys.stderr, flush=True)
        book = execute(path, root)
        tmp = path.with_suffix(".ipynb.tmp")
        nbformat.write(book, tmp)
        tmp.replace(path)  # the stored notebook changes only once it ran to the end


if __name__ == "__main__":
    main()
