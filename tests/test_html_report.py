"""``--html``: the self-contained report, its states, escaping, and what a real browser draws of it.

The browser tests render the report in headless Chromium (Debian's ``chromium``; `.ci/run` installs
it) and read the result back: the screenshot's pixels for the chart (each bar's height in pixels
against its count), the serialised DOM and the printed PDF's text for the tables and the hostile
strings. They are skipped, saying why, when no Chromium is on PATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from cosine_cli.cli import cli
from cosine_cli.reports.html import BAR_FILL, PLOT_FILL, histogram_svg, render_error_html, render_html

HOSTILE_ID = "<script>alert(1)</script>"
HOSTILE_COLUMN = "emb \"q\" 'x' <b>"


@pytest.fixture(autouse=True)
def _no_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A run under GitHub Actions must not append this file's runs to the real step outputs.
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)


def _score(args: list[str]) -> Any:
    return CliRunner().invoke(cli, ["score", *args])


@pytest.fixture
def sample_report(tmp_path: Path, sample: Path) -> tuple[Path, dict[str, Any]]:
    html = tmp_path / "report.html"
    r = _score([str(sample / "preds.npy"), str(sample / "labels.npy"), "--worst", "5", "--json", "--html", str(html)])
    assert r.exit_code == 0, r.stderr
    return html, json.loads(r.stdout)


def _hostile_parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    n, d = 12, 4
    pred = rng.normal(size=(n, d)).astype(np.float32)
    label = pred + rng.normal(scale=0.05, size=(n, d)).astype(np.float32)
    label[3] = -pred[3]  # row 3 is the worst: cos -1
    ids = [f"doc-{i}" for i in range(n)]
    ids[3] = HOSTILE_ID

    def vectors(a: np.ndarray) -> Any:
        return pa.FixedSizeListArray.from_arrays(pa.array(a.ravel()), d)

    pq.write_table(pa.table({"id": ids, HOSTILE_COLUMN: vectors(pred), "label": vectors(label)}), path)


def _hostile_args(tmp_path: Path) -> list[str]:
    data = tmp_path / "hostile.parquet"
    _hostile_parquet(data)
    return [
        os.path.relpath(data),
        "--pred-col",
        HOSTILE_COLUMN,
        "--label-col",
        "label",
        "--id-col",
        "id",
        "--worst",
        "3",
    ]


# -- the page, without a browser --------------------------------------------------------------------


def test_report_has_every_section_and_the_exact_numbers(sample_report: tuple[Path, dict[str, Any]]) -> None:
    path, summary = sample_report
    text = path.read_text(encoding="utf-8")
    for section in ('id="inputs"', 'id="stats"', 'id="quantiles"', 'id="chart"', 'id="gates"', 'id="worst"'):
        assert section in text
    assert repr(summary["loss"]) in text
    assert repr(summary["cos"]["p01"]) in text
    bars = [int(c) for c in re.findall(r'class="bar"[^>]*data-count="(\d+)"', text)]
    assert bars == [c for c in summary["histogram"]["counts"] if c]
    assert "NO GATES" in text  # this run had none, and says so


def test_report_is_self_contained(sample_report: tuple[Path, dict[str, Any]]) -> None:
    text = sample_report[0].read_text(encoding="utf-8")
    assert "<script" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text and "url(" not in text


def test_failed_gate_is_stated_in_words(tmp_path: Path, sample: Path) -> None:
    html = tmp_path / "r.html"
    r = _score(
        [
            str(sample / "preds.npy"),
            str(sample / "labels.npy"),
            "--gate",
            "cos.p01 >= 0.9",
            "--gate",
            "loss <= 0",
            "--html",
            str(html),
        ]
    )
    assert r.exit_code == 1
    text = html.read_text(encoding="utf-8")
    assert "FAILED: 1 of 2 gates failed (cos.p01 &gt;= 0.9)" in text
    assert re.search(r'<tr class="fail"><td class="mono wrap">cos\.p01 &gt;= 0\.9</td>.*?FAIL</td>', text)
    assert re.search(r"<tr><td class=\"mono wrap\">loss &lt;= 0</td>.*?PASS</td>", text)


def test_all_gates_passed(tmp_path: Path, sample: Path) -> None:
    html = tmp_path / "r.html"
    r = _score([str(sample / "preds.npy"), str(sample / "labels.npy"), "--gate", "rows >= 1", "--html", str(html)])
    assert r.exit_code == 0
    assert "PASSED: all 1 gates passed" in html.read_text(encoding="utf-8")


def test_input_error_leaves_a_report_that_says_the_run_failed(tmp_path: Path) -> None:
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, np.ones((4, 3), np.float32))
    np.save(b, np.ones((5, 3), np.float32))
    html = tmp_path / "r.html"
    r = _score([str(a), str(b), "--html", str(html)])
    assert r.exit_code == 3
    message = r.stderr.strip().removeprefix("Error: ")
    text = html.read_text(encoding="utf-8")
    assert "RUN FAILED: input error (exit 3)" in text
    assert message.split(":")[-1].strip().replace("'", "&#x27;") in " ".join(text.split())


def test_interrupted_run_leaves_no_report(tmp_path: Path, sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cosine_cli.api

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(cosine_cli.api, "score", interrupted)
    html = tmp_path / "r.html"
    r = _score([str(sample / "preds.npy"), str(sample / "labels.npy"), "--html", str(html)])
    assert r.exit_code == 130
    assert list(tmp_path.iterdir()) == []


def test_html_may_not_overwrite_an_input(sample: Path) -> None:
    r = _score([str(sample / "preds.npy"), str(sample / "labels.npy"), "--html", str(sample / "labels.npy")])
    assert r.exit_code == 2
    assert "--html" in r.stderr


def test_hostile_strings_are_escaped_in_the_source(tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    r = _score([*_hostile_args(tmp_path), "--html", str(html)])
    assert r.exit_code == 0, r.stderr
    text = html.read_text(encoding="utf-8")
    assert "<script" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "emb &quot;q&quot; &#x27;x&#x27; &lt;b&gt;" in text


def test_missing_keys_are_tolerated() -> None:
    text = render_html({"loss": None, "inputs": {"pred": {"path": "p"}, "label": {"path": "l", "odd": [1]}}})
    assert "No histogram" in text and "NO GATES" in text and "odd" in text
    assert render_html({})  # nothing at all still renders a page


def test_every_attribute_value_is_escaped() -> None:
    svg = histogram_svg({"edges": [0.0, 0.5, 1.0], "counts": [1, 2]}, title='"><img src=x onerror=alert(1)>')
    assert "<img" not in svg and "&quot;&gt;&lt;img" in svg
    page = render_error_html('bad "value" <here>', inputs=['a"b.npy', None])
    assert "a&quot;b.npy" in page and "&lt;here&gt;" in page and "<here>" not in page


def test_slices_get_a_table_and_a_chart_each() -> None:
    entry = {"rows": 3, "loss": -0.9, "cos": {"mean": 0.9, "min": 0.8, "p01": 0.8}}
    hist = {"edges": [0.0, 0.5, 1.0], "counts": [1, 2]}
    d = {
        "by_dim": {"64": {**entry, "histogram": hist}, "128": {**entry, "histogram": hist}},
        "by_group": {"de": entry, "<fr>": {**entry, "loss": -0.5}},
        "by_candidate": {"int8": entry},
    }
    text = render_html(d)
    for key in ("by_dim", "by_group", "by_candidate"):
        assert f'id="{key}"' in text
    dims = text[text.index('id="by_dim"') : text.index('id="by_group"')]
    assert dims.count('class="bar"') == 4  # two bins, two dims
    groups = text[text.index('id="by_group"') : text.index('id="by_candidate"')]
    assert "&lt;fr&gt;" in groups and "<fr>" not in groups and groups.count("<rect") == 2


# -- a real browser ---------------------------------------------------------------------------------

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-headless-shell", "chromium-browser")) if p), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium; .ci/run installs it)"
)
WINDOW = (1000, 1600)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--user-data-dir={profile}",
        *args,
    ]
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(cmd, capture_output=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done


def read_png(data: bytes) -> np.ndarray:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) to an (h, w, 3) array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, [], b""
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, interlace = header[8], header[9], header[12]
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: a running sum per channel
            cur = np.cumsum(line.reshape(width, bpp), axis=0).ravel() % 256
        elif kind == 2:  # Up
            cur = (line + prev) % 256
        else:  # Average, Paeth: each byte needs the one to its left, decoded
            cur = np.zeros(stride, dtype=np.int64)
            lv, pv = line.tolist(), prev.tolist()
            cv = [0] * stride
            for i in range(stride):
                a = cv[i - bpp] if i >= bpp else 0
                b = pv[i]
                if kind == 3:
                    cv[i] = (lv[i] + (a + b) // 2) & 255
                else:
                    c = pv[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                    cv[i] = (lv[i] + pred) & 255
            cur = np.array(cv, dtype=np.int64)
        out[y] = cur
        prev = cur
    return out.reshape(height, width, bpp)[:, :, :3]


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)


@pytest.fixture
def rendered(tmp_path: Path, sample: Path) -> dict[str, Any]:
    """The sample run's report (a failed gate, the 5 worst rows) as Chromium shows it."""
    html = tmp_path / "report.html"
    r = _score(
        [
            str(sample / "preds.npy"),
            str(sample / "labels.npy"),
            "--worst",
            "5",
            "--gate",
            "cos.p01 >= 0.9",
            "--json",
            "--html",
            str(html),
        ]
    )
    assert r.exit_code == 1, r.stderr
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", html.as_uri())
    dom = _chromium(tmp_path, "--dump-dom", html.as_uri()).stdout.decode()
    return {"summary": json.loads(r.stdout), "pixels": read_png(shot.read_bytes()), "dom": dom, "html": html}


@needs_chromium
def test_browser_draws_each_bar_as_tall_as_its_count(rendered: dict[str, Any]) -> None:
    img, hist = rendered["pixels"], rendered["summary"]["histogram"]
    bar = np.all(img == _rgb(BAR_FILL), axis=2)
    plot = bar | np.all(img == _rgb(PLOT_FILL), axis=2)
    ys, xs = np.nonzero(plot)
    assert xs.size, "the chart's plot area is not on the screenshot"
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    assert x1 - x0 > 300 and y1 - y0 > 100, (x0, x1, y0, y1)
    edges, counts = hist["edges"], hist["counts"]
    lo, span, peak = edges[0], edges[-1] - edges[0], max(counts)
    columns = [int(x0 + ((a + b) / 2 - lo) / span * (x1 - x0)) for a, b in zip(edges, edges[1:], strict=False)]
    drawn = [int(bar[y0:y1, x].sum()) for x in columns]
    tallest = drawn[counts.index(peak)]
    assert tallest > 0.8 * (y1 - y0)  # the tallest bar fills the plot, less room for its label
    for a, b, c, px, x in zip(edges[:-1], edges[1:], counts, drawn, columns, strict=True):
        expected = max(1.0, c / peak * tallest) if c else 0.0
        assert abs(px - expected) <= 1.5, f"bin [{a}, {b}) count {c}: {px} px drawn, {expected:.1f} expected"
        if c:  # the bar stands on the axis
            assert bar[y1 - 2, x]


@needs_chromium
def test_browser_shows_the_tables(rendered: dict[str, Any]) -> None:
    dom, summary = rendered["dom"], rendered["summary"]
    worst = summary["worst"][0]
    assert re.search(rf"<td class=\"mono wrap\">{worst['row']}</td><td class=\"num\">{worst['cos']!r}</td>", dom)
    assert "FAILED: 1 of 1 gates failed" in dom
    assert repr(summary["cos"]["p50"]) in dom
    img = rendered["pixels"]
    dark = (img.astype(int).sum(axis=2) < 200).sum(axis=1)
    assert (dark > 0).sum() > 400  # rows of text and table rules, not a blank page


@needs_chromium
def test_browser_shows_hostile_strings_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # short paths: the page's text is read back line by line
    html = tmp_path / "r.html"
    r = _score([*_hostile_args(tmp_path), "--html", str(html)])
    assert r.exit_code == 0, r.stderr
    dom = _chromium(tmp_path, "--dump-dom", html.as_uri()).stdout.decode()
    # Parsed as text: the DOM holds no script or b element, and serialises the text escaped again.
    assert "<script" not in dom and "<b>" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    pdf = tmp_path / "r.pdf"
    _chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.as_uri())
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is missing: the rendered text cannot be read back")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True).stdout.decode()
    assert HOSTILE_ID in text  # shown literally, as characters on the page
    assert HOSTILE_COLUMN in text


@needs_chromium
def test_small_run_prints_on_one_page(rendered: dict[str, Any], tmp_path: Path) -> None:
    pdf = tmp_path / "print.pdf"
    _chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", rendered["html"].as_uri())
    data = pdf.read_bytes()
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, check=True).stdout.decode()
        pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    else:
        pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", data))
    assert pages == 1
