"""The embedded backend: the local SQLite store behind the client."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

from .._errors import ConfigurationError
from .._models import CreateUserRequest, Message, MessagePage, Session, UpdateUserRequest, User
from .._retention import PurgeReport
from ..store import SQLiteStore, WouldBlockError
from ._base import Backend

__all__ = ["EmbeddedBackend"]

T = TypeVar("T")


class EmbeddedBackend(Backend):
    """Keeps everything in a local SQLite file (or in memory with ``path=":memory:"``).

    The async methods never block the event loop. Each first tries the SQLite call inline,
    refusing to wait (:meth:`SQLiteStore.no_wait`): a read on a local file takes microseconds and
    WAL readers do not wait for writers, so reads nearly always finish there, at the speed of
    the sync call. A call that would have to wait (a write while another process holds the write
    lock, for up to the 30 s busy timeout; another thread using the store) runs instead on a
    worker thread the loop awaits: writes on one thread of the backend's own (they queue on the
    store's write lock anyway, and never fill the loop's default executor), reads on
    :func:`asyncio.to_thread`.
    """

    name = "embedded"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        store: SQLiteStore | None = None,
        retention: str | timedelta | float | None = None,
    ) -> None:
        super().__init__()
        if store is not None and retention is not None:
            raise ConfigurationError(
                "pass retention= to the SQLiteStore given as store=, not to the backend"
            )
        self.store = store if store is not None else SQLiteStore(path, retention=retention)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zep-memory-store")

    def describe(self) -> str:
        """The store's path."""
        return f"embedded:{self.store.path}"

    def close(self) -> None:
        """Let async writes already handed to the writer thread finish, then close the store."""
        self._writer.shutdown(wait=True)
        self.store.close()

    async def aclose(self) -> None:
        """:meth:`close`, off the event loop (it waits for writes in progress)."""
        await asyncio.to_thread(self.close)

    async def _run(self, write: bool, call: Callable[..., T], *args: Any) -> T:
        """Run ``call`` inline if it need not wait, else on a worker thread the loop awaits.

        A write handed to the writer thread runs to its end even if the awaiting task is
        cancelled (shielded): it lands whole, as a write already begun inline would.
        """
        try:
            with self.store.no_wait():
                return call(*args)
        except WouldBlockError:
            pass  # nothing was done: run it where waiting is harmless
        if not write:
            return await asyncio.to_thread(call, *args)
        pending = asyncio.get_running_loop().run_in_executor(self._writer, call, *args)
        return await asyncio.shield(pending)

    async def _read(self, call: Callable[..., T], *args: Any) -> T:
        return await self._run(False, call, *args)

    async def _write(self, call: Callable[..., T], *args: Any) -> T:
        return await self._run(True, call, *args)

    # sync: straight to the store
    def add_user(self, request: CreateUserRequest) -> User:
        return self.store.add_user(request)

    def get_user(self, user_id: str) -> User:
        return self.store.get_user(user_id)

    def update_user(self, request: UpdateUserRequest) -> User:
        return self.store.update_user(request)

    def delete_user(self, user_id: str) -> None:
        self.store.delete_user(user_id)

    def list_users(self, limit: int | None, cursor: int) -> list[User]:
        return self.store.list_users(limit, cursor)

    def get_user_sessions(self, user_id: str) -> list[Session]:
        return self.store.get_user_sessions(user_id)

    def add_session(self, session: Session) -> Session:
        return self.store.add_session(session)

    def get_session(self, session_id: str) -> Session:
        return self.store.get_session(session_id)

    def update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Session:
        return self.store.update_session(session_id, metadata)

    def delete_session(self, session_id: str) -> None:
        self.store.delete_session(session_id)

    def list_sessions(self, limit: int | None, cursor: int) -> list[Session]:
        return self.store.list_sessions(limit, cursor)

    def add_messages(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        return self.store.add_messages(session_id, messages)

    def get_messages(self, session_id: str, lastn: int | None) -> list[Message]:
        return self.store.get_messages(session_id, lastn)

    def get_messages_page(self, session_id: str, limit: int, page: int) -> MessagePage:
        return self.store.get_messages_page(session_id, limit, page)

    def update_message_metadata(
        self, session_id: str, message_uuid: uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        return self.store.update_message_metadata(session_id, message_uuid, metadata)

    @property
    def revivable_for(self) -> timedelta:
        """The store's retention: a soft-deleted session is kept at least that long."""
        return self.store.retention

    def purge_deleted(self, older_than: timedelta | None) -> PurgeReport:
        """Hard-delete what was soft-deleted ``older_than`` ago (default: the retention)."""
        return self.store.purge_deleted(older_than)

    # async: the same calls, off the event loop whenever they would wait (see the class docstring)
    async def aadd_user(self, request: CreateUserRequest) -> User:
        return await self._write(self.store.add_user, request)

    async def aget_user(self, user_id: str) -> User:
        return await self._read(self.store.get_user, user_id)

    async def aupdate_user(self, request: UpdateUserRequest) -> User:
        return await self._write(self.store.update_user, request)

    async def adelete_user(self, user_id: str) -> None:
        await self._write(self.store.delete_user, user_id)

    async def alist_users(self, limit: int | None, cursor: int) -> list[User]:
        return await self._read(self.store.list_users, limit, cursor)

    async def aget_user_sessions(self, user_id: str) -> list[Session]:
        return await self._read(self.store.get_user_sessions, user_id)

    async def aadd_session(self, session: Session) -> Session:
        return await self._write(self.store.add_session, session)

    async def aget_session(self, session_id: str) -> Session:
        return await self._read(self.store.get_session, session_id)

    async def aupdate_session(self, session_id: str, metadata: Mapping[str, Any]) -> Session:
        return await self._write(self.store.update_session, session_id, metadata)

    async def adelete_session(self, session_id: str) -> None:
        await self._write(self.store.delete_session, session_id)

    async def alist_sessions(self, limit: int | None, cursor: int) -> list[Session]:
        return await self._read(self.store.list_sessions, limit, cursor)

    async def aadd_messages(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        return await self._write(self.store.add_messages, session_id, messages)

    async def aget_messages(self, session_id: str, lastn: int | None) -> list[Message]:
        return await self._read(self.store.get_messages, session_id, lastn)

    async def aget_messages_page(self, session_id: str, limit: int, page: int) -> MessagePage:
        return await self._read(self.store.get_messages_page, session_id, limit, page)

    async def aupdate_message_metadata(
        self, session_id: str, message_uuid: uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        return await self._write(
            self.store.update_message_metadata, session_id, message_uuid, metadata
        )

    async def apurge_deleted(self, older_than: timedelta | None) -> PurgeReport:
        """Async :meth:`purge_deleted`, off the event loop when it would wait."""
        return await self._write(self.store.purge_deleted, older_than)
