"""Import: records applied to a client's store idempotently, from a file or another client."""

from __future__ import annotations

import logging
import uuid as _uuid
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

from .._errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    SessionOwnershipError,
    ZepMemoryError,
)
from .._models import CreateUserRequest, Message, Session, UpdateUserRequest, check_id, deep_merge
from ._export import export_records
from ._format import FORMAT, FORMAT_VERSION, ProgressCallback, TransferStats, read_jsonl

if TYPE_CHECKING:
    from .._client import ZepMemoryClient

__all__ = ["DEFAULT_BATCH_SIZE", "copy", "import_jsonl", "import_records"]

logger = logging.getLogger("zep_memory_plugins.transfer")

#: Messages added per backend call on import.
DEFAULT_BATCH_SIZE = 100
_USER_FIELDS = ("user_id", "email", "first_name", "last_name", "metadata")


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
    records = read_jsonl(fp, stats=stats)
    return import_records(client, records, batch_size=batch_size, stats=stats, progress=progress)


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

    records = export_records(source, stats=exported)
    return import_records(target, records, batch_size=batch_size, stats=stats, progress=_progress)
