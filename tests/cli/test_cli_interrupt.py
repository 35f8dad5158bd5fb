"""Ctrl-C while orders are on their way: nothing lost, nothing to place twice.

``taas orders place`` and ``taas orders place-batch`` give every order its
``custom_order_id`` before sending, so an order whose answer an interrupt
cut off can be looked up by it: the command names it and exits 3 (outcome
unknown). A batch writes each answered row to ``--out`` as it comes, and
after the interrupt every row's fate: placed, unknown, or not sent.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from taas_async.sandbox import SandboxServer

LIMIT = 60.0

# Ctrl-C as a terminal delivers it: a command started in the background of a
# script (as CI runs the suite) inherits SIGINT ignored, and Python keeps it so.
BOOT = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = ['taas', *sys.argv[1:]]; runpy.run_module('taas_async._cli', run_name='__main__')"
)


def start(server: SandboxServer, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TAAS_URL": server.url, "TAAS_AUTH_TOKEN": server.sandbox.token}
    env.pop("TAAS_LOG", None)
    return subprocess.Popen(
        [sys.executable, "-c", BOOT, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def until(condition: object, what: str) -> None:
    deadline = time.monotonic() + LIMIT
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"no {what} within {LIMIT} s"
        time.sleep(0.02)


def custom_ids_on(server: SandboxServer) -> list[str]:
    return [
        str(order.request.custom_order_id) for order in list(server.sandbox.engine.orders.values())
    ]


def test_ctrl_c_while_placing_names_the_id_and_exits_3(cli_server: SandboxServer) -> None:
    cli_server.sandbox.faults.latency = 2.0  # real seconds before the sandbox acts
    process = start(
        cli_server,
        *("orders", "place", "--account", "mock", "--pair", "ETH-USDT", "--side", "buy"),
        *("--base-qty", "0.5", "--strategy", "TWAP", "--duration", "600"),
    )
    # The command's first request is the POST: once it has connected, the order is out.
    connections = cli_server._server.server_state.connections
    until(lambda: len(connections) >= 1 or process.poll() is not None, "a connection")
    time.sleep(0.2)  # the request's bytes follow the connection at once; the sandbox waits 2 s
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=LIMIT)
    assert process.returncode == 3, stderr
    [line] = stderr.splitlines()
    assert "it may have landed; look it up by custom_order_id=taas-" in line
    named = line.split("custom_order_id=")[1].split()[0]
    # The id it names is the one the order went out with (it landed: the reply was cut).
    until(lambda: named in custom_ids_on(cli_server), "the order on the server")
    assert stdout == ""


def test_ctrl_c_during_a_batch_keeps_every_rows_fate(
    cli_server: SandboxServer, tmp_path: Path
) -> None:
    rows = 200
    batch = tmp_path / "orders.csv"
    header = "accounts,pair,side,base_asset_qty,strategy,duration\n"
    batch.write_text(header + "mock,ETH-USDT,buy,0.01,TWAP,600\n" * rows)
    out = tmp_path / "results.csv"
    cli_server.sandbox.faults.latency = 0.05  # real seconds per order: 5 s for the batch
    process = start(
        cli_server, "orders", "place-batch", str(batch), "--max-concurrency", "2", "--out", str(out)
    )

    def answered() -> int:
        return out.read_text().count("\n") - 1 if out.exists() else 0

    until(lambda: answered() >= 4 or process.poll() is not None, "rows answered")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=LIMIT)
    assert process.returncode in (3, 130), stderr
    with out.open() as stream:
        results = list(csv.DictReader(stream))
    assert [int(r["line"]) for r in results] == list(range(2, rows + 2))  # every row, in order
    statuses = {r["status"] for r in results}
    assert statuses <= {"placed", "unknown", "not sent"}
    assert "placed" in statuses
    assert "not sent" in statuses  # stopped well before the end
    assert all(r["custom_order_id"].startswith("taas-") for r in results)  # given before sending
    time.sleep(1.5)  # let any request still on its way land (sandbox latency: ~0.1 s)
    on_server = set(custom_ids_on(cli_server))
    for row in results:
        if row["status"] == "placed":
            assert row["custom_order_id"] in on_server
        elif row["status"] == "not sent":
            assert row["custom_order_id"] not in on_server
    unknown = [r for r in results if r["status"] == "unknown"]
    assert (process.returncode == 3) == bool(unknown)
    for row in unknown:
        assert f"custom_order_id={row['custom_order_id']}" in stderr
    # Nothing on the server that the results do not account for.
    assert on_server <= {r["custom_order_id"] for r in results if r["status"] != "not sent"}
