"""The benchmark harness still runs end to end (its numbers are for reading, not asserting)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # tests/project/ -> the repository


def test_quick_benchmark_runs_and_writes_its_report(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench.py"),
            "--quick",
            "--check",  # exit 1 if any client failed a request
            "--no-pin",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (tmp_path / "bench.md").read_text()
    for heading in ("## Throughput", "## CPU per call", "## Structuring one `Order`", "## Goals"):
        assert heading in report
    for client in ("raw aiohttp", "taas-api-client 1.2.9", "sdk (default transport)"):
        assert f"| {client}" in report
    # The same on uvloop, each held against raw aiohttp on uvloop.
    assert "| raw aiohttp (uvloop)" in report
    assert "| sdk (default transport): get_order (uvloop)" in report
    assert "`taas_async.H11PoolTransport`" in report  # what the default really is
    assert (tmp_path / "bench.png").read_bytes().startswith(b"\x89PNG")
