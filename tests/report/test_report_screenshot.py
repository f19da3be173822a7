"""report.html opens in headless Chromium, and the screenshot has real content (text, charts, badges)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from trustwatch.server.report import write_report_html

from .synthetic_run import build_run

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FAIL_RED = (0xC0, 0x39, 0x2B)
PASS_GREEN = (0x1E, 0x84, 0x49)


def screenshot(html: Path, png: Path, profile: Path, size: str = "1280,2000") -> None:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        f"--window-size={size}",
        html.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert png.is_file(), f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"


def _near(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 12) -> int:
    return int(np.all(np.abs(pixels.astype(int) - np.array(colour)) <= tolerance, axis=-1).sum())


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    from matplotlib.image import imread

    html = write_report_html(build_run(tmp_path / "run"))
    png = tmp_path / "report.png"
    screenshot(html, png, tmp_path / "profile")
    image = imread(png)
    assert image.shape[:2] == (2000, 1280)
    pixels = np.round(image[..., :3] * 255).astype(np.uint8)
    non_white = np.any(pixels < 245, axis=-1).mean()
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    assert non_white > 0.05, f"only {non_white:.1%} of the page is not white"
    assert colours > 50, f"only {colours} distinct colours"
    # The gate badges in the summary (FAIL red, PASS green) are on the first screen.
    assert _near(pixels, FAIL_RED) > 100
    assert _near(pixels, PASS_GREEN) > 100
