"""The summary as one self-contained HTML page (``--html PATH``): inline CSS, inline SVG, no script.

Why the chart is SVG written from the counts, not a plotting library: the cos distribution is
already binned, exactly, by the sketch (``histogram.edges`` / ``histogram.counts`` in the JSON
summary), so the chart is a row of rectangles over a known grid -- a few lines of arithmetic.
Writing the ``<rect>`` elements ourselves keeps every bar's height equal to its count (nothing is
re-binned or smoothed), needs no optional dependency, no JavaScript and no network when the file is
opened from a CI artifact, and prints crisply (vector). A plotting library (matplotlib, plotly)
would add a heavy install for a chart it could only redraw from the same counts.

Every string that comes from the data (paths, column names, ids, gate expressions, messages) goes
through :func:`html.escape` with ``quote=True``, in text and in attribute values alike; the page
holds no script, so even a mis-escaped string could not run. Verdicts are words (PASS / FAIL), so
the page reads the same printed in black and white. Pure functions of the summary dict: this module
imports nothing from the rest of cosloss and computes no statistic.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

__all__ = [
    "BAR_FILL",
    "PLOT_FILL",
    "histogram_svg",
    "render_html",
    "render_error_html",
]

#: The bars' fill: fixed and distinctive, so that a screenshot test can find the bars by colour.
BAR_FILL: Final = "#1b4f9c"
#: The plot area's background (the frame the bars stand in), also found by colour in tests.
PLOT_FILL: Final = "#eef1f6"

QUANTILE_KEYS: Final = ("p01", "p05", "p10", "p50", "p90", "p95", "p99")
STAT_KEYS: Final = ("mean", "std", "min", "max")
SLICE_KEYS: Final = (("by_dim", "Per dimension"), ("by_group", "Per group"), ("by_candidate", "Per candidate"))

_CSS: Final = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: #111; background: #fff; margin: 0 auto; padding: 16px 24px; max-width: 960px; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 18px 0 6px; border-bottom: 1px solid #999; padding-bottom: 2px; }
h3 { font-size: 14px; margin: 10px 0 4px; }
code, td.num, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
.sub { color: #333; margin: 0 0 8px; word-break: break-all; }
table { border-collapse: collapse; margin: 4px 0 8px; }
th, td { border: 1px solid #bbb; padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
td.wrap { word-break: break-all; }
.status { border: 3px solid #111; padding: 6px 10px; margin: 8px 0 4px; font-weight: 700; font-size: 15px; }
.status.pass { border-color: #1a7f37; }
.status.fail, .status.error { border-color: #b3261e; border-style: double; border-width: 5px; }
.status.none { border-style: dashed; }
.verdict { font-weight: 700; }
tr.fail td { background: #fbe9e7; }
.grid { display: flex; flex-wrap: wrap; gap: 0 28px; align-items: flex-start; }
.grid > section { flex: 0 1 auto; min-width: 0; }
.chart { display: block; max-width: 100%; height: auto; }
.small { color: #333; font-size: 12px; }
.message { white-space: pre-wrap; word-break: break-word; font-size: 14px; border-left: 4px solid #b3261e;
  padding: 6px 10px; background: #fafafa; }
footer { margin-top: 16px; color: #444; font-size: 12px; }
@media print {
  @page { size: A4; margin: 10mm; }
  body { font-size: 10px; padding: 0; max-width: none; }
  h1 { font-size: 15px; }
  h2 { font-size: 12px; margin: 8px 0 3px; }
  code, td.num, .mono { font-size: 9.5px; }
  th, td { padding: 1px 5px; }
  .status { font-size: 11px; padding: 3px 6px; }
  section, table, svg { break-inside: avoid; }
  .chart { max-height: 55mm; width: auto; }
  details { display: none; }
  tr.fail td { background: none; }
}
"""


def _e(value: Any) -> str:
    """Escaped text of any value (every data string passes here, attributes included)."""
    return html.escape(value if isinstance(value, str) else _fmt(value), quote=True)


def _fmt(x: Any) -> str:
    """Numbers as ``repr`` (the shortest text that reads back as the same float), missing as ``null``."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return "nan" if math.isnan(x) else repr(x)
    if isinstance(x, int | str):
        return str(x)
    return json.dumps(x, sort_keys=True, default=str)


def _num_cell(x: Any) -> str:
    return f'<td class="num">{_e(x)}</td>'


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, row_classes: Sequence[str] = ()) -> str:
    """A table; cells in ``rows`` are already HTML (``<td>...</td>``), header cells are plain text."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for i, cells in enumerate(rows):
        cls = row_classes[i] if i < len(row_classes) and row_classes[i] else ""
        attr = f' class="{_e(cls)}"' if cls else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv_table(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = [[f"<th>{_e(k)}</th>", _num_cell(v)] for k, v in pairs]
    return "<table><tbody>" + "".join(f"<tr>{''.join(r)}</tr>" for r in rows) + "</tbody></table>"


# -- chart ------------------------------------------------------------------------------------------


def histogram_svg(
    hist: Mapping[str, Any], *, width: int = 720, height: int = 220, title: str = "cos distribution"
) -> str:
    """An SVG bar chart of ``hist`` (``edges``: n+1 floats, ``counts``: n ints): bar i spans
    [edges[i], edges[i+1]) on the x axis and its height is counts[i] / max(counts) of the plot height.

    Empty string when there is nothing to draw. The geometry is deliberately simple (a fixed plot
    rectangle, ``crispEdges``, one fill colour) so that a test can read the bars back from pixels.
    """
    edges = [float(e) for e in hist.get("edges") or []]
    counts = [int(c) for c in hist.get("counts") or []]
    if not counts or len(edges) != len(counts) + 1:
        return ""
    left, right, top, bottom = 64, 12, 10, 34
    pw, ph = width - left - right, height - top - bottom
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0
    peak = max(counts) or 1
    headroom = 14 if len(counts) <= 60 else 0  # room for the count over the tallest bar
    bh = ph - headroom  # the tallest bar's height
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}" shape-rendering="crispEdges">',
        f"<title>{_e(title)}</title>",
        f'<rect class="plot" x="{left}" y="{top}" width="{pw}" height="{ph}" fill="{PLOT_FILL}"/>',
    ]
    for a, b, c in zip(edges, edges[1:], counts, strict=False):
        if c <= 0:
            continue
        x0 = left + (a - lo) / span * pw
        x1 = left + (b - lo) / span * pw
        h = max(1.0, c / peak * bh)  # a hit bin is never drawn empty
        w = max(1.0, x1 - x0 - (1.0 if x1 - x0 >= 4 else 0.0))  # a 1 px gap between wide bars
        parts.append(
            f'<rect class="bar" x="{x0:.2f}" y="{top + ph - h:.2f}" width="{w:.2f}" height="{h:.2f}" '
            f'fill="{BAR_FILL}" data-count="{c}"><title>[{_e(a)}, {_e(b)}): {c}</title></rect>'
        )
    axis_y = top + ph
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + pw}" y2="{axis_y}" stroke="#111" stroke-width="1"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{axis_y}" stroke="#111" stroke-width="1"/>')
    text = 'font-family="DejaVu Sans, sans-serif" font-size="11" fill="#111"'
    parts.append(f'<line x1="{left - 4}" y1="{top + headroom}" x2="{left}" y2="{top + headroom}" stroke="#111"/>')
    parts.append(f'<text x="{left - 6}" y="{top + headroom + 4}" text-anchor="end" {text}>{_e(peak)}</text>')
    parts.append(f'<text x="{left - 4}" y="{axis_y}" text-anchor="end" {text}>0</text>')
    for value in _nice_ticks(lo, hi):
        x = left + (value - lo) / span * pw
        parts.append(f'<line x1="{x:.2f}" y1="{axis_y}" x2="{x:.2f}" y2="{axis_y + 4}" stroke="#111"/>')
        parts.append(f'<text x="{x:.2f}" y="{axis_y + 16}" text-anchor="middle" {text}>{_e(f"{value:.6g}")}</text>')
    if len(counts) <= 60:  # the count over each hit bar, while the labels fit
        for a, b, c in zip(edges, edges[1:], counts, strict=False):
            if c > 0:
                x = left + ((a + b) / 2 - lo) / span * pw
                y = top + ph - max(1.0, c / peak * bh) - 3
                parts.append(
                    f'<text x="{x:.2f}" y="{y:.2f}" text-anchor="middle" font-size="9" '
                    f'font-family="DejaVu Sans, sans-serif" fill="#111">{c}</text>'
                )
    parts.append(
        f'<text x="{left + pw / 2:.2f}" y="{height - 3}" text-anchor="middle" {text}>cos (bars: vectors per bin)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) inside [lo, hi]."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return [lo]
    raw = span / target
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + step * 1e-9:
        value = k * step
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        k += 1
    return ticks


def _metric_bars_svg(items: Sequence[tuple[str, float]], *, label: str, width: int = 520) -> str:
    """Horizontal bars, one per slice, for slices that carry no histogram of their own."""
    finite = [(k, v) for k, v in items if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return ""
    row, left = 18, 150
    height = row * len(finite) + 8
    lo = min(0.0, *(v for _, v in finite))
    hi = max(0.0, *(v for _, v in finite))
    span = (hi - lo) or 1.0
    pw = width - left - 90
    zero = left + (0.0 - lo) / span * pw
    text = 'font-family="DejaVu Sans, sans-serif" font-size="11" fill="#111"'
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(label)}" shape-rendering="crispEdges">',
        f"<title>{_e(label)}</title>",
    ]
    for i, (name, v) in enumerate(finite):
        y = 4 + i * row
        x0, x1 = sorted((zero, left + (v - lo) / span * pw))
        shown = name if len(name) <= 22 else name[:21] + "…"
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end" {text}>{_e(shown)}</text>')
        parts.append(
            f'<rect x="{x0:.2f}" y="{y + 2}" width="{max(1.0, x1 - x0):.2f}" height="{row - 6}" fill="{BAR_FILL}">'
            f"<title>{_e(name)}: {_e(v)}</title></rect>"
        )
        parts.append(f'<text x="{max(x1, zero) + 4:.2f}" y="{y + 12}" {text}>{_e(v)}</text>')
    parts.append(f'<line x1="{zero:.2f}" y1="0" x2="{zero:.2f}" y2="{height}" stroke="#111"/>')
    parts.append("</svg>")
    return "".join(parts)


# -- sections ---------------------------------------------------------------------------------------


def _inputs_section(inputs: Mapping[str, Any]) -> str:
    """One row per input (pred, label, weights, ...); a column for every key any of them has."""
    entries = [(name, v) for name, v in inputs.items() if isinstance(v, Mapping)]
    if not entries:
        return ""
    preferred = ("path", "format", "column", "columns", "dim", "dtype", "rows", "shape")
    keys = [k for k in preferred if any(k in v for _, v in entries)]
    keys += sorted({k for _, v in entries for k in v} - set(keys))
    rows = [
        [f"<th>{_e(name)}</th>", *(f'<td class="wrap mono">{_e(v[k]) if k in v else ""}</td>' for k in keys)]
        for name, v in entries
    ]
    return f'<section id="inputs"><h2>Inputs</h2>{_table(["input", *keys], rows)}</section>'


def _stats_pairs(d: Mapping[str, Any]) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    if "loss" in d:
        pairs.append(("loss", d.get("loss")))
    for k in ("loss_kind", "reduction", "compat", "axis", "rows", "skipped", "zero_vectors", "nonfinite"):
        if k in d:
            pairs.append((k, d[k]))
    cos = d.get("cos") or {}
    pairs += [(f"cos.{k}", cos.get(k)) for k in STAT_KEYS if k in cos]
    weights = d.get("weights")
    if isinstance(weights, Mapping):
        pairs += [(f"weights.{k}", v) for k, v in weights.items()]
    return pairs


def _gates_section(gates: Sequence[Mapping[str, Any]]) -> str:
    if not gates:
        return (
            '<section id="gates"><h2>Gates</h2><p>No gates: nothing was checked '
            "(pass <code>--gate EXPR</code> to make this run fail on a threshold).</p></section>"
        )
    rows, classes = [], []
    details = any(g.get("detail") for g in gates)
    for g in gates:
        passed = bool(g.get("passed"))
        rows.append(
            [
                f'<td class="mono wrap">{_e(g.get("expr", ""))}</td>',
                f'<td class="mono">{_e(g.get("name", ""))}</td>',
                _num_cell(g.get("value")),
                f'<td class="mono">{_e(g.get("op", ""))}</td>',
                _num_cell(g.get("threshold")),
                f'<td class="verdict">{"PASS" if passed else "FAIL"}</td>',
                *([f'<td class="wrap">{_e(g.get("detail") or "")}</td>'] if details else []),
            ]
        )
        classes.append("" if passed else "fail")
    header = ["gate", "metric", "value", "operator", "threshold", "verdict", *(["detail"] if details else [])]
    return f'<section id="gates"><h2>Gates</h2>{_table(header, rows, row_classes=classes)}</section>'


def _baseline_section(base: Mapping[str, Any]) -> str:
    pairs = [
        ("baseline", base.get("path")),
        ("baseline loss", base.get("loss")),
        ("this run", base.get("current")),
        ("delta", base.get("delta")),
        ("tolerance", base.get("tolerance")),
        ("allowed delta", base.get("allowed")),
    ]
    return f'<section id="baseline"><h2>Baseline</h2>{_kv_table(pairs)}</section>'


def _worst_section(worst: Sequence[Mapping[str, Any]]) -> str:
    if not worst:
        return ""
    keys = [k for k in ("row", "id") if any(k in w for w in worst)]
    rows = [
        [
            _num_cell(i),
            *(f'<td class="mono wrap">{_e(w.get(k))}</td>' for k in keys),
            _num_cell(w.get("cos")),
            _num_cell(w.get("loss")),
        ]
        for i, w in enumerate(worst, 1)
    ]
    title = f"{len(worst)} worst vectors (highest loss)"
    return f'<section id="worst"><h2>{_e(title)}</h2>{_table(["#", *keys, "cos", "loss"], rows)}</section>'


def _slice_section(key: str, title: str, slices: Any) -> str:
    """A table (one row per dim / group / candidate) and a small chart per entry."""
    if isinstance(slices, Mapping):
        entries = [(str(k), v) for k, v in slices.items() if isinstance(v, Mapping)]
    elif isinstance(slices, list):
        entries = [(str(v.get("name", i)), v) for i, v in enumerate(slices) if isinstance(v, Mapping)]
    else:
        return ""
    if not entries:
        return ""
    cols = ["rows", "loss", *(f"cos.{k}" for k in (*STAT_KEYS, *QUANTILE_KEYS))]

    def get(entry: Mapping[str, Any], dotted: str) -> Any:
        value: Any = entry
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    present = [c for c in cols if any(get(v, c) is not None for _, v in entries)]
    rows = [[f'<th class="mono">{_e(name)}</th>', *(_num_cell(get(v, c)) for c in present)] for name, v in entries]
    out = [f'<section id="{_e(key)}"><h2>{_e(title)}</h2>', _table([key.removeprefix("by_"), *present], rows)]
    charts = [
        (name, histogram_svg(v["histogram"], width=360, height=130, title=f"{key} {name}: cos"))
        for name, v in entries
        if isinstance(v.get("histogram"), Mapping)
    ]
    charts = [(name, svg) for name, svg in charts if svg]
    if charts:
        out.append('<div class="grid">')
        out += [f'<section><h3 class="mono">{_e(name)}</h3>{svg}</section>' for name, svg in charts]
        out.append("</div>")
    else:
        metric = "loss" if any(get(v, "loss") is not None for _, v in entries) else "cos.mean"
        values = [(name, get(v, metric)) for name, v in entries]
        svg = _metric_bars_svg(values, label=f"{key}: {metric}")
        if svg:
            out.append(f'<p class="small">{_e(metric)} per {_e(key.removeprefix("by_"))}</p>{svg}')
    out.append("</section>")
    return "".join(out)


def _status(d: Mapping[str, Any]) -> tuple[str, str]:
    """(css class, words) for the banner: the verdict of the run in one line."""
    gates = d.get("gates") or []
    failed = [g for g in gates if not g.get("passed")]
    if failed:
        names = ", ".join(str(g.get("expr", "")) for g in failed)
        return "fail", f"FAILED: {len(failed)} of {len(gates)} gates failed ({names})"
    if gates:
        return "pass", f"PASSED: all {len(gates)} gates passed"
    return "none", "NO GATES: the run was scored, nothing was checked"


def _page(title: str, body: Iterable[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No network at view time, and no script at all: a CSP says so to the browser as well.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>" + "".join(body) + "</body></html>\n"
    )


def _paths(d: Mapping[str, Any]) -> tuple[str, str]:
    inputs = d.get("inputs") or {}

    def path(name: str) -> str:
        entry = inputs.get(name)
        return str(entry.get("path", "?")) if isinstance(entry, Mapping) else "?"

    return path("pred"), path("label")


def render_html(d: Mapping[str, Any]) -> str:
    """The report for a JSON summary ``d`` (with its gates, baseline and slices when present)."""
    pred, label = _paths(d)
    cls, words = _status(d)
    body = [
        "<header><h1>cosloss report</h1>",
        f'<p class="sub mono">{_e(pred)} <span class="small">vs</span> {_e(label)}</p>',
        f'<p class="status {cls}" id="status">{_e(words)}</p></header>',
    ]
    if isinstance(d.get("inputs"), Mapping):
        body.append(_inputs_section(d["inputs"]))
    cos = d.get("cos") or {}
    quantiles = [(f"cos.{k}", cos.get(k)) for k in QUANTILE_KEYS if k in cos]
    body.append('<div class="grid">')
    stats = _stats_pairs(d)
    shown = _kv_table(stats) if stats else "<p>No statistics in this summary.</p>"
    body.append(f'<section id="stats"><h2>Loss and statistics</h2>{shown}</section>')
    if quantiles:
        body.append(f'<section id="quantiles"><h2>Quantiles</h2>{_kv_table(quantiles)}</section>')
    body.append("</div>")
    hist = d.get("histogram") or {}
    svg = histogram_svg(hist)
    body.append('<section id="chart"><h2>cos distribution</h2>')
    if svg:
        counts = [int(c) for c in hist.get("counts", [])]
        edges = hist.get("edges", [])
        body.append(svg)
        body.append(
            f'<p class="small">{_e(len(counts))} bins, {_e(sum(counts))} vectors, '
            f"tallest bin {_e(max(counts))}. Bars are drawn from the exact counts.</p>"
        )
        rows = [
            [_num_cell(a), _num_cell(b), _num_cell(c)] for a, b, c in zip(edges, edges[1:], counts, strict=False) if c
        ]
        body.append(f"<details><summary>bin counts</summary>{_table(['from', 'to (excl.)', 'count'], rows)}</details>")
    else:
        body.append("<p>No histogram: no finite cos values were scored.</p>")
    body.append("</section>")
    body.append(_gates_section(d.get("gates") or []))
    if isinstance(d.get("baseline"), Mapping):
        body.append(_baseline_section(d["baseline"]))
    body.append(_worst_section(d.get("worst") or []))
    for key, title in SLICE_KEYS:
        if key in d:
            body.append(_slice_section(key, title, d[key]))
    version = d.get("cosloss_version")
    body.append(f"<footer>cosloss {_e(version) if version else ''} · schema {_e(d.get('schema_version'))}</footer>")
    return _page(f"cosloss: {pred} vs {label} — {words}", body)


def render_error_html(message: str, *, exit_code: int = 3, inputs: Sequence[str | None] = ()) -> str:
    """The report of a run that failed before it had results (an input or data error, exit 3)."""
    names = [p for p in inputs if p]
    body = [
        "<header><h1>cosloss report</h1>",
        f'<p class="sub mono">{" vs ".join(_e(p) for p in names)}</p>' if names else "",
        f'<p class="status error" id="status">RUN FAILED: input error (exit {_e(exit_code)}); no results</p>',
        "</header>",
        f'<section id="error"><h2>Error</h2><p class="message mono">{_e(message)}</p></section>',
    ]
    return _page(f"cosloss: RUN FAILED: {message}", body)


def render_report(summary: Any) -> str:
    """The ``--html`` report of a run (the output registry's renderer): the results, or the error
    that stopped the run (``Summary.of_error``)."""
    error = getattr(summary, "error", None)
    if error:
        return render_error_html(error, exit_code=3)
    return render_html(summary)
