"""The README's demo: examples/tour.py runs against the embedded sandbox and says what happened."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # tests/project/ -> the repository


def test_tour_places_follows_and_reports() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tour.py"), "--speed", "6000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert done.stderr == ""
    # Every order of the three kinds ends COMPLETE at 100%.
    finals = re.findall(r"\] (\S+)\s+(buy|sell)\s+COMPLETE\s+filled\s+([\d.,]+) \(100\.00%\)", out)
    assert {(pair, side) for pair, side, _ in finals} == {
        ("ETH-USDT", "buy"),
        ("ETH:PERP-USDT", "sell"),
        ("SOL-USDT", "buy"),
        ("BTC-USDT", "sell"),
    }
    assert "multi order: COMPLETE" in out
    # The chain's second leg starts when the first one ends.
    ended, started = re.search(
        r"SOL-USDT ended at (.+); BTC-USDT started at (.+)$", out, re.M
    ).groups()
    assert ended == started
    # Balances before and after, and the change: 2 + 5 ETH bought, 40 SOL, 0.5 BTC sold, 5 short.
    change = out.split("\nChange\n")[1]
    moves = dict(re.findall(r"^\s+(\S+)\s+([+-][\d,.]+)$", change, flags=re.M))
    assert moves["ETH"] == "+7.0000"
    assert moves["SOL"] == "+40.0000"
    assert moves["BTC"] == "-0.5000"
    assert moves["ETH:PERP-USDT"] == "-5.0000"
    assert moves["USDT"].startswith("+")  # sold BTC for more than the ETH and SOL cost
