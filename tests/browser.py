"""Headless Chromium for the tests that look at a page as a person sees it.

The dashboard's and the docs site's tests load a page served on 127.0.0.1
and read its DOM after scripts ran (``--dump-dom``) or take a screenshot.
A test skips only where no Chromium is installed (CI installs Debian's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LIMIT = 60.0  # seconds for one browser run


def chromium() -> str:
    """The Chromium binary ($CHROMIUM first), or skip the test where there is none."""
    for name in (os.environ.get("CHROMIUM", ""), *BROWSERS):
        found = shutil.which(name) if name else None
        if found:
            return found
    pytest.skip("no Chromium binary found (Debian: apt-get install chromium)")


def browse(
    url: str, profile: Path, *args: str, window: tuple[int, int], budget_ms: int = 5000
) -> str:
    """Run headless Chromium on ``url`` with ``budget_ms`` of virtual time; return its stdout.

    ``args`` are what to do (``--dump-dom``, ``--screenshot=PATH``); ``profile``
    a fresh user-data directory. The machine's network is closed beyond
    loopback: background fetches, updates and sync are off.
    """
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",  # CI runs as root, where Chromium's own sandbox cannot start
            "--disable-gpu",
            "--disable-quic",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}",
            f"--virtual-time-budget={budget_ms}",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
