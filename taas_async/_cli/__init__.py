"""``taas``: the command-line tool (``pip install 'taas-async[cli]'``), on :class:`AsyncClient`.

Private: the command line is the interface. ``main`` is the console script;
without the ``cli`` extra (click, rich) it says what to install.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run ``taas``; the exit code (0 done, 1 API error, 2 usage, 3 outcome unknown, 130)."""
    try:
        from taas_async._cli._app import run  # noqa: PLC0415 (click and rich: an optional extra)
    except ImportError as exc:  # pragma: no cover - the extra is in dev
        print(f"taas needs the cli extra: pip install 'taas-async[cli]' ({exc})", file=sys.stderr)
        return 2
    return run(argv)
