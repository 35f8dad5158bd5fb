"""Numbers in requests, replies and the sandbox: exact, and bounded so that none can explode.

``int()`` of ``Decimal("1e999999")`` is a million-digit integer (24 s of CPU);
``1e999999999`` exhausts memory. Every number the SDK accepts, from the
caller or from the server, is held to the bounds here, checked at a cost
that never grows with the value's magnitude.
"""

import math
import re
from decimal import Clamped, Context, Decimal, Inexact, InvalidOperation, Overflow, Subnormal
from typing import Any, Union

__all__ = [
    "DECIMAL_BOUNDS",
    "MAX_DECIMAL_DIGITS",
    "MAX_DECIMAL_EXPONENT",
    "MAX_NUMBER_TEXT",
    "WHOLE_NUMBER_LIMIT",
    "DecimalInput",
    "opt_decimal",
    "plain_length",
    "required_whole_number",
    "shown",
    "to_decimal",
    "to_whole_number",
    "whole_number",
    "wire_decimal",
]

#: What quantity and price fields accept. Floats go through ``str()`` first.
DecimalInput = Union[Decimal, int, str, float]  # noqa: UP007 (a runtime alias on 3.10)

# Numbers: bounds that keep the cost of every number in proportion to its text.
# ``int()`` of ``Decimal("1e999999")`` is a million-digit integer (24 s of CPU);
# ``1e999999999`` exhausts memory. Requests, replies and the sandbox share these.

#: |exponent| of a decimal in scientific notation (``Decimal.adjusted()``): 1e-100 to 9.99e100.
MAX_DECIMAL_EXPONENT = 100
#: Significant digits of a decimal, first to last non-zero one (``1.50``: 2, ``1E+2``: 1).
MAX_DECIMAL_DIGITS = 100
#: Characters of a number's text (a JSON number, a numeric string, a decimal's plain
#: notation as sent): room for every decimal within the two bounds above, and no more.
MAX_NUMBER_TEXT = MAX_DECIMAL_DIGITS + MAX_DECIMAL_EXPONENT + 10
#: Whole numbers (durations, priorities, pages, counts) are below this in magnitude.
WHOLE_NUMBER_LIMIT = 2**63

#: Rounding a finite decimal to this context signals nothing exactly when it is within
#: the bounds: more digits are Inexact, a larger or smaller exponent Overflow or
#: Subnormal, a zero with an exponent outside -199..100 Clamped. One C call, used on
#: the hot reply path (``Decimal.as_tuple()`` costs ten times as much).
DECIMAL_BOUNDS = Context(
    prec=MAX_DECIMAL_DIGITS,
    Emax=MAX_DECIMAL_EXPONENT,
    Emin=-MAX_DECIMAL_EXPONENT,
    traps=[Inexact, Overflow, Subnormal, Clamped, InvalidOperation],
)
_TOO_BIG_FOR_A_DECIMAL = 10 ** (MAX_DECIMAL_EXPONENT + 1)  # |int| from here on: exponent > 100
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SHOWN_CHARS = 40


def shown(value: Any) -> str:
    """``repr(value)`` for an error message, cut short (a number may be 5000 digits long)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"  # repr() of 10**5000 is costly
    if isinstance(value, str) and len(value) > _SHOWN_CHARS:
        return f"{value[:_SHOWN_CHARS]!r}... ({len(value)} characters)"
    text = repr(value)
    if len(text) > _SHOWN_CHARS:
        return f"{text[:_SHOWN_CHARS]}... ({len(text)} characters)"
    return text


def to_decimal(value: DecimalInput) -> Decimal:
    """Exact Decimal from Decimal, int, str or float (through ``str()``); no NaN, inf or bool.

    Within the bounds: at most ``MAX_DECIMAL_DIGITS`` significant digits, an
    exponent within +-``MAX_DECIMAL_EXPONENT``, and text of at most
    ``MAX_NUMBER_TEXT`` characters. The same rules as reply fields.
    """
    if isinstance(value, bool):
        raise TypeError("expected a number, got a bool")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        if not -_TOO_BIG_FOR_A_DECIMAL < value < _TOO_BIG_FOR_A_DECIMAL:
            # Checked before Decimal(value), which is quadratic in the digits.
            raise ValueError(_exponent_out_of_range(value))
        result = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value!r}")
        result = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_TEXT:
            raise ValueError(_too_long(value, len(text)))
        # Plain ASCII notation only: Decimal() also takes "1_000" and other scripts' digits.
        if not _DECIMAL_TEXT.fullmatch(text):
            raise ValueError(f"not a decimal number: {shown(value)}")
        result = Decimal(text)
    else:
        raise TypeError(f"expected Decimal, int, str or float, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"must be a finite number, got {shown(value)}")
    if not result.is_zero() and abs(result.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise ValueError(_exponent_out_of_range(value))
    try:
        DECIMAL_BOUNDS.plus(result)
    except Inexact:
        raise ValueError(
            f"too many significant digits (at most {MAX_DECIMAL_DIGITS}): {shown(value)}"
        ) from None
    except ArithmeticError:  # a zero with an exponent out of range (0E+999999)
        raise ValueError(_exponent_out_of_range(value)) from None
    return result


def wire_decimal(value: DecimalInput) -> Decimal:
    """A request field's decimal: ``to_decimal``, and its plain notation (as sent) fits too.

    ``Decimal("1.000...")`` with 5000 zeros has one significant digit, but would be sent
    as 5002 characters, which the server (and the sandbox) may refuse to read.
    """
    result = to_decimal(value)
    plain = plain_length(result)
    if plain > MAX_NUMBER_TEXT:
        raise ValueError(_too_long(value, plain, written=" in plain notation"))
    return result


def plain_length(number: Decimal) -> int:
    """``len(format(number, "f"))`` of a finite decimal, without writing it out."""
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 (finite: checked by the caller)
    n = len(digits)
    if exponent >= 0:
        length = 1 if number.is_zero() else n + exponent
    elif n > -exponent:
        length = n + 1  # 12.5: the point inside the digits
    else:
        length = 2 - exponent  # 0.05: "0." and the fraction
    return length + sign


def _exponent_out_of_range(value: Any) -> str:
    # 1e5000000 would be a 5 MB body, and int() of it minutes of CPU.
    return f"exponent out of range (|exponent| <= {MAX_DECIMAL_EXPONENT}): {shown(value)}"


def _too_long(value: Any, length: int, written: str = "") -> str:
    return f"too long for a number{written} ({length} characters, at most {MAX_NUMBER_TEXT})"


def opt_decimal(value: DecimalInput | None) -> Decimal | None:
    return None if value is None else wire_decimal(value)


def to_whole_number(value: int | Decimal | float | str) -> int:
    """Exact int from int, Decimal, float or numeric text; no bool.

    Integral only, of magnitude below ``WHOLE_NUMBER_LIMIT``: the magnitude of
    a Decimal is read from its exponent before any ``int()`` of it, so
    ``Decimal("1e999999")`` is refused at once, not after 24 s of CPU.
    """
    if isinstance(value, bool):
        raise TypeError("expected a whole number, got a bool")
    if isinstance(value, int):
        if -WHOLE_NUMBER_LIMIT < value < WHOLE_NUMBER_LIMIT:
            return int(value)
        raise ValueError(_whole_out_of_range(value))
    number: Decimal
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"must be a whole number, got {value!r}")
        number = Decimal(value)  # exact, and at most 309 digits before the point
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_TEXT:
            raise ValueError(_too_long(value, len(text)))
        if not _DECIMAL_TEXT.fullmatch(text):
            raise ValueError(f"not a whole number: {shown(value)}")
        number = Decimal(text)
    else:
        raise TypeError(f"expected a whole number, got {type(value).__name__}")
    if not number.is_finite():
        raise ValueError(f"must be a whole number, got {shown(value)}")
    if number.is_zero():
        return 0
    exponent = number.adjusted()  # |number| is in [10**exponent, 10**(exponent + 1))
    if exponent >= 19:  # 10**19 > 2**63: out of range whatever its digits
        raise ValueError(_whole_out_of_range(value))
    if exponent < 0 or number != number.to_integral_value():
        raise ValueError(f"must be a whole number, got {shown(value)}")
    result = int(number)  # at most 19 digits
    if -WHOLE_NUMBER_LIMIT < result < WHOLE_NUMBER_LIMIT:
        return result
    raise ValueError(_whole_out_of_range(value))


def _whole_out_of_range(value: Any) -> str:
    return f"out of range (must be above -2**63 and below 2**63): {shown(value)}"


def whole_number(value: int | Decimal | float | None) -> int | None:
    if value is None:
        return None
    given: object = value  # typed as a number, but callers may pass anything
    if isinstance(given, str):  # a request field is a number, not text
        raise TypeError("expected a whole number, got str")
    return to_whole_number(value)


def required_whole_number(value: int | Decimal | float) -> int:
    result = whole_number(value)
    if result is None:
        raise TypeError("expected a whole number, got None")
    return result
