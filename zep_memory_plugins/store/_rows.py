"""Rows to models and back: what the store reads is built without validation (it wrote it)."""

from __future__ import annotations

import json
import operator
import uuid as _uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from .._models import (
    Message,
    Session,
    User,
    build_unvalidated,
    message_slots,
    uuid_from_bytes,
    uuid_slots,
)
from ._schema import SESSION_COLUMNS, USER_COLUMNS

_M = TypeVar("_M", bound=BaseModel)


def now_text() -> str:
    """The current time as the store keeps times (ISO 8601 text, UTC)."""
    return datetime.now(timezone.utc).isoformat()


def parse_time(value: str | None) -> datetime | None:
    """A time as stored (ISO 8601 text) back into a datetime."""
    return None if value is None else datetime.fromisoformat(value)


_decode = json.JSONDecoder().decode


def loads(value: str | None) -> dict[str, Any] | None:
    """Stored metadata (JSON text, or NULL) back into a dict."""
    if value is None:
        return None
    loaded: dict[str, Any] = _decode(value)
    return loaded


#: How a user or session column read back becomes a field value, by column name (a column
#: not named here is taken as it is).
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "uuid": _uuid.UUID,
    "metadata": loads,
    **dict.fromkeys(("created_at", "updated_at", "deleted_at"), parse_time),
}


class Rows(Generic[_M]):
    """Builds one model from rows of ``columns`` (the store wrote them: no validation)."""

    def __init__(self, model: type[_M], columns: str) -> None:
        names = columns.split(", ")
        self.model: type[_M] = model
        self.columns = columns
        # In the model's field order: the built instance dumps and prints in that order.
        self._fields = tuple(model.model_fields)
        self._pick = operator.itemgetter(*(names.index(field) for field in self._fields))
        self._decoders = tuple(
            (field, decode) for field in self._fields if (decode := _DECODERS.get(field))
        )

    def build(self, row: Sequence[Any]) -> _M:
        """The model of one row."""
        values = dict(zip(self._fields, self._pick(row), strict=True))
        for field, decode in self._decoders:
            values[field] = decode(values[field])
        return build_unvalidated(self.model, values)


USERS = Rows(User, USER_COLUMNS)
SESSIONS = Rows(Session, SESSION_COLUMNS)


def message_of(row: Sequence[Any]) -> Message:
    """A message from a row of ``MESSAGE_COLUMNS``."""
    return messages_of((row,))[0]


def messages_of(rows: Sequence[Sequence[Any]]) -> list[Message]:
    """Messages from rows of ``MESSAGE_COLUMNS``, built without validation (the store wrote them).

    Written out for speed: a whole-history read builds every message of a session, and each
    step here is paid 100,000 times for a long one. A batch of messages shares its time, so
    each distinct time is parsed once per read; metadata is decoded by the JSON scanner
    directly (the text is the compact JSON the store wrote); uuids and messages are built
    through their slots (see :func:`~zep_memory_plugins._models.message_slots`). A damaged row
    (a uuid that is not 16 bytes, a time or metadata that does not parse) raises
    ``ValueError`` or ``TypeError``, which the store reports as damage.
    """
    new, set_dict, set_fields, set_extra, set_private, fields = _MESSAGE_SLOTS
    uuid_type, set_int, set_safe, safe = _UUID_SLOTS
    if uuid_type is None:  # pragma: no cover - a Python whose uuid.UUID has other slots
        return [_message_slowly(row) for row in rows]
    from_bytes, scan, parse = int.from_bytes, _scan, _parse_iso
    # One fields set for the whole read: every message has all its fields set, and pydantic
    # only ever adds a field's name to it (on assignment; model_copy copies it first), so it
    # never changes. A set per message would cost a sixth of the read, and 200 bytes each.
    fields_set = set(fields)
    times: dict[str | None, datetime | None] = {None: None}
    out: list[Message] = []
    append = out.append
    for uid, role, role_type, content, metadata, created in rows:
        if len(uid) != 16:
            raise ValueError(f"a stored message uuid is {len(uid)} bytes long, not 16")
        uuid = new(uuid_type)
        set_int(uuid, from_bytes(uid, "big"))  # TypeError if not bytes: damage
        set_safe(uuid, safe)
        if metadata is not None:
            try:
                value, end = scan(metadata, 0)
            except StopIteration:
                end = -1
            metadata = value if end == len(metadata) else loads(metadata)
        try:
            at = times[created]
        except KeyError:
            at = times[created] = parse(created)
        message = new(Message)
        set_dict(
            message,
            {
                "role": role,
                "role_type": role_type,
                "content": content,
                "metadata": metadata,
                "uuid": uuid,
                "created_at": at,
            },
        )
        set_fields(message, fields_set)
        set_extra(message, None)
        set_private(message, None)
        append(message)
    return out


def _message_slowly(row: Sequence[Any]) -> Message:
    return build_unvalidated(
        Message,
        {
            "role": row[1],
            "role_type": row[2],
            "content": row[3],
            "metadata": loads(row[4]),
            "uuid": uuid_from_bytes(row[0]),
            "created_at": parse_time(row[5]),
        },
    )


_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_parse_iso = datetime.fromisoformat
_MESSAGE_SLOTS = message_slots()
_UUID_SLOTS = uuid_slots()
