"""What every rendered report shares: numbers with an SI prefix (``si``), aligned terminal
columns, and the parts of a self-contained HTML page (the style sheet inline, no external
asset)."""

from __future__ import annotations

import html
import math
import re

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


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    """Terminal lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]
    return [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in [header, *rows]
    ]


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
