"""``taas orders``: place, list, cancel, pause, resume, amend; outputs parsed, exit codes.

Each command runs as a subprocess against a served sandbox on a 600x clock
(a 600-second TWAP ends in about a second; a day-long one stays live).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from conftest import Taas

from taas_async.sandbox import SandboxServer

LONG = "86400"  # seconds: live for the whole test (about 2.5 minutes of real time)


def place_args(*extra: str, qty: str = "0.5", duration: str = LONG) -> list[str]:
    return [
        "orders",
        "place",
        "--account",
        "mock",
        "--pair",
        "ETH-USDT",
        "--side",
        "buy",
        "--base-qty",
        qty,
        "--strategy",
        "TWAP",
        "--duration",
        duration,
        *extra,
    ]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def place_json(taas: Taas, *extra: str, duration: str = LONG) -> dict[str, Any]:
    done = taas(*place_args(*extra, "--json", duration=duration))
    assert done.returncode == 0, done.stderr
    [order] = json_lines(done.stdout)
    return order


def test_place_prints_the_order_as_a_table_and_as_json(taas: Taas) -> None:
    table = taas(*place_args("--custom-order-id", "cli-table"))
    assert table.returncode == 0, table.stderr
    assert "cli-table" in table.stdout
    assert "ETH-USDT" in table.stdout
    order = place_json(
        taas, "--account", "test", "--limit-price", "99999.5", "--custom-order-id", "cli-json"
    )
    assert order["custom_order_id"] == "cli-json"
    assert order["account_names"] == ["mock", "test"]
    for field, value in (("base_asset_qty", "0.5"), ("limit_price", "99999.5")):
        assert isinstance(order[field], str)  # decimals as strings, exact
        assert Decimal(order[field]) == Decimal(value)
    assert order["strategy"] == "TWAP"
    assert order["side"] == "buy"


def test_a_refused_request_is_exit_2_and_nothing_is_placed(
    taas: Taas, cli_server: SandboxServer
) -> None:
    bad_pair = taas(*place_args()[:5], "!!", *place_args()[6:])
    assert bad_pair.returncode == 2
    assert bad_pair.stdout == ""
    [line] = bad_pair.stderr.splitlines()
    assert line.startswith("error: RequestValidationError: ")
    assert "pair" in line
    two = taas(*place_args("--quote-qty", "100"))
    assert two.returncode == 2
    assert "exactly one of --base-qty, --quote-qty, --sell-qty" in two.stderr
    assert two.stdout == ""
    none = taas(*[a for a in place_args() if a not in ("--base-qty", "0.5")])
    assert none.returncode == 2
    assert "exactly one of" in none.stderr
    assert cli_server.sandbox.engine.orders == {}


def test_wait_follows_the_order_until_it_is_complete(taas: Taas) -> None:
    done = taas(*place_args("--wait", "--json", duration="600"))
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stdout)
    assert lines[0]["status"] in ("SCHEDULED", "ACTIVE")
    assert lines[-1]["id"] == lines[0]["id"]
    assert lines[-1]["status"] == "COMPLETE"
    assert Decimal(lines[-1]["executed_qty"]) == Decimal("0.5")


def test_list_filters_by_status_and_stops_at_the_limit(taas: Taas) -> None:
    done = taas(*place_args("--wait", "--json", duration="600"))
    assert done.returncode == 0, done.stderr
    complete = json_lines(done.stdout)[-1]
    live = [place_json(taas)["id"], place_json(taas)["id"]]

    only_complete = taas("orders", "list", "--status", "COMPLETE", "--json")
    assert only_complete.returncode == 0, only_complete.stderr
    assert [o["id"] for o in json_lines(only_complete.stdout)] == [complete["id"]]

    newest = taas("orders", "list", "--limit", "1", "--json")
    assert [o["id"] for o in json_lines(newest.stdout)] == [live[-1]]  # newest first

    table = taas("orders", "list", "--account", "mock", "--limit", "2")
    assert table.returncode == 0, table.stderr
    for column in ("id", "pair", "side", "strategy", "status", "pct filled", "avg price"):
        assert column in table.stdout
    assert live[0] in table.stdout
    assert live[1] in table.stdout
    assert complete["id"] not in table.stdout  # the third: past --limit

    both = taas("orders", "list", "--status", "COMPLETE", "--status", "ACTIVE", "--json")
    assert {o["id"] for o in json_lines(both.stdout)} == {complete["id"], *live}
    assert taas("orders", "list", "--limit", "0").returncode == 2


def test_pause_resume_amend_then_cancel(taas: Taas) -> None:
    order_id = place_json(taas)["id"]

    paused = taas("orders", "pause", order_id, "--json")
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout)["success"] is True
    assert json.loads(taas("orders", "get", order_id, "--json").stdout)["status"] == "PAUSED"
    resumed = taas("orders", "resume", order_id)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" in resumed.stdout

    amended = taas("orders", "amend", order_id, "--duration", "172800", "--limit-price", "99000")
    assert amended.returncode == 0, amended.stderr
    assert "amended" in amended.stdout
    after = json.loads(taas("orders", "get", order_id, "--json").stdout)
    assert after["status"] == "ACTIVE"
    assert after["duration"] == 172800
    assert Decimal(after["limit_price"]) == Decimal("99000")
    nothing = taas("orders", "amend", order_id)
    assert nothing.returncode == 2
    assert "nothing to change" in nothing.stderr

    table = taas("orders", "cancel", order_id, "no-such-order")
    assert table.returncode == 1
    [good] = [line for line in table.stdout.splitlines() if order_id in line]
    assert " ok " in good
    [bad] = [line for line in table.stdout.splitlines() if "no-such-order" in line]
    assert "failed" in bad
    assert "NotFoundError" in bad
    # Again, as JSON lines: canceling a canceled order succeeds; the unknown one still fails.
    again = taas("orders", "cancel", order_id, "no-such-order", "--json")
    assert again.returncode == 1
    first, second = json_lines(again.stdout)
    assert first["order_id"] == order_id
    assert first["ok"] is True
    assert second == {
        "order_id": "no-such-order",
        "ok": False,
        "error": second["error"],
    }
    assert second["error"].startswith("NotFoundError: ")
    everything_ok = taas("orders", "cancel", order_id)
    assert everything_ok.returncode == 0, everything_ok.stderr


def test_an_order_whose_outcome_is_unknown_is_exit_3(taas: Taas, cli_server: SandboxServer) -> None:
    faults = cli_server.sandbox.faults
    # The order lands but its reply is lost; every lookup by custom_order_id fails.
    faults.fail_next(1, status=502, method="POST", path="api/orders/", after=True)
    faults.fail_next(5, status=500, method="GET", path="api/orders/")
    done = taas(*place_args("--custom-order-id", "cli-lost"))
    assert done.returncode == 3
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("error: OrderOutcomeUnknownError: ")
    faults.clear()
    [order] = cli_server.sandbox.engine.orders.values()  # it was placed, once
    assert order.request.custom_order_id == "cli-lost"
