"""``taas orders watch``: JSON lines, plain lines, and the live table in a real terminal.

The server is a sandbox on a 600x clock (``cli_server``): a 600 s TWAP ends
in about a second of real time. Orders are placed with an ``AsyncClient``
over HTTP; the command runs as a subprocess, in a pty where a terminal is
needed (Ctrl-C is the byte ``\\x03`` typed into it). Every wait is bounded
and waits for a condition, not for time.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from decimal import Decimal
from typing import Any

import anyio
from conftest import Taas

from taas_async import AsyncClient, PlaceOrderRequest
from taas_async.sandbox import SandboxServer

LIMIT = 60.0  # seconds for anything one test waits for
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def place(server: SandboxServer, *durations: int, paused: bool = False) -> list[str]:
    """Place one TWAP per duration (seconds of sandbox time) over HTTP; their ids.

    ``paused``: pause them at once, so that a command started later (slowly,
    on a loaded machine) still sees them open; :func:`resume` lets them go.
    """

    async def main() -> list[str]:
        async with AsyncClient(server.url, server.sandbox.token) as client:
            ids = []
            for duration in durations:
                order = await client.place_order(
                    PlaceOrderRequest(
                        accounts=["mock"],
                        pair="ETH-USDT",
                        side="buy",
                        base_asset_qty="0.5",
                        strategy="TWAP",
                        duration=duration,
                    )
                )
                if paused:
                    await client.pause_order(order.id)
                ids.append(order.id)
            return ids

    return anyio.run(main)


def resume(server: SandboxServer, ids: list[str]) -> None:
    """Resume paused orders."""

    async def main() -> None:
        async with AsyncClient(server.url, server.sandbox.token) as client:
            for order_id in ids:
                await client.resume_order(order_id)

    anyio.run(main)


def status(server: SandboxServer, order_id: str) -> str:
    """The order's status on the server now."""

    async def main() -> str:
        async with AsyncClient(server.url, server.sandbox.token) as client:
            return str((await client.get_order(order_id)).status)

    return anyio.run(main)


def environment(server: SandboxServer, **extra: str) -> dict[str, str]:
    env = {**os.environ, "TAAS_URL": server.url, "TAAS_AUTH_TOKEN": server.sandbox.token, **extra}
    env.pop("TAAS_LOG", None)
    return env


# --------------------------------------------------------------------------- not a terminal


def watch_paused(server: SandboxServer, ids: list[str], *flags: str) -> tuple[int, list[str]]:
    """``orders watch`` on paused orders, resumed once each was printed: (code, stdout lines)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "taas_async._cli", "orders", "watch", *ids, *flags],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(server),  # no NO_COLOR: a pipe alone must mean no colour
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in ids]  # each order's first snapshot
        resume(server, ids)
        rest, stderr = process.communicate(timeout=LIMIT)
    finally:
        process.kill()
        process.wait(timeout=LIMIT)
    assert process.returncode == 0, stderr
    return process.returncode, [line.rstrip("\n") for line in lines] + rest.splitlines()


def test_watch_json_lines_end_complete(cli_server: SandboxServer) -> None:
    ids = place(cli_server, 600, 900, paused=True)
    code, lines = watch_paused(cli_server, ids, "--json")
    assert code == 0
    snapshots = [json.loads(line, parse_float=Decimal) for line in lines]
    assert {s["id"] for s in snapshots} == set(ids)
    for order_id in ids:
        mine = [s for s in snapshots if s["id"] == order_id]
        assert mine[0]["status"] == "PAUSED"
        assert len(mine) > 3  # every change, not just the ends
        assert mine[-1]["status"] == "COMPLETE"
        assert mine[-1]["executed_qty"] == "0.50000000"  # decimals as strings
        assert all(s["status"] != "COMPLETE" for s in mine[:-1])


def test_watch_plain_lines_one_per_change(cli_server: SandboxServer) -> None:
    [order_id] = place(cli_server, 600, paused=True)
    code, lines = watch_paused(cli_server, [order_id])
    assert code == 0
    assert not any("\x1b[" in line for line in lines)  # no bars, no colour in a pipe
    assert len(lines) == len(set(lines)) > 3  # one line per change: no repeats
    assert all(line.startswith(order_id + " ") for line in lines)
    assert lines[0].startswith(f"{order_id} PAUSED ")
    assert lines[-1] == f"{order_id} COMPLETE 100.00% 0.50000000"
    pcts = [Decimal(line.split()[2].rstrip("%")) for line in lines]
    assert pcts == sorted(pcts)


def test_watch_timeout_is_an_api_error(taas: Taas, cli_server: SandboxServer) -> None:
    [order_id] = place(cli_server, 36000)
    done = taas("orders", "watch", order_id, "--timeout", "0.5", "--json")
    assert done.returncode == 1
    assert done.stderr.startswith("error: WaitTimeoutError: ")
    assert status(cli_server, order_id) == "ACTIVE"


def _interrupt_piped(server: SandboxServer, order_id: str, *flags: str) -> tuple[int, str]:
    """Run ``orders watch --json`` in a pipe, SIGINT it after its first line; (code, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "taas_async._cli", "orders", "watch", order_id, "--json", *flags],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(server),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the watch is running once a snapshot is out
        assert json.loads(first)["id"] == order_id
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=LIMIT)
    finally:
        process.kill()
        process.wait(timeout=LIMIT)
    return process.returncode, stderr


def test_interrupt_without_a_terminal_leaves_the_order(cli_server: SandboxServer) -> None:
    [order_id] = place(cli_server, 36000)
    code, stderr = _interrupt_piped(cli_server, order_id)
    assert code == 130
    assert f"order {order_id} left running (no terminal to ask" in stderr
    assert status(cli_server, order_id) == "ACTIVE"


def test_cancel_on_interrupt_cancels_without_asking(cli_server: SandboxServer) -> None:
    [order_id] = place(cli_server, 36000)
    code, stderr = _interrupt_piped(cli_server, order_id, "--cancel-on-interrupt")
    assert code == 130
    assert f"canceled order {order_id}" in stderr
    assert "[y/N]" not in stderr
    assert status(cli_server, order_id) == "CANCELED"


# --------------------------------------------------------------------------- a real terminal

# Start the command as a session leader that takes the pty as its controlling
# terminal, so that ^C typed into the pty is a SIGINT from the line discipline.
BOOT = (
    "import os, runpy, sys; os.close(os.open(os.ttyname(0), os.O_RDWR)); "
    "sys.argv = ['taas', *sys.argv[1:]]; runpy.run_module('taas_async._cli', run_name='__main__')"
)


class Terminal:
    """A command in a pty of 200x40: type into it, read what it drew (escapes stripped)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-c", BOOT, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color", "COLUMNS": "200", "LINES": "40"},
            start_new_session=True,
        )
        os.close(slave)
        self.screen = ""

    def read_until(self, condition: Any, what: str) -> str:
        """Read the screen until ``condition(text)`` holds (or fail after LIMIT s)."""
        deadline = time.monotonic() + LIMIT
        while not condition(self.screen):
            left = deadline - time.monotonic()
            assert left > 0, f"no {what} on the screen within {LIMIT} s:\n{self.screen[-3000:]}"
            ready, _, _ = select.select([self.master], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the command ended
                    chunk = b""
                if not chunk:
                    assert condition(self.screen), f"ended without {what}:\n{self.screen[-3000:]}"
                    break
                self.screen += ANSI.sub("", chunk.decode("utf-8", "replace"))
        return self.screen

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> int:
        try:
            return self.process.wait(timeout=LIMIT)
        finally:
            self.process.kill()
            os.close(self.master)


def _percents(screen: str, order_id: str) -> list[Decimal]:
    """The percent filled of each drawing of the order's row, in order."""
    row = re.compile(re.escape(order_id) + r".*?━*\s*[│┃ ]\s*(\d+\.\d\d)%")
    return [Decimal(m.group(1)) for m in row.finditer(screen)]


def test_live_bar_moves_and_ctrl_c_offers_the_cancel(cli_server: SandboxServer) -> None:
    [order_id] = place(cli_server, 7200, paused=True)  # 12 s of real time at 600x
    terminal = Terminal(["orders", "watch", order_id], environment(cli_server))
    try:
        terminal.read_until(lambda s: "PAUSED" in s and "0.00%" in s, "the paused order")
        resume(cli_server, [order_id])
        screen = terminal.read_until(
            lambda s: len(set(_percents(s, order_id))) >= 3, "a bar that moves"
        )
        assert "taas orders watch" in screen
        assert "━" in screen  # the bar's characters
        drawn = _percents(screen, order_id)
        assert drawn == sorted(drawn)  # it only grows
        assert Decimal(0) <= drawn[0] < drawn[-1] < Decimal(100)
        terminal.type(b"\x03")
        prompt = f"Cancel order {order_id}? [y/N]"
        terminal.read_until(lambda s: prompt in s, "cancel prompt")
        terminal.type(b"y\r")
        screen = terminal.read_until(lambda s: f"canceled order {order_id}" in s, "cancel")
    finally:
        code = terminal.close()
    assert code == 130
    assert status(cli_server, order_id) == "CANCELED"


def test_ctrl_c_answered_no_leaves_the_order(cli_server: SandboxServer) -> None:
    [order_id] = place(cli_server, 36000)
    terminal = Terminal(["orders", "watch", order_id], environment(cli_server))
    try:
        terminal.read_until(lambda s: bool(_percents(s, order_id)), "the bar")
        terminal.type(b"\x03")
        terminal.read_until(lambda s: "[y/N]" in s, "cancel prompt")
        terminal.type(b"\r")  # the default: no
        terminal.read_until(lambda s: f"order {order_id} left running" in s, "an answer")
    finally:
        code = terminal.close()
    assert code == 130
    assert status(cli_server, order_id) == "ACTIVE"


def test_watch_needs_an_id(taas: Taas) -> None:
    done = taas("orders", "watch", "--json")
    assert done.returncode == 2
    assert "ORDER_IDS" in done.stderr


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_place_wait_draws_a_moving_bar_and_ctrl_c_offers_the_cancel(
    cli_server: SandboxServer,
) -> None:
    # The issue's own case: `taas orders place ... --wait` in a real terminal.
    place_args = ["--account", "mock", "--pair", "ETH-USDT", "--side", "buy"]
    place_args += ["--base-qty", "0.5", "--strategy", "TWAP", "--duration", "7200"]  # 12 s real
    terminal = Terminal(["orders", "place", *place_args, "--wait"], environment(cli_server))
    try:
        screen = terminal.read_until(lambda s: UUID.search(s) is not None, "the placed order")
        order_id = UUID.findall(screen)[0]
        screen = terminal.read_until(
            lambda s: len(set(_percents(s, order_id))) >= 3, "a bar that moves"
        )
        assert "━" in screen
        drawn = _percents(screen, order_id)
        assert drawn == sorted(drawn)
        assert drawn[-1] < Decimal(100)
        terminal.type(b"\x03")
        terminal.read_until(lambda s: f"Cancel order {order_id}? [y/N]" in s, "cancel prompt")
        terminal.type(b"y\r")
        terminal.read_until(lambda s: f"canceled order {order_id}" in s, "cancel")
    finally:
        code = terminal.close()
    assert code == 130
    assert status(cli_server, order_id) == "CANCELED"
