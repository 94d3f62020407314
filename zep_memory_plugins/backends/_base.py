"""What every backend offers the client: Zep's user/session/message operations, sync and async.

The client validates every argument before it reaches a backend, fills in session ids, turns
empty updates into no-ops and pages through listings; a backend only does I/O. Backends return
the library's own models and raise only the library's own errors.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .._errors import UnsupportedOperationError
from .._models import CreateUserRequest, Message, MessagePage, Session, UpdateUserRequest, User
from .._retention import PurgeReport

__all__ = ["Backend", "BackendStats"]


@dataclass
class BackendStats:
    """Counters of what a client asked of its backend, for tests and benchmarks.

    ``calls`` counts backend operations by name (``"add_messages"``, ``"get_messages"``...),
    ``reads`` and ``writes`` total them, and ``http_requests`` counts HTTP requests actually sent
    (Zep backend only; retries included).
    """

    calls: Counter[str] = field(default_factory=Counter)
    reads: int = 0
    writes: int = 0
    http_requests: int = 0

    def record(self, operation: str, write: bool) -> None:
        """Count one backend operation."""
        self.calls[operation] += 1
        if write:
            self.writes += 1
        else:
            self.reads += 1

    def reset(self) -> None:
        """Set every counter back to zero."""
        self.calls.clear()
        self.reads = self.writes = self.http_requests = 0

    def snapshot(self) -> dict[str, Any]:
        """The counters as a plain dict."""
        return {
            "calls": dict(self.calls),
            "reads": self.reads,
            "writes": self.writes,
            "http_requests": self.http_requests,
        }


class Backend(ABC):
    """Storage behind :class:`~zep_memory_plugins.ZepMemoryClient`.

    Each operation has a sync method and an ``a``-prefixed async twin. Arguments arrive
    validated; ``limit`` of ``None`` means "all"; ``cursor`` means "id greater than".
    """

    #: Short name shown in reprs and logs (``"embedded"``, ``"zep-v2"``...).
    name: str = "backend"

    def __init__(self) -> None:
        self.stats = BackendStats()

    # users
    @abstractmethod
    def add_user(self, request: CreateUserRequest) -> User:
        """Create a user."""

    @abstractmethod
    def get_user(self, user_id: str) -> User:
        """Return a user."""

    @abstractmethod
    def update_user(self, request: UpdateUserRequest) -> User:
        """Update a user (metadata deep-merged)."""

    @abstractmethod
    def delete_user(self, user_id: str) -> None:
        """Delete a user with all of their sessions and messages."""

    @abstractmethod
    def list_users(self, limit: int | None, cursor: int) -> list[User]:
        """Users with id greater than ``cursor``, in id order."""

    @abstractmethod
    def get_user_sessions(self, user_id: str) -> list[Session]:
        """The user's live sessions."""

    # sessions
    @abstractmethod
    def add_session(self, session: Session) -> Session:
        """Create a session (``session.session_id`` is set)."""

    @abstractmethod
    def get_session(self, session_id: str) -> Session:
        """Return a live session."""

    @abstractmethod
    def update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Session:
        """Deep-merge non-empty metadata into a session, reviving it if soft-deleted."""

    @abstractmethod
    def delete_session(self, session_id: str) -> None:
        """Soft-delete a session and its messages."""

    @abstractmethod
    def list_sessions(self, limit: int | None, cursor: int) -> list[Session]:
        """Live sessions with id greater than ``cursor``, in id order."""

    # messages
    @abstractmethod
    def add_messages(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Append messages (each with a uuid) in one transaction; returns them as stored."""

    @abstractmethod
    def get_messages(self, session_id: str, lastn: int | None) -> list[Message]:
        """A live session's messages oldest first, all or the last ``lastn``."""

    @abstractmethod
    def get_messages_page(self, session_id: str, limit: int, page: int) -> MessagePage:
        """One page (1-based) of a live session's messages."""

    @abstractmethod
    def update_message_metadata(
        self, session_id: str, message_uuid: uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        """Deep-merge metadata into one message."""

    # async twins
    @abstractmethod
    async def aadd_user(self, request: CreateUserRequest) -> User:
        """Async :meth:`add_user`."""

    @abstractmethod
    async def aget_user(self, user_id: str) -> User:
        """Async :meth:`get_user`."""

    @abstractmethod
    async def aupdate_user(self, request: UpdateUserRequest) -> User:
        """Async :meth:`update_user`."""

    @abstractmethod
    async def adelete_user(self, user_id: str) -> None:
        """Async :meth:`delete_user`."""

    @abstractmethod
    async def alist_users(self, limit: int | None, cursor: int) -> list[User]:
        """Async :meth:`list_users`."""

    @abstractmethod
    async def aget_user_sessions(self, user_id: str) -> list[Session]:
        """Async :meth:`get_user_sessions`."""

    @abstractmethod
    async def aadd_session(self, session: Session) -> Session:
        """Async :meth:`add_session`."""

    @abstractmethod
    async def aget_session(self, session_id: str) -> Session:
        """Async :meth:`get_session`."""

    @abstractmethod
    async def aupdate_session(self, session_id: str, metadata: Mapping[str, Any]) -> Session:
        """Async :meth:`update_session`."""

    @abstractmethod
    async def adelete_session(self, session_id: str) -> None:
        """Async :meth:`delete_session`."""

    @abstractmethod
    async def alist_sessions(self, limit: int | None, cursor: int) -> list[Session]:
        """Async :meth:`list_sessions`."""

    @abstractmethod
    async def aadd_messages(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Async :meth:`add_messages`."""

    @abstractmethod
    async def aget_messages(self, session_id: str, lastn: int | None) -> list[Message]:
        """Async :meth:`get_messages`."""

    @abstractmethod
    async def aget_messages_page(self, session_id: str, limit: int, page: int) -> MessagePage:
        """Async :meth:`get_messages_page`."""

    @abstractmethod
    async def aupdate_message_metadata(
        self, session_id: str, message_uuid: uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        """Async :meth:`update_message_metadata`."""

    # soft-deleted data (optional: the default says the backend does not purge)
    @property
    def revivable_for(self) -> timedelta | None:
        """How long a soft-deleted session surely stays revivable; ``None``: not known here.

        The adapters trust a write to revive a session this client soft-deleted only within
        that time; after it they check that the session still exists.
        """
        return None

    def purge_deleted(self, older_than: timedelta | None) -> PurgeReport:
        """Hard-delete what was soft-deleted more than ``older_than`` ago; report it.

        ``None``: the backend's retention. The default: :class:`UnsupportedOperationError`.
        """
        raise UnsupportedOperationError(
            f"the {self.name} backend does not purge soft-deleted data on request"
        )

    async def apurge_deleted(self, older_than: timedelta | None) -> PurgeReport:
        """Async :meth:`purge_deleted`."""
        return self.purge_deleted(older_than)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections held by the backend."""

    async def aclose(self) -> None:
        """Release connections held by the backend (async)."""
        self.close()

    def describe(self) -> str:
        """Where the data lives, for reprs and logs (never a secret)."""
        return self.name
