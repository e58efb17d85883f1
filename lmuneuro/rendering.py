"""An energy report (``energy.report``'s dict) as the terminal table, or as a self-contained HTML
page with its charts (matplotlib, embedded as PNG). Rendering only: every figure is the report's."""

from __future__ import annotations

import base64
import html
import io

import numpy as np

__all__ = ["format_table", "render_html"]


def _si(pj: float) -> str:
    for unit, scale in (("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.3g} {unit}"
    return f"{pj:.3g} pJ"


def _rows(r: dict) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the per-layer table (shared by the terminal and HTML reports)."""
    if "macs" in r["layers"][0]:
        return ["module", "MACs", "energy", "share"], [
            [x["layer"], f"{x['macs']:,d}", _si(x["energy_total_pj"]), f"{x['share']:.1%}"]
            for x in r["layers"]
        ]
    rows = [
        [
            x["layer"],
            str(x["neurons"]),
            f"{x['spikes']:.1f}",
            f"{x['rate']:.3f}",
            f"{x['synops']:,.0f}",
            _si(x["energy_total_pj"]),
            f"{x['share']:.1%}",
        ]
        for x in r["layers"]
    ]
    t = r["totals"]
    rows.append(
        [
            "total",
            "",
            f"{t['spikes']:.1f}",
            "",
            f"{t['synops']:,.0f}",
            _si(sum(x["energy_total_pj"] for x in r["layers"])),
            f"{sum(x['share'] for x in r['layers']):.1%}",
        ]
    )
    return ["layer", "neurons", "spikes", "rate", "SynOps", "energy", "share"], rows


def _summary(r: dict) -> list[str]:
    parts = ", ".join(f"{c} {_si(v)}" for c, v in r["energy_pj"].items() if v)
    lo, hi = r["energy_range_pj"]
    out = [f"energy per sample: {_si(r['energy_total_pj'])} (range {_si(lo)} - {_si(hi)}): {parts}"]
    if "cores" in r["totals"]:
        out.append(
            f"neuro-cores: {r['totals']['cores']} on {r['totals']['chips']} chip(s); synapses "
            f"{r['totals']['synapses']:,} ({r['totals']['synapse_memory_bytes']:,} bytes)"
        )
    rt = r.get("static_modes", {}).get("real_time")
    if rt:
        lo, hi = rt["total_pj"][1:]
        out.append(
            f"in real time (one step per {rt['frame_ms']:g} ms frame): {_si(rt['total_pj'][0])} "
            f"per sample (range {_si(lo)} - {_si(hi)}), static {_si(rt['static_pj'][0])}"
        )
    if "ann" in r:
        a = r["ann"]
        out.append(
            f"same network as an ANN: {a['macs'] / 1e9:.4g} G MACs, {a['parameters']:,} "
            "parameters; "
            f"SNN {a['snn_synops'] / 1e9:.4g} G SynOps ({a['synops_per_mac']:.3g} per MAC); at 45 "
            "nm "
            f"{_si(a['snn_pj_45nm'])} vs {_si(a['ann_pj_45nm'])} ({a['energy_ratio_45nm']:.3g}x)"
        )
    return out


def format_table(r: dict) -> str:
    """The terminal report: one row per layer, totals, the ANN comparison, the assumptions."""
    header, rows = _rows(r)
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]

    def line(cells):
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    out = [f"energy per sample on {r['profile']} ({r['profile_description']})", "", line(header)]
    out += [line(c) for c in rows] + [""] + _summary(r)
    out += ["", "assumptions:"] + [f"  - {x}" for x in r["assumptions"]]
    return "\n".join(out)


def _chart_png(labels, series: dict[str, list], title: str, xlabel: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.4))
    left = np.zeros(len(labels))
    for name, values in series.items():  # stacked
        ax.barh(range(len(labels)), values, left=left, label=name)
        left += np.asarray(values, float)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def render_html(r: dict) -> str:
    """A self-contained HTML report: the table, energy per layer (stacked by component), spike
    rates."""
    names = [x["layer"] for x in r["layers"]]
    components = list(r["layers"][0]["energy_pj"])
    energy = {c: [x["energy_pj"][c] / 1e3 for x in r["layers"]] for c in components}
    charts = [(_chart_png(names, energy, "energy per layer", "nJ per sample"), "energy per layer")]
    if "rate" in r["layers"][0]:
        charts.append(
            (
                _chart_png(
                    names,
                    {"rate": [x["rate"] for x in r["layers"]]},
                    "spike rate",
                    "spikes per neuron per step",
                ),
                "spike rate per layer",
            )
        )
    imgs = "\n".join(
        f'<p><img alt="{alt}" src="data:image/png;base64,{png}"></p>' for png, alt in charts
    )
    header, cells = _rows(r)
    rows = (
        "<tr>"
        + "".join(f"<th>{html.escape(c)}</th>" for c in header)
        + "</tr>"
        + "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells
        )
    )
    summary = "".join(f"<p>{html.escape(line)}</p>" for line in _summary(r))
    notes = "".join(f"<li>{html.escape(line)}</li>" for line in r["assumptions"])
    title = f"Energy per sample on {html.escape(r['profile'])}"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>lmuneuro: "
        f"{title}</title></head><body>"
        f"<h1>{title}</h1><p>{html.escape(r['profile_description'])}</p>"
        f"<table border='1' cellspacing='0' cellpadding='3'>{rows}</table>{summary}{imgs}"
        f"<h2>Assumptions and constants</h2><ul>{notes}</ul></body></html>\n"
    )
