"""Ownership checks and create-on-first-write, cached per client.

Every adapter object bound to ``(user_id, session_id)`` goes through a :class:`SessionGuard`,
shared by everything that uses the same :class:`~zep_memory_plugins.ZepMemoryClient`. The guard
remembers what this process has already verified, so a steady conversation turn costs one read
(``get_messages``) and one write (``add_messages``) and nothing more:

- the first read of an unverified session asks ``get_session``: a session owned by another user
  (or by no user) raises :class:`~zep_memory_plugins.SessionOwnershipError`; a missing one has no
  messages, so it is not read further;
- the first write to a session not verified yet creates the user (if not known) and the session
  (with the optional metadata), then appends.

The cache is only ever about facts this process established; it is not refreshed if another
process deletes the user meanwhile (Zep would then re-create the session without an owner).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .._client import ZepMemoryClient
from .._errors import AlreadyExistsError, NotFoundError, SessionOwnershipError
from .._models import CreateUserRequest, Session

__all__ = ["REVIVED_SESSION_KEY", "SessionGuard", "guard_for"]

#: Session metadata key set when a soft-deleted session is written to again and has to be
#: revived (Zep never lets a deleted session id be created anew); its value is an ISO timestamp.
REVIVED_SESSION_KEY = "langchain_revived_at"

_GUARDS: weakref.WeakKeyDictionary[ZepMemoryClient, SessionGuard] = weakref.WeakKeyDictionary()


def guard_for(client: ZepMemoryClient) -> SessionGuard:
    """The guard shared by every adapter on ``client``."""
    guard = _GUARDS.get(client)
    if guard is None:
        guard = _GUARDS[client] = SessionGuard(client)
    return guard


def _check_owner(session: Session, user_id: str) -> None:
    if session.user_id != user_id:
        # Never name the other user: that would leak who owns the session.
        owner = "no user" if session.user_id is None else "another user"
        raise SessionOwnershipError(
            f"session {session.session_id!r} belongs to {owner}, not to user {user_id!r}"
        )


class SessionGuard:
    """What this process verified about users and sessions on one client (see module doc)."""

    def __init__(self, client: ZepMemoryClient) -> None:
        self.client = client
        #: user ids known to exist
        self.users: set[str] = set()
        #: session id -> owner, for sessions known to exist and verified
        self.owners: dict[str, str] = {}
        #: session ids found missing (a first write then creates them without asking again)
        self.absent: set[str] = set()

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
        _check_owner(session, user_id)
        assert session.session_id is not None
        self.owners[session.session_id] = user_id
        self.absent.discard(session.session_id)
        self.users.add(user_id)

    @staticmethod
    def _revival(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        return dict(metadata) if metadata else {
            REVIVED_SESSION_KEY: datetime.now(timezone.utc).isoformat()
        }

    # -- sync --------------------------------------------------------------------------------

    def check_read(self, user_id: str, session_id: str) -> bool:
        """Verify ``user_id`` may read the session; ``False`` if it does not exist (yet)."""
        if self._known(user_id, session_id):
            return True
        try:
            session = self.client.memory.get_session(session_id)
        except NotFoundError:
            self.absent.add(session_id)
            return False
        self._verified(session, user_id)
        return True

    def ensure_write(
        self, user_id: str, session_id: str, metadata: Mapping[str, Any] | None
    ) -> None:
        """Make sure the session exists and belongs to ``user_id``, creating both if needed."""
        if self._known(user_id, session_id):
            return
        if session_id not in self.absent and self.check_read(user_id, session_id):
            return
        if user_id not in self.users:
            with contextlib.suppress(AlreadyExistsError):
                self.client.user.add(CreateUserRequest(user_id=user_id))
            self.users.add(user_id)
        request = Session(session_id=session_id, user_id=user_id, metadata=metadata)
        try:
            session = self.client.memory.add_session(request)
        except AlreadyExistsError:
            # Created meanwhile by someone else, or soft-deleted (Zep keeps the id taken).
            try:
                session = self.client.memory.get_session(session_id)
            except NotFoundError:
                session = self.client.memory.update_session(
                    Session(session_id=session_id, metadata=self._revival(metadata))
                )
        self._verified(session, user_id)

    # -- async -------------------------------------------------------------------------------

    async def acheck_read(self, user_id: str, session_id: str) -> bool:
        """Async :meth:`check_read`."""
        if self._known(user_id, session_id):
            return True
        try:
            session = await self.client.memory.aget_session(session_id)
        except NotFoundError:
            self.absent.add(session_id)
            return False
        self._verified(session, user_id)
        return True

    async def aensure_write(
        self, user_id: str, session_id: str, metadata: Mapping[str, Any] | None
    ) -> None:
        """Async :meth:`ensure_write`."""
        if self._known(user_id, session_id):
            return
        if session_id not in self.absent and await self.acheck_read(user_id, session_id):
            return
        if user_id not in self.users:
            with contextlib.suppress(AlreadyExistsError):
                await self.client.user.aadd(CreateUserRequest(user_id=user_id))
            self.users.add(user_id)
        request = Session(session_id=session_id, user_id=user_id, metadata=metadata)
        try:
            session = await self.client.memory.aadd_session(request)
        except AlreadyExistsError:
            try:
                session = await self.client.memory.aget_session(session_id)
            except NotFoundError:
                session = await self.client.memory.aupdate_session(
                    Session(session_id=session_id, metadata=self._revival(metadata))
                )
        self._verified(session, user_id)
