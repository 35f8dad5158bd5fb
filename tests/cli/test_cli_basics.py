"""``taas`` basics: help, balances, one order, errors as one line and exit codes."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
from decimal import Decimal

import anyio
from conftest import Taas

from taas_async import AsyncClient, PlaceOrderRequest
from taas_async._cli._output import _cell
from taas_async.sandbox import SandboxServer


def test_help_lists_the_commands(taas: Taas) -> None:
    done = taas("--help")
    assert done.returncode == 0
    for name in ("orders", "balances", "close-balances", "sandbox"):
        assert name in done.stdout


def test_balances_as_a_table_and_as_json(taas: Taas) -> None:
    table = taas("balances", "--account", "mock")
    assert table.returncode == 0, table.stderr
    assert "USDT" in table.stdout
    assert "\x1b[" not in table.stdout  # not a terminal: no colour
    data = json.loads(taas("balances", "--json").stdout, parse_float=Decimal)
    assert data["mock"]["assets"][0]["size"] == "1000000"  # decimals as strings


def test_an_api_error_is_one_line_and_exit_1(taas: Taas) -> None:
    done = taas("orders", "get", "no-such-order")
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("error: NotFoundError: ")
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(taas: Taas) -> None:
    done = taas("--debug", "orders", "get", "no-such-order")
    assert done.returncode == 1
    assert "Traceback" in done.stderr


def test_a_bad_setting_is_a_usage_error_exit_2(taas: Taas) -> None:
    done = taas("--url", "http://example.test", "balances")
    assert done.returncode == 2
    assert "refusing to send the auth token unencrypted" in done.stderr
    assert taas("orders", "no-such-command").returncode == 2


def test_taas_sandbox_serves_the_simulator(taas: Taas) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "taas_async._cli", "sandbox", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # printed once the socket listens
        url = first.removeprefix("TaaS sandbox on ").strip()
        assert url.startswith("http://127.0.0.1:"), first
        token = server.stdout.readline().split()[1]
        done = taas("--url", url, "--token", token, "balances", "--json")
        assert done.returncode == 0, done.stderr
        assert "mock" in json.loads(done.stdout)
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)  # reads the rest and closes the pipe


def test_a_usage_error_is_one_line_exit_2(taas: Taas) -> None:
    for args in (("orders", "place", "--pair", "ETH-USDT"), ("no-such-command",)):
        done = taas(*args)
        assert done.returncode == 2
        [line] = done.stderr.splitlines()
        assert line.startswith("error: ")
        assert "--help" in line


def test_close_balances_opens_orders_and_says_so(taas: Taas, cli_server: SandboxServer) -> None:
    done = taas("close-balances", "--max-notional", "1000", "--account", "mock", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["message"] == "opened 3 orders to close balances"
    assert len(result["order_ids"]) == 3
    assert set(result["order_ids"]) <= set(cli_server.sandbox.engine.orders)
    table = taas("close-balances", "--max-notional", "1000")
    assert table.returncode == 0, table.stderr
    assert "close-balances" in table.stdout
    assert taas("close-balances").returncode == 2  # --max-notional is required


def test_server_text_is_shown_as_is_and_no_column_is_cut(
    taas: Taas, tmp_path: pathlib.Path
) -> None:
    # Brackets in what the server sends are text, not rich markup (a MarkupError and a
    # traceback, or words silently dropped); a table in a pipe cuts no id or amount.
    batch = tmp_path / "one.jsonl"
    batch.write_text(
        '{"accounts": "mock", "pair": "ETH-USDT", "side": "buy", "base_asset_qty": '
        '"0.123456789012345678", "strategy": "TWAP", "duration": 60, '
        '"notes": "hedge [/x] leg [bold]one[/bold]"}\n'
    )
    placed = taas("orders", "place-batch", str(batch), "--json")
    assert placed.returncode == 0, placed.stderr
    order_id = json.loads(placed.stdout)["order_id"]
    shown = taas("orders", "get", order_id)
    assert shown.returncode == 0, shown.stderr
    assert "hedge [/x] leg [bold]one[/bold]" in shown.stdout
    listed = taas("orders", "list")
    assert order_id in listed.stdout  # the whole id, not "eb116…"
    assert "…" not in listed.stdout


def test_a_reader_that_stops_early_is_not_an_api_error(cli_server: SandboxServer) -> None:
    # `taas orders watch ID --json | head -1`: head leaves after the first snapshot.
    async def place() -> str:
        async with AsyncClient(cli_server.url, cli_server.sandbox.token) as client:
            request = PlaceOrderRequest(
                accounts=["mock"], pair="ETH-USDT", side="buy",
                base_asset_qty="0.5", strategy="TWAP", duration=1200,
            )  # fmt: skip
            return (await client.place_order(request)).id

    order_id = anyio.run(place)
    env = {**os.environ, "TAAS_URL": cli_server.url, "TAAS_AUTH_TOKEN": cli_server.sandbox.token}
    command = f"{sys.executable} -m taas_async._cli orders watch {order_id} --json"
    done = subprocess.run(
        ["bash", "-c", f'{command} | head -1; echo "exit=${{PIPESTATUS[0]}}" >&2'],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert json.loads(done.stdout)["id"] == order_id
    assert done.stderr.strip().splitlines()[-1] == "exit=0", done.stderr
    assert "BrokenPipeError" not in done.stderr


def test_a_json_string_may_hold_a_line_separator(taas: Taas, tmp_path: pathlib.Path) -> None:
    batch = tmp_path / "one.jsonl"
    row = {"accounts": "mock", "pair": "ETH-USDT", "side": "buy", "base_asset_qty": "0.1",
           "strategy": "TWAP", "duration": 60, "notes": "a\u2028b"}  # fmt: skip
    batch.write_text(json.dumps(row, ensure_ascii=False) + "\n" + '{"pair": 1}\n')
    done = taas("orders", "place-batch", str(batch))
    assert done.returncode == 2
    assert "line 2, key pair" in done.stderr  # line numbers do not shift
    assert "line 1" not in done.stderr


def test_a_table_cell_writes_decimals_as_replies_are_exported() -> None:
    # Exact and plain where short; a free-form number with a huge exponent (what a
    # server may send in strategy_params) stays short rather than a gigabyte of zeros.
    assert _cell(Decimal("0.00000001")) == "0.00000001"
    assert _cell(Decimal("1E+2")) == "100"
    assert _cell(Decimal("1E+999999999")) == "1E+999999999"
