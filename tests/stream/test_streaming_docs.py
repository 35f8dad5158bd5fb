"""The examples of docs/streaming.md, and the README's on following orders, run as written.

Against the sandbox on its jumping clock. Each python block becomes the body
of ``async def main(...)`` whose parameters stand for what the block takes
from its page: ``AsyncClient`` (a factory of the sandbox's in-process client,
for the page's ``client = AsyncClient()``), ``requests`` (orders to place).
tests/docs runs the page itself, as a reader would, against a served sandbox.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from request_kwargs import sandbox_order_request

from taas_async.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]  # tests/stream/ -> the repository
BLOCKS = re.findall(
    r"```python\n(.*?)\n```", (ROOT / "docs" / "streaming.md").read_text(), flags=re.S
)


def compiled(block: str, params: str = "client, requests") -> Any:
    """The block as ``async def main(<params>)``, imports kept at the top."""
    lines = block.splitlines()
    imports = [line for line in lines if line.startswith(("from ", "import "))]
    body = [line for line in lines if not line.startswith(("from ", "import "))]
    source = "\n".join([*imports, f"async def main({params}):", *("    " + line for line in body)])
    namespace: dict[str, Any] = {}
    exec(compile(source, "docs/streaming.md", "exec"), namespace)
    return namespace["main"]


def test_the_docs_have_the_two_examples() -> None:
    assert len(BLOCKS) == 2
    assert "watch_orders" in BLOCKS[0]
    assert "order_stream" in BLOCKS[1]


@pytest.mark.anyio
async def test_the_watch_orders_example_follows_them_to_the_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox = Sandbox(autojump=True)
    async with sandbox.client() as client:
        with anyio.fail_after(20):  # the block places its own three TWAPs
            await compiled(BLOCKS[0], "AsyncClient")(lambda: client)
    lines = capsys.readouterr().out.splitlines()
    ended = [line.split() for line in lines if " COMPLETE " in line]
    assert len(ended) == 3, lines
    assert all(Decimal(qty) > 0 and Decimal(pct) == 100 for _, _, qty, pct in ended)
    assert not any(line.startswith("still open") for line in lines)


@pytest.mark.anyio
async def test_the_order_stream_example_prints_every_update(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox = Sandbox(autojump=True)
    async with sandbox.client() as client:
        with anyio.fail_after(10):  # it places the order and stops once the order ended
            await compiled(BLOCKS[1])(client, [sandbox_order_request(duration=5)])
    printed = capsys.readouterr().out
    kinds = [line.split()[0] for line in printed.splitlines() if line.startswith("order_")]
    assert kinds[:2] == ["order_created", "order_activated"]
    assert set(kinds[2:-1]) == {"order_fill_received"}
    assert kinds[-1] == "order_completed"
    assert "COMPLETE 1" in printed  # the order's own line under its update


def test_the_readmes_many_orders_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = [
        b
        for b in re.findall(r"```python\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
        if "watch_orders" in b
    ]
    sandbox = Sandbox(autojump=True)

    async def main() -> None:
        with anyio.fail_after(20):  # the block places its own three TWAPs
            await compiled(block, "AsyncClient")(sandbox.client)

    anyio.run(main)
    lines = capsys.readouterr().out.splitlines()
    assert not any("failed" in line for line in lines)
    assert sum(" COMPLETE 100" in line for line in lines) == 3, lines
