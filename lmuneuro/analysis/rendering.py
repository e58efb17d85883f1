"""Energy reports (``analysis.energy.EnergyReport``) as terminal tables, or as self-contained HTML
pages with their charts (matplotlib, embedded as PNG;
the style sheet inline, no external asset): one profile's report, or several profiles side by
side. Rendering only: every figure is a report's, printed by one helper (``si``).

Both forms open with the headline a reader decides from (energy per sample, dynamic and static
apart, latency, chips), then the counts, the charts (HTML), the table and the assumptions. The
chip's synaptic events are never called SynOps: that word is the model's count in the paper's
convention. A report's ``runtime`` (a timing model's) is shown where present; without it the
latency is stated as not modelled."""

from __future__ import annotations

import base64
import html
import io
import math
import re

import numpy as np

from .energy import EnergyReport, ModuleEnergy

__all__ = [
    "si",
    "format_table",
    "render_html",
    "format_comparison",
    "render_comparison_html",
    "format_benchmark",
    "render_benchmark_html",
]
_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;
background:#f6f7f9;margin:0}
main{max-width:1000px;margin:0 auto;padding:24px 28px;background:#fff;min-height:100vh;
box-shadow:0 0 12px rgba(0,0,0,.06)}
@media (max-width:760px){main{padding:16px 14px}body{font-size:14px}}
h1{font-size:1.5em;margin:.2em 0 .1em}h2{font-size:1.15em;margin-top:1.6em;
border-bottom:1px solid #e3e6eb;padding-bottom:.2em}
.lead{color:#5b6475;margin-top:0}
.headline{display:flex;flex-wrap:wrap;gap:10px;margin:1em 0}
.card{flex:1 1 150px;border:1px solid #d5dae2;border-radius:6px;padding:8px 12px}
.card .l{color:#5b6475;font-size:.85em}.card .v{font-size:1.4em;font-weight:600}
.card .d{color:#5b6475;font-size:.82em;line-height:1.35}
ul.profiles{padding-left:1.2em}ul.profiles li{margin:.3em 0}
.wide{overflow-x:auto}
table{border-collapse:collapse;margin:1em 0;font-variant-numeric:tabular-nums;width:100%}
th,td{padding:4px 7px;border-bottom:1px solid #e3e6eb;text-align:right}
table{font-size:.88em}th{font-size:.95em}
th:first-child,td:first-child{text-align:left}
th{background:#eef1f5;font-weight:600}tr:nth-child(even) td{background:#fafbfc}
tr.total td{font-weight:600;border-top:2px solid #c9ced8}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto}
figcaption{color:#5b6475;font-size:.9em}
.summary p{margin:.3em 0}ul.notes{color:#3d4555;font-size:.92em;overflow-wrap:anywhere}
"""
_PREFIXES = {-15: "f", -12: "p", -9: "n", -6: "\u00b5", -3: "m", 0: "", 3: "k", 6: "M", 9: "G"}
CHIP_EVENTS = "chip synaptic events"  # the chip's count; "SynOps" is only ever the model's
NOT_MODELLED = "not modelled"


def si(x: float, unit: str = "", *, count: bool = False) -> str:
    """``x`` to three significant figures with an SI prefix: ``si(9.601e-5, "J")`` is "96.0 µJ",
    ``si(1.25e6, "events", count=True)`` "1.25 M events" (a count: no prefix below one, the unit a
    word apart); an integer below 1,000 is printed as one."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g} {unit}".rstrip()
    x = round(x, 2 - math.floor(math.log10(abs(x))))  # three significant figures, 999.7 -> 1000
    e = min(max(3 * math.floor(math.log10(abs(x)) / 3), 0 if count else -15), 9)
    m = x / 10**e
    decimals = 0 if e == 0 and m == int(m) else max(0, 2 - math.floor(math.log10(abs(m))))
    digits = f"{m:.{decimals}f}"
    prefix = _PREFIXES[e] + (" " if count and e and unit else "")
    return f"{digits} {prefix}{unit}".rstrip()


def _j(pj: float) -> str:
    return si(pj * 1e-12, "J")


def _s(seconds: float) -> str:
    return si(seconds, "s")


def _n(x: float, unit: str = "") -> str:
    return si(x, unit, count=True)


def _span(lo: float, hi: float, fmt=_j) -> str:
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)} to {fmt(hi)}"


def _range(lo: float, hi: float, fmt=_j) -> str:
    """ "range LOW to HIGH", or nothing where the constants have no range."""
    return "" if fmt(lo) == fmt(hi) else f"range {_span(lo, hi, fmt)}"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _static(r: EnergyReport) -> list[float] | None:
    """Static pJ per sample as [value, low, high]; None where the profile has no static power."""
    if "static_power" not in r.constants:
        return None
    b2b = r.static_modes.back_to_back
    return list(b2b.static_pj) if b2b else [r.energy["static"].value] * 3


def _headline(r: EnergyReport) -> list[tuple[str, str, str]]:
    """(label, value, detail): the figures a reader decides from, first on the page and the
    table."""
    total, dyn = r.total, r.dynamic
    parts = ", ".join(
        f"{c} {_j(v.value)}" for c, v in r.energy.items() if v.value and c != "static"
    )
    out = [
        ("energy per sample", _j(total.value), _range(total.low, total.high)),
        ("dynamic", _j(dyn.value), _join(_range(dyn.low, dyn.high), parts)),
    ]
    static, b2b = _static(r), r.static_modes.back_to_back
    if static is None:
        out.append(
            ("static", NOT_MODELLED, "this profile has no static power: the total is dynamic")
        )
    else:
        watts = r.constants["static_power"].value
        time = f" for {_s(b2b.seconds_per_sample)} per sample back to back" if b2b else ""
        out.append(
            (
                "static",
                _j(static[0]),
                _join(
                    _range(*static[1:]),
                    f"{r.totals.chips or 1} chip(s) at {si(watts, 'W')}{time}",
                ),
            )
        )
    rt = r.runtime
    if rt:
        v, lo, hi = rt.latency_s
        step = rt.step_us
        out.append(
            (
                "latency",
                _s(v),
                _join(
                    _range(lo, hi, _s),
                    f"per step {_s(step.mean * 1e-6)} mean, "
                    f"{_span(step.min * 1e-6, step.max * 1e-6, _s)}",
                    f"bound: {rt.bound}",
                    f"back to back {_n(rt.throughput_per_s.value, 'samples/s')}",
                ),
            )
        )
    elif r.kind == "neuromorphic":
        out.append(
            (
                "latency",
                NOT_MODELLED,
                f"the static energy assumes the profile's fixed "
                f"{_s(b2b.us_per_step * 1e-6)} per step, "
                f"{_s(b2b.seconds_per_sample)} per sample"
                if b2b
                else "this profile has no timing",
            )
        )
    t = r.totals
    if t.chips is not None:
        out.append(
            (
                "chips",
                str(t.chips),
                f"{t.cores} neuro-cores; {_n(t.synapses, 'synapses')}, "
                f"{si(t.synapse_memory_bytes, 'B')}",
            )
        )
    return out


def _profile_lines(r: EnergyReport) -> list[str]:
    """What the profile adds below its headline: real time, the timing model's source."""
    out = []
    rt, runtime = r.static_modes.real_time, r.runtime
    if rt:
        v, lo, hi = rt.total_pj
        busy = runtime.real_time_fraction if runtime else None
        static = f"static {_j(rt.static_pj.value)}"
        out.append(
            f"in real time (one step per {_s(rt.frame_ms / 1e3)} frame): {_j(v)} per "
            f"sample ({_join(_range(lo, hi), static)})"
            + (f"; the chip computes during {busy:.1%} of each frame" if busy is not None else "")
        )
    if runtime:
        out.append(f"time per step: {runtime.source}")
    return out


def _network_lines(r: EnergyReport) -> list[str]:
    """The network's operation counts and the ANN comparison: the same under every profile, so
    once per page."""
    t, out = r.totals, []
    chip = (
        f"{_n(t.synops, CHIP_EVENTS)}: {_n(t.binary_synops)} spike-driven"
        + (f" ({t.chip_per_model:.2f}x the model's SynOps)" if t.chip_per_model else "")
        + f" + {_n(t.graded_synops)} graded"
    )
    model = (
        f"the model's {_n(t.model_synops, 'SynOps')} (the paper's convention, on this run's "
        f"spikes) + {_n(t.model_graded_macs, 'MACs')} on the graded input; "
        if t.model_synops
        else ""
    )
    out.append(f"operations per sample: {model}{chip}")
    a = r.ann
    if a:
        counted = "SynOps" if t.model_synops else f"spike-driven {CHIP_EVENTS}"
        per_mac = f" ({a.synops_per_mac:.3g} per MAC)" if a.synops_per_mac else ""
        ratio = f" ({a.energy_ratio_45nm:.3g}x)" if a.energy_ratio_45nm else ""
        out.append(
            f"same network as an ANN: {_n(a.macs, 'MACs')}, {_n(a.parameters, 'parameters')}"
            f"; the SNN {_n(a.snn_synops, counted)} + {_n(a.snn_graded_macs, 'graded MACs')}"
            f"{per_mac}; at 45 nm {_j(a.snn_pj_45nm)} vs {_j(a.ann_pj_45nm)}{ratio}"
        )
    return out


def _priced_as_ann(r: EnergyReport) -> bool:
    return isinstance(r.layers[0], ModuleEnergy)


def _rows(r: EnergyReport) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the per-layer table (shared by the terminal and HTML reports)."""
    if _priced_as_ann(r):
        return ["module", "MACs", "energy", "share"], [
            [x.layer, _n(x.macs), _j(x.energy_total_pj), f"{x.share:.1%}"] for x in r.layers
        ]

    def ratio(v):
        return f"{v:.2f}x" if v is not None else ""

    def row(name, neurons, x, rate):  # x: a layer's row or the totals
        return [
            name,
            neurons,
            _n(x.spikes),
            rate,
            _n(x.synops),
            _n(x.model_synops) if x.model_synops else "",
            ratio(x.chip_per_model),
        ]

    rows = [
        row(x.layer, str(x.neurons), x, f"{x.rate:.3g}") + [_j(x.energy_total_pj), f"{x.share:.1%}"]
        for x in r.layers
    ]
    rows.append(
        row("total", "", r.totals, "")
        + [
            _j(sum(x.energy_total_pj for x in r.layers)),
            f"{sum(x.share for x in r.layers):.1%}",
        ]
    )
    header = ["layer", "neurons", "spikes", "rate", CHIP_EVENTS, "model SynOps", "chip/model"]
    return header + ["dynamic energy", "share of total"], rows


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    """Terminal lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]
    return [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in [header, *rows]
    ]


def _headline_lines(r: EnergyReport) -> list[str]:
    return [f"{label}: {value}" + (f" ({d})" if d else "") for label, value, d in _headline(r)]


def format_table(r: EnergyReport) -> str:
    """The terminal report: the headline, the counts, one row per layer with totals, the
    assumptions."""
    out = [f"energy per sample on {r.profile} ({r.profile_description})", ""]
    out += _headline_lines(r) + _profile_lines(r) + _network_lines(r) + [""]
    out += _aligned(*_rows(r))
    out += ["", "assumptions:"] + [f"  - {x}" for x in r.assumptions]
    return "\n".join(out)


def _chart_png(labels, series: dict, title: str, xlabel: str, fmt, note: str = "") -> str:
    """Horizontal bars on a log axis, so that every bar shows whatever its magnitude; ``series``:
    name -> (colour, values), grouped by label. Each bar carries its value at its end (named when
    there are several series): no legend to cover a label. A value None is written as not
    modelled, a zero as 0; ``note`` is printed under the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    k = len(series)
    fig, ax = plt.subplots(figsize=(6.4, 0.3 * len(labels) * k + 1.5), layout="constrained")
    shown = [v for _, values in series.values() for v in values if v] or [1.0]  # all silent
    left = 10 ** (math.floor(math.log10(min(shown))) - 1)
    decades = math.log10(max(shown) / left)
    ax.set_xscale("log")
    ax.set_xlim(left, max(shown) * 10 ** max(1.0, 0.55 * decades))  # room for the values
    for j, (name, (colour, values)) in enumerate(series.items()):
        y = np.arange(len(labels)) + (j - (k - 1) / 2) * 0.8 / k
        named = f"{name} " if k > 1 else ""
        for yi, v in zip(y, values):
            if v:
                ax.barh(yi, v - left, left=left, height=0.8 / k, color=colour)
            text = f"{named}{NOT_MODELLED}" if v is None else f"{named}{fmt(v) if v else '0'}"
            ax.annotate(
                text,
                (v or left, yi),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                style="italic" if v is None else "normal",
            )
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # top down, each group's every slot within
    ax.xaxis.set_major_locator(LogLocator(numticks=6))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(xlabel, fontsize=9)
    fig.suptitle(title, fontsize=11)
    if note:
        ax.set_title(note, fontsize=8, color="#5b6475")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _joules(v: float) -> str:
    return si(v, "J")


def _static_note(r: EnergyReport) -> str:
    static = _static(r)
    if static is None:
        return "static power not modelled by this profile"
    return f"static energy ({_j(static[0])} per sample, the chips as a whole) not shown"


def render_html(r: EnergyReport) -> str:
    """A self-contained HTML report: the headline, the counts, the charts (dynamic energy and
    spike rate per layer), the table, the assumptions."""
    names = [x.layer for x in r.layers]
    energy = [x.energy_total_pj * 1e-12 for x in r.layers]
    what = "dynamic energy per " + ("module" if _priced_as_ann(r) else "layer")
    note = _static_note(r)
    charts = [
        (
            _chart_png(
                names, {"": ("C0", energy)}, what, "J per sample (log scale)", _joules, note
            ),
            f"{what}, per sample; {note}",
        )
    ]
    if not _priced_as_ann(r):
        rates = [x.rate for x in r.layers]
        png = _chart_png(
            names,
            {"": ("C2", rates)},
            "spike rate per layer",
            "spikes per neuron per step (log scale)",
            lambda v: f"{v:.3g}",
        )
        charts.append((png, "spike rate per layer"))
    header, cells = _rows(r)
    body = (
        _cards(_headline(r))
        + _summary_html(_profile_lines(r) + _network_lines(r))
        + _figures(charts)
        + _table(header, cells, total_last=cells[-1][0] == "total")
        + _notes(r.assumptions)
    )
    return _page(f"Energy per sample on {r.profile}", r.profile_description, body)


def _page(title: str, lead: str, body: str) -> str:
    t = html.escape(title)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>lmuneuro: {t}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{t}</h1><p class='lead'>{html.escape(lead)}</p>{body}</main></body></html>\n"
    )


def _cards(items) -> str:
    return (
        "<section class='headline'>"
        + "".join(
            f"<div class='card'><div class='l'>{html.escape(label)}</div><div class='v'>"
            f"{html.escape(value)}</div><div class='d'>{html.escape(detail)}</div></div>"
            for label, value, detail in items
        )
        + "</section>"
    )


def _table(header, cells, total_last: bool = False) -> str:
    rows = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>"
    for i, row in enumerate(cells):
        cls = " class='total'" if total_last and i == len(cells) - 1 else ""
        rows += f"<tr{cls}>" + "".join(f"<td>{_keep(c)}</td>" for c in row) + "</tr>"
    return f"<div class='wide'><table>{rows}</table></div>"


def _keep(cell: str) -> str:
    """A cell, escaped, for a narrow page: a number kept on one line with its unit, a layer's name
    free to wrap after its dots."""
    cell = re.sub(r"(\d) ", "\\1\u00a0", html.escape(cell))
    return re.sub(r"\.(?=[A-Za-z_])", ".<wbr>", cell)


def _summary_html(lines: list[str]) -> str:
    return "<div class='summary'>" + "".join(f"<p>{html.escape(x)}</p>" for x in lines) + "</div>"


def _figures(charts) -> str:
    return "".join(
        f'<figure><img width="640" alt="{html.escape(alt)}" src="data:image/png;base64,{png}">'
        f"<figcaption>{html.escape(alt)}</figcaption></figure>"
        for png, alt in charts
    )


def _notes(lines: list[str], folded: bool = False) -> str:
    items = "<ul class='notes'>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>"
    if folded:
        return f"<details><summary>assumptions and constants</summary>{items}</details>"
    return f"<h2>Assumptions and constants</h2>{items}"


_COMPARE = [
    "profile",
    "runs",
    "operations",
    "dynamic",
    "static",
    "total",
    "range",
    "latency",
    "chips",
]


def _comparison_rows(reports: list[EnergyReport]) -> list[list[str]]:
    rows = []
    for r in reports:
        ann = _priced_as_ann(r)
        static, runtime, total = _static(r), r.runtime, r.total
        rows.append(
            [
                r.profile,
                "ANN" if ann else "SNN",
                _n(r.ann.macs, "MACs") if ann else _n(r.totals.synops, CHIP_EVENTS),
                _j(r.dynamic.value),
                NOT_MODELLED if static is None else _j(static[0]),
                _j(total.value),
                _span(total.low, total.high),
                _s(runtime.latency_s.value) if runtime else NOT_MODELLED,
                str(r.totals.chips if r.totals.chips is not None else "-"),
            ]
        )
    return rows


def _at_a_glance(r: EnergyReport) -> str:
    """One profile's headline in a line, for pages of several."""
    return f"{r.profile}: " + "; ".join(f"{k} {v}" for k, v, _ in _headline(r))


def format_comparison(reports: list[EnergyReport]) -> str:
    """Several profiles' reports of one network side by side: their headlines, the network's
    counts once, and a table of energy per sample, dynamic and static apart."""
    out = ["energy per sample, profile by profile", ""]
    out += [_at_a_glance(r) for r in reports] + [""] + _network_lines(reports[0]) + [""]
    out += _aligned(_COMPARE, _comparison_rows(reports))
    out += ["", "Each profile's assumptions: lmuneuro energy --profile NAME (one profile)."]
    return "\n".join(out)


def render_comparison_html(reports: list[EnergyReport]) -> str:
    """One page: each profile's headline, the network's counts (once), one chart of dynamic and
    static energy per profile, the comparison table, then each profile's details and
    assumptions."""
    names = [r.profile for r in reports]
    statics = [_static(r) for r in reports]
    series = {
        "dynamic": ("C0", [r.dynamic.value * 1e-12 for r in reports]),
        "static": ("C3", [s[0] * 1e-12 if s else None for s in statics]),
    }
    missing = [n for n, s in zip(names, statics) if s is None]
    note = f"static power not modelled by {', '.join(missing)}" if missing else ""
    chart = _chart_png(names, series, "energy per sample", "J (log scale)", _joules, note)
    alt = "energy per sample, profile by profile: dynamic and static apart" + (
        f"; {note}" if note else ""
    )
    body = (
        "<ul class='profiles'>"
        + "".join(f"<li>{html.escape(_at_a_glance(r))}</li>" for r in reports)
        + "</ul>"
        + _summary_html(_network_lines(reports[0]))
        + _figures([(chart, alt)])
        + _table(_COMPARE, _comparison_rows(reports))
    )
    for r in reports:
        body += f"<h2>{html.escape(r.profile)}: {html.escape(r.profile_description)}</h2>"
        body += _summary_html(_headline_lines(r) + _profile_lines(r))
        body += _notes(r.assumptions, folded=True)
    return _page(
        "Energy per sample, profile by profile",
        f"{reports[0].samples} samples of one network; every figure an estimate from its "
        "profile's constants, with their sources below",
        body,
    )


# NeuroBench's metrics (``analysis.neurobench``): (key path, row name, format)
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


def _benchmark_parts(r: dict) -> tuple[str, list[str], list[list[str]], list[str]]:
    """(title, header, rows, notes) of a benchmark report: the float model's and the chip's
    figures side by side, then what NeuroBench does not count and who computed what."""

    def cell(figures, key, fmt):
        v = figures
        for k in key.split("."):
            v = v.get(k) if isinstance(v, dict) else None
        return "-" if v is None else fmt.format(v)

    chip = r.get("chip")
    sides = [("float", r["float"])] + ([("chip", chip)] if chip else [])
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
            f"{side} {k} {v:,.0f}" for side, f in r["extensions"].items() for k, v in f.items()
        )
    )
    by: dict[str, list[str]] = {}
    for metric, who in r["computed_by"].items():
        by.setdefault(who, []).append(metric)
    notes.append(
        "float figures computed by "
        + "; ".join(f"{who}: {', '.join(metrics)}" for who, metrics in by.items())
    )
    if "MembraneUpdates" not in r["float"]:
        notes.append(
            "non-spiking checkpoint: the ANN metrics (MACs, the activation functions' zeros), no "
            "MembraneUpdates"
        )
    title = f"NeuroBench's metrics per sample, {r['samples']} samples"
    return title, ["metric"] + [side for side, _ in sides], rows, notes


def format_benchmark(r: dict) -> str:
    """A benchmark report (``BenchmarkReport.to_dict``) as a text table."""
    title, header, rows, notes = _benchmark_parts(r)
    return "\n".join([title, *_aligned(header, rows), *notes])


def render_benchmark_html(r: dict) -> str:
    """A benchmark report as a self-contained HTML page."""
    title, header, rows, notes = _benchmark_parts(r)
    lead = " ".join(x for x in (r["checkpoint"], r["artifact"]) if x) or "lmuneuro benchmark"
    return _page(title, lead, _table(header, rows) + _summary_html(notes))


def _stream_figures(f: dict) -> str:
    if f is None:
        return "no labels"
    rate = f"{f['detection_rate']:.1%}" if f["keywords"] else "-"
    latency = (
        f", latency median {f['latency_median_s']:+.2f} s, 90th percentile "
        f"{f['latency_p90_s']:+.2f} s"
        if f["latency_median_s"] is not None
        else ""
    )
    return (
        f"{f['detected']} of {f['keywords']} keywords ({rate}), {f['false_alarms']} false alarms "
        f"({f['false_alarms_per_hour']:.1f} per hour){latency}"
    )


def _stream_lines(r: dict) -> list[str]:
    """The summary of a stream report: its audio, each network's figures, the energy."""
    ro = r["readout"]
    lines = [
        f"{r['backend']}: {len(r['streams'])} stream(s), {r['audio_s'] / 60:.1f} min of audio, "
        f"{r['realtime']:,.0f}x real time; threshold {ro['threshold']:g}, context "
        f"{ro['context']} frames, smoothing {ro['smoothing']}, refractory {ro['refractory_s']:g} "
        f"s, window {ro['window_s']:g} s"
    ]
    for name in ("chip", "float"):
        n = r[name]
        if n is not None:
            lines.append(
                f"{name}: {len(n['detections'])} detections (delay {n['delay_s'] * 1000:.0f} ms): "
                f"{_stream_figures(n['figures'])}"
            )
    for e in r["energy"]:
        v, lo, hi = e["joules_per_hour"]
        busy = (
            f", computing {e['compute_fraction']:.1%} of each frame"
            if e["compute_fraction"]
            else ""
        )
        lines.append(
            f"{e['profile']}: {v:.3g} J per hour of listening ({lo:.3g}-{hi:.3g}; dynamic "
            f"{e['dynamic_joules_per_hour'][0]:.3g} J), estimated from the profile{busy}"
        )
    if r["inputs_clipped"]:
        lines.append(f"inputs: {r['inputs_clipped']:,} feature values clipped to the input range")
    return lines


def format_stream(r: dict, shown: int = 50) -> str:
    """A stream report (``SpottingReport.to_dict``) as text: the summary, then without labels the
    chip network's first ``shown`` detections."""
    lines = _stream_lines(r)
    if r["chip"]["figures"] is None:
        dets = r["chip"]["detections"]
        lines += [f"  {d['time_s']:9.2f} s  {d['word']}" for d in dets[:shown]]
        if len(dets) > shown:
            lines.append(f"  ... {len(dets) - shown} more (--json lists them all)")
    return "\n".join(lines)


def _curve_png(r: dict) -> str:
    """Miss rate against false alarms per hour, one point per threshold, per network."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for name, colour in (("chip", "#1f6feb"), ("float", "#d4731c")):
        n = r[name]
        if n is None or n["curve"] is None:
            continue
        pts = [(c["false_alarms_per_hour"], c["miss_rate"]) for c in n["curve"]]
        ax.plot(*zip(*pts), marker="o", color=colour, label=f"{name} network")
        for c, (x, y) in zip(n["curve"], pts):
            ax.annotate(
                f"{c['threshold']:g}",
                (x, y),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=7,
                color=colour,
            )
    ax.set_xlabel("false alarms per hour of audio", fontsize=9)
    ax.set_ylabel("miss rate", fontsize=9)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle("Keyword spotting on streams: one point per threshold", fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def render_stream_html(r: dict) -> str:
    """A stream report as a self-contained HTML page: the figures, the curve (with labels), each
    network's operating points and, without labels, the detections."""
    body = _summary_html(_stream_lines(r))
    if r["chip"]["curve"] is not None:
        body += _figures([(_curve_png(r), "miss rate against false alarms per hour")])
        header = [
            "network",
            "threshold",
            "detected",
            "miss rate",
            "false alarms / h",
            "latency median (s)",
            "latency p90 (s)",
        ]
        cells = [
            [
                name,
                f"{c['threshold']:g}",
                f"{c['detected']} / {c['keywords']}",
                "-" if c["miss_rate"] is None else f"{c['miss_rate']:.1%}",
                f"{c['false_alarms_per_hour']:.1f}",
                *(
                    "-" if c[k] is None else f"{c[k]:+.2f}"
                    for k in ("latency_median_s", "latency_p90_s")
                ),
            ]
            for name in ("chip", "float")
            if r[name] is not None
            for c in r[name]["curve"]
        ]
        body += _table(header, cells)
    else:
        body += _table(
            ["time (s)", "word"],
            [[f"{d['time_s']:.2f}", d["word"]] for d in r["chip"]["detections"]],
        )
    return _page("Keyword spotting on streams", r["artifact"] or "lmuneuro stream", body)
