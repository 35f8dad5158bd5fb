"""``taas balances``, ``taas close-balances`` and ``taas sandbox``."""

from __future__ import annotations

import click

from taas_async import AsyncClient
from taas_async._cli._app import cli, command, json_option
from taas_async._cli._output import Output

__all__ = ["balances", "close_balances", "sandbox"]


@cli.command()
@click.option("--account", "accounts", multiple=True, help="Only this account (repeatable).")
@json_option
@command
async def balances(client: AsyncClient, out: Output, accounts: tuple[str, ...]) -> None:
    """Balances per account: every asset, its size and notional."""
    found = await client.get_balances(account_names=list(accounts) or None)
    if out.as_json:
        out.json({name: balance.to_dict() for name, balance in found.items()})
        return
    out.table(
        ("account", "exchange", "asset", "size", "notional"),
        (
            (name, balance.exchange, asset.symbol, asset.size, asset.notional)
            for name, balance in found.items()
            for asset in balance.assets
        ),
    )


@cli.command("close-balances")
@click.option("--max-notional", required=True, help="Close positions up to this notional.")
@click.option("--account", "accounts", multiple=True, help="Only this account (repeatable).")
@json_option
@command
async def close_balances(
    client: AsyncClient, out: Output, max_notional: str, accounts: tuple[str, ...]
) -> None:
    """Open orders that flatten balances up to --max-notional."""
    result = await client.close_balances(max_notional, list(accounts) or None)
    if out.as_json:
        out.json(result.to_dict())
    else:
        out.fields(result.to_dict(), title="close-balances")


@cli.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sandbox(args: tuple[str, ...]) -> None:
    """Serve the sandbox: the options of python -m taas_async.sandbox (--port --speed --seed)."""
    from taas_async.sandbox.__main__ import main  # noqa: PLC0415 (only this command needs it)

    code = main(list(args))
    raise SystemExit(code)
