"""What ``taas`` prints: tables and bars for a person, JSON for a script.

Colour and live bars only when stdout is a terminal (rich decides; ``NO_COLOR``
is honoured). ``--json`` prints one JSON document, or JSON lines for lists
and watches, with decimals as strings (``to_dict()``).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from taas_async._export import decimal_text

__all__ = ["Output"]

#: The width of a table written to a pipe or a file: as wide as its widest row.
_UNBOUNDED = 100_000


def _cell(value: Any) -> str:
    """A table cell: enums by value, exact decimals, times to the second, nested data as JSON.

    Decimals as in ``to_dict()``: plain notation (``0.00000001``, not ``1E-8``)
    where that is short.
    """
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


class Output:
    """Where a command writes: stdout for results, stderr for errors."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        # Not a terminal: no width to fit, so no column is cut (an id, an amount).
        self.console = Console(highlight=False, soft_wrap=False)
        if not self.console.is_terminal:
            self.console = Console(highlight=False, soft_wrap=False, width=_UNBOUNDED)

    @property
    def live(self) -> bool:
        """Whether bars and live tables may be drawn (a terminal, and not --json)."""
        return not self.as_json and self.console.is_terminal

    def json(self, data: Any) -> None:
        """One JSON document on its own line (a JSON line, for lists and watches)."""
        sys.stdout.write(json.dumps(data, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def table(
        self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
    ) -> None:
        """A table for a person (no colour where stdout is not a terminal)."""
        table = Table(title=title, show_lines=False)
        for column in columns:
            table.add_column(column)
        for row in rows:
            # Text: what the server sent ("[red]" in a failure reason) is shown as
            # is, never read as rich markup.
            table.add_row(*(Text("" if cell is None else _cell(cell)) for cell in row))
        self.console.print(table)

    def fields(self, data: Mapping[str, Any], *, title: str | None = None) -> None:
        """One record as ``name  value`` lines (an order, a result)."""
        self.table(
            ("field", "value"),
            ((k, v) for k, v in data.items() if v not in (None, [], {})),
            title=title,
        )

    def error(self, message: str) -> None:
        """One clear line on stderr (never wrapped: a script may grep it)."""
        line = " ".join(message.split())
        sys.stderr.write(f"error: {line}\n")
        sys.stderr.flush()
