"""Regenerate docs/report.png, the README's picture of the HTML report.

    python docs/make_screenshot.py        (needs cosloss installed and chromium on PATH)

Scores the sample data with two gates (one fails, so the picture shows both verdicts) and the five
worst rows, writes the report with --html, and has headless Chromium screenshot it offline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "report.png"
MAX_BYTES = 150_000  # a README picture, not a download
WINDOW = (960, 1330)


def main() -> int:
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-headless-shell")) if p), None)
    if chromium is None:
        print("make_screenshot: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "report.html"
        score = [
            "cosloss",
            "score",
            "sample_data/preds.npy",
            "sample_data/labels.npy",
            "--worst",
            "5",
            "--gate",
            "cos.p01 >= 0.9",
            "--gate",
            "loss <= -0.8",
            "--html",
            str(html),
        ]
        done = subprocess.run(score, cwd=REPO, capture_output=True, text=True, check=False)
        if done.returncode not in (0, 1):  # 1: the failing gate, on purpose
            print(done.stderr, file=sys.stderr)
            return done.returncode
        browser = [
            chromium,
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
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--screenshot={OUT}",
            html.as_uri(),
        ]
        subprocess.run(browser, capture_output=True, check=True, env={**os.environ, "HOME": tmp})
    size = OUT.stat().st_size
    print(f"wrote {OUT.relative_to(REPO)} ({size} bytes)")
    if size > MAX_BYTES:
        print(f"make_screenshot: {size} bytes is over {MAX_BYTES}; shrink WINDOW", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
