"""The embedded backend: the local SQLite store behind the client."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from .._models import CreateUserRequest, Message, MessagePage, Session, UpdateUserRequest, User
from ..store import SQLiteStore
from ._base import Backend

__all__ = ["EmbeddedBackend"]


class EmbeddedBackend(Backend):
    """Keeps everything in a local SQLite file (or in memory with ``path=":memory:"``).

    The async methods run the SQLite call inline: each one is a few microseconds of work on a
    local file, far cheaper than handing it to a thread, and there is no socket to await.
    """

    name = "embedded"

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, store: SQLiteStore | None = None
    ) -> None:
        super().__init__()
        self.store = store if store is not None else SQLiteStore(path)

    def describe(self) -> str:
        """The store's path."""
        return f"embedded:{self.store.path}"

    def close(self) -> None:
        """Close the SQLite connection."""
        self.store.close()

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

    # async: the same calls, inline (see the class docstring)
    async def aadd_user(self, request: CreateUserRequest) -> User:
        return self.store.add_user(request)

    async def aget_user(self, user_id: str) -> User:
        return self.store.get_user(user_id)

    async def aupdate_user(self, request: UpdateUserRequest) -> User:
        return self.store.update_user(request)

    async def adelete_user(self, user_id: str) -> None:
        self.store.delete_user(user_id)

    async def alist_users(self, limit: int | None, cursor: int) -> list[User]:
        return self.store.list_users(limit, cursor)

    async def aget_user_sessions(self, user_id: str) -> list[Session]:
        return self.store.get_user_sessions(user_id)

    async def aadd_session(self, session: Session) -> Session:
        return self.store.add_session(session)

    async def aget_session(self, session_id: str) -> Session:
        return self.store.get_session(session_id)

    async def aupdate_session(self, session_id: str, metadata: Mapping[str, Any]) -> Session:
        return self.store.update_session(session_id, metadata)

    async def adelete_session(self, session_id: str) -> None:
        self.store.delete_session(session_id)

    async def alist_sessions(self, limit: int | None, cursor: int) -> list[Session]:
        return self.store.list_sessions(limit, cursor)

    async def aadd_messages(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        return self.store.add_messages(session_id, messages)

    async def aget_messages(self, session_id: str, lastn: int | None) -> list[Message]:
        return self.store.get_messages(session_id, lastn)

    async def aget_messages_page(self, session_id: str, limit: int, page: int) -> MessagePage:
        return self.store.get_messages_page(session_id, limit, page)

    async def aupdate_message_metadata(
        self, session_id: str, message_uuid: uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        return self.store.update_message_metadata(session_id, message_uuid, metadata)
