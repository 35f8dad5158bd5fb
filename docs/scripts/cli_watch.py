# ruff: noqa: S603, S607 (a script that runs tmux and Chromium from PATH)
"""Screenshot ``taas orders watch`` on a few orders: docs/cli-watch.png.

Serves a fresh sandbox on a fast clock (600x), places four orders, runs the
real command in a tmux terminal of 186x10, and captures the screen (with its
colours) once the shortest order is COMPLETE. The capture becomes an SVG
(rich's ``Console(record=True)``) and headless Chromium draws it as a PNG.

Needs tmux and Chromium. Run from the repository root, then look at it::

    python -m docs.scripts.cli_watch              # writes docs/cli-watch.png
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from rich.console import Console
from rich.text import Text

from taas_async import AsyncClient, PlaceOrderRequest
from taas_async.sandbox import Sandbox, SandboxServer

WIDTH, HEIGHT = 186, 10
SESSION = "taas-cli-watch-shot"
ORDERS = (  # pair, side, base qty, strategy, duration (s)
    ("ETH-USDT", "buy", "0.5", "TWAP", 1200),
    ("BTC-USDT", "sell", "0.02", "TWAP", 3600),
    ("ETH-USDT", "sell", "2", "VWAP", 7200),
    ("BTC-USDT", "buy", "0.05", "TWAP", 5400),
)


async def place(server: SandboxServer) -> list[str]:
    """Place the orders; pause the last one (a row in yellow)."""
    async with AsyncClient(server.url, server.sandbox.token) as client:
        ids = []
        for pair, side, qty, strategy, duration in ORDERS:
            request = PlaceOrderRequest(
                accounts=["mock"],
                pair=pair,
                side=side,
                base_asset_qty=qty,
                strategy=strategy,
                duration=duration,
            )
            ids.append((await client.place_order(request)).id)
        await client.pause_order(ids[-1])
        return ids


def capture(server: SandboxServer, ids: list[str]) -> str:
    """Run ``taas orders watch`` in tmux; the screen (ANSI) once the first order is done."""
    command = [sys.executable, "-m", "taas_async._cli", "orders", "watch", *ids]
    env = ["-e", f"TAAS_URL={server.url}", "-e", f"TAAS_AUTH_TOKEN={server.sandbox.token}"]
    subprocess.run(
        [
            *("tmux", "new-session", "-d", "-s", SESSION, "-x", str(WIDTH), "-y", str(HEIGHT)),
            *env,
            f"cd {Path.cwd()} && {' '.join(command)}; sleep 60",
        ],
        check=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-e", "-t", SESSION],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            if "COMPLETE" in screen:
                return screen
            time.sleep(0.1)
        raise SystemExit(f"the first order did not complete in 60 s:\n{screen}")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], check=False)


def draw(screen: str, png: Path) -> None:
    """The captured screen as an SVG terminal window, then a PNG of it (headless Chromium)."""
    console = Console(
        file=io.StringIO(), record=True, width=WIDTH, force_terminal=True, color_system="truecolor"
    )
    console.print(Text.from_ansi(screen.rstrip("\n")), soft_wrap=True)
    with tempfile.TemporaryDirectory() as folder:
        svg = Path(folder) / "watch.svg"
        console.save_svg(str(svg), title="taas orders watch")
        html = Path(folder) / "watch.html"
        html.write_text(
            "<html><body style='margin:0;background:#fff'>"
            "<img src='watch.svg' style='width:1640px'></body></html>"
        )
        chromium = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
        subprocess.run(
            [
                *(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"),
                *("--no-first-run", f"--user-data-dir={folder}/profile", "--window-size=1640,196"),
                *(f"--screenshot={png.resolve()}", html.as_uri()),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "HOME": folder},
        )


def main() -> None:
    """Serve, place, capture, draw."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/cli-watch.png"))
    args = parser.parse_args()
    with SandboxServer(Sandbox(speed=600)) as server:
        ids = anyio.run(place, server)
        screen = capture(server, ids)
    draw(screen, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
