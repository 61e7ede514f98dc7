"""Headless Chromium for tests of self-contained HTML reports, shared by every report test.

`screenshot(html, png)` renders a local page offline: every proxy points at a
closed port, so a page that needs the network renders without it, as it would
for a user without one. `external_urls` is the static check that a page
references nothing outside itself; `distinct_colours` tells a blank PNG from a
real one. Chromium is Debian's `chromium`; when it is missing and the tests run
as root it is installed with apt-get, otherwise the calling test is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--proxy-server=127.0.0.1:9",
)
# src=, href=, url(...) and @import targets that leave the page.
_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster)\s*=\s*["']?|url\(\s*["']?|@import\s+["'])"""
    r"""\s*((?:https?:)?//[^"')\s>]+)""",
    re.IGNORECASE,
)


def chromium() -> str:
    """Path of the chromium binary, installing it as root when missing; else skip the test."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"],
            capture_output=True,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed (apt-get install chromium, as root)")
    return found


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 1800) -> None:
    """Render the local page `html` offline in headless Chromium and save a PNG of it."""
    with tempfile.TemporaryDirectory(prefix="aerec-chromium-") as profile:
        proc = subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                Path(html).resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if proc.returncode != 0 or not Path(png).is_file():
        raise AssertionError(f"chromium failed ({proc.returncode}):\n{proc.stderr[-2000:]}")


def external_urls(html_text: str) -> list[str]:
    """Every URL the page would fetch or link to outside itself (http, https, //host)."""
    return _EXTERNAL.findall(html_text)


def distinct_colours(png: Path) -> int:
    """How many distinct RGB colours the image has: 1 means blank."""
    from matplotlib.image import imread

    pixels = imread(png)[..., :3].reshape(-1, 3)
    return int(np.unique(pixels, axis=0).shape[0])
