"""Reports as terminal text or as self-contained HTML pages: energy (``energy``: one profile, or
several side by side), NeuroBench's metrics (``benchmark``), keyword spotting on streams
(``stream``), and the tables the other verbs print (``tables``); ``common``: what they share."""

from .benchmark import format_benchmark, render_benchmark_html
from .common import CHIP_EVENTS, si
from .energy import format_comparison, format_table, render_comparison_html, render_html
from .stream import format_stream, render_stream_html

__all__ = [
    "si",
    "CHIP_EVENTS",
    "format_table",
    "render_html",
    "format_comparison",
    "render_comparison_html",
    "format_benchmark",
    "render_benchmark_html",
    "format_stream",
    "render_stream_html",
]
