r"""The data model: users own sessions, sessions hold messages (pydantic v2).

Every model validates on the way in and raises :class:`~zep_memory_plugins.InvalidInputError`
(never pydantic's own ``ValidationError``) naming the field that was wrong.

The value rule
--------------
Whatever the library accepts comes back exactly from every backend, or is refused before
anything is stored. The real Zep servers (open-source 0.27 and Community Edition, measured)
keep metadata in PostgreSQL ``jsonb`` after decoding it through Go's ``float64``, and text in
``text`` columns; what they would change, every backend refuses alike:

- **No NUL character** (U+0000) in any text: content, role, e-mail, names, ids, metadata keys
  and strings. The servers drop it from text and rewrite it as the six characters ``\u0000``
  in metadata.
- **Metadata numbers a 64-bit float keeps**: integers within ±(2**53 - 1)
  (:data:`MAX_METADATA_INTEGER`, the I-JSON range of RFC 7493), and finite floats that are not
  whole numbers. A whole float (``0.0``, ``-0.0``, ``2.0``, ``1e308``) comes back from the
  servers as an integer, so it is refused: store the int.
- **A message's ``created_at``** must lie within years 1 to 9999 once in UTC.

The LangChain and LlamaIndex adapters keep their lossless copy of a message as one JSON
string (see :func:`check_json_value`'s ``packed``), which every backend keeps exactly: 64-bit
integers, whole floats and NUL characters inside it survive.
"""

from __future__ import annotations

import gc
import json
import math
import os
import re
import threading
import time
import uuid as _uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, TypeVar, get_args

import pydantic
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ._errors import InvalidInputError

__all__ = [
    "MAX_COUNT",
    "MAX_ID_LENGTH",
    "MAX_METADATA_DEPTH",
    "MAX_METADATA_INTEGER",
    "MAX_METADATA_LENGTH",
    "MAX_MESSAGE_CONTENT_LENGTH",
    "MAX_TEXT_LENGTH",
    "CREATED_AT_KEY",
    "RESERVED_MESSAGE_KEYS",
    "ROLE_TYPES",
    "ROLE_TYPE_KEY",
    "CreateUserRequest",
    "Memory",
    "Message",
    "MessagePage",
    "RoleType",
    "Session",
    "UpdateUserRequest",
    "User",
    "check_id",
    "check_json_value",
    "check_message_metadata",
    "check_metadata",
    "check_text",
    "deep_merge",
    "new_message_uuid",
    "new_session_id",
    "pack_json",
    "unpack_json",
    "utcnow",
]

#: Longest user or session id accepted. Ids travel in URL paths on the Zep backend, and an id
#: this long is nearly always a bug (a message passed where an id was meant).
MAX_ID_LENGTH = 1024

#: Longest message content accepted, in characters. Zep stores content in a text column with no
#: limit of its own; this bound keeps one runaway message from filling the store or a request.
MAX_MESSAGE_CONTENT_LENGTH = 2_000_000

#: Longest ``role``, ``email``, ``first_name`` or ``last_name`` accepted, in characters.
MAX_TEXT_LENGTH = 4096

#: Most characters one metadata object may hold: the lengths of all its keys and string values
#: added up, each number, boolean or null counting as one. Room for a full-size message twice
#: over (the LangChain and LlamaIndex adapters keep a copy of the message in its metadata).
MAX_METADATA_LENGTH = 4 * MAX_MESSAGE_CONTENT_LENGTH

#: Deepest nesting of dicts and lists accepted in metadata (the top-level dict is level 1).
MAX_METADATA_DEPTH = 64

#: Largest count (``limit``, ``cursor``, ``lastn``, ``chunk_size``), and largest magnitude of an
#: integer inside an adapter's packed message copy: a signed 64-bit integer.
MAX_COUNT = 2**63 - 1

#: Largest magnitude of an integer in metadata: Zep servers decode metadata numbers into 64-bit
#: floats, which hold every integer up to 2**53 exactly (the I-JSON range, RFC 7493).
MAX_METADATA_INTEGER = 2**53 - 1

#: Message-metadata key under which the Zep backend keeps a ``created_at`` the caller gave (the
#: real servers stamp messages on arrival); restored on read and hidden from callers.
CREATED_AT_KEY = "zep_memory_created_at"
#: Message-metadata key under which the Zep backend keeps a role type ``/api/v1`` cannot carry.
ROLE_TYPE_KEY = "_zep_memory_role_type"
#: Message-metadata keys the library writes itself: refused in callers' metadata on every
#: backend, so that what a caller stores comes back the same from each.
RESERVED_MESSAGE_KEYS: tuple[str, ...] = (CREATED_AT_KEY, ROLE_TYPE_KEY)

RoleType = Literal["user", "assistant", "system", "tool", "function", "norole"]
#: The role types Zep knows, in the order Zep's documentation lists them.
ROLE_TYPES: tuple[str, ...] = get_args(RoleType)

_FORBIDDEN_IDS = frozenset({".", ".."})
#: Characters an id may not contain: on Zep an id is a URL path segment, and these would end
#: it early or be decoded into another id ("jane#x" would address user "jane").
_URL_RESERVED = frozenset("/?#%\\")


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(timezone.utc)


def new_message_uuid() -> _uuid.UUID:
    """Return a fresh, time-ordered message uuid (UUID version 7, RFC 9562).

    Uuids that grow with time land next to each other in a store's uuid index, so a batch of
    new messages touches a few index pages instead of one page per message.
    """
    return new_message_uuids(1)[0]


_V7_MASK = ~((0xF << 76) | (0x3 << 62))
_V7_BITS = (0x7 << 76) | (0x2 << 62)  # version 7, RFC 4122 variant


def new_message_uuids(count: int) -> list[_uuid.UUID]:
    """``count`` fresh message uuids (see :func:`new_message_uuid`), made together.

    One clock reading and one call for random bytes for the whole batch: they share their
    millisecond, their 74 random bits differ.
    """
    stamp = (time.time_ns() // 1_000_000) << 80
    random = os.urandom(10 * count)
    return [
        uuid_from_int(((stamp | int.from_bytes(random[i : i + 10], "big")) & _V7_MASK) | _V7_BITS)
        for i in range(0, 10 * count, 10)
    ]


def new_session_id() -> str:
    """Return a fresh random session id (32 hex characters, like ``uuid.uuid4().hex``)."""
    return _uuid.uuid4().hex


def check_id(value: object, field: str = "id") -> str:
    r"""Validate a user or session id and return it.

    Raises :class:`InvalidInputError` for a non-string (``bytes`` included), an empty or blank
    id, an id with control characters or a lone surrogate (UTF-8 cannot encode it) or any of
    ``/ ? # % \`` (ids are URL path segments on the Zep backend), ``.``
    or ``..``, or one longer than :data:`MAX_ID_LENGTH`.
    """
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field} must be a string, not {type(value).__name__}", field=field
        )
    if not value.strip():
        raise InvalidInputError(f"{field} must not be empty", field=field)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInputError(
            f"{field} is {len(value)} characters long; the limit is {MAX_ID_LENGTH}", field=field
        )
    if not value.isprintable():
        if any(_is_control(c) for c in value):
            raise InvalidInputError(
                f"{field} must not contain control characters: {value!r}", field=field
            )
        _check_encodable(value, field)
    if value in _FORBIDDEN_IDS or not _URL_RESERVED.isdisjoint(value):
        raise InvalidInputError(
            f"{field} must not contain / ? # % or \\, nor be '.' or '..' "
            f"(ids are URL path segments in Zep): {value!r}",
            field=field,
        )
    return value


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029)


def _check_encodable(value: str, field: str) -> None:
    """Refuse a string holding a lone surrogate (such as U+D800): UTF-8 cannot encode it."""
    found = _SURROGATE.search(value)
    if found is not None:
        raise InvalidInputError(_surrogate_message(field, value, found.start()), field=field)


def _surrogate_message(field: str, value: str, at: int) -> str:
    excerpt = value[max(0, at - 20) : at + 20]
    return (
        f"{field} holds a lone surrogate {value[at]!r} at index {at} (in {excerpt!r}), "
        "which UTF-8 cannot encode"
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(value: object, field: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    """Validate a free-text value (a role, an email, a name, a message's content) and return it.

    Raises :class:`InvalidInputError` for a non-string (``bytes`` included), a string longer
    than ``max_length``, one holding a NUL character (see the value rule in this module's
    docstring) or a lone surrogate.
    """
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field} must be a string, not {type(value).__name__}", field=field
        )
    if len(value) > max_length:
        raise InvalidInputError(
            f"{field} is {len(value)} characters long; the limit is {max_length}", field=field
        )
    if "\x00" in value:
        raise InvalidInputError(_nul_message(field, value), field=field)
    if not value.isascii():
        _check_encodable(value, field)
    return value


def _nul_message(field: str, value: str) -> str:
    at = value.index("\x00")
    return (
        f"{field} holds a NUL character (U+0000) at index {at}, which Zep servers drop or "
        "rewrite: it would not come back as given"
    )


def _no_nul(value: str | None, info: pydantic.ValidationInfo) -> str | None:
    """A model's text field holds no NUL character (the value rule)."""
    if value is not None and "\x00" in value:
        field = info.field_name or "text"
        raise InvalidInputError(_nul_message(field, value), field=field)
    return value


def check_message_metadata(value: object, field: str = "metadata") -> dict[str, Any] | None:
    """:func:`check_metadata` for a message, refusing the :data:`RESERVED_MESSAGE_KEYS` too."""
    checked = check_metadata(value, field)
    if checked:
        for key in RESERVED_MESSAGE_KEYS:
            if key in checked:
                raise InvalidInputError(
                    f"message metadata key {key!r} is reserved by the library",
                    field=f"{field}.{key}",
                )
    return checked


def check_metadata(value: object, field: str = "metadata") -> dict[str, Any] | None:
    """Validate metadata: a JSON object that every backend gives back exactly.

    Refused with :class:`InvalidInputError` naming the place: anything that is not a dict at the
    top, keys that are not strings, values JSON cannot carry (sets, bytes, datetimes, NaN...),
    lone surrogates or NUL characters in keys or strings, integers beyond
    ±:data:`MAX_METADATA_INTEGER`, whole-valued floats (``2.0``: Zep gives back ``2``), nesting
    deeper than :data:`MAX_METADATA_DEPTH` or circular, more than :data:`MAX_METADATA_LENGTH`
    characters in all. See the value rule in this module's docstring.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{field} must be a dict, not {type(value).__name__}", field=field)
    copy = dict(value)
    check_json_value(copy, field)
    return copy


def check_json_value(
    value: object,
    field: str,
    *,
    exact: bool = False,
    allow_models: bool = False,
    packed: bool = False,
) -> None:
    """Check that JSON can carry ``value`` (see :func:`check_metadata`); raise if not.

    ``exact`` also refuses what JSON carries but gives back changed (tuples come back as
    lists, enums as plain values); ``allow_models`` lets pydantic models through (stored as
    their JSON dicts). ``packed`` is for a value that travels inside one JSON string (an
    adapter's copy of a message) rather than as metadata: its numbers need not fit a 64-bit
    float (integers within the signed 64-bit range, any finite float) and its strings may hold
    NUL characters, since every backend keeps a string exactly.
    """
    if type(value) is dict and not value:  # the common case of the adapters' extra fields
        return
    try:
        size = _json_size(value, 1, exact, allow_models, not packed)
    except _RefusalError as refusal:
        path = field + "".join(reversed(refusal.where))
        problem = refusal.problem
        if problem == _TOO_DEEP and _circular(value, set()):
            problem = "contains itself (circular)"
        shown = path if len(path) <= 200 else f"{path[:100]}...{path[-100:]}"
        raise InvalidInputError(f"{shown} {problem}", field=path) from None
    if size > MAX_METADATA_LENGTH:
        raise InvalidInputError(
            f"{field} holds {size} characters; the limit is {MAX_METADATA_LENGTH}", field=field
        )


class _RefusalError(Exception):
    """What is wrong (``problem``) and where: ``where`` collects the path, innermost first.

    Raised and extended while unwinding, so that the walk builds no path strings when all is
    well (exceptions cost nothing until raised).
    """

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.where: list[str] = []


_TOO_DEEP = f"is nested more than {MAX_METADATA_DEPTH} levels deep"
_NUL = "holds a NUL character (U+0000), which Zep servers rewrite as the text '\\u0000'"
_EXACT = (bool, str, int, float)


def _json_size(value: object, depth: int, exact: bool, models: bool, zep: bool) -> int:
    """Walk ``value``; return its size (string lengths, 1 per other leaf) or raise _RefusalError.

    ``zep``: the value rule of metadata (no NUL, numbers a 64-bit float keeps exactly).
    """
    if type(value) is str:
        if zep and "\x00" in value:
            raise _RefusalError(_NUL)
        if not value.isascii():
            found = _SURROGATE.search(value)
            if found is not None:
                raise _RefusalError(_surrogate_message("", value, found.start()).lstrip())
        if len(value) > MAX_METADATA_LENGTH:
            raise _RefusalError(
                f"is {len(value)} characters long; metadata holds at most {MAX_METADATA_LENGTH}"
            )
        return len(value) or 1
    if type(value) is int:
        if zep and not -MAX_METADATA_INTEGER <= value <= MAX_METADATA_INTEGER:
            raise _RefusalError(
                "is an integer beyond ±(2**53 - 1): Zep servers keep metadata numbers as "
                "64-bit floats and would give it back rounded. Store it as a string"
            )
        if not -MAX_COUNT <= value <= MAX_COUNT:
            raise _RefusalError("is an integer outside the signed 64-bit range")
        return 1
    if value is None or type(value) is bool:
        return 1
    if type(value) is float:
        if not math.isfinite(value):
            raise _RefusalError(f"is {value!r}, which JSON cannot carry")
        if zep and value.is_integer():
            raise _RefusalError(
                f"is the whole-valued float {value!r}, which Zep servers give back as an "
                "integer: store an int (or a float with a fraction)"
            )
        return 1
    if isinstance(value, dict):
        if depth > MAX_METADATA_DEPTH:
            raise _RefusalError(_TOO_DEEP)
        total = 0
        for key, item in value.items():
            if type(key) is not str and (exact or not isinstance(key, str)):
                raise _RefusalError(
                    f"has a key of type {type(key).__name__}; JSON object keys must be strings"
                )
            if zep and "\x00" in key:
                raise _RefusalError(f"has a key {key!r} that {_NUL}")
            if not key.isascii():
                found = _SURROGATE.search(key)
                if found is not None:
                    raise _RefusalError(_surrogate_message("has a key that", key, found.start()))
            try:
                total += (len(key) or 1) + _json_size(item, depth + 1, exact, models, zep)
            except _RefusalError as refusal:
                refusal.where.append(f".{key}")
                raise
        return total
    if isinstance(value, list) or (not exact and isinstance(value, tuple)):
        if depth > MAX_METADATA_DEPTH:
            raise _RefusalError(_TOO_DEEP)
        total = 0
        index = 0
        try:
            for index, item in enumerate(value):  # noqa: B007 (read on the error path)
                total += _json_size(item, depth + 1, exact, models, zep)
        except _RefusalError as refusal:
            refusal.where.append(f"[{index}]")
            raise
        return total
    if isinstance(value, (str, int, float)):  # subclasses: enums and the like
        if exact:
            base = next(t.__name__ for t in _EXACT if isinstance(value, t))
            raise _RefusalError(
                f"holds a {type(value).__name__}, which would come back as a plain {base}"
            )
        plain = (
            str.__str__(value)
            if isinstance(value, str)
            else int(value)
            if isinstance(value, int)
            else float(value)
        )
        return _json_size(plain, depth, exact, models, zep)
    if models and isinstance(value, BaseModel):
        return 1
    hint = " (it would come back as a list)" if isinstance(value, tuple) else ""
    raise _RefusalError(f"holds a {type(value).__name__}, which JSON cannot carry exactly{hint}")


def _circular(value: object, open_: set[int]) -> bool:
    """Whether ``value`` contains itself (only called once a walk went too deep)."""
    if isinstance(value, (dict, list, tuple)):
        if id(value) in open_:
            return True
        if len(open_) > MAX_METADATA_DEPTH + 1:
            return False
        open_.add(id(value))
        items = value.values() if isinstance(value, dict) else value
        found = any(_circular(item, open_) for item in items)
        open_.discard(id(value))
        return found
    return False


def deep_merge(base: Mapping[str, Any] | None, update: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into a copy of ``base`` the way Zep merges metadata.

    Nested dicts merge key by key; any other value replaces what was there. Keys are never
    removed.
    """
    merged: dict[str, Any] = dict(base or {})
    for key, value in update.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = value
    return merged


def _id(field: str) -> BeforeValidator:
    # Before pydantic's own str validation, which would turn bytes into str.
    return BeforeValidator(lambda v: check_id(v, field))


# Free text: a str (never bytes turned into one), bounded, and UTF-8-encodable (pydantic's
# constrained str refuses lone surrogates with a ``string_unicode`` error).
Text = Annotated[str, Field(strict=True, max_length=MAX_TEXT_LENGTH), AfterValidator(_no_nul)]


def _metadata_validator(v: object) -> dict[str, Any] | None:
    return check_metadata(v)


UserId = Annotated[str, _id("user_id")]
SessionId = Annotated[str, _id("session_id")]
Metadata = Annotated[dict[str, Any] | None, AfterValidator(_metadata_validator)]


class _Model(BaseModel):
    """Base of every model: our own error type instead of pydantic's."""

    # Assignments are checked too: ``message.metadata = {...}`` cannot smuggle in what the
    # constructor refuses. (``model_construct`` remains the explicit, unchecked way.)
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise _invalid(type(self).__name__, exc) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except pydantic.ValidationError as exc:
            raise _invalid(type(self).__name__, exc) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Validate ``obj`` into this model, raising :class:`InvalidInputError` on bad input."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except pydantic.ValidationError as exc:
            raise _invalid(cls.__name__, exc) from None


def _invalid(model: str, exc: pydantic.ValidationError) -> InvalidInputError:
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    ctx = first.get("ctx") or {}
    original = ctx.get("error")
    if isinstance(original, InvalidInputError):
        if original.message.startswith("invalid "):
            return original
        message = original.message
        field = original.field or field
    else:
        message = _explain(first, field)
    count = exc.error_count()
    extra = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
    return InvalidInputError(f"invalid {model}: {message}{extra}", field=field)


def _explain(error: Any, field: str | None) -> str:
    """Pydantic's message for one error, in our words where pydantic's would puzzle."""
    kind = error["type"]
    value = error.get("input")
    name = field or "value"
    if kind == "string_unicode" and isinstance(value, str):
        found = _SURROGATE.search(value)
        text = _surrogate_message(name, value, found.start() if found else 0)
    elif kind == "string_type":
        text = f"{name} must be a string, not {type(value).__name__}"
    elif kind == "string_too_long" and isinstance(value, str):
        limit = (error.get("ctx") or {}).get("max_length")
        text = f"{name} is {len(value)} characters long; the limit is {limit}"
    else:
        return f"{field}: {error['msg']}" if field else str(error["msg"])
    return text


class _UserDetails(_Model):
    """The fields a user is created with, updated through and read back with."""

    user_id: UserId
    email: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    metadata: Metadata = None


class User(_UserDetails):
    """A user of your application, who owns sessions.

    ``user_id``, ``email``, ``first_name``, ``last_name`` and ``metadata`` as given when it was
    created or updated; the rest is assigned by the store.
    """

    id: int | None = Field(default=None, description="Store-assigned integer id; the list cursor.")
    uuid: _uuid.UUID | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CreateUserRequest(_UserDetails):
    """What :meth:`UserClient.add` takes: the new user's id and optional details.

    Fields: ``user_id`` (required), ``email``, ``first_name``, ``last_name``, ``metadata``.
    """


class UpdateUserRequest(_UserDetails):
    """What :meth:`UserClient.update` takes; fields left ``None`` are not changed.

    Fields: ``user_id`` (required, the user to change), ``email``, ``first_name``,
    ``last_name``, ``metadata``. ``metadata`` is deep-merged into the stored metadata; an empty
    dict changes nothing.
    """


class Session(_Model):
    """A conversation, optionally owned by a user.

    ``session_id`` may be left out when adding a session: a fresh id is chosen.
    """

    session_id: SessionId | None = None
    user_id: UserId | None = None
    metadata: Metadata = None
    id: int | None = Field(default=None, description="Store-assigned integer id; the list cursor.")
    uuid: _uuid.UUID | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


def _aware(value: datetime | None) -> datetime | None:
    """A naive timestamp is taken to be UTC, so every backend returns the same instant.

    One that is not within years 1 to 9999 once in UTC (``9999-12-31T23:00:00-05:00``) is
    refused: no backend could give it back (the value rule).
    """
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise InvalidInputError(
            f"created_at {value.isoformat()} is outside years 1 to 9999 once in UTC, which "
            "no backend can store",
            field="created_at",
        ) from None
    return value


def _default_role_type(data: Any) -> Any:
    if isinstance(data, dict) and data.get("role_type") is None:
        role = data.get("role")
        data = {**data, "role_type": role if role in ROLE_TYPES else "norole"}
    return data


class Message(_Model):
    """One chat message.

    ``role`` is the speaker's name (free-form, e.g. ``"Jane"`` or ``"assistant"``); ``role_type``
    is one of :data:`ROLE_TYPES` and defaults to ``role`` when that is a role type, else
    ``"norole"``. ``uuid`` may be chosen by the caller; adding a uuid that is already stored is
    refused.
    """

    role: Text = ""
    role_type: RoleType
    content: Annotated[
        str, Field(strict=True, max_length=MAX_MESSAGE_CONTENT_LENGTH), AfterValidator(_no_nul)
    ]
    metadata: Metadata = None
    uuid: _uuid.UUID | None = None
    created_at: Annotated[datetime | None, AfterValidator(_aware)] = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _fill_role_type(cls, data: Any) -> Any:
        return _default_role_type(data)


class Memory(_Model):
    """A batch of messages, as Zep's ``memory.add_memory`` / ``get_memory`` carry them."""

    messages: list[Message] = Field(default_factory=list)
    metadata: Metadata = None


class MessagePage(_Model):
    """One page of a session's messages, as Zep's paginated messages endpoint returns it."""

    messages: list[Message]
    total_count: int
    row_count: int


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode_text = json.encoder.encode_basestring


def _encode(value: Any) -> str:
    """``_ENCODER.encode(value)``, through a C encoder kept per thread where there is one.

    ``JSONEncoder.encode`` builds its C encoder anew on every call, in Python: a third of the
    cost of encoding a message's metadata. The output is the same: compact, non-ASCII kept,
    NaN and infinities refused, circular references refused (the encoder's ``markers``, empty
    again after each encoding; a failed one starts afresh), what JSON cannot carry a
    ``TypeError``.
    """
    if _make_encoder is None or type(value) is not dict:  # pragma: no cover - no C encoder
        return _ENCODER.encode(value)
    encode = getattr(_encoders, "encode", None)
    if encode is None:
        encode = _encoders.encode = _new_encoder()
    try:
        return "".join(encode(value, 0))
    except BaseException:
        _encoders.encode = None  # its markers may hold what the failed encoding left
        raise


def _new_encoder() -> Any:
    assert _make_encoder is not None
    return _make_encoder({}, _ENCODER.default, _encode_text, None, ":", ",", False, False, False)


_encoders = threading.local()


def pack_json(value: Any) -> str:
    r"""``value`` as one compact JSON text (the adapters' packed copy of a message).

    A string is kept exactly by every backend, so what is packed in it comes back exactly:
    64-bit integers, whole floats and NUL characters (escaped as ``\\u0000`` in the text).
    """
    return _encode(value)


def unpack_json(value: Any) -> Any:
    """What :func:`pack_json` packed.

    A value that is not a string (a copy stored as a JSON object by an earlier release) is
    returned as it is.
    """
    return loads_json(value) if isinstance(value, str) else value


_decode = json.JSONDecoder().decode
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads_json(text: str) -> Any:
    """``json.loads(text)`` for text that is most likely compact JSON the library wrote.

    Straight to the JSON scanner, without ``json.loads``' two whitespace searches (a third of
    its cost on a short text); anything else (whitespace around, trailing text, nothing to
    scan) goes through the full decoder, which raises what it always raised.
    """
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return _decode(text)
    return value if end == len(text) else _decode(text)


def dumps_metadata(metadata: Mapping[str, Any] | None) -> str | None:
    """Serialise validated metadata for storage (``None`` stays ``None``).

    One string under one key (an adapter's packed message copy) is written out directly: the
    same text, at half the encoder's cost.
    """
    if metadata is None:
        return None
    if type(metadata) is dict and len(metadata) == 1:
        for key, value in metadata.items():
            if type(value) is str:
                return "{" + _encode_text(key) + ":" + _encode_text(value) + "}"
    return _encode(metadata)


_M = TypeVar("_M", bound=BaseModel)

# The slots every pydantic model instance has, set straight through their descriptors: a
# fraction of ``object.__setattr__``'s cost, which matters when a read builds 100,000 messages.
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def build_unvalidated(model: type[_M], values: dict[str, Any]) -> _M:
    """Build a model from values the library produced itself, skipping validation.

    Like pydantic's ``model_construct`` with every field given, at a fraction of its cost; for
    rows read back from a store or answers that passed their checks, never for user input.
    ``values`` becomes the instance's ``__dict__`` as it is: give every field, in the model's
    field order (the order dumps and reprs follow). The instance is what validation would have
    built from the same values: equal to it, with every field counted as set, and its
    assignments validated as usual. Only for models without private attributes or extra fields
    (the library's own).
    """
    obj = _new(model)
    _set_dict(obj, values)
    _set_fields_set(obj, set(values))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def build_trusted(
    model: type[_M], values: dict[str, Any], fields_set: set[str], extra: dict[str, Any] | None
) -> _M:
    """An instance of a framework's pydantic model from values a validated instance dumped.

    For models without private attributes or ``model_post_init`` (see
    :func:`plain_model`): ``values`` (every field, in field order) becomes ``__dict__``,
    ``fields_set`` the fields set, ``extra`` the extra fields (``{}`` for a model that allows
    them, ``None`` otherwise), exactly as validation would have set them.
    """
    obj = _new(model)
    _set_dict(obj, values)
    _set_fields_set(obj, fields_set)
    _set_extra(obj, extra)
    _set_private(obj, None)
    return obj


def plain_model(model: type[BaseModel]) -> bool:
    """Whether :func:`build_trusted` builds ``model`` as validation would.

    A model with private attributes or a ``model_post_init`` gets more from validation than its
    fields, and is always validated.
    """
    return not model.__private_attributes__ and model.__pydantic_post_init__ is None


def shallow_copy(obj: _M) -> _M:
    """``obj.model_copy()`` (pydantic's ``__copy__``), at a third of its cost.

    A new instance with copies of the instance's dict, fields set and extra fields (their
    values shared, as in any shallow copy), for a model without private attributes.
    """
    private = obj.__pydantic_private__
    if private is not None:  # pragma: no cover - the adapters' models have none
        return obj.model_copy()
    new = _new(type(obj))
    _set_dict(new, obj.__dict__.copy())
    _set_fields_set(new, obj.__pydantic_fields_set__.copy())
    extra = obj.__pydantic_extra__
    _set_extra(new, None if extra is None else extra.copy())
    _set_private(new, None)
    return new


#: The fields of a :class:`Message`, in order, as :func:`message_unvalidated` sets them.
MESSAGE_FIELDS: frozenset[str] = frozenset(Message.model_fields)


def message_unvalidated(
    role: str,
    role_type: str,
    content: str,
    metadata: dict[str, Any] | None,
    uuid: _uuid.UUID | None,
    created_at: datetime | None,
) -> Message:
    """:func:`build_unvalidated` for a :class:`Message`, from its six fields in order."""
    obj = _new(Message)
    _set_dict(
        obj,
        {
            "role": role,
            "role_type": role_type,
            "content": content,
            "metadata": metadata,
            "uuid": uuid,
            "created_at": created_at,
        },
    )
    _set_fields_set(obj, set(MESSAGE_FIELDS))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


_UUID = _uuid.UUID
_SAFE_UNKNOWN = _uuid.SafeUUID.unknown
_set_uuid_int = _UUID.__dict__["int"].__set__
_set_uuid_safe = _UUID.__dict__["is_safe"].__set__


def uuid_from_int(value: int) -> _uuid.UUID:
    """``uuid.UUID(int=value)`` for an int known to hold 128 bits, without its checks.

    ``uuid.UUID``'s constructor parses its keyword arguments and checks the range; this sets the
    two slots it would set. Falls back to the constructor where ``uuid.UUID`` is built otherwise
    (see :data:`_UUID_SLOTS_WORK`).
    """
    if not _UUID_SLOTS_WORK:
        return _UUID(int=value)
    obj = _new(_UUID)
    _set_uuid_int(obj, value)
    _set_uuid_safe(obj, _SAFE_UNKNOWN)
    return obj


def uuid_from_bytes(value: bytes) -> _uuid.UUID:
    """``uuid.UUID(bytes=value)``, faster; ``ValueError`` unless ``value`` is 16 bytes."""
    if type(value) is not bytes or len(value) != 16:
        raise ValueError(f"a stored uuid is not 16 bytes: {type(value).__name__}")
    return uuid_from_int(int.from_bytes(value, "big"))


def new_message(
    role: object, role_type: object, content: object, metadata: dict[str, Any] | None
) -> Message:
    """``Message(role=..., role_type=..., content=..., metadata=...)``, checked cheaply.

    For the adapters, which build a message from each framework message: the same checks as
    validation (texts that are strings within their limits, without NUL or lone surrogates; a
    role type of :data:`ROLE_TYPES`; metadata that :func:`check_metadata` accepts), done
    directly where the values are plain (strings, and metadata of string values). Anything
    else, and anything they refuse, goes through validation, which raises what it always
    raised. No uuid or time is set (the backend assigns them).
    """
    if (
        type(role) is str
        and type(content) is str
        and role_type in ROLE_TYPES
        and _plain_text(role, MAX_TEXT_LENGTH)
        and _plain_text(content, MAX_MESSAGE_CONTENT_LENGTH)
        and (metadata is None or _plain_metadata(metadata))
    ):
        return message_unvalidated(role, role_type, content, metadata, None, None)
    return Message(role=role, role_type=role_type, content=content, metadata=metadata)


def _plain_text(value: str, limit: int) -> bool:
    """Whether a string passes a model's text checks (length, no NUL, UTF-8 encodable)."""
    return (
        len(value) <= limit
        and "\x00" not in value
        and (value.isascii() or _SURROGATE.search(value) is None)
    )


def _plain_metadata(metadata: dict[str, Any]) -> bool:
    """Whether metadata of string keys and values passes :func:`check_message_metadata`."""
    if type(metadata) is not dict:
        return False
    size = 0
    for key, value in metadata.items():
        if type(key) is not str or type(value) is not str or key in RESERVED_MESSAGE_KEYS:
            return False
        if not (_plain_text(key, MAX_METADATA_LENGTH) and _plain_text(value, MAX_METADATA_LENGTH)):
            return False
        size += (len(key) or 1) + (len(value) or 1)
    return size <= MAX_METADATA_LENGTH


def uuid_from_text(value: str) -> _uuid.UUID:
    """``uuid.UUID(value)``, faster for the canonical form (``8-4-4-4-12`` hex digits).

    The same checks as ``uuid.UUID`` makes of it (32 hex digits once hyphens are removed);
    other forms (braces, ``urn:uuid:``) go through ``uuid.UUID``. ``ValueError`` if it is none.
    """
    if len(value) == 36:
        digits = value.replace("-", "")
        if len(digits) == 32:
            return uuid_from_int(int(digits, 16))
    return _UUID(value)


def _slots_work() -> bool:
    try:
        probe = _new(_UUID)
        _set_uuid_int(probe, 0x1234_5678_9ABC_4DEF_8123_456789ABCDEF)
        _set_uuid_safe(probe, _SAFE_UNKNOWN)
        same = _UUID("12345678-9abc-4def-8123-456789abcdef")
        return probe == same and hash(probe) == hash(same) and str(probe) == str(same)
    except Exception:  # pragma: no cover - another Python's uuid module
        return False


#: Whether :func:`uuid_from_int` may set ``uuid.UUID``'s slots itself (CPython's uuid module).
_UUID_SLOTS_WORK = _slots_work()


class _GcPause:
    """Pauses the cyclic garbage collector while many objects are built (nesting, threads).

    Building 100,000 messages allocates some 400,000 objects the collector tracks; with it
    running, young collections every 700 allocations and the full ones they trigger take
    longer than building the objects. The first pause (in any thread) records whether the
    collector was on and turns it off, the last one turns it back on if it was; so it is never
    left off, and a collector someone turned off stays off.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._was_enabled:
                gc.enable()


def message_slots() -> tuple[Any, ...]:
    """What :func:`message_unvalidated` uses, for a loop that builds messages inline.

    ``(new, set_dict, set_fields_set, set_extra, set_private, fields)``: call
    ``new(Message)``, then each setter with the instance and its value (``set(fields)`` for
    the fields set, ``None`` for extra and private).
    """
    return (_new, _set_dict, _set_fields_set, _set_extra, _set_private, MESSAGE_FIELDS)


def model_slots() -> tuple[Any, ...]:
    """``(new, set_dict, set_fields_set, set_extra, set_private)``: every pydantic model's slots.

    For loops that build (or copy) many instances inline, as :func:`build_trusted` does one.
    """
    return (_new, _set_dict, _set_fields_set, _set_extra, _set_private)


def uuid_slots() -> tuple[Any, ...]:
    """What :func:`uuid_from_int` uses, for a loop that builds uuids inline.

    ``(uuid_type, set_int, set_is_safe, safe_unknown)``; ``uuid_type`` is ``None`` where
    ``uuid.UUID``'s slots cannot be set directly (then use :func:`uuid_from_int`).
    """
    if not _UUID_SLOTS_WORK:
        return (None, None, None, None)
    return (_UUID, _set_uuid_int, _set_uuid_safe, _SAFE_UNKNOWN)


#: ``with building_many:`` around code that builds many objects at once (a whole history).
building_many = _GcPause()
