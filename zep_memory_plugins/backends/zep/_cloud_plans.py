"""The plans of the Zep backend on Zep Cloud: every operation, written once for v3 and v4.

How the library's sessions live on Zep Cloud's threads (session records, the owner's index,
packed message data, tombstones) is described in :mod:`._cloud`; each generation's spelling of
the calls is in :mod:`._v3` and :mod:`._v4`. A plan yields :class:`~._wire.Call` objects and is
run sync or async by the backend's transport (:mod:`._transport`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
import uuid as _uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..._duplex import Step
from ..._errors import (
    AlreadyExistsError,
    BackendError,
    InvalidInputError,
    NotFoundError,
    OutcomeUnknownError,
    PendingDeletionError,
    ZepMemoryError,
)
from ..._models import (
    CreateUserRequest,
    Message,
    Session,
    UpdateUserRequest,
    User,
    deep_merge,
    utcnow,
)
from ..._models import MessagePage as Page
from ._batches import PartialWrites, prepare, write_in_batches
from ._cloud import (
    INDEX_PREFIX,
    MAX_CLOUD_ID_LENGTH,
    MAX_CONTENT,
    MAX_MESSAGES,
    MESSAGE_KEY,
    RECORD_KEY,
    RECORD_PREFIX,
    RESERVED_USER_PREFIX,
    UNOWNED_USER,
    CloudWire,
    Record,
    check_cloud_metadata,
    idempotency_key,
    indexed,
    read_record,
    record_id,
    to_library_message,
    to_library_user,
    user_number,
)
from ._convert import UnreadableAnswerError, fields_of
from ._transport import Plan
from ._wire import Call, Wire

__all__ = ["CloudPlans"]

#: Messages per request of a whole-session read.
_PAGE = 100
#: Largest page of messages Zep Cloud v4 serves.
_MAX_PAGE_SIZE = 200
#: Entries of each of the client's caches (sessions, users, message uuids, listing walks).
_REMEMBERED = 4096
#: Seconds between the polls of a delete task, doubling up to the last one.
_POLL = (0.05, 0.1, 0.2, 0.5, 1.0)
_TERMINAL = frozenset({"succeeded", "partial", "failed", "completed", "canceled", "cancelled"})


@dataclass
class _Walk:
    """Where a listing walk of one kind got to: ids, and the page tokens that follow them."""

    marks: list[tuple[int, Any]] = field(default_factory=lambda: [(0, None)])


def _wait(seconds: float) -> Step:
    return Step(time.sleep, asyncio.sleep, (seconds,))


class CloudPlans:
    """Every operation of the Zep backend on Zep Cloud, as a plan (see the module docstring).

    ``wire`` is the backend's plan giving the server's generation; ``task_timeout`` bounds the
    wait for a v4 user delete.
    """

    def __init__(self, wire: Callable[[], Plan[Wire]], *, task_timeout: float) -> None:
        self._find_wire = wire
        self.task_timeout = task_timeout
        self._lock = threading.Lock()
        self._users: OrderedDict[str, str] = OrderedDict()  # user id -> address
        self._records: OrderedDict[str, Record] = OrderedDict()  # session id -> record
        self._server_uuids: OrderedDict[tuple[str, _uuid.UUID], str] = OrderedDict()
        self._walks: dict[str, _Walk] = {}
        self._partial = PartialWrites()

    def _wire(self) -> Plan[CloudWire]:
        wire = yield from self._find_wire()
        assert isinstance(wire, CloudWire)
        return wire

    # -- small caches ------------------------------------------------------------------------

    def _remember(self, cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        with self._lock:
            cache[key] = value
            cache.move_to_end(key)
            while len(cache) > _REMEMBERED:
                cache.popitem(last=False)

    def _forget_record(self, session_id: str) -> None:
        with self._lock:
            self._records.pop(session_id, None)

    def _known_record(self, session_id: str) -> Record | None:
        with self._lock:
            return self._records.get(session_id)

    # -- users ---------------------------------------------------------------------------------

    @staticmethod
    def _check_user_id(user_id: str, field_name: str = "user_id") -> None:
        if user_id.startswith(RESERVED_USER_PREFIX):
            raise InvalidInputError(
                f"{field_name} {user_id[:60]!r}: user ids starting with "
                f"{RESERVED_USER_PREFIX!r} are the library's own on Zep Cloud",
                field=field_name,
            )
        if len(user_id) > MAX_CLOUD_ID_LENGTH:
            raise InvalidInputError(
                f"{field_name} is {len(user_id)} characters long; Zep Cloud takes at most "
                f"{MAX_CLOUD_ID_LENGTH}",
                field=field_name,
            )

    @staticmethod
    def _check_user_metadata(metadata: Mapping[str, Any] | None) -> None:
        for key in metadata or ():
            if key.startswith(INDEX_PREFIX) or key == RECORD_KEY:
                raise InvalidInputError(
                    f"user metadata key {key[:60]!r} is reserved by the library on Zep Cloud",
                    field=f"metadata.{key}",
                )

    def _find_user(self, wire: CloudWire, user_id: str) -> Plan[Any]:
        """A user's wire form (``NotFoundError`` if there is none); its address remembered."""
        try:
            raw = yield wire.find_user(user_id)
        except NotFoundError:
            with self._lock:
                self._users.pop(user_id, None)
            raise NotFoundError(f"user {user_id} not found") from None
        self._remember(self._users, user_id, wire.user_address(raw))
        return raw

    def _address(self, wire: CloudWire, user_id: str) -> Plan[str]:
        """A user's address: v3 its id; v4 its uuid (looked up once, then remembered)."""
        if not wire.server_ids:
            return user_id
        with self._lock:
            known = self._users.get(user_id)
        if known is not None:
            return known
        raw = yield from self._find_user(wire, user_id)
        return wire.user_address(raw)

    def _plan_add_user(self, request: CreateUserRequest) -> Plan[User]:
        wire = yield from self._wire()
        self._check_user_id(request.user_id)
        self._check_user_metadata(request.metadata)
        fields = {k: v for k, v in request.__dict__.items() if v is not None}
        call = wire.create_user(fields)
        try:
            raw = yield call
        except AlreadyExistsError:
            if not call.ambiguous:
                raise AlreadyExistsError(f"user {request.user_id} already exists") from None
            user = to_library_user((yield from self._find_user(wire, request.user_id)))
            sent = (request.email, request.first_name, request.last_name, request.metadata or None)
            if (user.email, user.first_name, user.last_name, user.metadata or None) != sent:
                raise AlreadyExistsError(f"user {request.user_id} already exists") from None
            return user
        self._remember(self._users, request.user_id, wire.user_address(raw))
        return to_library_user(raw)

    def _plan_get_user(self, user_id: str) -> Plan[User]:
        wire = yield from self._wire()
        if user_id.startswith(RESERVED_USER_PREFIX):
            raise NotFoundError(f"user {user_id} not found")
        return to_library_user((yield from self._find_user(wire, user_id)))

    def _plan_update_user(self, request: UpdateUserRequest) -> Plan[User]:
        wire = yield from self._wire()
        self._check_user_metadata(request.metadata)
        if request.user_id.startswith(RESERVED_USER_PREFIX):
            raise NotFoundError(f"user {request.user_id} not found")
        raw = yield from self._find_user(wire, request.user_id)
        fields: dict[str, Any] = {
            k: v
            for k, v in (
                ("email", request.email),
                ("first_name", request.first_name),
                ("last_name", request.last_name),
            )
            if v is not None
        }
        if request.metadata:
            stored = fields_of(raw).get("metadata") or {}
            merged = deep_merge(stored, request.metadata)
            if wire.merges_user_metadata:  # the touched top-level keys, merged on the server
                fields["metadata"] = {k: merged[k] for k in request.metadata}
            else:  # the whole metadata, index included (v3's update semantics: undocumented)
                fields["metadata"] = merged
        if not fields:
            return to_library_user(raw)
        address = wire.user_address(raw)
        return to_library_user((yield wire.update_user(address, fields)))

    def _plan_delete_user(self, user_id: str) -> Plan[None]:
        """The user and every session record of theirs; Zep deletes the user's threads."""
        wire = yield from self._wire()
        if user_id.startswith(RESERVED_USER_PREFIX):
            raise NotFoundError(f"user {user_id} not found")
        raw = yield from self._find_user(wire, user_id)
        sessions = indexed(fields_of(raw).get("metadata"))
        tasks: list[str] = []
        records = []
        for session_id in sessions:
            with contextlib.suppress(NotFoundError):
                records.append((yield from self._read_record(wire, session_id)))
        for record in records:
            if record.owner != user_id:
                continue  # the index of another user's session: not theirs to delete
            with contextlib.suppress(NotFoundError):
                tasks += self._tasks(wire, (yield wire.delete_user(record.address)))
            self._forget_record(record.session_id)
        call = wire.delete_user(wire.user_address(raw))
        try:
            tasks += self._tasks(wire, (yield call))
        except NotFoundError:
            if not call.ambiguous:
                raise
        with self._lock:
            self._users.pop(user_id, None)
        yield from self._await_tasks(wire, tasks, f"user {user_id}")

    def _tasks(self, wire: CloudWire, answer: Any) -> list[str]:
        task = wire.task_of(answer)
        return [task] if task else []

    def _await_tasks(self, wire: CloudWire, tasks: list[str], what: str) -> Plan[None]:
        """Poll the delete tasks until each is done.

        :class:`PendingDeletionError` past the client's ``task_timeout``,
        :class:`BackendError` if one failed.
        """
        deadline = time.monotonic() + self.task_timeout
        pending = list(tasks)
        polls = 0
        while pending:
            answers = yield [wire.get_task(task) for task in pending]
            still = []
            for task, answer in zip(pending, answers, strict=True):
                status = str(fields_of(answer).get("status") or "").lower()
                if status == "failed":
                    raise BackendError(f"Zep Cloud failed the delete of {what} (task {task})")
                if status not in _TERMINAL:
                    still.append(task)
            pending = still
            if not pending:
                return
            if time.monotonic() >= deadline:
                raise PendingDeletionError(
                    f"Zep Cloud accepted the delete of {what} but had not finished it after "
                    f"{self.task_timeout:g} s (task {pending[0]}); it may still finish: check "
                    "before reusing the id, or call again",
                    task=pending[0],
                )
            yield _wait(_POLL[min(polls, len(_POLL) - 1)])
            polls += 1

    def _plan_list(self, kind: str, limit: int | None, cursor: int) -> Plan[list[Any]]:
        """Users (not records) or live sessions (records), in creation order, ``id > cursor``.

        The integer id is v3's own, and on v4 the time of creation in microseconds (see
        :func:`~._cloud.user_number`). Where a walk's pages start is remembered, so that
        chunked listing goes on from there rather than from the first page.
        """
        wire = yield from self._wire()
        want = math.inf if limit is None else limit
        found: list[Any] = []
        walk = self._walks.setdefault(kind, _Walk())
        with self._lock:
            position, token = max((m for m in walk.marks if m[0] <= cursor), key=lambda m: m[0])
        while True:
            users, next_token = yield wire.users_page(token)
            for raw in users:
                d = fields_of(raw)
                position = user_number(d) or position
                user_id = d.get("user_id")
                is_record = isinstance(user_id, str) and user_id.startswith(RECORD_PREFIX)
                if (kind == "sessions") != is_record or (
                    not is_record
                    and isinstance(user_id, str)
                    and user_id.startswith(RESERVED_USER_PREFIX)
                ):
                    continue
                if kind == "users":
                    item: Any = to_library_user(raw)
                else:
                    record = read_record(raw, wire.user_address(raw))
                    assert record is not None
                    if record.deleted_at is not None:
                        continue
                    item = record.session()
                if (item.id or 0) > cursor:
                    found.append(item)
            if next_token is None or len(found) >= want:
                break
            token = next_token
            with self._lock:
                if (position, token) not in walk.marks:
                    walk.marks.append((position, token))
                    del walk.marks[1:-_REMEMBERED]
        found.sort(key=lambda x: x.id or 0)
        return found if limit is None else found[:limit]

    def _plan_user_sessions(self, user_id: str) -> Plan[list[Session]]:
        wire = yield from self._wire()
        if user_id.startswith(RESERVED_USER_PREFIX):
            raise NotFoundError(f"user {user_id} not found")
        raw = yield from self._find_user(wire, user_id)
        sessions: list[Session] = []
        for session_id in indexed(fields_of(raw).get("metadata")):
            try:
                record = yield from self._read_record(wire, session_id)
            except NotFoundError:
                continue
            if record.owner == user_id and record.deleted_at is None:
                sessions.append(record.session())
        return sorted(sessions, key=lambda s: (s.created_at is None, s.created_at))

    # -- records -------------------------------------------------------------------------------

    def _read_record(self, wire: CloudWire, session_id: str) -> Plan[Record]:
        """The session's record, from the server (``NotFoundError`` if there is none)."""
        try:
            raw = yield wire.find_user(record_id(session_id))
        except NotFoundError:
            self._forget_record(session_id)
            raise NotFoundError(f"session {session_id} not found") from None
        record = read_record(raw, wire.user_address(raw))
        if record is None or record.session_id != session_id:
            raise UnreadableAnswerError(f"the record of session {session_id[:60]!r} is not one")
        self._remember(self._records, session_id, record)
        return record

    def _write_record(self, wire: CloudWire, record: Record) -> Plan[None]:
        record.updated_at = utcnow().isoformat()
        yield wire.update_user(record.address, {"metadata": record.packed()})
        self._remember(self._records, record.session_id, record)

    def _index(self, wire: CloudWire, owner: str, session_id: str, value: str | None) -> Plan[None]:
        """Add (``value``) or remove (``None``) a session in its owner's index."""
        key = INDEX_PREFIX + session_id
        if wire.merges_user_metadata:
            yield from self._to_user(
                wire, owner, lambda address: wire.update_user(address, {"metadata": {key: value}})
            )
            return
        raw = yield from self._find_user(wire, owner)
        metadata = dict(fields_of(raw).get("metadata") or {})
        if value is None:
            if metadata.pop(key, None) is None:
                return
        else:
            metadata[key] = value
        yield wire.update_user(wire.user_address(raw), {"metadata": metadata})

    def _to_user(self, wire: CloudWire, user_id: str, build: Callable[[str], Call]) -> Plan[Any]:
        """Send ``build(address)`` to a user's address.

        A remembered address that is gone (the user was deleted, maybe made again, by another
        client) is looked up again, once.
        """
        address = yield from self._address(wire, user_id)
        try:
            return (yield build(address))
        except NotFoundError:
            with self._lock:
                if self._users.get(user_id) != address:
                    raise
                del self._users[user_id]
        return (yield build((yield from self._address(wire, user_id))))

    def _owner_address(self, wire: CloudWire, owner: str | None) -> Plan[tuple[str, str]]:
        """(address, user id) of the Zep user owning a session's threads.

        For a session without an owner, the shadow user (made on first use, then remembered).
        """
        if owner is not None:
            return (yield from self._address(wire, owner)), owner
        with self._lock:
            known = self._users.get(UNOWNED_USER)
        if known is None:
            fields = {"user_id": UNOWNED_USER, "first_name": "zep-memory", "last_name": "unowned"}
            try:
                known = wire.user_address((yield wire.create_user(fields)))
            except AlreadyExistsError:  # made before, by this client or another
                known = wire.user_address((yield from self._find_user(wire, UNOWNED_USER)))
            self._remember(self._users, UNOWNED_USER, known)
        return known, UNOWNED_USER

    def _new_thread(self, wire: CloudWire, record: Record) -> Plan[str]:
        """A thread for the session (its ``rev``-th): created on Zep, owned by its owner.

        On v4 its ``Idempotency-Key`` names the record and the thread's number: a repeated
        call gets the same thread, a session made again (a new record) a new one.
        """
        key = idempotency_key("thread", record.address, str(record.rev))
        for attempt in (1, 2):
            address, zep_user = yield from self._owner_address(wire, record.owner)
            try:
                raw = yield wire.create_thread(record.session_id, address, zep_user, key)
            except AlreadyExistsError:
                if wire.server_ids:
                    raise
                # v3: a thread with the session's id exists (made by another tool, or by an
                # earlier attempt of this call): the session takes it over.
                return record.session_id
            except NotFoundError:
                with self._lock:  # the owner (or the shadow user) is gone: ask again, once
                    self._users.pop(record.owner or UNOWNED_USER, None)
                if attempt == 2:
                    raise NotFoundError(f"user {record.owner} not found") from None
                continue
            return wire.thread_address(raw, record.session_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _create(
        self, wire: CloudWire, session_id: str, owner: str | None, metadata: Any
    ) -> Plan[Record]:
        """A new session: its record claimed, its thread made, its owner's index told.

        ``AlreadyExistsError`` if the record is taken.
        """
        if len(record_id(session_id)) > MAX_CLOUD_ID_LENGTH:
            limit = MAX_CLOUD_ID_LENGTH - len(RECORD_PREFIX)
            raise InvalidInputError(
                f"session_id is {len(session_id)} characters long; on Zep Cloud the limit is "
                f"{limit}",
                field="session_id",
            )
        if owner is not None:
            yield from self._address(wire, owner)  # NotFoundError for an unknown owner
        now = utcnow().isoformat()
        # v3: the thread will bear the session's id, so the record can say so at once
        thread = None if wire.server_ids else session_id
        record = Record(session_id, owner, thread, metadata or None, now, now)
        call = wire.create_user(
            {
                "user_id": record_id(session_id),
                "first_name": "zep-memory",
                "last_name": "session record",
                "metadata": record.packed(),
            }
        )
        try:
            raw = yield call
        except AlreadyExistsError:
            stored = yield from self._read_record(wire, session_id)
            if not call.ambiguous or stored.owner != owner:
                raise AlreadyExistsError(f"session {session_id} already exists") from None
            return stored
        claimed = read_record(raw, wire.user_address(raw))
        assert claimed is not None
        record.address, record.number, record.uuid = claimed.address, claimed.number, claimed.uuid
        made = None
        try:
            made = yield from self._new_thread(wire, record)
            if made != record.thread:  # v4: the server named it
                record.thread = made
                yield from self._write_record(wire, record)
            if owner is not None:
                yield from self._index(wire, owner, session_id, record.created_at)
        except ZepMemoryError:
            # Not made after all: nothing is left behind (a session unknown to its owner's
            # index would outlive a delete of the owner).
            with contextlib.suppress(ZepMemoryError):
                if made is not None:
                    yield wire.delete_thread(made)
                yield wire.delete_user(record.address)
            self._forget_record(session_id)
            raise
        return record

    def _live_record(self, wire: CloudWire, session_id: str) -> Plan[Record]:
        record = yield from self._read_record(wire, session_id)
        if record.deleted_at is not None:
            raise NotFoundError(f"session {session_id} not found")
        return record

    # -- sessions ------------------------------------------------------------------------------

    def _plan_add_session(self, session: Session) -> Plan[Session]:
        wire = yield from self._wire()
        assert session.session_id is not None
        if session.user_id is not None:
            self._check_user_id(session.user_id)
        record = yield from self._create(
            wire, session.session_id, session.user_id, session.metadata
        )
        return record.session()

    def _plan_get_session(self, session_id: str) -> Plan[Session]:
        wire = yield from self._wire()
        return (yield from self._live_record(wire, session_id)).session()

    def _plan_update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Plan[Session]:
        """Deep-merge metadata into the record; revives a deleted session (as /api/v1 does)."""
        wire = yield from self._wire()
        record = yield from self._read_record(wire, session_id)
        if not metadata:
            if record.deleted_at is not None:
                raise NotFoundError(f"session {session_id} not found")
            return record.session()
        update = {k: v for k, v in metadata.items() if k != "system"}  # as Zep's servers do
        record.metadata = deep_merge(record.metadata, update) or None
        record.deleted_at = None  # revived; its next write makes it a thread
        yield from self._write_record(wire, record)
        return record.session()

    def _plan_delete_session(self, session_id: str) -> Plan[None]:
        wire = yield from self._wire()
        record = yield from self._live_record(wire, session_id)
        if record.thread is not None:
            try:
                yield wire.delete_thread(record.thread)  # (a v4 task, not awaited)
            except NotFoundError:
                pass  # gone already: the record says the rest
            except OutcomeUnknownError:
                # No answer (v3 sends a delete once): look whether it was carried out.
                if not (yield from self._thread_gone(wire, record.thread)):
                    raise
        record.thread = None
        record.deleted_at = utcnow().isoformat()
        yield from self._write_record(wire, record)
        self._partial.forget(session_id)

    def _thread_gone(self, wire: CloudWire, thread: str) -> Plan[bool]:
        """Whether a thread no longer exists (one read of its newest message)."""
        try:
            yield wire.newest_messages(thread, 1, None)
        except NotFoundError:
            return True
        return False

    # -- messages ------------------------------------------------------------------------------

    def _writable(self, wire: CloudWire, session_id: str, *, fresh: bool = False) -> Plan[Record]:
        """The session's record with a thread to write to.

        Made (without an owner) for an unknown session, revived for a deleted one.
        """
        record = None if fresh else self._known_record(session_id)
        if record is None:
            try:
                record = yield from self._read_record(wire, session_id)
            except NotFoundError:
                try:
                    return (yield from self._create(wire, session_id, None, None))
                except AlreadyExistsError:  # made meanwhile by another client
                    record = yield from self._read_record(wire, session_id)
        if record.deleted_at is not None or record.thread is None:
            record.rev += 1
            record.deleted_at = None
            record.thread = yield from self._new_thread(wire, record)
            yield from self._write_record(wire, record)
        return record

    def _plan_add_messages(
        self, session_id: str, messages: Sequence[Message]
    ) -> Plan[list[Message]]:
        wire = yield from self._wire()
        uuids = prepare(
            messages,
            max_content=MAX_CONTENT,
            server="Zep Cloud",
            check=lambda m, where: check_cloud_metadata(m.metadata, f"{where}.metadata"),
        )
        if not messages:
            return []
        record = yield from self._writable(wire, session_id)
        pending = list(messages)
        if self._partial.repeats(session_id, uuids):
            # The same call again after a failure part of the way: skip what landed.
            landed = {m.uuid for m in (yield from self._read_all(wire, record))}
            pending = [m for m in pending if m.uuid not in landed]

        def send(batch: list[Message]) -> Plan[None]:
            nonlocal record
            record = yield from self._add_batch(wire, record, batch)

        batches = (pending[i : i + MAX_MESSAGES] for i in range(0, len(pending), MAX_MESSAGES))
        return (
            yield from write_in_batches(
                session_id, messages, pending, batches, send, self._partial, uuids
            )
        )

    def _add_batch(self, wire: CloudWire, record: Record, batch: list[Message]) -> Plan[Record]:
        """One request (or, if the thread went away meanwhile, the session revived, then one)."""
        items = [wire.wire_message(m) for m in batch]
        for attempt in (1, 2):
            assert record.thread is not None
            key = idempotency_key("messages", record.thread, *(str(m.uuid) for m in batch))
            call = wire.add_thread_messages(record.thread, items, key)
            try:
                server_uuids = yield call
            except NotFoundError:
                if attempt == 2:
                    raise
                # The thread is gone: deleted by another client, or with its user.
                self._forget_record(record.session_id)
                record = yield from self._writable(wire, record.session_id, fresh=True)
                continue
            except AlreadyExistsError as error:
                # v3: a message uuid is taken. If an earlier attempt of this call landed, that
                # is success; otherwise name the uuid.
                landed = {m.uuid: m for m in (yield from self._read_all(wire, record))}
                if call.ambiguous and all(m.uuid in landed for m in batch):
                    return record
                taken = next((m.uuid for m in batch if m.uuid in landed), None)
                raise AlreadyExistsError(
                    f"message uuid {taken} already exists"
                    if taken
                    else "a message uuid of this batch already exists",
                    status_code=error.status_code,
                ) from None
            for message, server_uuid in zip(batch, server_uuids or [], strict=False):
                if server_uuid:
                    self._remember(
                        self._server_uuids, (record.thread, message.uuid), str(server_uuid)
                    )
            return record
        return record  # pragma: no cover - the loop returns or raises

    def _thread_for_read(self, wire: CloudWire, session_id: str) -> Plan[Record | None]:
        """The session's record if it is live with a thread, else ``None`` (nothing to read)."""
        record = self._known_record(session_id)
        if record is None or record.thread is None or record.deleted_at is not None:
            try:
                record = yield from self._read_record(wire, session_id)
            except NotFoundError:
                return None
        if record.deleted_at is not None or record.thread is None:
            return None
        return record

    def _read_all(self, wire: CloudWire, record: Record) -> Plan[list[Message]]:
        """Every message of the record's thread, oldest first."""
        assert record.thread is not None
        out: list[Message] = []
        token: Any = None
        while True:
            raw, token, _ = yield wire.oldest_messages(record.thread, _PAGE, token)
            out += [self._message(record.thread, m, wire) for m in raw]
            if token is None or not raw:
                return out

    def _message(self, thread: str, raw: Any, wire: CloudWire) -> Message:
        message, server_uuid = to_library_message(raw, wire)
        if server_uuid is not None and wire.server_ids:
            self._remember(self._server_uuids, (thread, message.uuid), server_uuid)
        return message

    def _reading(
        self, plan: Callable[[CloudWire, Record], Plan[Any]], session_id: str
    ) -> Plan[Any]:
        """Run a read of the session's thread; a thread gone meanwhile reads as empty."""
        wire = yield from self._wire()
        record = yield from self._thread_for_read(wire, session_id)
        if record is None:
            return None
        try:
            return (yield from plan(wire, record))
        except NotFoundError:
            self._forget_record(session_id)
            record = yield from self._thread_for_read(wire, session_id)
            if record is None:
                return None
            return (yield from plan(wire, record))

    def _plan_all_messages(self, session_id: str) -> Plan[list[Message]]:
        found = yield from self._reading(self._read_all, session_id)
        return found or []

    def _plan_last_messages(self, session_id: str, lastn: int) -> Plan[list[Message]]:
        def newest(wire: CloudWire, record: Record) -> Plan[list[Message]]:
            assert record.thread is not None
            out: list[Message] = []
            token: Any = None
            while len(out) < lastn:
                raw, token = yield wire.newest_messages(record.thread, lastn - len(out), token)
                out += [self._message(record.thread, m, wire) for m in raw]
                if token is None or not raw:
                    break
            return out[:lastn][::-1]

        found = yield from self._reading(newest, session_id)
        return found or []

    def _plan_messages_page(self, session_id: str, limit: int, page: int) -> Plan[Page]:
        def one_page(wire: CloudWire, record: Record) -> Plan[tuple[list[Message], int]]:
            thread = record.thread
            assert thread is not None
            if not wire.server_ids:  # v3: the page number is the cursor
                found, _, total = yield wire.oldest_messages(thread, limit, page)
                # a page past the end counts 0, as Zep's servers answer it
                return [self._message(thread, m, wire) for m in found], (total or 0) if found else 0
            if limit > _MAX_PAGE_SIZE:  # v4 pages hold at most 200: cut the whole history
                every = yield from self._read_all(wire, record)
                start = (page - 1) * limit
                return every[start : start + limit], len(every) if start < len(every) else 0
            # v4 has cursors only: walk to the page
            token: Any = None
            raw: list[Any] = []
            total = 0
            for number in range(1, page + 1):
                raw, token, counted = yield wire.oldest_messages(thread, limit, token)
                total = counted if counted is not None else total
                if number < page and token is None:
                    raw, total = [], 0  # a page past the end (counted 0, as Zep's servers do)
                    break
            return [self._message(thread, m, wire) for m in raw], total

        found = yield from self._reading(one_page, session_id)
        messages, total = found if found is not None else ([], 0)
        return Page.model_construct(messages=messages, total_count=total, row_count=len(messages))

    def _plan_update_message(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Plan[Message]:
        """Deep-merge metadata into one message (a read, then the whole metadata written)."""
        check_cloud_metadata(metadata, "metadata")

        def update(wire: CloudWire, record: Record) -> Plan[Message]:
            assert record.thread is not None
            thread = record.thread
            current: Any = None
            with self._lock:
                server_uuid = self._server_uuids.get((thread, message_uuid))
            if server_uuid is not None:
                read = wire.get_thread_message(thread, server_uuid)
                if read is not None:
                    current = yield read
            if current is None:
                for raw in (yield from self._read_raw(wire, thread)):
                    message, found = to_library_message(raw, wire)
                    if message.uuid == message_uuid:
                        current, server_uuid = raw, found
                        break
            if current is None or server_uuid is None:
                raise NotFoundError(f"message {message_uuid} not found")
            stored = fields_of(current).get("metadata") or {}
            own = {k: v for k, v in stored.items() if k != MESSAGE_KEY}
            merged = deep_merge(own, metadata)
            check_cloud_metadata(merged, "metadata")
            if MESSAGE_KEY in stored:
                merged[MESSAGE_KEY] = stored[MESSAGE_KEY]
            answer = yield wire.update_thread_message(thread, server_uuid, merged)
            if not fields_of(answer).get("content") and fields_of(current).get("content"):
                answer = {**fields_of(current), "metadata": merged}
            return self._message(thread, answer, wire)

        found = yield from self._reading(update, session_id)
        if found is None:
            raise NotFoundError(f"message {message_uuid} not found")
        return found  # type: ignore[no-any-return]

    def _read_raw(self, wire: CloudWire, thread: str) -> Plan[list[Any]]:
        out: list[Any] = []
        token: Any = None
        while True:
            raw, token, _ = yield wire.oldest_messages(thread, _PAGE, token)
            out += raw
            if token is None or not raw:
                return out
