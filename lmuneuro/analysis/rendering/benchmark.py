"""A benchmark report (``analysis.neurobench.BenchmarkReport``) as a text table or an HTML page:
NeuroBench's metrics of the float model and of the chip's network side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .common import _aligned, _page, _summary_html, _table

if TYPE_CHECKING:  # the report's module loads torch
    from ..neurobench import BenchmarkReport


_NEUROBENCH_ROWS = (
    ("Footprint", "Footprint (bytes)", "{:,.0f}"),
    ("ConnectionSparsity", "ConnectionSparsity", "{:.4f}"),
    ("ActivationSparsity", "ActivationSparsity", "{:.4f}"),
    ("SynapticOperations.Effective_MACs", "SynapticOperations Effective_MACs", "{:,.0f}"),
    ("SynapticOperations.Effective_ACs", "SynapticOperations Effective_ACs", "{:,.0f}"),
    ("SynapticOperations.Dense", "SynapticOperations Dense", "{:,.0f}"),
    ("MembraneUpdates", "MembraneUpdates", "{:,.0f}"),
    ("ClassificationAccuracy", "ClassificationAccuracy", "{:.2%}"),
)


def _benchmark_parts(r: BenchmarkReport) -> tuple[str, list[str], list[list[str]], list[str]]:
    """(title, header, rows, notes) of a benchmark report: the float model's and the chip's
    figures side by side, then what NeuroBench does not count and who computed what."""

    def cell(figures, key, fmt):
        v = figures
        for k in key.split("."):
            v = v.get(k) if isinstance(v, dict) else None
        return "-" if v is None else fmt.format(v)

    chip = r.chip
    sides = [("float", r.float_model)] + ([("chip", chip)] if chip else [])
    rows = [[name] + [cell(f, key, fmt) for _, f in sides] for key, name, fmt in _NEUROBENCH_ROWS]
    rows = [row for row in rows if set(row[1:]) != {"-"}]  # accuracy: only with labels
    notes = []
    if chip:
        ev = chip["SynapticEvents"]
        notes.append(
            f"the chip's own synaptic events (each weight set, the relays, the gate): "
            f"{ev['binary']:,.0f} spike-driven + {ev['graded']:,.0f} graded"
        )
    notes.append(
        "not in NeuroBench's figures: "
        + "; ".join(
            f"{side} {k} {v:,.0f}" for side, f in r.extensions.items() for k, v in f.items()
        )
    )
    by: dict[str, list[str]] = {}
    for metric, who in r.computed_by.items():
        by.setdefault(who, []).append(metric)
    notes.append(
        "float figures computed by "
        + "; ".join(f"{who}: {', '.join(metrics)}" for who, metrics in by.items())
    )
    if "MembraneUpdates" not in r.float_model:
        notes.append(
            "non-spiking checkpoint: the ANN metrics (MACs, the activation functions' zeros), no "
            "MembraneUpdates"
        )
    title = f"NeuroBench's metrics per sample, {r.samples} samples"
    return title, ["metric"] + [side for side, _ in sides], rows, notes


def format_benchmark(r: BenchmarkReport) -> str:
    """A benchmark report as a text table."""
    title, header, rows, notes = _benchmark_parts(r)
    return "\n".join([title, *_aligned(header, rows), *notes])


def render_benchmark_html(r: BenchmarkReport) -> str:
    """A benchmark report as a self-contained HTML page."""
    title, header, rows, notes = _benchmark_parts(r)
    lead = " ".join(x for x in (r.checkpoint, r.artifact) if x) or "lmuneuro benchmark"
    return _page(title, lead, _table(header, rows) + _summary_html(notes))
