"""``ZepMemoryClient``: Zep's user/session API on any backend.

The calls are those of Zep's user and session documentation (``client.user.add``,
``client.memory.add_session``, ...), each with an ``a``-prefixed async twin. The client checks
every argument before the backend sees it, so bad input raises
:class:`~zep_memory_plugins.InvalidInputError` and leaves the store untouched.
"""

from __future__ import annotations

import logging
import os
import uuid as _uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from ._errors import ConfigurationError, InvalidInputError
from ._models import (
    CreateUserRequest,
    Memory,
    Message,
    MessagePage,
    Session,
    UpdateUserRequest,
    User,
    check_id,
    check_metadata,
    new_session_id,
)
from .backends._base import Backend, BackendStats

__all__ = [
    "API_KEY_ENV",
    "API_URL_ENV",
    "API_VERSION_ENV",
    "DEFAULT_CHUNK_SIZE",
    "MemoryClient",
    "UserClient",
    "ZepMemoryClient",
]

logger = logging.getLogger("zep_memory_plugins")

#: Environment variable naming the Zep server; when set, the client talks to Zep.
API_URL_ENV = "ZEP_API_URL"
#: Environment variable holding the Zep API key.
API_KEY_ENV = "ZEP_API_KEY"
#: Environment variable naming the Zep server's generation (``v1``, ``v2``; unset: ask it).
API_VERSION_ENV = "ZEP_API_VERSION"
#: Default page size of ``list_chunked`` / ``list_all_sessions`` (as in zep-python).
DEFAULT_CHUNK_SIZE = 100

_M = TypeVar("_M", CreateUserRequest, UpdateUserRequest, Session, Message)
# ``UserClient.list`` shadows the builtin inside the class body, hence an alias.
_Users = list[User]
#: Told ``(kind, id)`` after a delete through a client: ``("user", user_id)`` or
#: ``("session", session_id)``; the adapters' caches drop what they remember about it.
DeleteListener = Callable[[str, str], None]


def _coerce(value: object, model: type[_M], what: str) -> _M:
    if isinstance(value, model):
        return value
    if isinstance(value, Mapping):
        return model.model_validate(dict(value))  # type: ignore[no-any-return]
    raise InvalidInputError(
        f"{what} must be a {model.__name__} (or a dict of its fields), not {type(value).__name__}",
        field=what,
    )


def _messages(messages: object) -> list[Message]:
    if isinstance(messages, Memory):
        return list(messages.messages)
    if (
        isinstance(messages, (str, bytes, Mapping, BaseModel))
        or not isinstance(messages, Iterable)
    ):
        hint = " (wrap a single message in a list)" if isinstance(messages, Message) else ""
        raise InvalidInputError(
            f"messages must be a list of Message, not {type(messages).__name__}{hint}",
            field="messages",
        )
    out: list[Message] = []
    for index, item in enumerate(messages):
        where = f"messages[{index}]"
        if isinstance(item, Message):
            out.append(item)
        elif isinstance(item, Mapping):
            try:
                out.append(Message.model_validate(dict(item)))
            except InvalidInputError as exc:
                field = where + (f".{exc.field}" if exc.field else "")
                raise InvalidInputError(f"{where}: {exc.message}", field=field) from None
        else:
            raise InvalidInputError(
                f"{where} must be a Message (or a dict of its fields), not {type(item).__name__}",
                field=where,
            )
    return out


def _count(value: object, name: str, *, minimum: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an int, not {type(value).__name__}", field=name)
    if value < minimum:
        raise InvalidInputError(f"{name} must be at least {minimum}, not {value}", field=name)
    return value


class _Namespace:
    """Shared plumbing of ``client.user`` and ``client.memory``."""

    def __init__(self, backend: Backend, on_delete: list[DeleteListener] | None = None) -> None:
        self._backend = backend
        self._on_delete = [] if on_delete is None else on_delete

    def _deleted(self, kind: str, ident: str) -> None:
        for listener in list(self._on_delete):
            listener(kind, ident)

    def _record(self, operation: str, write: bool = False) -> Backend:
        self._backend.stats.record(operation, write)
        return self._backend


class UserClient(_Namespace):
    """``client.user``: add, get, update, delete and list users, and a user's sessions."""

    def add(self, user: CreateUserRequest) -> User:
        """Create a user. :class:`AlreadyExistsError` if the user id is taken."""
        request = _coerce(user, CreateUserRequest, "user")
        return self._record("add_user", True).add_user(request)

    async def aadd(self, user: CreateUserRequest) -> User:
        """Async :meth:`add`."""
        request = _coerce(user, CreateUserRequest, "user")
        return await self._record("add_user", True).aadd_user(request)

    def get(self, user_id: str) -> User:
        """Return a user. :class:`NotFoundError` if unknown."""
        check_id(user_id, "user_id")
        return self._record("get_user").get_user(user_id)

    async def aget(self, user_id: str) -> User:
        """Async :meth:`get`."""
        check_id(user_id, "user_id")
        return await self._record("get_user").aget_user(user_id)

    def update(self, user: UpdateUserRequest) -> User:
        """Change the fields given; metadata is deep-merged. Empty metadata changes nothing."""
        request = _coerce(user, UpdateUserRequest, "user")
        return self._record("update_user", True).update_user(request)

    async def aupdate(self, user: UpdateUserRequest) -> User:
        """Async :meth:`update`."""
        request = _coerce(user, UpdateUserRequest, "user")
        return await self._record("update_user", True).aupdate_user(request)

    def delete(self, user_id: str) -> None:
        """Delete a user and, for good, every session and message of theirs, in one call."""
        check_id(user_id, "user_id")
        try:
            self._record("delete_user", True).delete_user(user_id)
        finally:  # also when the outcome is unknown: forgetting is always safe
            self._deleted("user", user_id)

    async def adelete(self, user_id: str) -> None:
        """Async :meth:`delete`."""
        check_id(user_id, "user_id")
        try:
            await self._record("delete_user", True).adelete_user(user_id)
        finally:
            self._deleted("user", user_id)

    def get_sessions(self, user_id: str) -> list[Session]:
        """The user's live sessions, oldest first."""
        check_id(user_id, "user_id")
        return self._record("get_user_sessions").get_user_sessions(user_id)

    async def aget_sessions(self, user_id: str) -> list[Session]:
        """Async :meth:`get_sessions`."""
        check_id(user_id, "user_id")
        return await self._record("get_user_sessions").aget_user_sessions(user_id)

    def list(self, limit: int | None = None, cursor: int | None = None) -> _Users:
        """Users in creation order: those with ``id > cursor``, at most ``limit`` (default all)."""
        limit_, cursor_ = _list_args(limit, cursor)
        return self._record("list_users").list_users(limit_, cursor_)

    async def alist(self, limit: int | None = None, cursor: int | None = None) -> _Users:
        """Async :meth:`list`."""
        limit_, cursor_ = _list_args(limit, cursor)
        return await self._record("list_users").alist_users(limit_, cursor_)

    def list_chunked(
        self,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        *,
        chunkSize: int | None = None,  # noqa: N803
    ) -> Iterator[_Users]:
        """Yield every user, ``chunk_size`` at a time; no user is ever repeated or skipped.

        ``chunkSize`` is accepted as in Zep's documentation.
        """
        size = _chunk_size(chunk_size, chunkSize)
        return _chunks(lambda cursor: self.list(size, cursor), size)

    def alist_chunked(
        self,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        *,
        chunkSize: int | None = None,  # noqa: N803
    ) -> AsyncIterator[_Users]:
        """Async :meth:`list_chunked`: ``async for users in client.user.alist_chunked(100)``."""
        size = _chunk_size(chunk_size, chunkSize)
        return _achunks(lambda cursor: self.alist(size, cursor), size)


class MemoryClient(_Namespace):
    """``client.memory``: sessions and their messages."""

    # -- sessions --------------------------------------------------------------------------

    @staticmethod
    def _new_session(session: Session) -> Session:
        session = _coerce(session, Session, "session")
        if session.session_id is None:
            session = session.model_copy(update={"session_id": new_session_id()})
        return session

    def add_session(self, session: Session) -> Session:
        """Create a session, optionally owned by a user; a missing ``session_id`` is generated.

        :class:`AlreadyExistsError` if the id is taken (soft-deleted sessions included),
        :class:`NotFoundError` if ``user_id`` names no user.
        """
        return self._record("add_session", True).add_session(self._new_session(session))

    async def aadd_session(self, session: Session) -> Session:
        """Async :meth:`add_session`."""
        return await self._record("add_session", True).aadd_session(self._new_session(session))

    def get_session(self, session_id: str) -> Session:
        """Return a live session. :class:`NotFoundError` if unknown or soft-deleted."""
        check_id(session_id, "session_id")
        return self._record("get_session").get_session(session_id)

    async def aget_session(self, session_id: str) -> Session:
        """Async :meth:`get_session`."""
        check_id(session_id, "session_id")
        return await self._record("get_session").aget_session(session_id)

    @staticmethod
    def _update_args(session: Session) -> tuple[str, dict[str, Any] | None]:
        session = _coerce(session, Session, "session")
        if session.session_id is None:
            raise InvalidInputError("update_session needs session.session_id", field="session_id")
        return session.session_id, session.metadata

    def update_session(self, session: Session) -> Session:
        """Deep-merge ``session.metadata`` into the stored session (reviving it if deleted).

        Empty or missing metadata changes nothing. A top-level ``"system"`` key in the update is
        ignored, as Zep does (adding a session keeps it).
        """
        session_id, metadata = self._update_args(session)
        if not metadata:
            return self.get_session(session_id)
        return self._record("update_session", True).update_session(session_id, metadata)

    async def aupdate_session(self, session: Session) -> Session:
        """Async :meth:`update_session`."""
        session_id, metadata = self._update_args(session)
        if not metadata:
            return await self.aget_session(session_id)
        return await self._record("update_session", True).aupdate_session(session_id, metadata)

    def delete_memory(self, session_id: str) -> None:
        """Soft-delete a session and its messages. :class:`NotFoundError` if not live."""
        check_id(session_id, "session_id")
        try:
            self._record("delete_session", True).delete_session(session_id)
        finally:
            self._deleted("session", session_id)

    async def adelete_memory(self, session_id: str) -> None:
        """Async :meth:`delete_memory`."""
        check_id(session_id, "session_id")
        try:
            await self._record("delete_session", True).adelete_session(session_id)
        finally:
            self._deleted("session", session_id)

    delete_session = delete_memory
    adelete_session = adelete_memory

    def list_sessions(self, limit: int | None = None, cursor: int | None = None) -> list[Session]:
        """Live sessions in creation order: ``id > cursor``, at most ``limit`` (default all)."""
        limit_, cursor_ = _list_args(limit, cursor)
        return self._record("list_sessions").list_sessions(limit_, cursor_)

    async def alist_sessions(
        self, limit: int | None = None, cursor: int | None = None
    ) -> list[Session]:
        """Async :meth:`list_sessions`."""
        limit_, cursor_ = _list_args(limit, cursor)
        return await self._record("list_sessions").alist_sessions(limit_, cursor_)

    def list_all_sessions(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[list[Session]]:
        """Yield every live session, ``chunk_size`` at a time, never repeating or skipping."""
        size = _chunk_size(chunk_size, None)
        return _chunks(lambda cursor: self.list_sessions(size, cursor), size)

    def alist_all_sessions(
        self, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[list[Session]]:
        """Async :meth:`list_all_sessions`."""
        size = _chunk_size(chunk_size, None)
        return _achunks(lambda cursor: self.alist_sessions(size, cursor), size)

    # -- messages --------------------------------------------------------------------------

    def add_messages(self, session_id: str, messages: Iterable[Message]) -> list[Message]:
        """Append messages to a session in one call, creating or reviving the session.

        Returns the messages with their uuids. A uuid already stored makes the whole batch fail
        with :class:`AlreadyExistsError`, storing nothing.
        """
        check_id(session_id, "session_id")
        batch = _messages(messages)
        if not batch:
            return []
        return self._record("add_messages", True).add_messages(session_id, batch)

    async def aadd_messages(self, session_id: str, messages: Iterable[Message]) -> list[Message]:
        """Async :meth:`add_messages`."""
        check_id(session_id, "session_id")
        batch = _messages(messages)
        if not batch:
            return []
        return await self._record("add_messages", True).aadd_messages(session_id, batch)

    def add_memory(self, session_id: str, memory: Memory) -> list[Message]:
        """Zep's name for :meth:`add_messages`, taking a :class:`Memory`."""
        return self.add_messages(session_id, _coerce_memory(memory))

    async def aadd_memory(self, session_id: str, memory: Memory) -> list[Message]:
        """Async :meth:`add_memory`."""
        return await self.aadd_messages(session_id, _coerce_memory(memory))

    def get_messages(self, session_id: str, lastn: int | None = None) -> list[Message]:
        """A session's messages oldest first: all of them, or the last ``lastn``.

        An unknown or soft-deleted session has no messages.
        """
        check_id(session_id, "session_id")
        lastn_ = _count(lastn, "lastn", minimum=1, allow_none=True)
        return self._record("get_messages").get_messages(session_id, lastn_)

    async def aget_messages(self, session_id: str, lastn: int | None = None) -> list[Message]:
        """Async :meth:`get_messages`."""
        check_id(session_id, "session_id")
        lastn_ = _count(lastn, "lastn", minimum=1, allow_none=True)
        return await self._record("get_messages").aget_messages(session_id, lastn_)

    def get_memory(self, session_id: str, lastn: int | None = None) -> Memory:
        """Zep's name for :meth:`get_messages`, returning a :class:`Memory`.

        Unlike Zep's own endpoint, no ``lastn`` means every message, not a 12-message window.
        """
        return Memory.model_construct(messages=self.get_messages(session_id, lastn), metadata=None)

    async def aget_memory(self, session_id: str, lastn: int | None = None) -> Memory:
        """Async :meth:`get_memory`."""
        messages = await self.aget_messages(session_id, lastn)
        return Memory.model_construct(messages=messages, metadata=None)

    def get_session_messages(
        self, session_id: str, limit: int = 100, cursor: int = 1
    ) -> MessagePage:
        """Page ``cursor`` (1-based) of a session's messages, ``limit`` per page."""
        check_id(session_id, "session_id")
        limit_, page = _page_args(limit, cursor)
        return self._record("get_messages_page").get_messages_page(session_id, limit_, page)

    async def aget_session_messages(
        self, session_id: str, limit: int = 100, cursor: int = 1
    ) -> MessagePage:
        """Async :meth:`get_session_messages`."""
        check_id(session_id, "session_id")
        limit_, page = _page_args(limit, cursor)
        return await self._record("get_messages_page").aget_messages_page(session_id, limit_, page)

    def update_message_metadata(
        self, session_id: str, message_uuid: str | _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        """Deep-merge metadata into one message of a live session."""
        args = _message_metadata_args(session_id, message_uuid, metadata)
        return self._record("update_message_metadata", True).update_message_metadata(*args)

    async def aupdate_message_metadata(
        self, session_id: str, message_uuid: str | _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        """Async :meth:`update_message_metadata`."""
        args = _message_metadata_args(session_id, message_uuid, metadata)
        return await self._record("update_message_metadata", True).aupdate_message_metadata(*args)


def _coerce_memory(memory: object) -> list[Message]:
    if isinstance(memory, Memory):
        return list(memory.messages)
    if isinstance(memory, Mapping):
        return list(Memory.model_validate(dict(memory)).messages)
    raise InvalidInputError(f"memory must be a Memory, not {type(memory).__name__}", field="memory")


def _message_metadata_args(
    session_id: str, message_uuid: object, metadata: object
) -> tuple[str, _uuid.UUID, dict[str, Any]]:
    check_id(session_id, "session_id")
    try:
        uid = (
            message_uuid if isinstance(message_uuid, _uuid.UUID) else _uuid.UUID(str(message_uuid))
        )
    except ValueError:
        raise InvalidInputError(f"not a UUID: {message_uuid!r}", field="message_uuid") from None
    checked = check_metadata(metadata)
    if checked is None:
        raise InvalidInputError("metadata must be a dict", field="metadata")
    return session_id, uid, checked


def _list_args(limit: object, cursor: object) -> tuple[int | None, int]:
    limit_ = _count(limit, "limit", minimum=0, allow_none=True) or None
    cursor_ = _count(cursor, "cursor", minimum=0, allow_none=True) or 0
    return limit_, cursor_


def _page_args(limit: object, cursor: object) -> tuple[int, int]:
    limit_ = _count(limit, "limit", minimum=1)
    page = _count(cursor, "cursor", minimum=1)
    assert limit_ is not None and page is not None
    return limit_, page


def _chunk_size(chunk_size: object, camel: object) -> int:
    size = _count(camel if camel is not None else chunk_size, "chunk_size", minimum=1)
    assert size is not None
    return size


def _chunks(fetch: Any, size: int) -> Iterator[list[Any]]:
    """Page with ``cursor = last id``: the cursor means "id greater than", and ids have gaps."""
    cursor = 0
    while True:
        chunk = fetch(cursor)
        if not chunk:
            return
        yield chunk
        if len(chunk) < size:
            return
        cursor = chunk[-1].id


async def _achunks(fetch: Any, size: int) -> AsyncIterator[list[Any]]:
    cursor = 0
    while True:
        chunk = await fetch(cursor)
        if not chunk:
            return
        yield chunk
        if len(chunk) < size:
            return
        cursor = chunk[-1].id


class ZepMemoryClient:
    """Per-user conversation memory with Zep's user/session API, on any backend.

    With no Zep URL configured, data lives in the embedded store (a local SQLite file; pass
    ``path=":memory:"`` for a throwaway one). With ``base_url`` (or ``api_url``) or the
    ``ZEP_API_URL`` environment variable, the same calls go to a Zep server through zep-python,
    authenticated by ``api_key`` or ``ZEP_API_KEY``. Environment variables are read when the
    client is built.

    Usable as a context manager, sync or async; ``close()`` releases connections.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        api_url: str | None = None,
        path: str | os.PathLike[str] | None = None,
        backend: Backend | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        api_version: str | None = None,
    ) -> None:
        if backend is not None and not isinstance(backend, Backend):
            raise ConfigurationError(
                f"backend must be a Backend instance, not {type(backend).__name__}"
            )
        self._backend = (
            backend
            if backend is not None
            else _build_backend(
                base_url=base_url,
                api_url=api_url,
                api_key=api_key,
                path=path,
                timeout=timeout,
                max_retries=max_retries,
                api_version=api_version,
            )
        )
        self._delete_listeners: list[DeleteListener] = []
        self.user = UserClient(self._backend, self._delete_listeners)
        self.memory = MemoryClient(self._backend, self._delete_listeners)
        logger.debug("ZepMemoryClient on %s", self._backend.describe())

    @property
    def backend(self) -> Backend:
        """The backend this client talks to."""
        return self._backend

    def _on_delete(self, listener: DeleteListener) -> None:
        """Call ``listener(kind, id)`` after every user or session delete through this client.

        For the adapters' per-client caches (ownership checks, histories), which must forget
        what they remember about a deleted user or session.
        """
        self._delete_listeners.append(listener)

    @property
    def stats(self) -> BackendStats:
        """Counters of backend calls (and HTTP requests, on Zep) made through this client."""
        return self._backend.stats

    def __repr__(self) -> str:
        return f"ZepMemoryClient(backend={self._backend.describe()!r})"

    def close(self) -> None:
        """Release the backend's connections."""
        self._backend.close()

    async def aclose(self) -> None:
        """Release the backend's connections (async)."""
        await self._backend.aclose()

    def __enter__(self) -> ZepMemoryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> ZepMemoryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _build_backend(
    *,
    base_url: str | None,
    api_url: str | None,
    api_key: str | None,
    path: str | os.PathLike[str] | None,
    timeout: float | None,
    max_retries: int | None,
    api_version: str | None = None,
) -> Backend:
    if base_url is not None and api_url is not None and base_url != api_url:
        raise ConfigurationError("pass base_url or api_url, not both")
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigurationError(f"path must be a str or a path, not {type(path).__name__}")
        if base_url is not None or api_url is not None or api_key is not None:
            raise ConfigurationError(
                "path= is for the embedded store; base_url, api_url and api_key are for a Zep "
                "server: pass one or the other"
            )
    # An explicit path means the embedded store, whatever ZEP_API_URL / ZEP_API_KEY say.
    from_env = path is None
    url = base_url or api_url or (os.environ.get(API_URL_ENV) if from_env else None) or None
    key = api_key or (os.environ.get(API_KEY_ENV) if from_env else None) or None
    if url is None:
        if key is not None:
            raise ConfigurationError(
                f"a Zep API key is set (api_key= or {API_KEY_ENV}) but no Zep server URL: "
                f"set {API_URL_ENV} or pass base_url=... to use Zep, or unset {API_KEY_ENV} "
                "to use the embedded store"
            )
        if timeout is not None or max_retries is not None or api_version is not None:
            raise ConfigurationError(
                "timeout, max_retries and api_version apply to a Zep server; none is configured "
                f"(set {API_URL_ENV} or pass base_url=...)"
            )
        from .backends._embedded import EmbeddedBackend

        return EmbeddedBackend(path)
    from .backends.zep import ZepBackend

    version = api_version or (os.environ.get(API_VERSION_ENV) if from_env else None) or None
    if version is not None and version.strip().lower() == "auto":
        version = None
    backend: Backend = ZepBackend(
        url, key, api_version=version, timeout=timeout, max_retries=max_retries
    )
    return backend
