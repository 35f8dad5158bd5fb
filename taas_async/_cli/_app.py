"""The ``taas`` command group: global options, one client per command, errors as exit codes.

Every command is a coroutine run by :func:`command` on a fresh event loop
with an :class:`~taas_async.AsyncClient` built from ``--url``/``--token``
(or ``TAAS_URL``/``TAAS_AUTH_TOKEN``). What a command raises becomes one
clear line on stderr and an exit code (the traceback only with
``--debug``): 0 done, 1 an API error, 2 usage or a request that failed
validation, 3 an order whose outcome is unknown, 130 interrupted.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import click

from taas_async import (
    AsyncClient,
    ConfigurationError,
    OrderOutcomeUnknownError,
    RequestValidationError,
    TaaSError,
)
from taas_async._cli._output import Output
from taas_async._reconcile import _new_id as new_custom_order_id  # the SDK's own form

__all__ = [
    "EXIT_API",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "cli",
    "command",
    "json_option",
    "new_custom_order_id",
    "orders",
    "run",
]

EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2
EXIT_UNKNOWN = 3
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


class Settings:
    """What the group's options say, for every command under it."""

    def __init__(self, url: str | None, token: str | None, *, debug: bool) -> None:
        self.url = url
        self.token = token
        self.debug = debug

    def client(self) -> AsyncClient:
        """A client for one command (url and token from the options or the environment)."""
        return AsyncClient(self.url, self.token)


def json_option(func: F) -> F:
    """``--json``: machine-readable output (decimals as strings; JSON lines for lists)."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Machine-readable output (lists: JSON lines)."
    )(func)


def command(func: Callable[..., Awaitable[int | None]]) -> Callable[..., None]:
    """Run a command's coroutine with a client and an :class:`Output`; map what it raises.

    The coroutine gets ``client`` and ``out`` first, then the command's own
    options; ``as_json`` picks the output form.
    """

    @click.pass_obj
    @functools.wraps(func)
    def wrapper(settings: Settings, /, *args: Any, as_json: bool = False, **kwargs: Any) -> None:
        out = Output(as_json=as_json)

        async def main() -> int | None:
            async with settings.client() as client:
                return await func(client, out, *args, **kwargs)

        code = _exit_code(settings, out, lambda: anyio.run(main))
        sys.exit(code)

    return wrapper


def _exit_code(settings: Settings, out: Output, body: Callable[[], int | None]) -> int:
    try:
        return body() or EXIT_OK
    except KeyboardInterrupt:
        out.error("interrupted")
        return EXIT_INTERRUPTED
    except OrderOutcomeUnknownError as exc:
        _report(settings, out, exc)
        return EXIT_UNKNOWN
    except (RequestValidationError, ConfigurationError) as exc:
        _report(settings, out, exc)
        return EXIT_USAGE
    except TaaSError as exc:
        _report(settings, out, exc)
        return EXIT_API
    except click.ClickException:
        raise  # a usage error from inside a command: run() says it in one line
    except BrokenPipeError:
        # The reader stopped reading (`taas orders list --json | head -1`): its choice,
        # not an API error. Later writes (the interpreter's last flush) go nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 (not ours: still one line, the traceback on --debug)
        _report(settings, out, exc)
        return EXIT_API


def _report(settings: Settings, out: Output, exc: BaseException) -> None:
    if settings.debug:
        traceback.print_exception(exc, file=sys.stderr)
    out.error(f"{type(exc).__name__}: {exc}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="TAAS_URL", help="Base URL of the TaaS server ($TAAS_URL).")
@click.option(
    "--token", envvar="TAAS_AUTH_TOKEN", help="API token ($TAAS_AUTH_TOKEN).", show_envvar=False
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="taas-async")
@click.pass_context
def cli(ctx: click.Context, url: str | None, token: str | None, debug: bool) -> None:
    """Place, follow and cancel TaaS orders; check balances; serve the sandbox."""
    ctx.obj = Settings(url, token, debug=debug)


@cli.group()
def orders() -> None:
    """Place, list, follow, cancel, pause, resume and amend orders."""


def run(argv: list[str] | None = None) -> int:
    """Run the group on ``argv`` (default: the process's); return the exit code."""
    from taas_async._cli import _commands  # noqa: F401, PLC0415 (registers the commands)

    try:
        cli.main(args=argv, prog_name="taas", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except (click.exceptions.Abort, KeyboardInterrupt):
        Output(as_json=False).error("interrupted")
        return EXIT_INTERRUPTED
    except click.UsageError as exc:  # one line, as every error: what, and where to look
        where = exc.ctx.command_path if exc.ctx is not None else "taas"
        Output(as_json=False).error(f"{exc.format_message()} (see '{where} --help')")
        return EXIT_USAGE
    except click.ClickException as exc:
        Output(as_json=False).error(exc.format_message())
        return EXIT_USAGE
    return EXIT_OK
