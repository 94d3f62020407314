"""The one path every adapter takes to a user's sessions.

Ownership, create-on-first-write, reads through the history cache, clear and rewrite.

Every framework adapter (LangChain and LlamaIndex alike) bound to a user goes through the
:class:`SessionGuard` of its :class:`~zep_memory_plugins.ZepMemoryClient` (one per client,
shared by every adapter on it, from :func:`guard_for`). Its operations are plans (see
``zep_memory_plugins._duplex``): an adapter nests them in its own plans with ``yield from``
(``plan_read``, ``plan_write``, ``plan_clear``, ``plan_rewrite``...), or calls the one-line
sync and async entry points. The pieces, each doing one thing:

- :class:`OwnershipRecord`: who owns which session, and which sessions are known absent;
- :class:`SessionGuard`: the operations, create-on-first-write (with the revive-to-look step
  below) among them, on that record and the client's shared history cache;
- :func:`guard_for`: the per-client registry (locked, as ``history_cache`` is).

The guard remembers what this process has already verified, so
a steady conversation turn costs one read (``get_messages``) and one write (``add_messages``)
and nothing more:

- the first read of an unverified session asks ``get_session``: a session owned by another user
  (or by no user) raises :class:`~zep_memory_plugins.SessionOwnershipError`; a missing one has no
  messages and is not read further;
- the first write to a session not verified yet creates the user (if not known) and the session,
  then appends.

Zep cannot delete single messages, so replacing a session's messages (:meth:`SessionGuard.
plan_rewrite`) soft-deletes the session and adds the kept messages again, which revives it with its
owner and metadata (the old messages stay deleted). That costs one read, one delete and one add,
and the re-added messages get new uuids and timestamps.

The guard also reads whole histories through the client's shared
:class:`~zep_memory_plugins._history_cache.HistoryCache` (one request for the newest messages once
a session is held, whatever its length) and tells it about what this process adds or deletes.

What the guard remembers is forgotten when it stops being true:

- a user deleted through the client (``client.user.delete``): every session the guard knew as
  theirs is forgotten (and known to be gone), so the next write creates the user and the session
  again, owned by the user, instead of an ownerless session a later user delete would miss;
- a session deleted meanwhile by another process (or client): the history cache sees it on the
  next read (messages it held are gone) and the guard checks the owner again before the next
  write, recreating the session with its owner if the user was deleted.

A session cleared (soft-deleted) through the client keeps its owner: writing to it revives it
with its owner and metadata. On a backend that purges soft-deleted sessions by itself (the
embedded store, after its retention, or at once when asked), the first write after such a clear
first looks whether the session is still there (a read, and an update that changes nothing but
revives it): if it was purged meanwhile, it is created again, owned by the same user.

To learn the owner of a soft-deleted session it does not know (Zep
hides it), the guard revives it with an update that changes nothing (a top-level ``"system"``
key, which Zep ignores in session updates), and deletes it again if it is someone else's: its
metadata and messages stay exactly as they were.

What stays out of reach without a request per turn: a user deleted by another process between a
turn's read and its write. The write then recreates the session without an owner (Zep's add
messages call creates unknown sessions); the next read serves exactly what the store holds,
and the guard refuses the ownerless session from then on.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ._client import ZepMemoryClient
from ._duplex import Plan, arun, call, run
from ._errors import AlreadyExistsError, InvalidInputError, NotFoundError, SessionOwnershipError
from ._history_cache import HistoryCache, history_cache
from ._models import CreateUserRequest, Message, Session
from ._per_client import PerClient

__all__ = [
    "REVIVED_SESSION_KEY",
    "OwnershipRecord",
    "SessionGuard",
    "check_client",
    "guard_for",
]

#: Session metadata key set when a soft-deleted session must be revived without adding messages
#: (Zep never lets a deleted session id be created anew); its value is an ISO timestamp.
REVIVED_SESSION_KEY = "zep_memory_revived_at"

#: A session update that changes no metadata but revives a soft-deleted session: Zep ignores a
#: top-level ``"system"`` key in session updates (so do the embedded store and the test server).
_LOOK: dict[str, Any] = {"system": "zep-memory-plugins: ownership check"}


def check_client(client: object) -> ZepMemoryClient:
    """Return ``client`` if it is a :class:`ZepMemoryClient`, else raise InvalidInputError."""
    if not isinstance(client, ZepMemoryClient):
        raise InvalidInputError(
            f"client must be a ZepMemoryClient, not {type(client).__name__}", field="client"
        )
    return client


def _revival() -> dict[str, Any]:
    return {REVIVED_SESSION_KEY: datetime.now(timezone.utc).isoformat()}


class OwnershipRecord:
    """What this process verified: the owner of each session it knows, the sessions absent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: session id -> owner, for sessions known to exist (live or soft-deleted by us)
        self._owners: dict[str, str] = {}
        #: session ids found missing (a first write then creates them without asking again)
        self._absent: set[str] = set()

    def known(self, user_id: str, session_id: str) -> bool:
        """``True`` if the session is known to be ``user_id``'s; raises if another user's."""
        with self._lock:
            owner = self._owners.get(session_id)
        if owner is None:
            return False
        if owner != user_id:
            raise SessionOwnershipError(
                f"session {session_id!r} belongs to another user, not to user {user_id!r}"
            )
        return True

    def is_absent(self, session_id: str) -> bool:
        """Whether the session was found missing (and not made since)."""
        with self._lock:
            return session_id in self._absent

    def verify(self, session: Session, user_id: str) -> None:
        """Record ``session`` as ``user_id``'s, or raise if it is not theirs."""
        if session.user_id != user_id:
            # Never name the other user: that would leak who owns the session.
            owner = "no user" if session.user_id is None else "another user"
            raise SessionOwnershipError(
                f"session {session.session_id!r} belongs to {owner}, not to user {user_id!r}"
            )
        assert session.session_id is not None
        with self._lock:
            self._owners[session.session_id] = user_id
            self._absent.discard(session.session_id)

    def missing(self, session_id: str) -> None:
        """Record that the session does not exist."""
        with self._lock:
            self._absent.add(session_id)

    def forget(self, session_id: str) -> None:
        """Know nothing of the session any more (its owner is checked again)."""
        with self._lock:
            self._owners.pop(session_id, None)
            self._absent.discard(session_id)

    def user_deleted(self, user_id: str) -> list[str]:
        """The user is gone, with their sessions: those are now absent. Their ids."""
        with self._lock:
            gone = [s for s, owner in self._owners.items() if owner == user_id]
            for session_id in gone:
                del self._owners[session_id]
                self._absent.add(session_id)
        return gone


class SessionGuard:
    """The adapters' one path to a user's sessions on one client (see module doc)."""

    def __init__(self, client: ZepMemoryClient) -> None:
        self.client = client
        self.record = OwnershipRecord()
        #: whole histories, refreshed by one tail read (shared with the other adapters)
        self.cache: HistoryCache = history_cache(client)
        self.cache.on_lost(self.lost)
        #: sessions this client soft-deleted on a backend that purges them by itself: the next
        #: write looks whether they are still there before trusting what is known of them
        self._cleared: set[str] = set()
        self._cleared_lock = threading.Lock()
        client._on_delete(self._deleted)

    def lost(self, session_id: str) -> None:
        """A read showed the session was deleted meanwhile: check its owner again.

        The shared history cache calls this by itself.
        """
        self.record.forget(session_id)

    def _deleted(self, kind: str, ident: str) -> None:
        """A user or session was deleted (or a soft-deleted one purged) through the client."""
        if kind == "session":
            # A soft-deleted session keeps its owner: a write revives it as theirs, unless the
            # backend purged it meanwhile (then the next write looks first).
            if self.client.backend.revivable_for is not None:
                with self._cleared_lock:
                    self._cleared.add(ident)
            return
        if kind == "purged":
            self.record.forget(ident)  # gone for good: the next write creates it again
            self._take_cleared(ident)
            return
        for session_id in self.record.user_deleted(ident):
            self.cache.forget(session_id)
            self._take_cleared(session_id)

    def _take_cleared(self, session_id: str) -> bool:
        """Whether this client cleared the session on a purging backend (and forget it)."""
        with self._cleared_lock:
            if session_id not in self._cleared:
                return False
            self._cleared.discard(session_id)
            return True

    def owned(self, user_id: str, sessions: Sequence[Session]) -> list[str]:
        """Record ``sessions`` (listed by ``get_sessions(user_id)``) as owned; their ids."""
        for session in sessions:
            self.record.verify(session, user_id)
        return [s.session_id for s in sessions if s.session_id is not None]

    # -- ownership and create-on-first-write --------------------------------------------------

    def plan_check_read(self, user_id: str, session_id: str) -> Plan[bool]:
        """The plan of :meth:`check_read`."""
        if self.record.known(user_id, session_id):
            return True
        try:
            session = yield call(self.client.memory, "get_session", session_id)
        except NotFoundError:
            self.record.missing(session_id)
            return False
        self.record.verify(session, user_id)
        return True

    def plan_ensure_write(
        self, user_id: str, session_id: str, metadata: Mapping[str, Any] | None = None
    ) -> Plan[None]:
        """The plan of :meth:`ensure_write`."""
        if self.record.known(user_id, session_id):
            if self._take_cleared(session_id):
                yield from self._plan_look_after_clear(user_id, session_id, metadata, _LOOK)
            return
        if not self.record.is_absent(session_id) and (
            yield from self.plan_check_read(user_id, session_id)
        ):
            return
        yield from self._plan_create(user_id, session_id, metadata)

    def _plan_create(
        self, user_id: str, session_id: str, metadata: Mapping[str, Any] | None
    ) -> Plan[None]:
        """Create the session for ``user_id`` (and the user if needed).

        A session that exists already (made meanwhile, or soft-deleted) is taken if it is theirs.
        """
        memory = self.client.memory
        request = Session(session_id=session_id, user_id=user_id, metadata=metadata)
        new_user = False
        try:
            try:
                session = yield call(memory, "add_session", request)
            except NotFoundError:  # the user does not exist yet: create it, then the session
                new_user = yield from self._plan_add_user(user_id)
                session = yield call(memory, "add_session", request)
        except AlreadyExistsError:
            # Created meanwhile by someone else, or soft-deleted (Zep keeps the id taken).
            try:
                session = yield call(memory, "get_session", session_id)
            except NotFoundError:
                session = yield from self._plan_revive_to_look(user_id, session_id, metadata)
        if session.user_id != user_id and new_user:
            yield call(self.client.user, "delete", user_id)  # made by this refused call
        self.record.verify(session, user_id)

    def _plan_revive_to_look(
        self, user_id: str, session_id: str, metadata: Mapping[str, Any] | None
    ) -> Plan[Session]:
        """Learn the owner of a soft-deleted session: only reviving it tells.

        It is revived unchanged; someone else's goes back to deleted exactly as it was,
        ``user_id``'s gets its metadata.
        """
        memory = self.client.memory
        look = Session(session_id=session_id, metadata=dict(_LOOK))
        session: Session = yield call(memory, "update_session", look)
        if session.user_id != user_id:
            yield call(memory, "delete_memory", session_id)
            return session
        mine = Session(session_id=session_id, metadata=dict(metadata or _revival()))
        revived: Session = yield call(memory, "update_session", mine)
        return revived

    def _plan_look_after_clear(
        self,
        user_id: str,
        session_id: str,
        metadata: Mapping[str, Any] | None,
        revive_with: Mapping[str, Any],
    ) -> Plan[None]:
        """Revive a session ``user_id`` cleared through this client, or make it again.

        On a backend that purges, it may be gone: revived with ``revive_with`` if it is still
        there, else created again for them.
        """
        memory = self.client.memory
        try:
            session = yield call(memory, "get_session", session_id)
        except NotFoundError:
            pass
        else:  # revived meanwhile (or, after a purge, made again by someone)
            self.record.verify(session, user_id)
            return
        try:
            look = Session(session_id=session_id, metadata=dict(revive_with))
            session = yield call(memory, "update_session", look)
        except NotFoundError:  # purged: gone for good, its id free
            self.record.forget(session_id)
            yield from self._plan_create(user_id, session_id, metadata)
            return
        if session.user_id != user_id:  # purged, then made and cleared by someone else
            yield call(memory, "delete_memory", session_id)  # back as it was
            self.record.forget(session_id)
        self.record.verify(session, user_id)

    def _plan_add_user(self, user_id: str) -> Plan[bool]:
        """Create the user; ``True`` if this call created it."""
        try:
            yield call(self.client.user, "add", CreateUserRequest(user_id=user_id))
        except AlreadyExistsError:
            return False
        return True

    # -- what the adapters do: read, write, clear, rewrite, list ----------------------------

    def plan_read(
        self, user_id: str, session_id: str, window: int | None = None
    ) -> Plan[list[Message]]:
        """The plan of :meth:`read`."""
        if not (yield from self.plan_check_read(user_id, session_id)):
            return []
        return (yield from self.cache.plan_read(session_id, window))

    def plan_write(  # no entry points: the adapters nest it in their own plans
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[Message],
        metadata: Mapping[str, Any] | None = None,
    ) -> Plan[list[Message]]:
        """Append ``messages`` in one call (creating the user and session first if needed)."""
        yield from self.plan_ensure_write(user_id, session_id, metadata)
        return (yield from self.cache.plan_add(session_id, messages))

    def plan_delete(self, session_id: str) -> Plan[bool]:
        """The plan of :meth:`delete`."""
        self.cache.forget(session_id)
        try:
            yield call(self.client.memory, "delete_memory", session_id)
        except NotFoundError:
            return False
        return True

    def plan_clear(self, user_id: str, session_id: str) -> Plan[bool]:
        """The plan of :meth:`clear`."""
        self.cache.forget(session_id)
        if not (yield from self.plan_check_read(user_id, session_id)):
            return False
        return (yield from self.plan_delete(session_id))

    def plan_rewrite(  # the adapters nest it in their own plans: it has no entry points
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[Message],
        *,
        keep_session: bool,
        metadata: Mapping[str, Any] | None = None,
    ) -> Plan[None]:
        """Replace the session's messages with ``messages`` (see module doc for the cost).

        With no messages left the session stays soft-deleted, unless ``keep_session``: then it
        is revived empty, so that it is still listed among the user's sessions.
        """
        if (yield from self.plan_check_read(user_id, session_id)):
            yield from self.plan_delete(session_id)  # False if already deleted: nothing to drop
            if messages:
                yield from self.plan_write(user_id, session_id, messages)  # revives it
            elif keep_session and self._take_cleared(session_id):
                yield from self._plan_look_after_clear(user_id, session_id, None, _revival())
            elif keep_session:
                revive = Session(session_id=session_id, metadata=_revival())
                yield call(self.client.memory, "update_session", revive)
        elif messages or keep_session:
            yield from self.plan_write(user_id, session_id, messages, metadata)

    def plan_user_sessions(self, user_id: str) -> Plan[list[str]]:
        """The plan of :meth:`user_sessions`."""
        try:
            sessions = yield call(self.client.user, "get_sessions", user_id)
        except NotFoundError:
            return []
        return self.owned(user_id, sessions)

    # -- the entry points: one line each way -----------------------------------------------

    def check_read(self, user_id: str, session_id: str) -> bool:
        """Verify ``user_id`` may read the session; ``False`` if it does not exist (yet)."""
        return run(self.plan_check_read(user_id, session_id))

    async def acheck_read(self, user_id: str, session_id: str) -> bool:
        """Async :meth:`check_read`."""
        return await arun(self.plan_check_read(user_id, session_id))

    def ensure_write(
        self, user_id: str, session_id: str, metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Make sure the session exists and belongs to ``user_id``, creating both if needed."""
        run(self.plan_ensure_write(user_id, session_id, metadata))

    async def aensure_write(
        self, user_id: str, session_id: str, metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Async :meth:`ensure_write`."""
        await arun(self.plan_ensure_write(user_id, session_id, metadata))

    def read(self, user_id: str, session_id: str, window: int | None = None) -> list[Message]:
        """The session's messages: the last ``window``, or all (through the history cache).

        The owner is checked first; a session that does not exist has none.
        """
        return run(self.plan_read(user_id, session_id, window))

    async def aread(
        self, user_id: str, session_id: str, window: int | None = None
    ) -> list[Message]:
        """Async :meth:`read`."""
        return await arun(self.plan_read(user_id, session_id, window))

    def history(self, session_id: str) -> list[Message]:
        """The session's whole history (one tail read once this process holds it)."""
        return self.cache.get(session_id)

    async def ahistory(self, session_id: str) -> list[Message]:
        """Async :meth:`history`."""
        return await self.cache.aget(session_id)

    def append(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Add ``messages`` in one call and remember them as the session's newest."""
        return self.cache.add(session_id, messages)

    async def aappend(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Async :meth:`append`."""
        return await self.cache.aadd(session_id, messages)

    def delete(self, session_id: str) -> bool:
        """Soft-delete the session; ``False`` if it was not live."""
        return run(self.plan_delete(session_id))

    async def adelete(self, session_id: str) -> bool:
        """Async :meth:`delete`."""
        return await arun(self.plan_delete(session_id))

    def clear(self, user_id: str, session_id: str) -> bool:
        """Soft-delete ``user_id``'s session (owner checked first); ``False`` if not live."""
        return run(self.plan_clear(user_id, session_id))

    async def aclear(self, user_id: str, session_id: str) -> bool:
        """Async :meth:`clear`."""
        return await arun(self.plan_clear(user_id, session_id))

    def user_sessions(self, user_id: str) -> list[str]:
        """Ids of the user's live sessions, oldest first (none if the user does not exist)."""
        return run(self.plan_user_sessions(user_id))

    async def auser_sessions(self, user_id: str) -> list[str]:
        """Async :meth:`user_sessions`."""
        return await arun(self.plan_user_sessions(user_id))


def _new_guard(client: ZepMemoryClient) -> SessionGuard:
    return SessionGuard(client)


_GUARDS: PerClient[SessionGuard] = PerClient(_new_guard)


def guard_for(client: ZepMemoryClient) -> SessionGuard:
    """The guard shared by every adapter on ``client`` (made once, under a lock)."""
    return _GUARDS.get(client)
