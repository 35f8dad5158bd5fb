"""The README's demo: examples/tour.py runs against the embedded sandbox and says what happened."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # tests/project/ -> the repository


@pytest.fixture(scope="module")
def tour() -> str:
    """What the tour prints (it runs once for the module), having exited 0 and said no error."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tour.py"), "--speed", "6000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_tour_places_follows_and_reports(tour: str) -> None:
    out = tour
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


def test_tour_shows_strategies_differ(tour: str) -> None:
    section = tour.split("\n4. Strategies side by side")[1]
    rows = {
        name: (marks, float(bps), float(fees.replace(",", "")))
        for name, *marks, _price, bps, fees in re.findall(
            r"^  (TWAP|VWAP|IS|Target Time|Market)\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%\s+"
            r"([\d.]+)%\s+([\d,.]+)\s+(-?[\d,.]+) bp\s+([\d,.]+)$",
            section,
            flags=re.M,
        )
    }
    assert list(rows) == ["TWAP", "VWAP", "IS", "Target Time", "Market"]
    quarter = {name: float(marks[0]) for name, (marks, _, _) in rows.items()}
    # Front-loaded IS ahead of VWAP ahead of TWAP ahead of back-loaded Target Time.
    assert quarter["IS"] > quarter["VWAP"] > quarter["TWAP"] > quarter["Target Time"]
    assert quarter["Market"] == 100.0
    assert all(marks[-1] == "100.0" for marks, _, _ in rows.values())
    market_bps = rows["Market"][1]
    assert 0 < market_bps < 10  # a Market buy pays a little slippage on arrival
    assert all(fees > 0 for _, _, fees in rows.values())  # every fill paid its fee
