"""Energy reports (``analysis.energy.EnergyReport``) as terminal tables, or as self-contained HTML
pages with their charts (matplotlib, embedded as PNG): one profile's report, or several profiles
side by side. Rendering only: every figure is a report's, printed by one helper (``si``).

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

import numpy as np

from ..energy import EnergyReport, ModuleEnergy
from .common import (
    CHIP_EVENTS,
    NOT_MODELLED,
    _aligned,
    _cards,
    _figures,
    _j,
    _join,
    _n,
    _notes,
    _page,
    _range,
    _s,
    _span,
    _summary_html,
    _table,
    si,
)


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
