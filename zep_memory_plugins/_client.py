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
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from ._errors import ConfigurationError, InvalidInputError
from ._models import (
    MAX_COUNT,
    CreateUserRequest,
    Memory,
    Message,
    MessagePage,
    Session,
    UpdateUserRequest,
    User,
    check_id,
    check_message_metadata,
    new_session_id,
)
from ._retention import PurgeReport, check_duration
from ._settings import API_KEY_ENV, API_URL_ENV, API_VERSION_ENV, ZEP_CLOUD_URL, Settings
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

#: Default page size of ``list_chunked`` / ``list_all_sessions`` (as in zep-python).
DEFAULT_CHUNK_SIZE = 100

_M = TypeVar("_M", CreateUserRequest, UpdateUserRequest, Session, Message)
# ``UserClient.list`` shadows the builtin inside the class body, hence an alias.
_Users = list[User]
#: Told ``(kind, id)`` after a delete through a client: ``("user", user_id)``,
#: ``("session", session_id)`` (a soft delete) or ``("purged", session_id)`` (a soft-deleted
#: session removed for good); the adapters' caches drop what they remember about it.
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
    if isinstance(messages, (str, bytes, Mapping, BaseModel)) or not isinstance(messages, Iterable):
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
        if out[-1].metadata:
            check_message_metadata(out[-1].metadata, f"{where}.metadata")
    return out


def _count_argument(
    value: object, name: str, *, minimum: int, allow_none: bool = False
) -> int | None:
    """Check a count argument (``lastn``, ``limit``, ``cursor``, ``chunk_size``).

    It must be an int from ``minimum`` to :data:`MAX_COUNT`, or ``None`` where ``allow_none``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an int, not {type(value).__name__}", field=name)
    if value < minimum:
        raise InvalidInputError(f"{name} must be at least {minimum}, not {value}", field=name)
    if value > MAX_COUNT:
        raise InvalidInputError(
            f"{name} is too large: the limit is {MAX_COUNT} (2**63 - 1)", field=name
        )
    return value


#: The backend's operations that write; the others read. Async methods count as their sync name.
_WRITES = frozenset(
    {
        "add_user",
        "update_user",
        "delete_user",
        "add_session",
        "update_session",
        "delete_session",
        "add_messages",
        "update_message_metadata",
        "purge_deleted",
    }
)
_OPERATIONS = _WRITES | {
    "get_user",
    "get_user_sessions",
    "list_users",
    "get_session",
    "list_sessions",
    "get_messages",
    "get_messages_page",
}


class _CountingBackend:
    """A backend whose operations count themselves in its stats when called.

    ``counting.add_user(...)`` and ``counting.aadd_user(...)`` both count one ``add_user``
    (a read or a write), when the call is made, after its arguments were checked, and then make
    it; an async operation returns its awaitable as the backend's method does. So every client
    call, sync or async, is one line on this object.
    """

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Callable[..., Any]:
        operation = name[1:] if name not in _OPERATIONS and name[1:] in _OPERATIONS else name
        if operation not in _OPERATIONS:
            raise AttributeError(f"{name} is not a backend operation")
        method = getattr(self._backend, name)
        stats = self._backend.stats
        write = operation in _WRITES

        def counted(*args: Any, **kwargs: Any) -> Any:
            stats.record(operation, write)
            return method(*args, **kwargs)

        return counted


class _Namespace:
    """Shared plumbing of ``client.user`` and ``client.memory``.

    Every backend call goes through :attr:`_counting_backend`: typed as the backend, it counts
    each operation in the stats as it makes it. A sync method and its async twin are then the
    same line, with ``await`` and the backend's ``a``-prefixed method.
    """

    def __init__(self, backend: Backend, on_delete: list[DeleteListener] | None = None) -> None:
        self._backend = backend
        self._counting_backend = cast(Backend, _CountingBackend(backend))
        self._on_delete = [] if on_delete is None else on_delete

    @contextmanager
    def _deleting(self, kind: str, ident: object) -> Iterator[str]:
        """Check the id, then tell the delete listeners once the delete inside is over.

        Also when it failed or its outcome is unknown: forgetting is always safe.
        """
        checked = check_id(ident, f"{kind}_id")
        try:
            yield checked
        finally:
            for listener in list(self._on_delete):
                listener(kind, checked)

    def _delete(self, kind: str, ident: object) -> None:
        """Delete the ``kind`` (``"user"``, ``"session"``) ``ident``; then tell the listeners."""
        with self._deleting(kind, ident) as checked:
            getattr(self._counting_backend, f"delete_{kind}")(checked)

    async def _adelete(self, kind: str, ident: object) -> None:
        """Async :meth:`_delete`."""
        with self._deleting(kind, ident) as checked:
            await getattr(self._counting_backend, f"adelete_{kind}")(checked)


class UserClient(_Namespace):
    """``client.user``: add, get, update, delete and list users, and a user's sessions."""

    def add(self, user: CreateUserRequest) -> User:
        """Create a user. :class:`AlreadyExistsError` if the user id is taken."""
        return self._counting_backend.add_user(_coerce(user, CreateUserRequest, "user"))

    async def aadd(self, user: CreateUserRequest) -> User:
        """Async :meth:`add`."""
        return await self._counting_backend.aadd_user(_coerce(user, CreateUserRequest, "user"))

    def get(self, user_id: str) -> User:
        """Return a user. :class:`NotFoundError` if unknown."""
        return self._counting_backend.get_user(check_id(user_id, "user_id"))

    async def aget(self, user_id: str) -> User:
        """Async :meth:`get`."""
        return await self._counting_backend.aget_user(check_id(user_id, "user_id"))

    def update(self, user: UpdateUserRequest) -> User:
        """Change the fields given; metadata is deep-merged. Empty metadata changes nothing."""
        return self._counting_backend.update_user(_coerce(user, UpdateUserRequest, "user"))

    async def aupdate(self, user: UpdateUserRequest) -> User:
        """Async :meth:`update`."""
        request = _coerce(user, UpdateUserRequest, "user")
        return await self._counting_backend.aupdate_user(request)

    def delete(self, user_id: str) -> None:
        """Delete a user and, for good, every session and message of theirs, in one call."""
        self._delete("user", user_id)

    async def adelete(self, user_id: str) -> None:
        """Async :meth:`delete`."""
        await self._adelete("user", user_id)

    def get_sessions(self, user_id: str) -> list[Session]:
        """The user's live sessions, oldest first."""
        return self._counting_backend.get_user_sessions(check_id(user_id, "user_id"))

    async def aget_sessions(self, user_id: str) -> list[Session]:
        """Async :meth:`get_sessions`."""
        return await self._counting_backend.aget_user_sessions(check_id(user_id, "user_id"))

    def list(self, limit: int | None = None, cursor: int | None = None) -> _Users:
        """Users in creation order: those with ``id > cursor``, at most ``limit`` (default all)."""
        return self._counting_backend.list_users(*_list_args(limit, cursor))

    async def alist(self, limit: int | None = None, cursor: int | None = None) -> _Users:
        """Async :meth:`list`."""
        return await self._counting_backend.alist_users(*_list_args(limit, cursor))

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
        return self._counting_backend.add_session(self._new_session(session))

    async def aadd_session(self, session: Session) -> Session:
        """Async :meth:`add_session`."""
        return await self._counting_backend.aadd_session(self._new_session(session))

    def get_session(self, session_id: str) -> Session:
        """Return a live session. :class:`NotFoundError` if unknown or soft-deleted."""
        return self._counting_backend.get_session(check_id(session_id, "session_id"))

    async def aget_session(self, session_id: str) -> Session:
        """Async :meth:`get_session`."""
        return await self._counting_backend.aget_session(check_id(session_id, "session_id"))

    @staticmethod
    def _update_args(session: Session) -> tuple[str, dict[str, Any] | None]:
        session = _coerce(session, Session, "session")
        if session.session_id is None:
            raise InvalidInputError("update_session needs session.session_id", field="session_id")
        return session.session_id, session.metadata

    def update_session(self, session: Session) -> Session:
        """Deep-merge ``session.metadata`` into the stored session (reviving it if deleted).

        Empty or missing metadata changes nothing (the session is read, not written). A
        top-level ``"system"`` key in the update is ignored, as Zep does (adding a session
        keeps it).
        """
        session_id, metadata = self._update_args(session)
        if not metadata:
            return self._counting_backend.get_session(session_id)
        return self._counting_backend.update_session(session_id, metadata)

    async def aupdate_session(self, session: Session) -> Session:
        """Async :meth:`update_session`."""
        session_id, metadata = self._update_args(session)
        if not metadata:
            return await self._counting_backend.aget_session(session_id)
        return await self._counting_backend.aupdate_session(session_id, metadata)

    def delete_memory(self, session_id: str) -> None:
        """Soft-delete a session and its messages. :class:`NotFoundError` if not live."""
        self._delete("session", session_id)

    async def adelete_memory(self, session_id: str) -> None:
        """Async :meth:`delete_memory`."""
        await self._adelete("session", session_id)

    delete_session = delete_memory
    adelete_session = adelete_memory

    def list_sessions(self, limit: int | None = None, cursor: int | None = None) -> list[Session]:
        """Live sessions in creation order: ``id > cursor``, at most ``limit`` (default all)."""
        return self._counting_backend.list_sessions(*_list_args(limit, cursor))

    async def alist_sessions(
        self, limit: int | None = None, cursor: int | None = None
    ) -> list[Session]:
        """Async :meth:`list_sessions`."""
        return await self._counting_backend.alist_sessions(*_list_args(limit, cursor))

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
        with :class:`AlreadyExistsError`, storing nothing. An empty batch calls nothing.
        """
        session_id, batch = _batch_args(session_id, messages)
        return self._counting_backend.add_messages(session_id, batch) if batch else []

    async def aadd_messages(self, session_id: str, messages: Iterable[Message]) -> list[Message]:
        """Async :meth:`add_messages`."""
        session_id, batch = _batch_args(session_id, messages)
        return await self._counting_backend.aadd_messages(session_id, batch) if batch else []

    def _add_built(self, session_id: str, messages: list[Message]) -> list[Message]:
        """:meth:`add_messages` for messages the library built itself and has not handed out.

        The adapters' writes: each message was checked as it was built (see
        :func:`~zep_memory_plugins._models.new_message`), and nobody else has held it since,
        so the second check :meth:`add_messages` gives a caller's messages (which may have
        been changed in place after they were built) is skipped.
        """
        return self._counting_backend.add_messages(session_id, messages) if messages else []

    async def _aadd_built(self, session_id: str, messages: list[Message]) -> list[Message]:
        """Async :meth:`_add_built`."""
        if not messages:
            return []
        return await self._counting_backend.aadd_messages(session_id, messages)

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
        return self._counting_backend.get_messages(*_messages_args(session_id, lastn))

    async def aget_messages(self, session_id: str, lastn: int | None = None) -> list[Message]:
        """Async :meth:`get_messages`."""
        return await self._counting_backend.aget_messages(*_messages_args(session_id, lastn))

    def get_memory(self, session_id: str, lastn: int | None = None) -> Memory:
        """Zep's name for :meth:`get_messages`, returning a :class:`Memory`.

        Unlike Zep's own endpoint, no ``lastn`` means every message, not a 12-message window.
        """
        return _memory(self.get_messages(session_id, lastn))

    async def aget_memory(self, session_id: str, lastn: int | None = None) -> Memory:
        """Async :meth:`get_memory`."""
        return _memory(await self.aget_messages(session_id, lastn))

    def get_session_messages(
        self, session_id: str, limit: int = 100, cursor: int = 1
    ) -> MessagePage:
        """Page ``cursor`` (1-based) of a session's messages, ``limit`` per page."""
        return self._counting_backend.get_messages_page(*_page_args(session_id, limit, cursor))

    async def aget_session_messages(
        self, session_id: str, limit: int = 100, cursor: int = 1
    ) -> MessagePage:
        """Async :meth:`get_session_messages`."""
        args = _page_args(session_id, limit, cursor)
        return await self._counting_backend.aget_messages_page(*args)

    def update_message_metadata(
        self, session_id: str, message_uuid: str | _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        """Deep-merge metadata into one message of a live session."""
        args = _message_metadata_args(session_id, message_uuid, metadata)
        return self._counting_backend.update_message_metadata(*args)

    async def aupdate_message_metadata(
        self, session_id: str, message_uuid: str | _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        """Async :meth:`update_message_metadata`."""
        args = _message_metadata_args(session_id, message_uuid, metadata)
        return await self._counting_backend.aupdate_message_metadata(*args)

    # -- soft-deleted data -----------------------------------------------------------------

    def purge_deleted(self, older_than: str | timedelta | float | None = None) -> PurgeReport:
        """Hard-delete what was soft-deleted more than ``older_than`` ago; report what went.

        ``older_than`` is a duration (``"30d"``, ``"12h"``, ``"1h30m"``, ``"0"``, a timedelta
        or seconds); ``None`` means the store's retention (``retention=``,
        ``ZEP_MEMORY_RETENTION``, one hour by default); ``0`` purges every soft-deleted
        session and message now. Purged sessions are gone for good: their ids are free again.
        The embedded store also does this by itself once data is older than the retention.

        On a Zep server this is the server's job: :class:`UnsupportedOperationError`, nothing
        sent. A bad duration: :class:`InvalidInputError` naming ``older_than``.
        """
        age = _older_than(older_than)
        return self._purged(self._counting_backend.purge_deleted(age))

    async def apurge_deleted(
        self, older_than: str | timedelta | float | None = None
    ) -> PurgeReport:
        """Async :meth:`purge_deleted`."""
        age = _older_than(older_than)
        return self._purged(await self._counting_backend.apurge_deleted(age))

    def _purged(self, report: PurgeReport) -> PurgeReport:
        """Tell the delete listeners which sessions are gone for good."""
        for session_id in report.session_ids:
            for listener in list(self._on_delete):
                listener("purged", session_id)
        return report


def _older_than(value: object) -> timedelta | None:
    return None if value is None else check_duration(value, "older_than")


def _memory(messages: list[Message]) -> Memory:
    return Memory.model_construct(messages=messages, metadata=None)


def _batch_args(session_id: object, messages: object) -> tuple[str, list[Message]]:
    return check_id(session_id, "session_id"), _messages(messages)


def _messages_args(session_id: object, lastn: object) -> tuple[str, int | None]:
    checked = check_id(session_id, "session_id")
    return checked, _count_argument(lastn, "lastn", minimum=1, allow_none=True)


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
    checked = check_message_metadata(metadata)
    if checked is None:
        raise InvalidInputError("metadata must be a dict", field="metadata")
    return session_id, uid, checked


def _list_args(limit: object, cursor: object) -> tuple[int | None, int]:
    limit_ = _count_argument(limit, "limit", minimum=0, allow_none=True) or None
    cursor_ = _count_argument(cursor, "cursor", minimum=0, allow_none=True) or 0
    return limit_, cursor_


def _page_args(session_id: object, limit: object, cursor: object) -> tuple[str, int, int]:
    checked = check_id(session_id, "session_id")
    limit_ = _count_argument(limit, "limit", minimum=1)
    page = _count_argument(cursor, "cursor", minimum=1)
    assert limit_ is not None and page is not None
    if (page - 1) * limit_ > MAX_COUNT:
        raise InvalidInputError(
            f"page {page} of {limit_} messages starts past message {MAX_COUNT} (2**63 - 1), "
            "beyond what any store can hold",
            field="cursor",
        )
    return checked, limit_, page


def _chunk_size(chunk_size: object, camel: object) -> int:
    size = _count_argument(camel if camel is not None else chunk_size, "chunk_size", minimum=1)
    assert size is not None
    return size


def _next_cursor(chunk: list[Any], size: int) -> int | None:
    """Where the page after ``chunk`` starts; ``None`` when ``chunk`` was the last one.

    The cursor is the last id seen: it means "id greater than", and ids have gaps.
    """
    return chunk[-1].id if len(chunk) >= size else None


def _chunks(fetch: Any, size: int) -> Iterator[list[Any]]:
    """Every page ``fetch(cursor)`` gives, ``size`` long but the last; never an empty one."""
    cursor: int | None = 0
    while cursor is not None and (chunk := fetch(cursor)):
        yield chunk
        cursor = _next_cursor(chunk, size)


async def _achunks(fetch: Any, size: int) -> AsyncIterator[list[Any]]:
    """Async :func:`_chunks`: ``fetch`` is a coroutine function."""
    cursor: int | None = 0
    while cursor is not None and (chunk := await fetch(cursor)):
        yield chunk
        cursor = _next_cursor(chunk, size)


class ZepMemoryClient:
    """Per-user conversation memory with Zep's user/session API, on any backend.

    With no Zep URL configured, data lives in the embedded store (a local SQLite file; pass
    ``path=":memory:"`` for a throwaway one). With ``base_url`` (or ``api_url``) or the
    ``ZEP_API_URL`` environment variable, the same calls go to a Zep server through zep-python,
    authenticated by ``api_key`` or ``ZEP_API_KEY``. The arguments and environment variables
    are read once, when the client is built, into a :class:`~zep_memory_plugins.Settings`
    (``settings=`` takes one built beforehand, instead of the other arguments).

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
        retention: str | timedelta | float | None = None,
        settings: Settings | None = None,
    ) -> None:
        if backend is not None and not isinstance(backend, Backend):
            raise ConfigurationError(
                f"backend must be a Backend instance, not {type(backend).__name__}"
            )
        arguments: dict[str, Any] = {
            "base_url": base_url,
            "api_url": api_url,
            "api_key": api_key,
            "path": path,
            "timeout": timeout,
            "max_retries": max_retries,
            "api_version": api_version,
            "retention": retention,
        }
        if settings is not None:
            _check_alone(settings, backend=backend, **arguments)
            backend = _build_backend(settings)
        elif backend is None:
            backend = _build_backend(_settings_from_arguments(**arguments))
        self._backend = backend
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


def _check_alone(settings: object, **arguments: object) -> None:
    """``settings=`` replaces every other argument: refuse it with any of them."""
    if not isinstance(settings, Settings):
        raise ConfigurationError(
            f"settings must be a Settings instance, not {type(settings).__name__}"
        )
    given = [name for name, value in arguments.items() if value is not None]
    if given:
        raise ConfigurationError(
            f"pass settings= or {given[0]}=, not both: the settings hold everything"
        )


def _settings_from_arguments(
    *, base_url: object, api_url: object, path: object, retention: object, **arguments: Any
) -> Settings:
    """The client's arguments, checked and completed from the environment."""
    if base_url is not None and api_url is not None and base_url != api_url:
        raise ConfigurationError("pass base_url or api_url, not both")
    return Settings(
        api_url=base_url if base_url is not None else api_url,
        memory_path=path,
        memory_retention=retention,
        **arguments,
    )


def _build_backend(settings: Settings) -> Backend:
    """The backend ``settings`` choose: Zep when they hold a URL, else the embedded store."""
    given = settings.arguments
    if "memory_path" in given and given & {"api_url", "api_key"}:
        raise ConfigurationError(
            "path= is for the embedded store; base_url, api_url and api_key are for a Zep "
            "server: pass one or the other"
        )
    if "memory_retention" in given and settings.api_url is not None:
        raise ConfigurationError(
            "retention= applies to the embedded store; a Zep server purges soft-deleted data "
            "on its own schedule (drop retention=, or the Zep URL)"
        )
    if settings.api_url is None:
        if settings.api_key is not None:
            raise ConfigurationError(
                f"a Zep API key is set (api_key= or {API_KEY_ENV}) but no Zep server URL, "
                "and the key is never sent anywhere not named: to use a self-hosted Zep, set "
                f"{API_URL_ENV} or pass base_url= with its URL; to use Zep Cloud, set it to "
                f"{ZEP_CLOUD_URL}; or unset {API_KEY_ENV} to use the embedded store"
            )
        # A ZEP_API_VERSION in the environment does not matter to the embedded store; an
        # argument meant for a Zep server that is not configured is a mistake worth saying.
        if given & {"timeout", "max_retries", "api_version"}:
            raise ConfigurationError(
                "timeout, max_retries and api_version apply to a Zep server; none is configured "
                f"(set {API_URL_ENV} or pass base_url=...)"
            )
        from .backends._embedded import EmbeddedBackend

        return EmbeddedBackend(settings.store_path(), retention=settings.store_retention())
    from .backends.zep import ZepBackend

    backend: Backend = ZepBackend(
        settings.api_url,
        settings.api_key_value(),
        api_version=settings.api_version,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
    )
    return backend
