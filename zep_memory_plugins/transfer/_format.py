"""The JSON Lines format of an export, its counters, and reading it back.

The format, one JSON object per line, in this order::

    {"type": "header", "format": "zep-memory-plugins", "version": 1, "exported_at": "...", ...}
    {"type": "user", "user_id": "jane", "email": ..., "first_name": ..., "last_name": ...,
     "metadata": {...}, "uuid": "...", "created_at": "...", "updated_at": "..."}
    ... every user, in creation order ...
    {"type": "session", "session_id": "s1", "user_id": "jane", "metadata": {...}, "uuid": ...,
     "created_at": ..., "updated_at": ...}
    {"type": "message", "session_id": "s1", "uuid": "...", "role": "Jane", "role_type": "user",
     "content": "...", "metadata": {...}, "created_at": "..."}
    ... that session's messages, oldest first, then the next session ...

Only live data is exported: soft-deleted sessions and their messages are not. An export of one
user (``user_id=``, ``zep-memory export --user ID``) holds the header (with ``"user_id"``), that
user, their sessions and those sessions' messages, nothing else. The header is optional on
import. What import restores: users (id, email, names, metadata), sessions (id,
owner, metadata), messages (uuid, role, role type, content, metadata, order, and ``created_at``
where the target keeps it: the embedded store does). Store-assigned values (the integer ``id``,
user and session ``uuid``/``created_at``/``updated_at``) are exported for reference only and
are chosen afresh by the target.

Import is idempotent. A user or session that already exists is updated only where the record
differs (metadata is deep-merged, as every update is); messages are matched by uuid, so one
already stored is skipped, and a second import of the same file writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import IO, Any

from .._errors import InvalidInputError

__all__ = ["FORMAT", "FORMAT_VERSION", "ProgressCallback", "TransferStats", "read_jsonl"]

#: The ``format`` field of the header record.
FORMAT = "zep-memory-plugins"
#: The format version written; import refuses newer ones.
FORMAT_VERSION = 1


@dataclass
class TransferStats:
    """What an export or import did, updated as it goes (progress callbacks receive it)."""

    #: Records read or written, of each kind.
    users: int = 0
    sessions: int = 0
    messages: int = 0
    #: On import, what happened to each user record.
    users_created: int = 0
    users_updated: int = 0
    users_unchanged: int = 0
    #: On import, what happened to each session record.
    sessions_created: int = 0
    sessions_updated: int = 0
    sessions_unchanged: int = 0
    #: On import, what happened to each message record: ``messages_conflicting`` counts those
    #: whose uuid the target already holds elsewhere (another session, or a soft-deleted one),
    #: which were not imported.
    messages_added: int = 0
    messages_skipped: int = 0
    messages_conflicting: int = 0
    #: How many sessions an export holds, known before they are read (``None`` on import).
    sessions_total: int | None = None
    #: How far into the input an import is, in bytes.
    bytes_read: int = 0

    @property
    def changed(self) -> bool:
        """Whether the import wrote anything."""
        return bool(
            self.users_created
            or self.users_updated
            or self.sessions_created
            or self.sessions_updated
            or self.messages_added
        )

    def as_dict(self) -> dict[str, Any]:
        """The counters as a plain dict (JSON-ready)."""
        return asdict(self)


#: Called with the running :class:`TransferStats` after each session and at the end.
ProgressCallback = Callable[[TransferStats], None]


def read_jsonl(
    fp: IO[str] | IO[bytes] | Iterable[str | bytes], *, stats: TransferStats | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON Lines stream (text or binary), skipping blank lines.

    Raises :class:`InvalidInputError` naming the line for anything that is not a JSON object.
    ``stats.bytes_read`` follows the position in the input.
    """
    lines = iter(fp)
    number = 0
    while True:
        number += 1
        try:
            raw = next(lines)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:  # a text stream decoding as it reads
            raise InvalidInputError(
                f"the input is not {exc.encoding} ({exc.reason}) after line {number - 1}; "
                "open it in binary mode to have the bad line named",
                field="line",
            ) from None
        if stats is not None:
            stats.bytes_read += (
                len(raw) if isinstance(raw, bytes) else len(raw.encode(errors="surrogatepass"))
            )
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"line {number}: not UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1})",
                field="line",
            ) from None
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except RecursionError:
            message = f"line {number}: JSON nested too deeply"
            raise InvalidInputError(message, field="line") from None
        except ValueError as exc:
            message = f"line {number}: not valid JSON ({exc})"
            raise InvalidInputError(message, field="line") from None
        if not isinstance(record, dict):
            raise InvalidInputError(f"line {number}: expected a JSON object", field="line")
        record["__line__"] = number
        yield record
