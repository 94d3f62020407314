r"""What the real servers' Go code and PostgreSQL do to the values they are sent.

Both real servers (Zep 0.27.2 and Zep CE 1.0.2, measured alike) decode a request with Go's
``encoding/json`` (every number a ``float64``), write it with bun (which formats each query on
the client side) to PostgreSQL: metadata into ``jsonb`` columns, ids, content, role, e-mail and
names into ``text`` columns. So:

- :func:`stored_json`: a metadata value as it is stored and read back. A number becomes the
  nearest ``float64``, which Go writes in its shortest form and ``jsonb`` keeps as an exact
  decimal and prints without exponent: a whole-valued number (``1.0``, ``-0.0``, ``1e308``, an
  integer beyond 2^53 once rounded) comes back as a JSON integer, any other number exactly. A
  NUL in a string or key becomes the six characters ``\\u0000`` (bun rewrites Go's ``\\u0000``
  escape, which ``jsonb`` refuses).
- :func:`stored_text`: a string in a ``text`` column: NUL characters are dropped.
- :func:`go_number`: a number as Go itself writes a ``float64`` (the answers that echo what was
  sent rather than what was stored).
- :func:`parse_uuid`: ``github.com/google/uuid``'s ``Parse``, with its error texts.
- :func:`time_error`: why ``time.Time``'s JSON decoder (Go 1.22) refuses a value, in its words.
"""

from __future__ import annotations

import math
import re
import uuid as _uuid
from decimal import Decimal
from typing import Any

__all__ = [
    "echo_metadata",
    "go_number",
    "number_fits",
    "parse_uuid",
    "stored_json",
    "stored_text",
    "time_error",
]


#: Every integer up to this magnitude is exactly a float64 (2^53).
_EXACT = 2**53


def _whole(value: float) -> int:
    """A whole-valued float as the integer its shortest decimal form spells."""
    return int(Decimal(repr(value)))


def stored_json(value: Any) -> Any:
    """``value`` (decoded JSON) as a real server stores it in ``jsonb`` and reads it back."""
    if value is None or isinstance(value, bool):
        return value
    if type(value) is int and -_EXACT <= value <= _EXACT:
        return value  # a float64 holds it exactly
    if isinstance(value, (int, float)):
        number = float(value)
        return _whole(number) if number.is_integer() else number
    if isinstance(value, str):
        return value.replace("\x00", "\\u0000") if "\x00" in value else value
    if isinstance(value, list):
        return [stored_json(v) for v in value]
    if isinstance(value, dict):
        return {k.replace("\x00", "\\u0000"): stored_json(v) for k, v in value.items()}
    return value  # pragma: no cover - decoded JSON holds nothing else


def stored_text(value: str) -> str:
    """``value`` as a real server stores it in a ``text`` column (NUL characters dropped)."""
    return value.replace("\x00", "")


def go_number(value: Any) -> Any:
    """``value`` (decoded JSON) re-encoded by Go without a trip through ``jsonb``.

    A number is a ``float64``, written in fixed notation (so read back as an integer if whole)
    when ``1e-6 <= |x| < 1e21``, else with an exponent (read back as a float).
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        if number.is_integer() and abs(number) < 1e21:
            return _whole(number)
        return number
    if isinstance(value, list):
        return [go_number(v) for v in value]
    if isinstance(value, dict):
        return {k: go_number(v) for k, v in value.items()}
    return value  # pragma: no cover


def echo_metadata(sent: dict[str, Any] | None, stored: dict[str, Any] | None) -> Any:
    """The metadata a create (or a session update) answers with.

    The server scans the row it wrote back into the map it was sent: a top-level key the
    database changed (one holding a NUL) is then there twice, as sent and as stored.
    """
    if not sent or stored is None:
        return stored
    extra = {k: go_number(v) for k, v in sent.items() if "\x00" in k}
    return {**stored, **extra} if extra else stored


def number_fits(value: float | int) -> bool:
    """Whether Go's decoder can read this JSON number into a ``float64``."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


# -- uuids ---------------------------------------------------------------------------------------

_HEX = frozenset("0123456789abcdefABCDEF")


def parse_uuid(text: str) -> _uuid.UUID:
    """A uuid the way ``uuid.Parse`` reads it; ``ValueError`` with its message otherwise.

    Accepted: ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx``, the same in braces (any two characters
    around it, in fact) or after ``urn:uuid:``, and 32 hex digits. The length is in bytes.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size == 36 + 9:
        if text[:9].lower() != "urn:uuid:":
            raise ValueError(f'invalid urn prefix: "{text[:9]}"')
        text = text[9:]
    elif size == 36 + 2:
        text = text[1:-1]
    elif size == 32:
        if not set(text) <= _HEX:
            raise ValueError("invalid UUID format")
        return _uuid.UUID(hex=text)
    elif size != 36:
        raise ValueError(f"invalid UUID length: {size}")
    if len(text) != 36 or any(text[i] != "-" for i in (8, 13, 18, 23)):
        raise ValueError("invalid UUID format")
    digits = text.replace("-", "")
    if len(digits) != 32 or not set(digits) <= _HEX:
        raise ValueError("invalid UUID format")
    return _uuid.UUID(hex=digits)


# -- time.Time's JSON decoder ----------------------------------------------------------------------

_LAYOUT = "2006-01-02T15:04:05Z07:00"
# The layout's chunks: the literal before each element, the element.
_CHUNKS = (("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05"))
_RANGES = {
    "01": ("month", 1, 12),
    "15": ("hour", 0, 23),
    "04": ("minute", 0, 59),
    "05": ("second", 0, 59),
}
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _quote(raw: bytes) -> str:
    r"""Go's ``time.quote``: bytes outside printable ASCII as ``\xHH``; ``"``, ``\`` escaped."""
    out = ['"']
    for byte in raw:
        if byte >= 0x80 or byte < 0x20:
            out.append(f"\\x{byte:02x}")
        else:
            char = chr(byte)
            out.append("\\" + char if char in '"\\' else char)
    out.append('"')
    return "".join(out)


def _days_in(month: int, year: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS[month - 1] if 1 <= month <= 12 else 31


def _digit(raw: bytes, i: int) -> bool:
    return i < len(raw) and 0x30 <= raw[i] <= 0x39


def _getnum(raw: bytes, fixed: bool) -> tuple[int, bytes] | None:
    """Go's ``getnum``: one or two digits (two if ``fixed``); ``None`` if there are none."""
    if not _digit(raw, 0):
        return None
    if not _digit(raw, 1):
        return None if fixed else (raw[0] - 0x30, raw[1:])
    return (raw[0] - 0x30) * 10 + raw[1] - 0x30, raw[2:]


_CANONICAL = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)", re.ASCII
)


def _fine(value: str) -> bool:
    """The common case, quickly: a canonical RFC 3339 time whose fields are all in range."""
    match = _CANONICAL.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = map(int, match.groups())
    return (
        1 <= month <= 12
        and 1 <= day <= _days_in(month, year)
        and hour <= 23
        and minute <= 59
        and second <= 59
    )


def time_error(value: object, raw: bytes | None = None) -> str | None:
    """Why Go 1.22's ``time.Time.UnmarshalJSON`` refuses ``value`` (``None``: it accepts it).

    ``null`` is the zero time; anything but a string is refused; a string is parsed as
    ``time.RFC3339`` (the strict checks of Go 1.20 are switched off in 1.22: a one-digit hour,
    a comma before the fraction or an offset of ``+99:99`` pass). Go parses the string's raw
    JSON bytes, escapes included: give them as ``raw`` when known (else the string's UTF-8).
    """
    if value is None:
        return None
    if not isinstance(value, str):
        return "Time.UnmarshalJSON: input is not a JSON string"
    if raw is None and _fine(value):
        return None
    raw = value.encode("utf-8", "surrogatepass") if raw is None else raw

    def cannot(elem: bytes, layout_elem: str) -> str:
        return (
            f"parsing time {_quote(raw)} as {_quote(_LAYOUT.encode())}: cannot parse "
            f"{_quote(elem)} as {_quote(layout_elem.encode())}"
        )

    def out_of_range(what: str) -> str:
        return f"parsing time {_quote(raw)}: {what} out of range"

    rest = raw
    fields: dict[str, int] = {}
    for prefix, elem in _CHUNKS:
        if not rest.startswith(prefix.encode()):
            for i, char in enumerate(prefix.encode()):  # how far the literal matched
                if i >= len(rest) or rest[i] != char:
                    return cannot(rest[i:], prefix)
        rest = rest[len(prefix) :]
        hold = rest
        if elem == "2006":
            if len(rest) < 4 or not all(_digit(rest, i) for i in range(4)):
                return cannot(hold, elem)
            fields["year"], rest = int(rest[:4]), rest[4:]
            continue
        got = _getnum(rest, fixed=elem != "15")  # the hour may have one digit
        if got is None:
            return cannot(hold, elem)
        if elem in _RANGES and not _RANGES[elem][1] <= got[0] <= _RANGES[elem][2]:
            return out_of_range(_RANGES[elem][0])
        fields[elem], rest = got
        if elem == "05" and len(rest) >= 2 and rest[:1] in (b".", b",") and _digit(rest, 1):
            n = 2
            while _digit(rest, n):
                n += 1
            rest = rest[n:]
    hold = rest
    if rest[:1] == b"Z":
        rest = rest[1:]
    elif (
        len(rest) < 6
        or rest[3:4] != b":"
        or rest[:1] not in (b"+", b"-")
        or _getnum(rest[1:3], fixed=True) is None
        or _getnum(rest[4:6], fixed=True) is None
    ):
        return cannot(hold, "Z07:00")
    else:
        rest = rest[6:]
    if rest:
        return f"parsing time {_quote(raw)}: extra text: {_quote(rest)}"
    if not 1 <= fields["02"] <= _days_in(fields["01"], fields["year"]):
        return f"parsing time {_quote(raw)}: day out of range"
    return None
