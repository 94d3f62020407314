"""Ownership checks, create-on-first-write and whole-session rewrites, cached per client.

Every framework adapter (LangChain and LlamaIndex alike) bound to a user goes through the
:class:`SessionGuard` of its :class:`~zep_memory_plugins.ZepMemoryClient` (one per client,
shared by every adapter on it). The guard remembers what this process has already verified, so
a steady conversation turn costs one read (``get_messages``) and one write (``add_messages``)
and nothing more:

- the first read of an unverified session asks ``get_session``: a session owned by another user
  (or by no user) raises :class:`~zep_memory_plugins.SessionOwnershipError`; a missing one has no
  messages and is not read further;
- the first write to a session not verified yet creates the user (if not known) and the session,
  then appends.

Zep cannot delete single messages, so replacing a session's messages (:meth:`SessionGuard.
rewrite`) soft-deletes the session and adds the kept messages again, which revives it with its
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
with its owner and metadata. To learn the owner of a soft-deleted session it does not know (Zep
hides it), the guard revives it with an update that changes nothing (a top-level ``"system"``
key, which Zep ignores in session updates), and deletes it again if it is someone else's: its
metadata and messages stay exactly as they were.

What stays out of reach without a request per turn: a user deleted by another process between a
turn's read and its write. The write then recreates the session without an owner (Zep's add
messages call creates unknown sessions); the next read serves exactly what the store holds,
and the guard refuses the ownerless session from then on.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ._client import ZepMemoryClient
from ._duplex import Plan, arun, call, run
from ._errors import AlreadyExistsError, InvalidInputError, NotFoundError, SessionOwnershipError
from ._history_cache import HistoryCache, history_cache
from ._models import CreateUserRequest, Message, Session

__all__ = ["REVIVED_SESSION_KEY", "SessionGuard", "check_client", "guard_for"]

#: Session metadata key set when a soft-deleted session must be revived without adding messages
#: (Zep never lets a deleted session id be created anew); its value is an ISO timestamp.
REVIVED_SESSION_KEY = "zep_memory_revived_at"

#: A session update that changes no metadata but revives a soft-deleted session: Zep ignores a
#: top-level ``"system"`` key in session updates (so do the embedded store and the test server).
_LOOK: dict[str, Any] = {"system": "zep-memory-plugins: ownership check"}

_GUARDS: weakref.WeakKeyDictionary[ZepMemoryClient, SessionGuard] = weakref.WeakKeyDictionary()


def check_client(client: object) -> ZepMemoryClient:
    """Return ``client`` if it is a :class:`ZepMemoryClient`, else raise InvalidInputError."""
    if not isinstance(client, ZepMemoryClient):
        raise InvalidInputError(
            f"client must be a ZepMemoryClient, not {type(client).__name__}", field="client"
        )
    return client


def guard_for(client: ZepMemoryClient) -> SessionGuard:
    """The guard shared by every adapter on ``client``."""
    guard = _GUARDS.get(client)
    if guard is None:
        guard = _GUARDS[client] = SessionGuard(client)
    return guard


def _revival() -> dict[str, Any]:
    return {REVIVED_SESSION_KEY: datetime.now(timezone.utc).isoformat()}


class SessionGuard:
    """What this process verified about users and sessions on one client (see module doc)."""

    def __init__(self, client: ZepMemoryClient) -> None:
        self.client = client
        #: user ids known to exist
        self.users: set[str] = set()
        #: session id -> owner, for sessions known to exist (live or soft-deleted by us)
        self.owners: dict[str, str] = {}
        #: session ids found missing (a first write then creates them without asking again)
        self.absent: set[str] = set()
        #: whole histories, refreshed by one tail read (shared with the other adapters)
        self.cache: HistoryCache = history_cache(client)
        self.cache.on_lost(self.lost)
        client._on_delete(self._deleted)

    def lost(self, session_id: str) -> None:
        """A read showed the session was deleted meanwhile: check its owner again.

        The shared history cache calls this by itself; an adapter reading past the cache calls
        it when messages it had read are gone.
        """
        owner = self.owners.pop(session_id, None)
        self.absent.discard(session_id)
        if owner is not None:
            self.users.discard(owner)  # perhaps deleted with it

    def _deleted(self, kind: str, ident: str) -> None:
        """A user or session was deleted through the client."""
        if kind != "user":
            return  # a soft-deleted session keeps its owner: a write revives it as theirs
        self.users.discard(ident)
        for session_id, owner in list(self.owners.items()):
            if owner == ident:
                del self.owners[session_id]
                self.absent.add(session_id)  # deleted for good with its user
                self.cache.forget(session_id)

    def _known(self, user_id: str, session_id: str) -> bool:
        owner = self.owners.get(session_id)
        if owner is None:
            return False
        if owner != user_id:
            raise SessionOwnershipError(
                f"session {session_id!r} belongs to another user, not to user {user_id!r}"
            )
        return True

    def _verified(self, session: Session, user_id: str) -> None:
        if session.user_id != user_id:
            # Never name the other user: that would leak who owns the session.
            owner = "no user" if session.user_id is None else "another user"
            raise SessionOwnershipError(
                f"session {session.session_id!r} belongs to {owner}, not to user {user_id!r}"
            )
        assert session.session_id is not None
        self.owners[session.session_id] = user_id
        self.absent.discard(session.session_id)
        self.users.add(user_id)

    def owned(self, user_id: str, sessions: Sequence[Session]) -> list[str]:
        """Record ``sessions`` (listed by ``get_sessions(user_id)``) as owned; their ids."""
        for session in sessions:
            self._verified(session, user_id)
        return [s.session_id for s in sessions if s.session_id is not None]

    # -- operations: each written once as a plan, run sync or async -------------------------

    def _plan_check_read(self, user_id: str, session_id: str) -> Plan[bool]:
        if self._known(user_id, session_id):
            return True
        try:
            session = yield call(self.client.memory, "get_session", session_id)
        except NotFoundError:
            self.absent.add(session_id)
            return False
        self._verified(session, user_id)
        return True

    def _plan_ensure_write(
        self, user_id: str, session_id: str, metadata: Mapping[str, Any] | None
    ) -> Plan[None]:
        if self._known(user_id, session_id):
            return
        if session_id not in self.absent and (
            yield from self._plan_check_read(user_id, session_id)
        ):
            return
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
                # Only reviving it tells whose it is: revive it unchanged, and someone else's
                # goes back to deleted exactly as it was.
                look = Session(session_id=session_id, metadata=dict(_LOOK))
                session = yield call(memory, "update_session", look)
                if session.user_id != user_id:
                    yield call(memory, "delete_memory", session_id)
                else:
                    mine = Session(session_id=session_id, metadata=dict(metadata or _revival()))
                    session = yield call(memory, "update_session", mine)
        if session.user_id != user_id and new_user:
            yield call(self.client.user, "delete", user_id)  # made by this refused call
            self.users.discard(user_id)
        self._verified(session, user_id)

    def _plan_add_user(self, user_id: str) -> Plan[bool]:
        """Create the user; ``True`` if this call created it."""
        self.users.add(user_id)
        try:
            yield call(self.client.user, "add", CreateUserRequest(user_id=user_id))
        except AlreadyExistsError:
            return False
        return True

    def _plan_delete(self, session_id: str) -> Plan[bool]:
        self.cache.forget(session_id)
        try:
            yield call(self.client.memory, "delete_memory", session_id)
        except NotFoundError:
            return False
        return True

    def _plan_rewrite(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[Message],
        keep_session: bool,
        metadata: Mapping[str, Any] | None,
    ) -> Plan[None]:
        if (yield from self._plan_check_read(user_id, session_id)):
            yield from self._plan_delete(session_id)  # False if already deleted: nothing to drop
            if messages:
                yield from self.cache.plan_add(session_id, messages)
            elif keep_session:
                revive = Session(session_id=session_id, metadata=_revival())
                yield call(self.client.memory, "update_session", revive)
        elif messages or keep_session:
            yield from self._plan_ensure_write(user_id, session_id, metadata)
            yield from self.cache.plan_add(session_id, messages)

    def _plan_user_sessions(self, user_id: str) -> Plan[list[str]]:
        try:
            sessions = yield call(self.client.user, "get_sessions", user_id)
        except NotFoundError:
            return []
        return self.owned(user_id, sessions)

    # -- the entry points: one line each way -----------------------------------------------

    def check_read(self, user_id: str, session_id: str) -> bool:
        """Verify ``user_id`` may read the session; ``False`` if it does not exist (yet)."""
        return run(self._plan_check_read(user_id, session_id))

    async def acheck_read(self, user_id: str, session_id: str) -> bool:
        """Async :meth:`check_read`."""
        return await arun(self._plan_check_read(user_id, session_id))

    def ensure_write(
        self, user_id: str, session_id: str, metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Make sure the session exists and belongs to ``user_id``, creating both if needed."""
        run(self._plan_ensure_write(user_id, session_id, metadata))

    async def aensure_write(
        self, user_id: str, session_id: str, metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Async :meth:`ensure_write`."""
        await arun(self._plan_ensure_write(user_id, session_id, metadata))

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
        return run(self._plan_delete(session_id))

    async def adelete(self, session_id: str) -> bool:
        """Async :meth:`delete`."""
        return await arun(self._plan_delete(session_id))

    def rewrite(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[Message],
        *,
        keep_session: bool,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Replace the session's messages with ``messages`` (see module doc for the cost).

        With no messages left the session stays soft-deleted, unless ``keep_session``: then it
        is revived empty, so that it is still listed among the user's sessions.
        """
        run(self._plan_rewrite(user_id, session_id, messages, keep_session, metadata))

    async def arewrite(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[Message],
        *,
        keep_session: bool,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Async :meth:`rewrite`."""
        await arun(self._plan_rewrite(user_id, session_id, messages, keep_session, metadata))

    def user_sessions(self, user_id: str) -> list[str]:
        """Ids of the user's live sessions, oldest first (none if the user does not exist)."""
        return run(self._plan_user_sessions(user_id))

    async def auser_sessions(self, user_id: str) -> list[str]:
        """Async :meth:`user_sessions`."""
        return await arun(self._plan_user_sessions(user_id))
