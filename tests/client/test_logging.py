"""Logging: silent by default, DEBUG for what reaches the caller, WARNING for what does not.

A program that configures no logging must print nothing when it handles a
``NotFoundError``: run as a real subprocess, so Python's last-resort handler
(which prints warnings to stderr) is the one that would speak. ``TAAS_LOG``
turns on a stderr handler for ``taas_async`` and ``httpx``, at the level named.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from taas_async import AsyncClient
from taas_async._logs import _EnvHandler, configure_from_env

SCRIPT = textwrap.dedent(
    """
    import asyncio
    from taas_async import NotFoundError
    from taas_async.sandbox import Sandbox

    async def main():
        sandbox = Sandbox(autojump=True, token="tok-SECRET-123")
        sandbox.faults.fail_next(1, status=503, method="GET", path="api/balances/")
        async with sandbox.client() as client:
            try:
                await client.get_order("no-such-order")
            except NotFoundError:
                pass  # handled: nothing to print
            await client.get_balances()  # a 503, retried: the caller does not see it
        print("done")

    asyncio.run(main())
    """
)


def run(taas_log: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TAAS_LOG"}
    if taas_log is not None:
        env["TAAS_LOG"] = taas_log
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_handled_error_and_a_retry_print_nothing_without_logging_set_up() -> None:
    result = run(None)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert result.stderr == ""


def test_taas_log_info_shows_the_retry_and_each_exchange_but_not_the_handled_404() -> None:
    result = run("info")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    retry = [line for line in lines if "retrying" in line]
    assert len(retry) == 1
    assert "WARNING taas_async: GET /api/balances/ failed (HTTP 503)" in retry[0]
    # httpx's INFO line names each exchange, the 404 among them ...
    assert any("INFO httpx: HTTP Request: GET" in line and "404" in line for line in lines)
    # ... but our own DEBUG lines (one per attempt) stay out at INFO.
    assert not [line for line in lines if "DEBUG" in line]
    assert "tok-SECRET-123" not in result.stderr


def test_taas_log_debug_shows_every_attempt_the_404_included() -> None:
    result = run("DEBUG")  # case does not matter
    assert result.returncode == 0, result.stderr
    attempts = [line for line in result.stderr.splitlines() if "DEBUG taas_async:" in line]
    assert any("GET /api/order/no-such-order status=404" in line for line in attempts)
    assert any("GET /api/balances/ status=503" in line for line in attempts)
    assert any("GET /api/balances/ status=200" in line and "attempt=2" in line for line in attempts)
    assert "tok-SECRET-123" not in result.stderr


@pytest.fixture
def clean_loggers() -> Iterator[None]:
    saved = {name: logging.getLogger(name).level for name in ("taas_async", "httpx")}
    yield
    for name, level in saved.items():
        target = logging.getLogger(name)
        target.setLevel(level)
        for handler in [h for h in target.handlers if isinstance(h, _EnvHandler)]:
            target.removeHandler(handler)


def test_the_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("taas_async").handlers
    assert any(type(h) is logging.NullHandler for h in handlers)


@pytest.mark.usefixtures("clean_loggers", "no_taas_env")
def test_taas_log_is_read_when_a_client_is_created_and_adds_one_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAAS_LOG", "info")
    AsyncClient("https://api.example", "t")
    monkeypatch.setenv("TAAS_LOG", "debug")
    AsyncClient("https://api.example", "t")  # a second client: the level moves, no new handler
    for name in ("taas_async", "httpx"):
        target = logging.getLogger(name)
        (handler,) = [h for h in target.handlers if isinstance(h, _EnvHandler)]
        assert handler.level == target.level == logging.DEBUG
        assert handler.stream is sys.stderr


@pytest.mark.usefixtures("clean_loggers")
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_taas_log_changes_nothing(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TAAS_LOG", value)
    configure_from_env()
    assert not [h for h in logging.getLogger("taas_async").handlers if isinstance(h, _EnvHandler)]


@pytest.mark.usefixtures("clean_loggers", "no_taas_env")
@pytest.mark.parametrize("value", ["verbose", "warning", "1"])
def test_an_unknown_taas_log_is_ignored_with_a_warning_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TAAS_LOG", value)
    with pytest.warns(RuntimeWarning, match=f"TAAS_LOG='{value}' is ignored") as caught:
        client = AsyncClient("https://api.example", "t")  # the service still starts
    assert not client.is_closed
    assert caught[0].filename == __file__  # it points at the line creating the client
    assert not [h for h in logging.getLogger("taas_async").handlers if isinstance(h, _EnvHandler)]
