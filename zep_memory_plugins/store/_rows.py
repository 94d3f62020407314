"""Rows to models and back: what the store reads is built without validation (it wrote it)."""

from __future__ import annotations

import json
import operator
import uuid as _uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from .._models import Message, Session, User, build_unvalidated
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
    """A message from a row of ``MESSAGE_COLUMNS``.

    Written out rather than a ``Rows``: messages are read by the thousand, and the generic
    builder's loop costs a fifth of a last-20 read (``benchmarks/bench_store.py``).
    """
    return build_unvalidated(
        Message,
        {
            "role": row[1],
            "role_type": row[2],
            "content": row[3],
            "metadata": loads(row[4]),
            "uuid": _uuid.UUID(bytes=row[0]),  # stored as its 16 bytes
            "created_at": parse_time(row[5]),
        },
    )
