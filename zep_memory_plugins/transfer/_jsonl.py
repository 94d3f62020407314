"""JSON Lines export and idempotent import of users, sessions and messages.

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

Only live data is exported: soft-deleted sessions and their messages are not. The header is
optional on import. What import restores: users (id, email, names, metadata), sessions (id,
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
import logging
import uuid as _uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING, Any

from .._errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    SessionOwnershipError,
    ZepMemoryError,
)
from .._models import (
    CreateUserRequest,
    Message,
    Session,
    UpdateUserRequest,
    User,
    check_id,
    deep_merge,
    utcnow,
)
from .._version import __version__

if TYPE_CHECKING:
    from .._client import ZepMemoryClient

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ProgressCallback",
    "TransferStats",
    "copy",
    "export_jsonl",
    "export_records",
    "import_jsonl",
    "import_records",
    "read_jsonl",
]

logger = logging.getLogger("zep_memory_plugins.transfer")

#: The ``format`` field of the header record.
FORMAT = "zep-memory-plugins"
#: The format version written; import refuses newer ones.
FORMAT_VERSION = 1
#: Messages added per backend call on import.
DEFAULT_BATCH_SIZE = 100
_PAGE = 100

_USER_FIELDS = ("user_id", "email", "first_name", "last_name", "metadata")
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


@dataclass
class TransferStats:
    """What an export or import did, updated as it goes (progress callbacks receive it).

    ``users``, ``sessions`` and ``messages`` count records read or written. On import the
    ``*_created`` / ``*_updated`` / ``*_unchanged`` and ``messages_added`` / ``messages_skipped``
    counters say what happened to each; ``messages_conflicting`` counts messages whose uuid the
    target already holds elsewhere (another session, or a soft-deleted one), which were not
    imported. ``sessions_total`` is known on export (``None`` on import); ``bytes_read`` is how
    far into the input an import is.
    """

    users: int = 0
    sessions: int = 0
    messages: int = 0
    users_created: int = 0
    users_updated: int = 0
    users_unchanged: int = 0
    sessions_created: int = 0
    sessions_updated: int = 0
    sessions_unchanged: int = 0
    messages_added: int = 0
    messages_skipped: int = 0
    messages_conflicting: int = 0
    sessions_total: int | None = None
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


# -- export ------------------------------------------------------------------------------------


def _user_record(user: User) -> dict[str, Any]:
    data = user.model_dump(mode="json", exclude={"id"})
    return {"type": "user", **data}


def _session_record(session: Session) -> dict[str, Any]:
    data = session.model_dump(mode="json", exclude={"id", "deleted_at"})
    return {"type": "session", **data}


def _message_record(session_id: str, message: Message) -> dict[str, Any]:
    data = message.model_dump(mode="json")
    return {"type": "message", "session_id": session_id, **data}


def export_records(
    client: ZepMemoryClient,
    *,
    stats: TransferStats | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the records of everything live in ``client``'s store (see the module docstring).

    Users come first, then each session followed by its messages, oldest first. Sessions are
    listed up front (so ``stats.sessions_total`` is known); messages are read one session at a
    time.
    """
    stats = stats if stats is not None else TransferStats()
    yield {
        "type": "header",
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "exported_at": utcnow().isoformat(),
        "source": client.backend.name,
        "generator": f"zep-memory-plugins {__version__}",
    }
    for users in client.user.list_chunked(_PAGE):
        for user in users:
            stats.users += 1
            yield _user_record(user)
    sessions = [s for chunk in client.memory.list_all_sessions(_PAGE) for s in chunk]
    stats.sessions_total = len(sessions)
    if progress is not None:
        progress(stats)
    for session in sessions:
        assert session.session_id is not None
        stats.sessions += 1
        yield _session_record(session)
        for message in client.memory.get_messages(session.session_id):
            stats.messages += 1
            yield _message_record(session.session_id, message)
        if progress is not None:
            progress(stats)
    logger.info(
        "exported %d users, %d sessions, %d messages", stats.users, stats.sessions, stats.messages
    )


def export_jsonl(
    client: ZepMemoryClient, fp: IO[str], *, progress: ProgressCallback | None = None
) -> TransferStats:
    """Write everything live in ``client``'s store to ``fp`` as JSON Lines; return the counts."""
    stats = TransferStats()
    for record in export_records(client, stats=stats, progress=progress):
        fp.write(_encode(record))
        fp.write("\n")
    fp.flush()
    return stats


# -- reading -----------------------------------------------------------------------------------


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


# -- import ------------------------------------------------------------------------------------


def _strip_system(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (metadata or {}).items() if k != "system"}


class _Importer:
    """Applies records to a client, one at a time, keeping only the current session in memory."""

    def __init__(
        self,
        client: ZepMemoryClient,
        stats: TransferStats,
        batch_size: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.client = client
        self.stats = stats
        self.batch_size = batch_size
        self.progress = progress
        self.session_id: str | None = None
        # uuids stored in the target for the current session; None until needed.
        self.existing: set[_uuid.UUID] | None = None
        self.pending: list[Message] = []

    def apply(self, record: Mapping[str, Any]) -> None:
        kind = record.get("type")
        line = record.get("__line__")
        try:
            if kind == "message":
                self.message(record)
            elif kind == "session":
                self.session(record)
            elif kind == "user":
                self.user(record)
            elif kind == "header":
                self.header(record)
            else:
                raise InvalidInputError(f"unknown record type {kind!r}", field="type")
        except InvalidInputError as exc:
            if line is None:
                raise
            raise InvalidInputError(f"line {line}: {exc.message}", field=exc.field) from None

    @staticmethod
    def header(record: Mapping[str, Any]) -> None:
        if record.get("format") != FORMAT:
            raise InvalidInputError(
                f"not a {FORMAT} export (format {record.get('format')!r})", field="format"
            )
        version = record.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise InvalidInputError(
                f"export format version {version!r} is newer than this library reads "
                f"({FORMAT_VERSION}); upgrade zep-memory-plugins",
                field="version",
            )

    def user(self, record: Mapping[str, Any]) -> None:
        fields = {k: record.get(k) for k in _USER_FIELDS}
        request = CreateUserRequest.model_validate(fields)
        self.stats.users += 1
        try:
            self.client.user.add(request)
            self.stats.users_created += 1
            return
        except AlreadyExistsError:
            pass
        current = self.client.user.get(request.user_id)
        changes: dict[str, Any] = {}
        for name in ("email", "first_name", "last_name"):
            value = getattr(request, name)
            if value is not None and value != getattr(current, name):
                changes[name] = value
        if request.metadata and deep_merge(current.metadata, request.metadata) != (
            current.metadata or {}
        ):
            changes["metadata"] = request.metadata
        if changes:
            self.client.user.update(UpdateUserRequest(user_id=request.user_id, **changes))
            self.stats.users_updated += 1
        else:
            self.stats.users_unchanged += 1

    def session(self, record: Mapping[str, Any]) -> None:
        session = Session.model_validate(
            {k: record.get(k) for k in ("session_id", "user_id", "metadata")}
        )
        if session.session_id is None:
            raise InvalidInputError("a session record needs a session_id", field="session_id")
        self.switch(session.session_id)
        self.stats.sessions += 1
        try:
            self.client.memory.add_session(session)
        except AlreadyExistsError:
            pass
        else:
            self.stats.sessions_created += 1
            self.existing = set()  # a new session holds nothing yet
            return
        try:
            current = self.client.memory.get_session(session.session_id)
        except NotFoundError:
            # Soft-deleted in the target: an update (or the first message) revives it.
            if session.metadata:
                self.client.memory.update_session(session)
            self.stats.sessions_updated += 1
            return
        if session.user_id is not None and current.user_id not in (None, session.user_id):
            raise SessionOwnershipError(
                f"session {session.session_id} belongs to user {current.user_id} in the target, "
                f"not {session.user_id}; nothing of it was imported"
            )
        wanted = _strip_system(session.metadata)
        if wanted and deep_merge(current.metadata, wanted) != (current.metadata or {}):
            self.client.memory.update_session(session)
            self.stats.sessions_updated += 1
        else:
            self.stats.sessions_unchanged += 1

    def message(self, record: Mapping[str, Any]) -> None:
        session_id = record.get("session_id")
        if session_id is None:
            raise InvalidInputError("a message record needs a session_id", field="session_id")
        check_id(session_id, "session_id")
        fields = {
            k: record.get(k)
            for k in ("role", "role_type", "content", "metadata", "uuid", "created_at")
            if record.get(k) is not None
        }
        message = Message.model_validate(fields)
        if session_id != self.session_id:
            self.switch(session_id)
        self.stats.messages += 1
        self.pending.append(message)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def switch(self, session_id: str) -> None:
        """Finish the current session and start another."""
        self.flush()
        if self.session_id is not None and self.progress is not None:
            self.progress(self.stats)
        self.session_id = session_id
        self.existing = None

    def _load_existing(self) -> set[_uuid.UUID]:
        assert self.session_id is not None
        messages = self.client.memory.get_messages(self.session_id)
        return {m.uuid for m in messages if m.uuid is not None}

    def flush(self) -> None:
        """Add the pending messages of the current session, skipping those already stored."""
        if not self.pending:
            return
        assert self.session_id is not None
        batch, self.pending = self.pending, []
        if self.existing is None:
            self.existing = self._load_existing()
        todo = [m for m in batch if m.uuid is None or m.uuid not in self.existing]
        self.stats.messages_skipped += len(batch) - len(todo)
        if not todo:
            return
        try:
            stored = self.client.memory.add_messages(self.session_id, todo)
        except AlreadyExistsError:
            # Some uuid is stored already (written concurrently, or held by another or a
            # soft-deleted session): re-read once, then add what is missing one by one.
            self.existing = self._load_existing()
            stored = []
            for message in todo:
                if message.uuid is not None and message.uuid in self.existing:
                    self.stats.messages_skipped += 1
                    continue
                try:
                    stored.extend(self.client.memory.add_messages(self.session_id, [message]))
                except AlreadyExistsError:
                    self.stats.messages_conflicting += 1
                    logger.warning(
                        "message %s of session %s not imported: its uuid is already stored "
                        "in another or a deleted session",
                        message.uuid,
                        self.session_id,
                    )
        self.stats.messages_added += len(stored)
        self.existing.update(m.uuid for m in stored if m.uuid is not None)

    def finish(self) -> None:
        self.flush()
        if self.progress is not None:
            self.progress(self.stats)


def import_records(
    client: ZepMemoryClient,
    records: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    stats: TransferStats | None = None,
    progress: ProgressCallback | None = None,
) -> TransferStats:
    """Apply export records to ``client``'s store, idempotently; return what was done.

    Users must come before their sessions, and a session's messages after the session (as
    :func:`export_records` writes them). Messages are added ``batch_size`` per call, in order.
    Bad records raise :class:`InvalidInputError` naming the line; everything before it is
    stored first (messages waiting for their batch included), and importing again resumes
    where it stopped.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError("batch_size must be a positive int", field="batch_size")
    stats = stats if stats is not None else TransferStats()
    importer = _Importer(client, stats, batch_size, progress)
    try:
        for record in records:
            importer.apply(record)
    except ZepMemoryError:
        # A bad record (or a refusal) stops the import, but what came before it is kept: the
        # messages read before it that were waiting for their batch go in first. (Should that
        # fail too, its error is raised, with the bad record's as its context.)
        importer.flush()
        raise
    importer.finish()
    logger.info(
        "imported %d users, %d sessions, %d messages (%d added, %d skipped)",
        stats.users,
        stats.sessions,
        stats.messages,
        stats.messages_added,
        stats.messages_skipped,
    )
    return stats


def import_jsonl(
    client: ZepMemoryClient,
    fp: IO[str] | IO[bytes] | Iterable[str | bytes],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> TransferStats:
    """Import a JSON Lines export (text or binary stream) into ``client``'s store, idempotently."""
    stats = TransferStats()
    return import_records(
        client,
        read_jsonl(fp, stats=stats),
        batch_size=batch_size,
        stats=stats,
        progress=progress,
    )


def copy(
    source: ZepMemoryClient,
    target: ZepMemoryClient,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> TransferStats:
    """Copy everything live from ``source`` to ``target`` (no file in between), idempotently.

    The stats are the import's, with ``sessions_total`` from the export.
    """
    stats = TransferStats()
    exported = TransferStats()

    def _progress(current: TransferStats) -> None:
        stats.sessions_total = exported.sessions_total
        if progress is not None:
            progress(current)

    return import_records(
        target,
        export_records(source, stats=exported),
        batch_size=batch_size,
        stats=stats,
        progress=_progress,
    )
