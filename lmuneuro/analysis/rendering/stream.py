"""A stream report (``spotting.SpottingReport.to_dict``) as text or as an HTML page with the
curve of miss rate against false alarms per hour."""

from __future__ import annotations

import base64
import io

from .common import _figures, _page, _summary_html, _table


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
