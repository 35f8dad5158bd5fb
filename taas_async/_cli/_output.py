"""What ``taas`` prints: tables and bars for a person, JSON for a script.

Colour and live bars only when stdout is a terminal (rich decides; ``NO_COLOR``
is honoured). ``--json`` prints one JSON document, or JSON lines for lists
and watches, with decimals as strings (``to_dict()``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["Output"]


class Output:
    """Where a command writes: stdout for results, stderr for errors."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self.console = Console(highlight=False, soft_wrap=False)

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
            table.add_row(*("" if cell is None else str(cell) for cell in row))
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
