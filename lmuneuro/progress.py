"""Progress bars for long work: drawn on a terminal, silent when output goes to a file or a pipe
(logs of CI jobs and batch runs get the one line per stage that the commands print instead)."""

from __future__ import annotations

__all__ = ["progress_bar"]


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    """tqdm over ``iterable`` (or a manual bar with ``total=``); off when not ``enabled`` and
    whenever stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(iterable, disable=None if enabled else True, **kwargs)
