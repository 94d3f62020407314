"""What every generation's handlers share: Go's JSON, request parsing, timestamps, errors.

The real servers are Go programs: their JSON encoder, their decoder's reading of bad input
(lone surrogates, invalid UTF-8, a wrong type), ``strconv.ParseInt`` for query parameters and
RFC 3339 timestamps are the same on every generation, so they are written once here. What a
generation does with them (its routes, error format, limits) is in its own module.

Statuses are the real servers' (checked against both, live and in the golden transcripts). The
texts of Go's decoding errors are close to theirs but approximate, a known difference kept on
purpose: in a type error Go names the struct (``CreateUserRequest.user_id``) where this names
the field (``user_id``); a number beyond ``float64`` or a fractional ``token_count`` is not
quoted back; ``-Infinity`` and a damaged ``urn:uuid:`` prefix are worded a little differently.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
import uuid as _uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from .._models import Message, build_unvalidated
from ._go import number_fits, parse_uuid, stored_json, stored_text, time_error

__all__ = [
    "GO_ZERO_TIME",
    "JSON_TYPE",
    "NIL_UUID",
    "TEXT_TYPE",
    "HTTPError",
    "MessageIn",
    "bad_request",
    "body_uuid",
    "check_time",
    "construct",
    "encode",
    "field",
    "json_body",
    "metadata_field",
    "not_found",
    "parse_messages",
    "path_id",
    "pick",
    "query_int",
    "query_int_or",
    "str_field",
    "str_uuid",
    "struct_message",
    "text_field",
    "ts",
]

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
NIL_UUID = "00000000-0000-0000-0000-000000000000"
TEXT_TYPE = "text/plain; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
_INT = re.compile(r"^[+-]?[0-9]+$")


class HTTPError(Exception):
    """Raised by a handler: answer ``status`` with ``text`` in the generation's error format.

    ``more`` are further errors the real handler writes into the same response after the first
    (it carries on after reporting one): each in the generation's format, one after the other.
    """

    def __init__(self, status: int, text: str, *more: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.texts = (text, *more)


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


class EscapedText(str):
    r"""A JSON string value that was sent with escapes in it; ``raw``: its bytes as sent.

    Go parses a time from the raw bytes of its JSON string, escapes included (both real
    servers answer ``"2020-01-01T00:00:00\u005A"`` with 400 ``cannot parse "\u005A"``):
    the times of a body keep what was sent for :func:`check_time`.
    """

    raw: bytes


#: Fields whose string values are times Go parses from their raw bytes.
_TIME_FIELDS = frozenset({"created_at", "updated_at"})


def _scan_keeping_escapes(s: str, end: int, strict: bool = True) -> tuple[str, int]:
    value, after = json.decoder.scanstring(s, end, strict)  # type: ignore[attr-defined]
    sent = s[end : after - 1]
    if "\\" not in sent:
        return value, after
    escaped = EscapedText(value)
    escaped.raw = sent.encode("utf-8", "surrogatepass")
    return escaped, after


def _go_json(value: Any, key: str | None = None) -> Any:
    if isinstance(value, str):
        text = _go_text(value)
        if type(text) is EscapedText and key not in _TIME_FIELDS:
            return str.__str__(text)
        return text
    if isinstance(value, list):
        return [_go_json(v) for v in value]
    if isinstance(value, dict):
        return {_go_text(k): _go_json(v, k) for k, v in value.items()}
    return value


def _go_kind(value: object) -> str:
    """The JSON kind Go names in its decoding errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def _float(text: str) -> float:
    value = float(text)
    if not number_fits(value):
        raise HTTPError(400, f"json: cannot unmarshal number {text} into Go value of type float64")
    return value


def _int(text: str) -> int:
    value = int(text)
    if not number_fits(value):
        raise HTTPError(400, f"json: cannot unmarshal number {text} into Go value of type float64")
    return value


def _constant(text: str) -> Any:
    raise HTTPError(400, f"invalid character '{text[0]}' looking for beginning of value")


_DECODER = json.JSONDecoder(parse_float=_float, parse_int=_int, parse_constant=_constant)
# The same, string values sent with escapes marked (EscapedText): a slower, pure-Python scan,
# for the bodies that have a time field and an escape.
_ESCAPES_DECODER = json.JSONDecoder(parse_float=_float, parse_int=_int, parse_constant=_constant)
_ESCAPES_DECODER.parse_string = _scan_keeping_escapes  # type: ignore[attr-defined]
_ESCAPES_DECODER.scan_once = json.scanner.py_make_scanner(_ESCAPES_DECODER)  # type: ignore[attr-defined]


async def json_body(request: Request, what: str = "object") -> dict[str, Any]:
    """The request's JSON object, decoded as Go does (``null`` is ``{}``), else a 400.

    Go reads every number into a ``float64``: one beyond its range is refused, as are ``NaN``
    and ``Infinity`` (not JSON). ``what`` is the Go type named when the body is no object.
    """
    raw = await request.body()
    # Go's decoder reads invalid UTF-8 as U+FFFD; an empty body is "unexpected EOF".
    text = raw.decode("utf-8", "replace")
    if not text.strip():
        raise HTTPError(400, "EOF")
    decoder = _ESCAPES_DECODER if "\\" in text and "_at" in text else _DECODER
    try:
        body = decoder.decode(text)
    except (ValueError, RecursionError) as exc:
        raise HTTPError(400, f"invalid JSON body: {exc}") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise HTTPError(
            400, f"json: cannot unmarshal {_go_kind(body)} into Go value of type {what}"
        )
    converted: dict[str, Any] = _go_json(body)
    return converted


def field(body: Mapping[str, Any], name: str, kind: type, go_type: str, go_name: str = "") -> Any:
    """A body field of the expected JSON type (``None`` if absent or null), else Go's 400.

    ``go_name`` is the field as Go's error names it (default: ``name``).
    """
    value = body.get(name)
    wrong_type = not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
    if value is not None and wrong_type:
        raise HTTPError(
            400,
            f"json: cannot unmarshal {_go_kind(value)} into Go struct field {go_name or name} "
            f"of type {go_type}",
        )
    return value


def str_field(body: Mapping[str, Any], name: str) -> str | None:
    """A string field of the body (``None`` if absent or null), as Go decoded it."""
    value: str | None = field(body, name, str, "string")
    return value


def text_field(body: Mapping[str, Any], name: str) -> str | None:
    """A string field as a real server stores it in a ``text`` column (empty: ``None``)."""
    value = str_field(body, name)
    return stored_text(value) or None if value is not None else None


def metadata_field(body: Mapping[str, Any], name: str = "metadata") -> dict[str, Any] | None:
    """A metadata object of the body as Go decoded it (``None`` if absent or null).

    Any JSON object passes, as on the real servers; :func:`~._go.stored_json` gives what they
    store of it.
    """
    value: dict[str, Any] | None = field(body, name, dict, "map[string]interface {}")
    return value


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


def query_int_or(request: Request, name: str, default: int, *, trim: bool) -> int:
    """Like :func:`query_int`, but a value that does not parse means ``default``."""
    try:
        return query_int(request, name, trim=trim)
    except HTTPError:
        return default


def path_id(request: Request, name: str) -> str:
    """A user or session id from the path, as the real servers look it up.

    Any id: they take what the router decoded (bun drops a NUL from the query).
    """
    return stored_text(request.path_params[name])


def body_uuid(value: object, field_name: str) -> _uuid.UUID | None:
    """A message uuid from a JSON body: absent, ``null`` or the nil uuid mean "server's choice".

    Parsed as ``uuid.UUID``'s JSON decoder does: an empty string is a uuid of length 0.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise HTTPError(
            400,
            f"json: cannot unmarshal {_go_kind(value)} into Go struct "
            f"field {field_name} of type uuid.UUID",
        )
    try:
        parsed = parse_uuid(value)
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None
    return None if parsed.int == 0 else parsed


def check_time(value: object) -> None:
    """A 400 in Go's words if ``time.Time``'s JSON decoder refuses ``value``.

    A value sent with escapes (:class:`EscapedText`) is parsed from its bytes as sent, as Go does.
    """
    problem = time_error(value, value.raw if type(value) is EscapedText else None)
    if problem is not None:
        raise HTTPError(400, problem)


_M = TypeVar("_M", bound=BaseModel)
_DEFAULTS: dict[type[BaseModel], tuple[dict[str, Any], list[str]]] = {}


def construct(model: type[_M], **values: Any) -> _M:
    """A library model holding ``values`` as they are: the real servers' rules, not the library's.

    Fields not given take their defaults (like pydantic's ``model_construct``, at a fraction of
    its cost: a write of 65 messages builds 65 of them).
    """
    known = _DEFAULTS.get(model)
    if known is None:
        fields = model.model_fields
        known = _DEFAULTS[model] = (
            {
                name: None if info.is_required() or info.default_factory else info.default
                for name, info in fields.items()
            },
            [name for name, info in fields.items() if info.default_factory is not None],
        )
    defaults, factories = known
    given = {**defaults, **values}
    for name in factories:
        if name not in values:
            given[name] = model.model_fields[name].get_default(call_default_factory=True)
    return build_unvalidated(model, given)


class MessageIn:
    """One message of a ``POST .../memory`` body, parsed but not validated as a model yet.

    ``created_at`` and ``updated_at`` are checked as Go decodes them, then ignored: both real
    servers stamp a message with its time of arrival.
    """

    __slots__ = ("content", "metadata", "role", "role_type", "uuid")

    def __init__(self, raw: object, index: int, struct: str) -> None:
        if not isinstance(raw, dict):
            raise HTTPError(
                400,
                f"json: cannot unmarshal {_go_kind(raw)} into Go struct field "
                f"{struct}.messages of type {struct_message(struct)}",
            )
        self.role: str = str_field(raw, "role") or ""
        self.role_type: str = str_field(raw, "role_type") or ""
        self.content: str = str_field(raw, "content") or ""
        self.metadata = metadata_field(raw, "metadata")
        self.uuid = body_uuid(raw.get("uuid"), "Message.messages.uuid")
        check_time(raw.get("created_at"))
        check_time(raw.get("updated_at"))
        if raw.get("token_count") is not None:
            field(raw, "token_count", int, "int", "Message.messages.token_count")

    def model(self, role_type: Any) -> Message:
        """The message as the real servers store it (no checks of the library's own)."""
        return construct(
            Message,
            role=stored_text(self.role),
            role_type=role_type,
            content=stored_text(self.content),
            metadata=None if self.metadata is None else stored_json(self.metadata),
            uuid=self.uuid,
            created_at=None,
        )


def struct_message(struct: str) -> str:
    """The Go type of one message in the add request ``struct``."""
    return "apidata.Message" if struct == "AddMemoryRequest" else "models.Message"


async def parse_messages(request: Request, struct: str = "Memory") -> tuple[list[MessageIn], bool]:
    """The messages of a ``POST .../memory`` body, and whether ``messages`` was absent or null.

    ``struct`` is the Go type of the body (``Memory`` on v0.27, ``AddMemoryRequest`` on CE).
    """
    package = "models" if struct == "Memory" else "apidata"
    body = await json_body(request, f"{package}.{struct}")
    raw = body.get("messages")
    if raw is not None and not isinstance(raw, list):
        raise HTTPError(
            400,
            f"json: cannot unmarshal {_go_kind(raw)} into Go struct field "
            f"{struct}.messages of type []{struct_message(struct)}",
        )
    return [MessageIn(m, i, struct) for i, m in enumerate(raw or [])], raw is None
