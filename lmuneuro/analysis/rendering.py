"""Energy reports in their JSON form (``EnergyReport.to_dict()``: a saved report renders too) as
terminal tables, or as self-contained HTML pages with their charts (matplotlib, embedded as PNG;
the style sheet inline, no external asset): one profile's report, or several profiles side by
side. Rendering only: every figure is a report's."""

from __future__ import annotations

import base64
import html
import io

import numpy as np

__all__ = ["format_table", "render_html", "format_comparison", "render_comparison_html"]
_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;
background:#f6f7f9;margin:0}
main{max-width:1000px;margin:0 auto;padding:24px 28px;background:#fff;min-height:100vh;
box-shadow:0 0 12px rgba(0,0,0,.06)}
h1{font-size:1.5em;margin:.2em 0 .1em}h2{font-size:1.15em;margin-top:1.6em;
border-bottom:1px solid #e3e6eb;padding-bottom:.2em}
.lead{color:#5b6475;margin-top:0}
table{border-collapse:collapse;margin:1em 0;font-variant-numeric:tabular-nums;width:100%}
th,td{padding:4px 10px;border-bottom:1px solid #e3e6eb;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#eef1f5;font-weight:600}tr:nth-child(even) td{background:#fafbfc}
tr.total td{font-weight:600;border-top:2px solid #c9ced8}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto}
figcaption{color:#5b6475;font-size:.9em}
.summary p{margin:.3em 0}ul.notes{color:#3d4555;font-size:.92em}
"""


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

    def ratio(v):
        return f"{v:.2f}x" if v is not None else ""

    rows = [
        [
            x["layer"],
            str(x["neurons"]),
            f"{x['spikes']:.1f}",
            f"{x['rate']:.3f}",
            f"{x['synops']:,.0f}",
            f"{x['model_synops']:,.0f}" if x["model_synops"] else "",
            ratio(x["chip_per_model"]),
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
            f"{t['model_synops']:,.0f}" if t["model_synops"] else "",
            ratio(t["chip_per_model"]),
            _si(sum(x["energy_total_pj"] for x in r["layers"])),
            f"{sum(x['share'] for x in r['layers']):.1%}",
        ]
    )
    header = ["layer", "neurons", "spikes", "rate", "SynOps", "model SynOps", "chip/model"]
    return header + ["energy", "share"], rows


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
    t = r["totals"]
    if t["model_synops"]:
        out.append(
            f"synaptic operations per sample: the model {t['model_synops']:,.0f} SynOps (the "
            f"paper's convention, on this run's spikes) + {t['model_graded_macs']:,.0f} MACs on "
            f"the graded input; the chip {t['binary_synops']:,.0f} spike-driven events "
            f"({t['chip_per_model']:.2f} x the model's) + {t['graded_synops']:,.0f} graded"
        )
    if "ann" in r:
        a = r["ann"]
        out.append(
            f"same network as an ANN: {a['macs'] / 1e9:.4g} G MACs, {a['parameters']:,} "
            f"parameters; SNN {a['snn_synops'] / 1e9:.4g} G SynOps + "
            f"{a['snn_graded_macs'] / 1e9:.4g} G graded MACs ({a['synops_per_mac']:.3g} SynOps "
            f"per MAC); at 45 nm {_si(a['snn_pj_45nm'])} vs {_si(a['ann_pj_45nm'])} "
            f"({a['energy_ratio_45nm']:.3g}x)"
        )
    return out


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    """Terminal lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]
    return [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in [header, *rows]
    ]


def format_table(r: dict) -> str:
    """The terminal report: one row per layer, totals, the ANN comparison, the assumptions."""
    out = [f"energy per sample on {r['profile']} ({r['profile_description']})", ""]
    out += _aligned(*_rows(r)) + [""] + _summary(r)
    out += ["", "assumptions:"] + [f"  - {x}" for x in r["assumptions"]]
    return "\n".join(out)


def _chart_png(
    labels, series: dict[str, list], title: str, xlabel: str, notes: list[str] | None = None
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.4))
    left = np.zeros(len(labels))
    for name, values in series.items():  # stacked
        ax.barh(range(len(labels)), values, left=left, label=name)
        left += np.asarray(values, float)
    for i, note in enumerate(notes or []):  # totals at the bars' ends: small bars stay readable
        ax.annotate(note, (left[i], i), xytext=(4, 0), textcoords="offset points", va="center")
    if notes:
        ax.set_xlim(0, left.max() * 1.18)
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
    header, cells = _rows(r)
    title = f"Energy per sample on {r['profile']}"
    body = (
        _table(header, cells, total_last=cells[-1][0] == "total")
        + _summary_html(_summary(r))
        + _figures(charts)
        + _notes(r["assumptions"])
    )
    return _page(title, r["profile_description"], body)


def _page(title: str, lead: str, body: str) -> str:
    t = html.escape(title)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>lmuneuro: {t}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{t}</h1><p class='lead'>{html.escape(lead)}</p>{body}</main></body></html>\n"
    )


def _table(header, cells, total_last: bool = False) -> str:
    rows = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>"
    for i, row in enumerate(cells):
        cls = " class='total'" if total_last and i == len(cells) - 1 else ""
        rows += f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
    return f"<table>{rows}</table>"


def _summary_html(lines: list[str]) -> str:
    return "<div class='summary'>" + "".join(f"<p>{html.escape(x)}</p>" for x in lines) + "</div>"


def _figures(charts) -> str:
    return "".join(
        f'<figure><img alt="{alt}" src="data:image/png;base64,{png}">'
        f"<figcaption>{alt}</figcaption></figure>"
        for png, alt in charts
    )


def _notes(lines: list[str], folded: bool = False) -> str:
    items = "<ul class='notes'>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>"
    if folded:
        return f"<details><summary>assumptions and constants</summary>{items}</details>"
    return f"<h2>Assumptions and constants</h2>{items}"


_COMPARE = ["profile", "runs", "operations", "dynamic", "static", "total", "range", "chips"]


def _comparison_rows(reports: list[dict]) -> list[list[str]]:
    rows = []
    for r in reports:
        static = r["energy_pj"].get("static", 0.0)
        ann = "macs" in r["layers"][0]
        ops = r["ann"]["macs"] if ann else r["totals"]["synops"]
        lo, hi = r["energy_range_pj"]
        rows.append(
            [
                r["profile"],
                "ANN" if ann else "SNN",
                f"{ops / 1e9:.4g} G {'MACs' if ann else 'SynOps'}",
                _si(r["energy_total_pj"] - static),
                _si(static) if static else "-",
                _si(r["energy_total_pj"]),
                f"{_si(lo)} - {_si(hi)}",
                str(r["totals"].get("chips", "-")),
            ]
        )
    return rows


def format_comparison(reports: list[dict]) -> str:
    """Several profiles' reports of one network side by side: energy per sample, split into
    dynamic and static."""
    out = ["energy per sample, profile by profile", ""]
    out += _aligned(_COMPARE, _comparison_rows(reports))
    out += ["", "Each profile's assumptions: lmuneuro energy --profile NAME (one profile)."]
    return "\n".join(out)


def render_comparison_html(reports: list[dict]) -> str:
    """One page: the comparison table, one chart of energy per sample by component (static
    included), and each profile's summary and assumptions."""
    components = []
    for r in reports:
        components += [c for c, v in r["energy_pj"].items() if v and c not in components]
    series = {c: [r["energy_pj"].get(c, 0.0) / 1e6 for r in reports] for c in components}
    names = [r["profile"] for r in reports]
    notes = [_si(r["energy_total_pj"]) for r in reports]
    chart = _chart_png(names, series, "energy per sample by component", "uJ per sample", notes)
    body = _table(_COMPARE, _comparison_rows(reports)) + _figures(
        [(chart, "energy per sample, profile by profile (static energy included)")]
    )
    for r in reports:
        body += f"<h2>{html.escape(r['profile'])}: {html.escape(r['profile_description'])}</h2>"
        body += _summary_html(_summary(r)) + _notes(r["assumptions"], folded=True)
    return _page(
        "Energy per sample, profile by profile",
        f"{reports[0]['samples']} samples of one network; every figure an estimate from its "
        "profile's constants, with their sources below",
        body,
    )
