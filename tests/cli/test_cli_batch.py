"""``taas orders place-batch``: CSV and JSON lines, every row checked first, results kept."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

from conftest import Taas

from taas_async import OrderOutcomeUnknownError, TaaSError
from taas_async._cli._batch import Result, _exit_code, parse_batch
from taas_async.sandbox._records import SimOrder
from taas_async.sandbox._server import SandboxServer

HEADER = "accounts,pair,side,strategy,duration,base_asset_qty,custom_order_id\n"
EXACT = "0.123456789012345678"  # more digits than a float keeps


def _engine_orders(server: SandboxServer) -> dict[str | None, SimOrder]:
    """The orders the server's engine holds, by custom_order_id."""
    return {o.request.custom_order_id: o for o in server.sandbox.engine.orders.values()}


def test_a_csv_batch_is_placed_and_written_to_out(
    taas: Taas, cli_server: SandboxServer, tmp_path: Path
) -> None:
    batch = tmp_path / "orders.csv"
    batch.write_text(
        HEADER + f"mock;test,BTC-USDT,buy,TWAP,60,{EXACT},csv-1\n"
        "\n"  # a blank line is skipped, line numbers stay the file's
        "mock,ETH-USDT,sell,TWAP,120,1.5,csv-2\n"
        "test,BTC-USDT,sell,TWAP,60,0.01,\n"  # an empty cell: the field is left out
    )
    results = tmp_path / "results.csv"
    done = taas(
        "orders", "place-batch", str(batch), "--out", str(results), "--max-concurrency", "2"
    )
    assert done.returncode == 0, done.stderr
    assert "3 placed, 0 failed, 0 unknown" in done.stdout
    placed = _engine_orders(cli_server)
    assert len(placed) == 3
    first = placed["csv-1"]
    assert first.request.accounts == ["mock", "test"]  # ";"-joined accounts
    assert first.request.base_asset_qty == Decimal(EXACT)  # exact, never through a float
    assert first.request.duration == 60  # a whole number read from text
    rows = list(csv.DictReader(results.read_text().splitlines()))
    assert [r["line"] for r in rows] == ["2", "4", "5"]
    assert [r["status"] for r in rows] == ["placed"] * 3
    assert rows[0]["custom_order_id"] == "csv-1"
    assert rows[2]["custom_order_id"].startswith("taas-")  # generated, and reported
    ids = {o.id for o in cli_server.sandbox.engine.orders.values()}
    assert {r["order_id"] for r in rows} == ids
    assert all(r["error"] == "" for r in rows)


def test_a_jsonl_batch_from_stdin_with_json_output(taas: Taas, cli_server: SandboxServer) -> None:
    lines = [
        {"accounts": "mock;test", "pair": "BTC-USDT", "side": "buy", "strategy": "TWAP"},
        {"accounts": ["mock"], "pair": "ETH-USDT", "side": "sell", "strategy": "TWAP"},
    ]
    text = "".join(
        json.dumps({**line, "duration": 60, "custom_order_id": f"j-{i}"})[:-1]
        + f', "base_asset_qty": {EXACT}}}\n'  # a JSON number: read as a Decimal
        for i, line in enumerate(lines)
    )
    done = taas("orders", "place-batch", "-", "--format", "jsonl", "--json", stdin=text)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["line"], r["custom_order_id"], r["status"]) for r in records] == [
        (1, "j-0", "placed"),
        (2, "j-1", "placed"),
    ]
    assert records[0]["order"]["base_asset_qty"].rstrip("0") == EXACT
    placed = _engine_orders(cli_server)
    assert placed.keys() == {"j-0", "j-1"}
    assert {r["order_id"] for r in records} == {o.id for o in placed.values()}
    assert placed["j-0"].request.accounts == ["mock", "test"]
    assert placed["j-1"].request.base_asset_qty == Decimal(EXACT)


def test_a_bad_row_sends_nothing_and_every_problem_is_named(
    taas: Taas, cli_server: SandboxServer, tmp_path: Path
) -> None:
    batch = tmp_path / "orders.csv"
    batch.write_text(
        HEADER + "mock,BTC-USDT,buy,TWAP,60,0.1,a\n"
        "mock,BTC-USDT,buy,TWAP,soon,0.1,b\n"  # line 3: duration is not a number
        "mock,BTC,buy,TWAP,60,0.1,a\n"  # line 4: a bad pair, a repeated custom_order_id
    )
    done = taas("orders", "place-batch", str(batch))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: line 3, column duration: expected a whole number, got 'soon'",
        "error: line 4, column custom_order_id: repeats line 2",
        "error: line 4, column pair: must match regex"
        " '[A-Za-z0-9]+(?::[A-Za-z0-9_]+)?-[A-Za-z0-9]+' ('BTC' doesn't)",
    ]
    assert cli_server.sandbox.engine.orders == {}  # nothing sent, not even the good row

    as_json = taas("orders", "place-batch", str(batch), "--json")
    assert as_json.returncode == 2
    errors = json.loads(as_json.stdout)["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (3, "duration"),
        (4, "custom_order_id"),
        (4, "pair"),
    ]
    assert cli_server.sandbox.engine.orders == {}


def test_a_malformed_file_is_exit_2_with_line_numbers(
    taas: Taas, cli_server: SandboxServer, tmp_path: Path
) -> None:
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("accounts,pair,side,strategy,duration,qty\nmock,BTC-USDT,buy,TWAP,60,1\n")
    done = taas("orders", "place-batch", str(unknown))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: line 1, column qty: unknown column: not a PlaceOrderRequest field"
    ]

    headless = tmp_path / "headless.csv"
    headless.write_text("mock,BTC-USDT,buy,TWAP,60,1\n")
    done = taas("orders", "place-batch", str(headless))
    assert done.returncode == 2
    assert done.stderr.startswith("error: line 1: no header row")

    lines = tmp_path / "orders.jsonl"
    good = '{"accounts": "mock", "pair": "BTC-USDT", "side": "buy", "strategy": "TWAP",'
    lines.write_text(
        f'{good} "duration": 60, "base_asset_qty": "1"}}\n'
        '{"accounts": "mock", oops}\n'
        "[1, 2]\n"
        f'{good} "duration": 60, "base_asset_qty": "1", "qty": "1"}}\n'
    )
    done = taas("orders", "place-batch", str(lines))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: line 2: invalid JSON: Expecting property name enclosed in double quotes"
        " (column 22)",
        "error: line 3: expected a JSON object, got an array",
        "error: line 4, key qty: unknown field",
    ]
    assert cli_server.sandbox.engine.orders == {}

    plain = tmp_path / "orders.txt"
    plain.write_text("")
    done = taas("orders", "place-batch", str(plain))
    assert done.returncode == 2
    assert "--format csv or --format jsonl" in done.stderr


def test_csv_cells_are_converted_by_the_field_they_fill() -> None:
    text = (
        "accounts,pair,side,strategy,duration,updated_leverage,base_asset_qty,"
        "is_reverse_limit_price,strategy_params,limit_price\n"
        'mock,BTC-USDT,buy,TWAP, 60 ,3,1,Yes,"{""max_clip_size"": 2.0}",60000.10\n'
    )
    [(line, request)] = parse_batch(text, "csv")
    assert line == 2
    assert request.duration == 60
    assert request.updated_leverage == 3
    assert request.is_reverse_limit_price is True
    assert request.strategy_params == {"max_clip_size": 2}  # JSON, decimals never floats
    assert request.limit_price == Decimal("60000.10")


def test_cells_that_cannot_be_read_and_a_bad_out_send_nothing(
    taas: Taas, cli_server: SandboxServer, tmp_path: Path
) -> None:
    batch = tmp_path / "orders.csv"
    batch.write_text(
        "accounts,pair,side,strategy,duration,base_asset_qty,is_reverse_limit_price,"
        "strategy_params\n"
        "mock,BTC-USDT,buy,TWAP,60,1,maybe,[1]\n"
        "mock,BTC-USDT,buy,TWAP,60\n"
    )
    done = taas("orders", "place-batch", str(batch))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: line 2, column is_reverse_limit_price: expected true or false, got 'maybe'",
        "error: line 2, column strategy_params: expected a JSON object, got list",
        "error: line 3: 5 cells, the header has 8 columns",
    ]
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "mock,BTC-USDT,buy,TWAP,60,1,g\n")
    done = taas("orders", "place-batch", str(good), "--out", str(tmp_path / "results.txt"))
    assert done.returncode == 2
    assert "expected a .csv, .jsonl or .ndjson file" in done.stderr
    assert cli_server.sandbox.engine.orders == {}


def test_a_row_the_server_refuses_fails_alone(
    taas: Taas, cli_server: SandboxServer, tmp_path: Path
) -> None:
    batch = tmp_path / "orders.csv"
    batch.write_text(HEADER + "".join(f"mock,BTC-USDT,buy,TWAP,60,0.1,r-{i}\n" for i in range(3)))
    cli_server.sandbox.faults.fail_next(1, status=400, method="POST", path="api/orders/")
    results = tmp_path / "results.jsonl"
    done = taas("orders", "place-batch", str(batch), "--out", str(results))
    assert done.returncode == 1, done.stderr
    assert "2 placed, 1 failed, 0 unknown" in done.stdout
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["line"] for r in records] == [2, 3, 4]  # file order
    [failed] = [r for r in records if r["status"] == "failed"]
    assert failed["order_id"] is None
    assert failed["error"].startswith("BadRequestError: ")
    assert failed["custom_order_id"] in done.stdout  # the table names the failing row
    placed = _engine_orders(cli_server)
    assert len(placed) == 2
    assert failed["custom_order_id"] not in placed
    assert {r["custom_order_id"] for r in records if r["status"] == "placed"} == placed.keys()


def test_an_unknown_outcome_wins_over_a_failure() -> None:
    unknown = OrderOutcomeUnknownError("no reply", request=None, custom_order_id="u")
    placed_ok: list[Result] = []
    failed = [Result(2, "f", error=TaaSError("refused"))]
    assert _exit_code(placed_ok) == 0
    assert _exit_code(failed) == 1
    assert _exit_code([*failed, Result(3, "u", error=unknown)]) == 3
    assert Result(3, "u", error=unknown).record()["status"] == "unknown"
