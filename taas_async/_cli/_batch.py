"""``taas orders place-batch FILE``: many orders from a CSV or JSON lines file.

Every row is read and validated first; one bad row (or a malformed file)
prints every problem by line number and column and sends nothing (exit 2).
Then the orders are placed concurrently, each row's result kept in file
order: the order placed, or its error. Exit 1 if any row failed, 3 if any
row's outcome is unknown (look it up by ``custom_order_id`` before placing
it again), 0 otherwise.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import types
import typing
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

import anyio
import attrs
import click

from taas_async import (
    AsyncClient,
    Order,
    OrderOutcomeUnknownError,
    PlaceOrderRequest,
    RequestValidationError,
)
from taas_async._cli._app import (
    EXIT_API,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    command,
    json_option,
    new_custom_order_id,
    orders,
)
from taas_async._cli._output import Output

__all__ = ["BatchError", "BatchFileError", "Result", "parse_batch", "place_batch"]

_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _field_kinds() -> dict[str, str]:
    """Each ``PlaceOrderRequest`` field and how a CSV cell becomes its value."""
    kinds: dict[str, str] = {}
    for field in attrs.fields(PlaceOrderRequest):
        types_ = set(typing.get_args(field.type)) if _is_union(field.type) else {field.type}
        types_.discard(type(None))
        origins = {typing.get_origin(t) or t for t in types_}
        if field.name == "accounts":
            kinds[field.name] = "accounts"
        elif bool in origins:
            kinds[field.name] = "bool"
        elif int in origins:
            kinds[field.name] = "whole"
        elif dict in origins:
            kinds[field.name] = "object"
        else:
            kinds[field.name] = "text"  # decimals, enums, datetimes: the model reads text
    return kinds


def _is_union(tp: Any) -> bool:
    return isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union


#: How a CSV cell is read, by column: text as is, or converted first.
KINDS = _field_kinds()
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


@attrs.frozen
class BatchError:
    """One problem in a batch file: its line, the column or key (if any), what is wrong."""

    line: int
    field: str | None
    message: str

    def render(self, noun: str) -> str:
        """``line 4, column pair: ...`` (``noun`` is ``column`` or ``key``)."""
        if self.field is None:
            return f"line {self.line}: {self.message}"
        plural = "s" if ", " in self.field else ""
        return f"line {self.line}, {noun}{plural} {self.field}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return {"line": self.line, "field": self.field, "message": self.message}


class BatchFileError(Exception):
    """The file's problems, raised once reading has found them all."""

    def __init__(self, errors: list[BatchError]) -> None:
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


# --------------------------------------------------------------------------- reading


def _split_accounts(value: Any) -> Any:
    """``"a;b"`` as ``["a", "b"]`` (a list is kept; anything else is left for the model)."""
    if isinstance(value, str):
        return [name.strip() for name in value.split(";")]
    return value


def _cell(name: str, text: str) -> Any:
    """A CSV cell as the value of field ``name`` (ValueError: what is wrong with it)."""
    kind = KINDS.get(name, "text")
    if kind == "accounts":
        return _split_accounts(text)
    if kind == "whole":
        try:
            return Decimal(text)  # the model checks that it is whole and in range
        except InvalidOperation:
            raise ValueError(f"expected a whole number, got {text!r}") from None
    if kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if kind == "object":
        try:
            value = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a JSON object: {exc.msg}") from None
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {type(value).__name__}")
        return value
    return text


#: A row as read: its line, its fields, and the problems found reading it (by field).
_Row = tuple[int, dict[str, Any], list[BatchError]]


def _csv_rows(text: str) -> tuple[list[_Row], list[BatchError]]:
    """Each CSV row after the header, its non-empty cells converted; and the file's problems."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[_Row] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if header is None:
                header = [cell.strip() for cell in cells]
                problems = _header_problems(line, header)
                if problems:
                    return [], problems  # the rows cannot be read without their columns
                continue
            rows.append(_csv_row(line, header, cells))
    except csv.Error as exc:
        return rows, [BatchError(reader.line_num, None, f"malformed CSV: {exc}")]
    if header is None:
        return [], [BatchError(1, None, "empty file: expected a header row of column names")]
    return rows, []


def _header_problems(line: int, header: list[str]) -> list[BatchError]:
    if not any(name in KINDS for name in header):
        return [
            BatchError(
                line,
                None,
                "no header row: the first row must name the columns"
                " (accounts, pair, side, strategy, base_asset_qty, ...)",
            )
        ]
    errors: list[BatchError] = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append(BatchError(line, name, "duplicate column"))
        elif name not in KINDS:
            errors.append(
                BatchError(line, name or "(empty)", "unknown column: not a PlaceOrderRequest field")
            )
        seen.add(name)
    return errors


def _csv_row(line: int, header: list[str], cells: list[str]) -> _Row:
    if len(cells) != len(header):
        found = f"{len(cells)} cells, the header has {len(header)} columns"
        return line, {}, [BatchError(line, None, found)]
    row: dict[str, Any] = {}
    errors: list[BatchError] = []
    for name, raw in zip(header, cells, strict=True):
        text = raw.strip()
        if not text:
            continue  # an empty cell: the field is left out
        try:
            row[name] = _cell(name, text)
        except ValueError as exc:
            errors.append(BatchError(line, name, str(exc)))
    return line, row, errors


def _jsonl_rows(text: str) -> tuple[list[_Row], list[BatchError]]:
    """Each JSON lines object (``accounts`` may be a ``;``-joined string); no file-wide problems."""
    rows: list[_Row] = []
    # "\n" only: splitlines() would also split at U+2028 and the like, which a JSON
    # string may hold, and shift every line number after it.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line, raw in enumerate(lines, start=1):
        content = raw.removesuffix("\r")
        if not content.strip():
            continue
        try:
            value = json.loads(content, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            found = f"invalid JSON: {exc.msg} (column {exc.colno})"
            rows.append((line, {}, [BatchError(line, None, found)]))
            continue
        if not isinstance(value, dict):
            found = f"expected a JSON object, got {_json_type(value)}"
            rows.append((line, {}, [BatchError(line, None, found)]))
            continue
        if "accounts" in value:
            value["accounts"] = _split_accounts(value["accounts"])
        rows.append((line, value, []))
    return rows, []


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def parse_batch(text: str, fmt: str) -> list[tuple[int, PlaceOrderRequest]]:
    """The file's orders by line number, every one valid.

    Raises:
        BatchFileError: every problem found in the whole file, by line.

    """
    rows, errors = (_csv_rows if fmt == "csv" else _jsonl_rows)(text)
    requests: list[tuple[int, PlaceOrderRequest]] = []
    first_line: dict[str, int] = {}
    for line, row, found in rows:
        errors.extend(found)
        if found and not row:
            continue  # the line could not be read at all
        coid = row.get("custom_order_id")
        if isinstance(coid, str) and coid in first_line:
            errors.append(BatchError(line, "custom_order_id", f"repeats line {first_line[coid]}"))
        elif isinstance(coid, str):
            first_line[coid] = line
        try:
            request = PlaceOrderRequest.from_dict(row)
        except RequestValidationError as exc:
            # A cell that could not be read was left out: not "is required" as well.
            unread = {error.field for error in found}
            errors.extend(
                BatchError(line, f, "; ".join(r))
                for f, r in exc.errors.items()
                if not unread.intersection(f.split(", "))
            )
            continue
        if not found:
            requests.append((line, request))
    if not requests and not errors:
        errors.append(BatchError(1, None, "no orders in the file"))
    if errors:
        raise BatchFileError(errors)
    return requests


# --------------------------------------------------------------------------- placing


@attrs.frozen
class Result:
    """What became of one row: its order, or its error."""

    line: int
    custom_order_id: str | None
    order: Order | None = None
    error: Exception | None = None
    interrupted: bool = False  # Ctrl-C came before this row had its answer
    sent: bool = False  # ... and its request may have left (its outcome is unknown)

    @property
    def status(self) -> str:
        """``placed``, ``failed``, ``unknown`` (it may have landed: look it up), ``not sent``."""
        if self.order is not None:
            return "placed"
        if self.interrupted:
            return "unknown" if self.sent else "not sent"
        return "unknown" if isinstance(self.error, OrderOutcomeUnknownError) else "failed"

    @property
    def error_text(self) -> str | None:
        """The error as one line (None: placed)."""
        if self.interrupted:
            return (
                "interrupted while it was being placed: look it up by custom_order_id"
                if self.sent
                else "interrupted before it was sent"
            )
        if self.error is None:
            return None
        return " ".join(f"{type(self.error).__name__}: {self.error}".split())

    def record(self) -> dict[str, Any]:
        """The row for ``--out``: line, custom_order_id, order_id, status, error."""
        return {
            "line": self.line,
            "custom_order_id": self.custom_order_id,
            "order_id": self.order.id if self.order is not None else None,
            "status": self.status,
            "error": self.error_text,
        }


def _result(line: int, request: PlaceOrderRequest, outcome: Order | Exception) -> Result:
    if isinstance(outcome, Order):
        return Result(line, outcome.custom_order_id or request.custom_order_id, order=outcome)
    coid = getattr(outcome, "custom_order_id", None) or request.custom_order_id
    return Result(line, coid, error=outcome)


class Placing:
    """A batch on its way: each row's result as it ends, and which rows went out."""

    def __init__(self, batch: Sequence[tuple[int, PlaceOrderRequest]]) -> None:
        self.batch = batch
        self.results: list[Result | None] = [None] * len(batch)
        self.sent: set[int] = set()  # indices whose request may have left

    def settled(self) -> list[Result]:
        """Every row's result, in file order; after an interruption, what is known.

        A row sent without an answer is ``unknown`` (look it up by its
        ``custom_order_id``); a row never sent is ``not sent``.
        """
        settled = []
        for index, (line, request) in enumerate(self.batch):
            result = self.results[index]
            if result is None:
                sent = index in self.sent
                result = Result(line, request.custom_order_id, interrupted=True, sent=sent)
            settled.append(result)
        return settled


async def place_batch(
    client: AsyncClient,
    placing: Placing,
    max_concurrency: int,
    on_result: Callable[[Result], None] = lambda _: None,
) -> list[Result]:
    """Place every order, at most ``max_concurrency`` in flight; results in file order.

    Each placement is ``client.place_orders`` of that one order (so one failure
    never stops the others, and an error names its ``custom_order_id``);
    ``on_result`` is called as each one ends (a progress bar, the ``--out`` file).
    """
    limiter = anyio.CapacityLimiter(max_concurrency)

    async def place(index: int) -> None:
        line, request = placing.batch[index]
        async with limiter:
            placing.sent.add(index)
            [outcome] = await client.place_orders([request], max_concurrency=1)
        result = placing.results[index] = _result(line, request, outcome)
        on_result(result)

    async with anyio.create_task_group() as group:
        for index in range(len(placing.batch)):
            group.start_soon(place, index)
    return placing.settled()


# --------------------------------------------------------------------------- output


def _open_out(path: Path) -> tuple[str, IO[str]]:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise click.UsageError(f"--out {path}: expected a .csv, .jsonl or .ndjson file")
    try:
        return fmt, path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise click.UsageError(f"--out {path}: {exc.strerror}") from None


def _write_out(fmt: str, stream: IO[str], results: Sequence[Result]) -> None:
    """The results from the start of the file: a header (CSV), then one row per result."""
    stream.seek(0)
    stream.truncate()
    if fmt == "csv":
        csv.DictWriter(stream, fieldnames=list(Result(0, None).record())).writeheader()
    for result in results:
        _append_out(fmt, stream, result)


def _append_out(fmt: str, stream: IO[str], result: Result) -> None:
    """One more result, on disk at once: a crash loses no row that was answered."""
    record = result.record()
    if fmt == "csv":
        csv.DictWriter(stream, fieldnames=list(record)).writerow(record)
    else:
        stream.write(json.dumps(record, separators=(",", ":")) + "\n")
    stream.flush()


def _show(out: Output, results: Sequence[Result]) -> None:
    if out.as_json:
        for result in results:
            record = result.record()
            record["order"] = result.order.to_dict() if result.order is not None else None
            out.json(record)
        return
    counts = {s: sum(r.status == s for r in results) for s in ("placed", "failed", "unknown")}
    if any(r.status == "not sent" for r in results):
        counts["not sent"] = sum(r.status == "not sent" for r in results)
    out.table(
        ("line", "custom_order_id", "order id or error"),
        (
            (r.line, r.custom_order_id, r.order.id if r.order is not None else r.error_text)
            for r in results
        ),
        title=", ".join(f"{n} {s}" for s, n in counts.items()),
    )


def _exit_code(results: Sequence[Result]) -> int:
    statuses = {result.status for result in results}
    if "unknown" in statuses:
        return EXIT_UNKNOWN
    return EXIT_API if "failed" in statuses else EXIT_OK


def _read(file: str, fmt: str | None) -> tuple[str, str]:
    """The file's text and format (``-``: stdin, with ``--format``)."""
    if fmt is None:
        fmt = _FORMATS.get(Path(file).suffix.lower()) if file != "-" else None
        if fmt is None:
            raise click.UsageError(
                f"{file}: say --format csv or --format jsonl (or name a .csv, .jsonl or .ndjson)"
            )
    data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    try:
        return data.decode("utf-8-sig"), fmt
    except UnicodeDecodeError as exc:
        raise click.UsageError(
            f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None


@orders.command("place-batch")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="The file's format (for stdin)."
)
@click.option(
    "--max-concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Orders in flight at once.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write each row's result to a .csv or .jsonl file.",
)
@json_option
@command
async def place_batch_command(
    client: AsyncClient,
    out: Output,
    *,
    file: str,
    fmt: str | None,
    max_concurrency: int,
    out_path: Path | None,
) -> int:
    """Place one order per row of a CSV or JSON lines FILE (- for stdin).

    Columns (CSV) or keys (JSON lines) are PlaceOrderRequest's fields;
    accounts holds one name or several joined by ';'. Every row is checked
    first: any problem is printed by line and column and nothing is sent.
    """
    text, fmt = _read(file, fmt)
    try:
        batch = parse_batch(text, fmt)
    except BatchFileError as problems:
        _report(out, problems.errors, "column" if fmt == "csv" else "key")
        return EXIT_USAGE
    # Every row carries its custom_order_id before anything is sent: a row whose
    # answer never comes (a crash, Ctrl-C) can be looked up by it, not placed twice.
    for _, request in batch:
        request.custom_order_id = request.custom_order_id or new_custom_order_id()
    out_file = _open_out(out_path) if out_path is not None else None
    placing = Placing(batch)
    interrupted = False
    try:
        if out_file is not None:
            _write_out(out_file[0], out_file[1], [])  # the header, before the first answer
        on_result = (
            (lambda result: _append_out(out_file[0], out_file[1], result))
            if out_file is not None
            else (lambda _: None)
        )
        try:
            results = await _place_with_progress(client, out, placing, max_concurrency, on_result)
        except (KeyboardInterrupt, anyio.get_cancelled_exc_class()):
            interrupted = True
            results = placing.settled()
        if out_file is not None:
            _write_out(out_file[0], out_file[1], results)  # again, in file order
    finally:
        if out_file is not None:
            out_file[1].close()
    _show(out, results)
    if interrupted:
        unknown = [r for r in results if r.status == "unknown"]
        for result in unknown:
            out.error(
                f"line {result.line}: interrupted while being placed, it may have landed:"
                f" look it up by custom_order_id={result.custom_order_id} before sending it again"
            )
        return EXIT_UNKNOWN if unknown else EXIT_INTERRUPTED
    return _exit_code(results)


def _report(out: Output, errors: Sequence[BatchError], noun: str) -> None:
    if out.as_json:
        out.json({"errors": [error.to_dict() for error in errors]})
        return
    for error in errors:
        out.error(error.render(noun))


async def _place_with_progress(
    client: AsyncClient,
    out: Output,
    placing: Placing,
    max_concurrency: int,
    on_result: Callable[[Result], None],
) -> list[Result]:
    if not out.live:
        return await place_batch(client, placing, max_concurrency, on_result)
    from rich.progress import Progress  # noqa: PLC0415 (only a terminal draws it)

    with Progress(console=out.console, transient=True) as progress:
        task = progress.add_task("placing", total=len(placing.batch))

        def advance(result: Result) -> None:
            on_result(result)
            progress.advance(task)

        return await place_batch(client, placing, max_concurrency, advance)
