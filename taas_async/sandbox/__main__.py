"""Serve the sandbox over HTTP: ``python -m taas_async.sandbox --port 8000 --speed 60``."""

from __future__ import annotations

import argparse
import socket
import sys
from urllib.parse import quote

from taas_async.sandbox._control import CONTROL_PREFIX
from taas_async.sandbox._sandbox import DEFAULT_TOKEN, Sandbox
from taas_async.sandbox._streams import STREAM_PATH


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m taas_async.sandbox",
        description="Run the in-memory TaaS simulator as an HTTP server (uvicorn).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    parser.add_argument(
        "--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of prices and ids (default 0)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the API token to accept")
    parser.add_argument("--base-path", default="", help="a path prefix for the API, e.g. /taas")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, bind the socket, print the URLs and token, serve until interrupted."""
    args = _parser().parse_args(argv)
    try:
        import uvicorn  # noqa: PLC0415 (an optional extra)
    except ImportError:
        print(
            "the sandbox server needs uvicorn: pip install 'taas-async[sandbox]'", file=sys.stderr
        )
        return 2
    sandbox = Sandbox(token=args.token, seed=args.seed, speed=args.speed, base_path=args.base_path)
    # Bind first, so --port 0 can print the port it got before serving.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    # Listen before announcing the URL: a client that reads it may connect at
    # once, and the kernel queues it until uvicorn accepts.
    sock.listen(2048)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"TaaS sandbox on http://{shown}:{port}{args.base_path}", flush=True)
    print(f"token: {args.token}  speed: {args.speed}x  seed: {args.seed}", flush=True)
    print(f"accounts: {', '.join(sandbox.engine.accounts)}", flush=True)
    root = f"http://{shown}:{port}{CONTROL_PREFIX}"
    print(f"dashboard: {root}/?token={quote(args.token, safe='')}", flush=True)
    print(f"order stream: ws://{shown}:{port}{args.base_path}{STREAM_PATH}", flush=True)
    config = uvicorn.Config(sandbox.app, log_level="warning", lifespan="on", ws="wsproto")
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
