"""What every generation's handlers share: Go's JSON, request parsing, timestamps, errors.

The real servers are Go programs: their JSON encoder, their decoder's reading of bad input
(lone surrogates, invalid UTF-8, a wrong type), ``strconv.ParseInt`` for query parameters and
RFC 3339 timestamps are the same on every generation, so they are written once here. What a
generation does with them (its routes, error format, limits) is in its own module.
"""

from __future__ import annotations

import json
import re
import uuid as _uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request

from .._errors import InvalidInputError
from .._models import Message, check_id, check_metadata

__all__ = [
    "GO_ZERO_TIME",
    "JSON_TYPE",
    "NIL_UUID",
    "TEXT_TYPE",
    "HTTPError",
    "MessageIn",
    "bad_request",
    "encode",
    "field",
    "json_body",
    "metadata_field",
    "not_found",
    "parse_created_at",
    "parse_messages",
    "parse_uuid",
    "path_id",
    "pick",
    "query_int",
    "query_int_or",
    "str_field",
    "str_uuid",
    "ts",
]

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
NIL_UUID = "00000000-0000-0000-0000-000000000000"
TEXT_TYPE = "text/plain; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
_INT = re.compile(r"^[+-]?[0-9]+$")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", re.IGNORECASE)


class HTTPError(Exception):
    """Raised by a handler: answer ``status`` with ``text`` in the generation's error format."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def bad_request(text: str) -> HTTPError:
    """Both servers' 400 for input their handlers refuse: ``bad request: <text>``."""
    return HTTPError(400, f"bad request: {text}")


def not_found() -> HTTPError:
    """Both servers' 404 for a user or session that does not exist."""
    return HTTPError(404, "not found")


def encode(data: Any) -> str:
    """Go's ``json.Encoder``: compact, one trailing newline."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


# -- wire formats ------------------------------------------------------------------------------


def ts(value: datetime | None) -> str | None:
    """A timestamp as Go's RFC 3339 (nano) encoding writes it: UTC, no trailing zeros."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    text = value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if "." in text:
        head, frac = text[:-1].split(".")
        frac = frac.rstrip("0")
        text = f"{head}.{frac}Z" if frac else f"{head}Z"
    return text


def str_uuid(value: _uuid.UUID | None) -> str:
    """A uuid as Go writes it; unset is the nil uuid."""
    return str(value) if value else NIL_UUID


def pick(items: Sequence[tuple[str, Any, bool]]) -> dict[str, Any]:
    """Build a JSON object in field order; a field marked ``omitempty`` is left out if empty."""
    return {k: v for k, v, omitempty in items if not (omitempty and not v)}


# -- request parsing -----------------------------------------------------------------------------


def _go_text(value: str) -> str:
    """A decoded JSON string as Go keeps it: lone surrogates become U+FFFD."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _go_json(value: Any) -> Any:
    if isinstance(value, str):
        return _go_text(value)
    if isinstance(value, list):
        return [_go_json(v) for v in value]
    if isinstance(value, dict):
        return {_go_text(k): _go_json(v) for k, v in value.items()}
    return value


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, decoded as Go does (``null`` is ``{}``), else a 400."""
    raw = await request.body()
    # Go's decoder reads invalid UTF-8 as U+FFFD; an empty body is "unexpected EOF".
    text = raw.decode("utf-8", "replace")
    if not text.strip():
        raise HTTPError(400, "EOF")
    try:
        body = json.loads(text)
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise HTTPError(
                400, f"json: cannot unmarshal {type(body).__name__} into Go value of type object"
            )
        converted: dict[str, Any] = _go_json(body)
    except (ValueError, RecursionError) as exc:
        raise HTTPError(400, f"invalid JSON body: {exc}") from None
    return converted


def field(body: Mapping[str, Any], name: str, kind: type, go_type: str) -> Any:
    """A body field of the expected JSON type (``None`` if absent or null), else Go's 400."""
    value = body.get(name)
    wrong_type = not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
    if value is not None and wrong_type:
        raise HTTPError(
            400,
            f"json: cannot unmarshal {type(value).__name__} into Go struct field {name} "
            f"of type {go_type}",
        )
    return value


def str_field(body: Mapping[str, Any], name: str) -> str | None:
    """A string field of the body (``None`` if absent or null)."""
    value: str | None = field(body, name, str, "string")
    return value


def metadata_field(body: Mapping[str, Any], name: str = "metadata") -> dict[str, Any] | None:
    """A metadata object of the body (``None`` if absent or null)."""
    value = field(body, name, dict, "map[string]interface {}")
    try:
        return check_metadata(value, name)
    except InvalidInputError as exc:
        raise bad_request(exc.message) from None


def query_int(request: Request, name: str, *, trim: bool) -> int:
    """An integer query parameter the way Go's ``strconv.ParseInt`` reads it (absent: 0)."""
    raw = request.query_params.get(name, "")
    if trim:
        raw = raw.strip()
    if raw == "":
        return 0
    if not _INT.match(raw):
        raise HTTPError(400, f'strconv.ParseInt: parsing "{raw}": invalid syntax')
    value = int(raw)
    if not -(2**63) <= value < 2**63:
        raise HTTPError(400, f'strconv.ParseInt: parsing "{raw}": value out of range')
    return value


def query_int_or(request: Request, name: str, default: int) -> int:
    """Like :func:`query_int`, but a value that does not parse means ``default``."""
    try:
        return query_int(request, name, trim=True)
    except HTTPError:
        return default


def path_id(request: Request, name: str) -> str:
    """A user or session id from the path."""
    value = request.path_params[name]
    try:
        return check_id(value, name)
    except InvalidInputError as exc:
        raise bad_request(exc.message) from None


def parse_uuid(value: object, field_name: str) -> _uuid.UUID | None:
    """A uuid from a JSON body: absent, empty or the nil uuid mean "let the server choose"."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HTTPError(
            400,
            f"json: cannot unmarshal {type(value).__name__} into Go struct "
            f"field {field_name} of type uuid.UUID",
        )
    try:
        parsed = _uuid.UUID(value)
    except ValueError:
        raise HTTPError(400, f"invalid UUID format: {value!r} in {field_name}") from None
    return None if parsed.int == 0 else parsed


def parse_created_at(value: object, field_name: str) -> datetime | None:
    """A client's ``created_at``: RFC 3339 with an offset, and representable in UTC.

    The real servers parse it (Go's ``time.Time``, RFC 3339 only) and then stamp the message
    themselves; this server keeps it (so exported conversations re-import with their times),
    and so refuses one it could not serve back: a time whose UTC form falls outside years
    1..9999 (``9999-12-31T23:00:00-05:00``) would make every later read of the session fail.
    """
    if value is None or value == "" or value == GO_ZERO_TIME:
        return None
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise HTTPError(
            400,
            f'parsing time {json.dumps(value)} as "2006-01-02T15:04:05Z07:00": '
            f"cannot parse {field_name}",
        )
    text = value.upper().replace("Z", "+00:00")
    head, _, rest = text.partition(".")
    if rest:  # the fraction, to microseconds (what every supported Python parses)
        digits = rest[: len(rest) - 6]
        text = f"{head}.{(digits + '000000')[:6]}{rest[len(digits) :]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(f"{field_name} {value!r} is not a valid RFC 3339 time") from None
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise bad_request(
            f"{field_name} {value!r} is out of range: its time in UTC must fall in years 1 to 9999"
        ) from None


class MessageIn:
    """One message of a ``POST .../memory`` body, parsed but not validated as a model yet."""

    __slots__ = ("content", "created_at", "metadata", "role", "role_type", "uuid")

    def __init__(self, raw: object, index: int) -> None:
        name = f"messages[{index}]"
        if not isinstance(raw, dict):
            raise HTTPError(
                400,
                f"json: cannot unmarshal {type(raw).__name__} into Go value "
                f"of type Message ({name})",
            )
        self.role: str = str_field(raw, "role") or ""
        self.role_type: str = str_field(raw, "role_type") or ""
        self.content: str = str_field(raw, "content") or ""
        self.metadata = metadata_field(raw, "metadata")
        self.uuid = parse_uuid(raw.get("uuid"), f"{name}.uuid")
        self.created_at = parse_created_at(raw.get("created_at"), f"{name}.created_at")
        parse_created_at(raw.get("updated_at"), f"{name}.updated_at")
        if raw.get("token_count") is not None:
            field(raw, "token_count", int, "int")

    def model(self, role_type: str) -> Message:
        """The library's message (400 if the model refuses it)."""
        try:
            return Message(
                role=self.role,
                role_type=role_type,
                content=self.content,
                metadata=self.metadata,
                uuid=self.uuid,
                created_at=self.created_at,
            )
        except InvalidInputError as exc:
            raise bad_request(exc.message) from None


async def parse_messages(request: Request) -> tuple[list[MessageIn], bool]:
    """The messages of a ``POST .../memory`` body, and whether ``messages`` was absent."""
    body = await json_body(request)
    raw = body.get("messages")
    if raw is not None and not isinstance(raw, list):
        raise HTTPError(
            400,
            f"json: cannot unmarshal {type(raw).__name__} into Go struct field "
            "messages of type []Message",
        )
    return [MessageIn(m, i) for i, m in enumerate(raw or [])], raw is None
