"""The ``taas_async`` logger: quiet unless asked, and ``TAAS_LOG`` to ask from the environment.

What is logged at which level (``docs/logging.md``):

- **DEBUG**: every HTTP attempt (method, path, status, latency, attempt), its
  outcome included. A reply that reaches the caller (an ``Order``, or an
  exception such as ``NotFoundError``) is the caller's to report: logging it
  louder would print errors the caller has handled.
- **WARNING**: what the caller does not see: a retry and why, an order
  looked up after a lost reply, an order stream that reconnects, a poll
  that failed during a watch.

The logger has a ``NullHandler``, so a program that configures no logging
prints nothing (Python's last-resort handler would print warnings to
stderr). ``TAAS_LOG=debug`` or ``TAAS_LOG=info``, read when a client is
created, adds one handler writing to stderr at that level, to the
``taas_async`` logger and to ``httpx``'s (whose INFO line names each
exchange), as ``OPENAI_LOG`` does for its SDK. Both are process-wide: the
program's other httpx clients log their requests too, and a program that
also configured the root logger sees these records twice (they propagate).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

__all__ = ["configure_from_env", "logger"]

logger = logging.getLogger("taas_async")
logger.addHandler(logging.NullHandler())

#: The loggers ``TAAS_LOG`` turns on: ours, and httpx's line per exchange.
_LOGGERS = ("taas_async", "httpx")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _EnvHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``TAAS_LOG`` adds (one per logger, however many clients are created)."""


def configure_from_env() -> None:
    """Apply ``$TAAS_LOG`` (``debug`` or ``info``; unset or empty: leave logging alone).

    Any other value is ignored with a ``RuntimeWarning`` naming it: a variable
    meant for diagnostics must not stop a service from starting (a typo would
    otherwise log nothing without a word).
    """
    value = os.environ.get("TAAS_LOG", "").strip().lower()
    if not value:
        return
    level = _LEVELS.get(value)
    if level is None:
        warnings.warn(
            f"TAAS_LOG={value[:20]!r} is ignored: it takes 'debug' or 'info'",
            RuntimeWarning,
            stacklevel=3,  # the code creating the client
        )
        return
    for name in _LOGGERS:
        target = logging.getLogger(name)
        handler = next((h for h in target.handlers if isinstance(h, _EnvHandler)), None)
        if handler is None:
            handler = _EnvHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(_FORMAT))
            target.addHandler(handler)
        handler.setLevel(level)
        target.setLevel(level)
