"""Conversion of what a Zep server answers (JSON, or an SDK model) into the library's models.

An answer that lacks what every Zep server sends (a user without ``user_id``, a message
without ``uuid``...) is not turned into a half-empty model: :class:`UnreadableAnswerError` is raised
and the driver reports it as a :class:`~zep_memory_plugins.BackendError`.
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from ..._models import (
    CREATED_AT_KEY,
    ROLE_TYPES,
    Message,
    Session,
    User,
    build_unvalidated,
    building_many,
    message_slots,
    uuid_from_text,
    uuid_slots,
)

__all__ = [
    "DELETED_KEY",
    "to_messages",
    "UnreadableAnswerError",
    "default_role_type",
    "fields_of",
    "listing",
    "outgoing_metadata",
    "to_message",
    "to_session",
    "to_user",
]


#: Session-metadata key of a deleted session's stand-in on servers that forget deleted sessions
#: (Community Edition): its deletion time, or ``null`` once revived. Stripped on read.
DELETED_KEY = "zep_memory_deleted_at"


class UnreadableAnswerError(Exception):
    """A successful answer that does not hold what a Zep server sends."""


def fields_of(raw: Any) -> dict[str, Any]:
    """The fields of a decoded JSON object or of an SDK model (pydantic v1: ``__dict__``)."""
    if type(raw) is dict:
        return raw
    d = getattr(raw, "__dict__", None)
    if not isinstance(d, dict):
        raise UnreadableAnswerError(f"expected an object, got {type(raw).__name__}")
    return d


def listing(raw: Any, key: str | None = None) -> list[Any]:
    """The list in an answer (``raw[key]`` when ``key`` is given); ``null`` is empty."""
    if key is not None and raw is not None:
        raw = fields_of(raw).get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise UnreadableAnswerError(f"expected a list{f' of {key}' if key else ''}")
    return raw


def _utc(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise UnreadableAnswerError(f"not a timestamp: {value[:40]!r}") from None
    else:
        raise UnreadableAnswerError(f"not a timestamp: {type(value).__name__}")
    if dt.year <= 1:  # Go's zero time ("0001-01-01T00:00:00Z"): no value
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def _uuid_of(value: Any) -> _uuid.UUID | None:
    if not value:
        return None
    if isinstance(value, _uuid.UUID):
        return value
    try:
        return _uuid.UUID(str(value))
    except ValueError:
        raise UnreadableAnswerError(f"not a uuid: {str(value)[:40]!r}") from None


def _text(d: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = d.get(key)
    if value is None or value == "":
        if required:
            raise UnreadableAnswerError(f"the answer has no {key}")
        return None
    if not isinstance(value, str):
        raise UnreadableAnswerError(f"{key} is not a string")
    return value


def _int(d: dict[str, Any], key: str) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnreadableAnswerError(f"{key} is not an integer")
    return value


def _metadata(d: dict[str, Any]) -> dict[str, Any] | None:
    value = d.get("metadata")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise UnreadableAnswerError("metadata is not an object")
    return value


_ROLE_TYPE_SET = frozenset(ROLE_TYPES)


def default_role_type(role: str) -> str:
    """The role type a message gets when none is given: its role, if that is a role type."""
    return role if role in ROLE_TYPES else "norole"


def to_user(raw: Any) -> User:
    """A :class:`User` from a wire user."""
    d = fields_of(raw)
    return build_unvalidated(
        User,
        {
            "user_id": _text(d, "user_id", required=True),
            "email": _text(d, "email"),
            "first_name": _text(d, "first_name"),
            "last_name": _text(d, "last_name"),
            "metadata": _metadata(d),
            "id": _int(d, "id"),
            "uuid": _uuid_of(d.get("uuid_") or d.get("uuid")),
            "created_at": _utc(d.get("created_at")),
            "updated_at": _utc(d.get("updated_at")),
        },
    )


def to_session(raw: Any) -> Session:
    """A :class:`Session` from a wire session."""
    d = fields_of(raw)
    metadata = _metadata(d)
    deleted_at = _utc(d.get("deleted_at"))
    if metadata is not None and DELETED_KEY in metadata:
        metadata = dict(metadata)
        deleted_at = deleted_at or _utc(metadata.pop(DELETED_KEY))
        metadata = metadata or None
    return build_unvalidated(
        Session,
        {
            "session_id": _text(d, "session_id", required=True),
            "user_id": _text(d, "user_id"),
            "metadata": metadata,
            "id": _int(d, "id"),
            "uuid": _uuid_of(d.get("uuid_") or d.get("uuid")),
            "created_at": _utc(d.get("created_at")),
            "updated_at": _utc(d.get("updated_at")),
            "deleted_at": deleted_at,
        },
    )


def outgoing_metadata(message: Message, carried: Mapping[str, Any] | None = None) -> Any:
    """The metadata a message is sent with: the caller's, plus what the library carries in it.

    ``carried`` holds a generation's own entries (the role type on ``/api/v1``); a
    ``created_at`` given by the caller goes under :data:`CREATED_AT_KEY`. (The client has
    refused callers' metadata holding these keys.)
    """
    metadata = message.metadata
    extra = dict(carried) if carried else {}
    if message.created_at is not None:
        extra[CREATED_AT_KEY] = message.created_at.isoformat()
    if not extra:
        return metadata
    return {**metadata, **extra} if metadata else extra


def _given_time(metadata: Any) -> tuple[Any, datetime | None]:
    """Split the carried ``created_at`` off a message's metadata (see :data:`CREATED_AT_KEY`)."""
    if not metadata or CREATED_AT_KEY not in metadata:
        return metadata, None
    rest = dict(metadata)
    value = rest.pop(CREATED_AT_KEY)
    try:
        given = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        given = None
    if given is None:
        raise UnreadableAnswerError(f"{CREATED_AT_KEY} is not a timestamp: {str(value)[:40]!r}")
    return (rest or None), given


def to_message(raw: Any, unpack: Callable[[Any], tuple[Any, str | None]]) -> Message:
    """A :class:`Message` from a wire message; ``unpack`` separates a carried role type."""
    d = fields_of(raw)
    role = _text(d, "role") or ""
    metadata, given = _given_time(_metadata(d))
    metadata, carried = unpack(metadata)
    role_type = carried or d.get("role_type")
    if role_type not in ROLE_TYPES:
        role_type = default_role_type(role)
    uid = _uuid_of(d.get("uuid_") or d.get("uuid"))
    if uid is None:
        raise UnreadableAnswerError("a message has no uuid")
    return build_unvalidated(
        Message,
        {
            "role": role,
            "role_type": role_type,
            "content": _text(d, "content") or "",
            "metadata": metadata,
            "uuid": uid,
            "created_at": given or _utc(d.get("created_at")),
        },
    )


def to_messages(raws: list[Any], unpack: Callable[[Any], tuple[Any, str | None]]) -> list[Message]:
    """``[to_message(m, unpack) for m in raws]``, for a whole page (or history) at once.

    The same checks and the same messages, built with less work per message: a time the server
    gave several messages (a batch) is parsed once, uuids in their canonical form are read
    without ``uuid.UUID``'s parsing, messages are built through their slots with one fields set
    shared by all (as the embedded store's reads are; see ``store/_rows.py``), and the
    collector waits until they are all built.
    """
    new, set_dict, set_fields, set_extra, set_private, fields = message_slots()
    uuid_type, set_int, set_safe, safe = uuid_slots()
    role_types = _ROLE_TYPE_SET
    fields_set = set(fields)
    times: dict[Any, datetime | None] = {}
    out: list[Message] = []
    append = out.append
    with building_many:
        for raw in raws:
            d = raw if type(raw) is dict else fields_of(raw)
            role = d.get("role")
            if type(role) is not str:
                role = _text(d, "role") or ""
            metadata = d.get("metadata")
            if metadata is not None:
                if type(metadata) is not dict:
                    raise UnreadableAnswerError("metadata is not an object")
                metadata, given = _given_time(metadata)
                metadata, carried = unpack(metadata)
            else:
                given = carried = None
            role_type = carried or d.get("role_type")
            if type(role_type) is not str or role_type not in role_types:
                role_type = role if role in role_types else "norole"
            text = d.get("uuid_") or d.get("uuid")
            if not text:
                raise UnreadableAnswerError("a message has no uuid")
            uid: _uuid.UUID | None
            if type(text) is str:
                try:
                    if len(text) == 36 and uuid_type is not None:
                        digits = text.replace("-", "")
                        if len(digits) != 32:
                            raise ValueError(text)
                        uid = new(uuid_type)
                        set_int(uid, int(digits, 16))
                        set_safe(uid, safe)
                    else:
                        uid = uuid_from_text(text)
                except ValueError:
                    raise UnreadableAnswerError(f"not a uuid: {text[:40]!r}") from None
            else:
                uid = _uuid_of(text)
            content = d.get("content")
            if type(content) is not str:
                content = _text(d, "content") or ""
            if given is None:
                stamp = d.get("created_at")
                try:
                    given = times[stamp]
                except (KeyError, TypeError):
                    given = _utc(stamp)
                    if type(stamp) is str:
                        times[stamp] = given
            message = new(Message)
            set_dict(
                message,
                {
                    "role": role,
                    "role_type": role_type,
                    "content": content,
                    "metadata": metadata,
                    "uuid": uid,
                    "created_at": given,
                },
            )
            set_fields(message, fields_set)
            set_extra(message, None)
            set_private(message, None)
            append(message)
    return out
