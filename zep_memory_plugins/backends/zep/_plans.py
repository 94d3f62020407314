"""The logic of each operation, written once for every generation and both call modes.

A plan is a generator that yields :class:`~._wire.Call` objects and receives their results;
:mod:`._transport` drives it sync or async. Plans make writes idempotent (client-chosen message
uuids, existence checks after an ambiguous failure), page through listings and whole sessions,
cut batches to the server's limits, and even out what the generations do differently (see
:class:`ZepPlans`).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import uuid as _uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..._errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
)
from ..._models import (
    CreateUserRequest,
    Message,
    Session,
    UpdateUserRequest,
    User,
    utcnow,
)
from ..._models import MessagePage as Page
from ._batches import PartialWrites, prepare, write_in_batches
from ._convert import DELETED_KEY, to_message, to_messages, to_session, to_user
from ._transport import Plan
from ._wire import Call, Wire

__all__ = ["LIST_PAGE_SIZE", "MAX_BATCH_BYTES", "MESSAGE_PAGE_SIZE", "ZepPlans"]

#: Messages per request when a whole session is read (the memory route without ``lastn``
#: returns only the server's window: 12 on ``/api/v1``, 6 on Community Edition).
MESSAGE_PAGE_SIZE = 100
#: Users or sessions per request when a listing is read to its end.
LIST_PAGE_SIZE = 100
#: Bytes of JSON one add request may carry: reverse proxies in front of Zep refuse bigger
#: bodies (nginx's default ``client_max_body_size`` is 1 MiB) with 413. Larger batches are
#: split, in order.
MAX_BATCH_BYTES = 1_000_000
#: Sessions this client deleted on a server that forgets them (see :class:`ZepPlans`), and
#: writes that stopped part way, remembered at most.
_REMEMBERED = 1024


def _message_bytes(message: Message) -> int:
    size = len(message.content.encode("utf-8")) + len(message.role.encode("utf-8")) + 120
    if message.metadata:
        size += len(json.dumps(message.metadata, ensure_ascii=False).encode("utf-8"))
    return size


def _live(session: Session) -> Session:
    """The session, or :class:`NotFoundError` for a deleted session's stand-in."""
    if session.deleted_at is not None:
        raise NotFoundError(f"session {session.session_id} not found")
    return session


def _check_reserved(wire: Wire, metadata: Mapping[str, Any] | None) -> None:
    if not wire.revives_deleted_sessions and metadata and DELETED_KEY in metadata:
        raise InvalidInputError(
            f"session metadata key {DELETED_KEY!r} is reserved", field="metadata"
        )


def batches(messages: Sequence[Message], max_count: int | None) -> list[list[Message]]:
    """The messages in as few requests as the count and byte limits allow, in order."""
    out: list[list[Message]] = [[]]
    size = 0
    for message in messages:
        nbytes = _message_bytes(message)
        full = max_count is not None and len(out[-1]) >= max_count
        if out[-1] and (full or size + nbytes > MAX_BATCH_BYTES):
            out.append([])
            size = 0
        out[-1].append(message)
        size += nbytes
    return out


class ZepPlans:
    """Every operation of the Zep backend, as a plan.

    ``wire`` is the backend's plan giving the server's generation (probing it the first time).
    Community Edition forgets a deleted session: its id becomes free, and a write
    to it creates a new session without owner or metadata. So that a conversation keeps its
    owner and metadata across clear-and-write-again there as on ``/api/v1`` (and no other user
    can take its id over), deleting a session leaves a stand-in in its place: a session with
    the same id, owner and metadata, marked deleted under :data:`DELETED_KEY`. Reads treat it
    as deleted; an update revives it; a write through the client that deleted it revives it
    first (one extra request, once). A write from another client lands in it without reviving
    it: the messages are kept and owned, the session stays unlisted until an update.
    """

    def __init__(self, wire: Callable[[], Plan[Wire]]) -> None:
        self._find_wire = wire
        self._plans_lock = threading.Lock()
        self._deleted: OrderedDict[str, None] = OrderedDict()
        self._partial = PartialWrites()

    def _wire(self) -> Plan[Wire]:
        """The server's generation (the backend's probe, made once)."""
        return (yield from self._find_wire())

    # -- deleted sessions on servers that forget them -------------------------------------

    def _remember_deleted(self, session_id: str) -> None:
        with self._plans_lock:
            self._deleted[session_id] = None
            self._deleted.move_to_end(session_id)
            while len(self._deleted) > _REMEMBERED:
                self._deleted.popitem(last=False)

    def _revive_known(self, wire: Wire, session_id: str) -> Plan[None]:
        """Revive, before a write, a session this client left as a stand-in (one request)."""
        with self._plans_lock:
            known = self._deleted.pop(session_id, 0) is None
        if known:  # (gone with its user meanwhile: the write creates it anew)
            with contextlib.suppress(NotFoundError):
                yield wire.update_session(session_id, {DELETED_KEY: None})

    # -- users -----------------------------------------------------------------------------

    def _plan_add_user(self, request: CreateUserRequest) -> Plan[User]:
        wire = yield from self._wire()
        call = wire.add_user(request)
        try:
            raw = yield call
        except AlreadyExistsError:
            if not call.ambiguous:
                raise
            # An earlier attempt may have created it: if what is stored is what we sent, it did.
            user = to_user((yield wire.get_user(request.user_id)))
            sent = (request.email, request.first_name, request.last_name, request.metadata or None)
            if (user.email, user.first_name, user.last_name, user.metadata or None) != sent:
                raise
            return user
        return to_user(raw)

    def _plan_get_user(self, user_id: str) -> Plan[User]:
        wire = yield from self._wire()
        return to_user((yield wire.get_user(user_id)))

    def _plan_update_user(self, request: UpdateUserRequest) -> Plan[User]:
        wire = yield from self._wire()
        fields = {
            key: value
            for key, value in (
                ("email", request.email),
                ("first_name", request.first_name),
                ("last_name", request.last_name),
                ("metadata", request.metadata or None),  # {} makes the server answer 500
            )
            if value is not None
        }
        if not fields:
            return to_user((yield wire.get_user(request.user_id)))
        return to_user((yield wire.update_user(request.user_id, fields)))

    def _plan_delete_user(self, user_id: str) -> Plan[None]:
        wire = yield from self._wire()
        yield from self._deleting(wire.delete_user(user_id))

    def _deleting(self, call: Call) -> Plan[None]:
        try:
            yield call
        except NotFoundError:
            if not call.ambiguous:  # else an earlier attempt of this call deleted it
                raise

    def _plan_user_sessions(self, user_id: str) -> Plan[list[Session]]:
        wire = yield from self._wire()
        sessions = [to_session(s) for s in (yield wire.user_sessions(user_id))]
        if not sessions:
            yield wire.get_user(user_id)  # NotFoundError for an unknown user
        live = [s for s in sessions if s.deleted_at is None]
        return sorted(live, key=lambda s: (s.created_at is None, s.created_at, s.id or 0))

    def _plan_list(self, kind: str, limit: int | None, cursor: int) -> Plan[list[Any]]:
        """``id > cursor``, ``limit`` at most (``None``: all), live ones only, by id.

        One request when ``limit`` items are there to be had; deleted sessions a server may
        list are skipped and made up for with further pages.
        """
        wire = yield from self._wire()
        convert = to_user if kind == "users" else to_session
        found: list[Any] = []
        want = math.inf if limit is None else limit
        size = LIST_PAGE_SIZE if limit is None else limit
        while len(found) < want:
            call = (wire.list_users if kind == "users" else wire.list_sessions)(size, cursor)
            page = [convert(r) for r in (yield call)]
            found.extend(x for x in page if getattr(x, "deleted_at", None) is None)
            if len(page) < size or page[-1].id is None:
                break
            cursor = page[-1].id
        return found if limit is None else found[:limit]

    # -- sessions --------------------------------------------------------------------------

    def _plan_add_session(self, session: Session) -> Plan[Session]:
        wire = yield from self._wire()
        assert session.session_id is not None
        _check_reserved(wire, session.metadata)
        call = wire.add_session(session)
        try:
            raw = yield call
        except NotFoundError:
            raise NotFoundError(f"user {session.user_id} not found") from None
        except AlreadyExistsError:
            if not call.ambiguous:
                raise
            stored = to_session((yield wire.get_session(session.session_id)))
            if stored.user_id != session.user_id:
                raise
            return stored
        return to_session(raw)

    def _plan_get_session(self, session_id: str) -> Plan[Session]:
        wire = yield from self._wire()
        return _live(to_session((yield wire.get_session(session_id))))

    def _plan_update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Plan[Session]:
        wire = yield from self._wire()
        if not metadata:  # never a PATCH without metadata: Community Edition would wipe it
            return _live(to_session((yield wire.get_session(session_id))))
        _check_reserved(wire, metadata)
        if not wire.revives_deleted_sessions:
            # An update revives a deleted session, as on /api/v1: clear the stand-in's mark.
            metadata = {**metadata, DELETED_KEY: None}
            with self._plans_lock:
                self._deleted.pop(session_id, None)
        return to_session((yield wire.update_session(session_id, metadata)))

    def _plan_delete_session(self, session_id: str) -> Plan[None]:
        wire = yield from self._wire()
        if wire.revives_deleted_sessions:
            yield from self._deleting(wire.delete_session(session_id))
            return
        # The server forgets a deleted session (its id free, its owner and metadata gone): put
        # a stand-in with its owner and metadata in its place, marked deleted, so that the id
        # stays taken and a write or an update revives it, as on /api/v1.
        session = _live(to_session((yield wire.get_session(session_id))))
        yield from self._deleting(wire.delete_session(session_id))
        stand_in = Session.model_construct(
            session_id=session_id,
            user_id=session.user_id,
            metadata={**(session.metadata or {}), DELETED_KEY: utcnow().isoformat()},
        )
        # (re-created meanwhile, or its user deleted meanwhile: nothing to keep)
        with contextlib.suppress(AlreadyExistsError, NotFoundError):
            yield wire.add_session(stand_in)
        self._remember_deleted(session_id)

    # -- messages --------------------------------------------------------------------------

    def _plan_add_messages(
        self, session_id: str, messages: Sequence[Message]
    ) -> Plan[list[Message]]:
        wire = yield from self._wire()
        uuids = prepare(messages, max_content=wire.max_content, server=wire.server)
        pending = list(messages)
        if self._partial.repeats(session_id, uuids):
            # The same call again after a failure part of the way: skip what landed.
            stored_uuids = {m.uuid for m in (yield from self._plan_all_messages(session_id))}
            pending = [m for m in pending if m.uuid not in stored_uuids]
        if not wire.revives_deleted_sessions:
            yield from self._revive_known(wire, session_id)
        return (
            yield from write_in_batches(
                session_id,
                messages,
                pending,
                batches(pending, wire.max_batch),
                lambda batch: self._add_batch(wire, session_id, batch),
                self._partial,
                uuids,
            )
        )

    def _add_batch(self, wire: Wire, session_id: str, batch: list[Message]) -> Plan[None]:
        call = wire.add_messages(session_id, batch)
        try:
            yield call
        except AlreadyExistsError as error:
            # A uuid is taken. If an earlier attempt of this very call landed, that is success;
            # otherwise name the uuid, as the embedded store does.
            existing = {m.uuid: m for m in (yield from self._plan_all_messages(session_id))}
            if call.ambiguous and all(
                m.uuid in existing and existing[m.uuid].content == m.content for m in batch
            ):
                return
            taken = next((m.uuid for m in batch if m.uuid in existing), None)
            if taken is not None:
                raise AlreadyExistsError(
                    f"message uuid {taken} already exists", status_code=error.status_code
                ) from None
            raise AlreadyExistsError(
                "a message uuid of this batch already exists in another session",
                status_code=error.status_code,
            ) from None

    def _plan_last_messages(self, session_id: str, lastn: int) -> Plan[list[Message]]:
        wire = yield from self._wire()
        try:
            raw = yield wire.last_messages(session_id, lastn)
        except NotFoundError:
            return []
        return to_messages(raw, wire.unpack_metadata)

    def _plan_all_messages(self, session_id: str) -> Plan[list[Message]]:
        """Every message, page by page: ceil(n / MESSAGE_PAGE_SIZE) requests (1 if empty)."""
        wire = yield from self._wire()
        size = MESSAGE_PAGE_SIZE
        try:
            raw, total = yield wire.messages_page(session_id, size, 1)
            raw = list(raw)
            if len(raw) == size and total > size:
                later = range(2, math.ceil(total / size) + 1)
                for more, _ in (yield [wire.messages_page(session_id, size, p) for p in later]):
                    raw.extend(more)
        except NotFoundError:
            return []
        return to_messages(raw, wire.unpack_metadata)

    def _plan_messages_page(self, session_id: str, limit: int, page: int) -> Plan[Page]:
        wire = yield from self._wire()
        try:
            raw, total = yield wire.messages_page(session_id, limit, page)
        except NotFoundError:
            raw, total = [], 0
        messages = to_messages(raw, wire.unpack_metadata)
        return Page.model_construct(messages=messages, total_count=total, row_count=len(messages))

    def _plan_update_message(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Plan[Message]:
        wire = yield from self._wire()
        raw = yield wire.update_message(session_id, message_uuid, metadata)
        return to_message(raw, wire.unpack_metadata)
