"""What both zep-python generations share: conversion, error mapping, retries, paging, batching.

Every operation is written once, as a *plan*: a generator that yields :class:`Call` objects
(one SDK method call each, or a list of them to run together) and receives their results. A
plan holds all the logic (idempotent retries, paging, cursor emulation, verification of writes
whose outcome was unknown); the sync and async drivers only carry the calls out, the sync one
with the SDK's sync client, the async one with the SDK's async client for the running event
loop. The generation subclasses (:mod:`._v1`, :mod:`._v2`) only say which SDK method a call is
and how its arguments are spelled.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import math
import threading
import time
import uuid as _uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ..._errors import (
    AlreadyExistsError,
    AuthenticationError,
    BackendError,
    BadRequestError,
    ConfigurationError,
    MissingDependencyError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    ZepMemoryError,
)
from ..._models import (
    ROLE_TYPES,
    CreateUserRequest,
    Message,
    MessagePage,
    Session,
    UpdateUserRequest,
    User,
    new_message_uuid,
    trusted,
)
from .._base import Backend

try:
    import httpx  # installed with zep-python, whichever generation
except ImportError:  # pragma: no cover - only without the zep extra
    raise MissingDependencyError("zep-python", "zep") from None

from ._retry import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    INITIAL_BACKOFF,
    Failure,
    RetryPolicy,
    is_duplicate_key,
    parse_retry_after,
)

__all__ = [
    "LIST_PAGE_SIZE",
    "MAX_BATCH_BYTES",
    "MESSAGE_PAGE_SIZE",
    "Call",
    "ZepBackend",
    "zep_generation",
]

logger = logging.getLogger("zep_memory_plugins.zep")

#: Messages per request when reading a whole session through the paginated messages endpoint
#: (Zep's memory endpoint without ``lastn`` returns only a window of the last 12).
MESSAGE_PAGE_SIZE = 100
#: Users or sessions per request when a listing must be read page by page (2.x has no cursor).
LIST_PAGE_SIZE = 100
#: A batch of messages is one request unless its JSON would exceed this many bytes: reverse
#: proxies in front of Zep refuse bigger request bodies (nginx's default ``client_max_body_size``
#: is 1 MiB) with 413, which would lose the whole batch. Only then is it split, in order.
MAX_BATCH_BYTES = 1_000_000
#: Remembered positions of listing cursors (per kind), so chunked listing on 2.x costs one
#: request per chunk.
_CURSOR_HINTS = 256
#: Longest server message kept in an exception.
_MAX_MESSAGE_CHARS = 500

#: The response to the latest request of the current thread or task (set by the httpx hook).
_LAST_RESPONSE: contextvars.ContextVar[httpx.Response | None] = contextvars.ContextVar(
    "zep_memory_plugins_last_response", default=None
)

_T = TypeVar("_T")
Plan = Generator[Any, Any, _T]


def zep_generation() -> str:
    """``"v1"`` or ``"v2"``: the installed zep-python generation.

    Raises :class:`MissingDependencyError` when zep-python is not installed.
    """
    try:
        import zep_python
    except ImportError:
        raise MissingDependencyError("zep-python", "zep") from None
    return "v1" if hasattr(zep_python, "ZepClient") else "v2"


@dataclass
class Call:
    """One SDK method call: ``path`` names it on the SDK client (``"memory.get_session"``).

    ``post`` runs on the result right after the call (still inside the request's context);
    ``recover`` reads a successful answer the SDK itself failed to parse (see :mod:`._v2`);
    ``what`` names the object for error messages. ``ambiguous`` is set by the driver when an
    earlier attempt failed in a way that may have been carried out anyway.
    """

    path: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    post: Callable[[Any], Any] | None = None
    recover: Callable[[httpx.Response], Any] | None = None
    what: str = ""
    ambiguous: bool = False


def _utc(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def _uuid_of(value: Any) -> _uuid.UUID | None:
    if not value:
        return None
    if isinstance(value, _uuid.UUID):
        return value
    try:
        return _uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return None


def _fields(raw: Any) -> dict[str, Any]:
    """The field values of an SDK model (pydantic v1 keeps them in ``__dict__``) or a dict."""
    if type(raw) is dict:
        return raw
    return raw.__dict__  # type: ignore[no-any-return]


def _default_role_type(role: str) -> str:
    return role if role in ROLE_TYPES else "norole"


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _window_page(position: int, window: int) -> tuple[int, int]:
    """The smallest page holding ``window`` items from ``position``: ``(number, size)``.

    Pages are aligned to multiples of their size.
    """
    size = window
    while True:
        start = (position // size) * size
        if position + window <= start + size:
            return position // size + 1, size
        size += 1


class ZepBackend(Backend):
    """The Zep backend: a Zep server through the official zep-python SDK, either generation.

    ``ZepBackend(url, api_key)`` builds the backend for the installed zep-python (1.x speaks
    ``/api/v1``, 2.x ``/api/v2``). ``timeout`` is in seconds per attempt; ``max_retries`` bounds
    the extra attempts after a transient failure (connection refused or lost, timeout, 429,
    5xx); ``backoff`` is the first delay between attempts, doubled each time. The API key is
    never shown in a repr, a log line or an error.
    """

    name = "zep"
    message_page_size = MESSAGE_PAGE_SIZE

    def __new__(cls, *args: Any, **kwargs: Any) -> ZepBackend:
        if cls is ZepBackend:
            if zep_generation() == "v1":
                from ._v1 import ZepV1Backend

                cls = ZepV1Backend
            else:
                from ._v2 import ZepV2Backend

                cls = ZepV2Backend
        return super().__new__(cls)

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff: float | None = None,
    ) -> None:
        super().__init__()
        from ..._client import API_URL_ENV

        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"the Zep server URL must start with http:// or https:// (base_url= or "
                f"{API_URL_ENV}), not {base_url!r}"
            )
        if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
            raise ConfigurationError(f"timeout must be a positive number of seconds: {timeout!r}")
        if max_retries is not None and (
            isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0
        ):
            raise ConfigurationError(f"max_retries must be an int >= 0: {max_retries!r}")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or None
        self.timeout = float(timeout) if timeout is not None else DEFAULT_TIMEOUT
        self.retry = RetryPolicy(
            max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
            initial_backoff=INITIAL_BACKOFF if backoff is None else backoff,
        )
        self._lock = threading.Lock()
        self._sync: tuple[Any, httpx.Client] | None = None
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Any, httpx.AsyncClient]
        ] = weakref.WeakKeyDictionary()
        self._hints: dict[str, OrderedDict[int, int]] = {
            "users": OrderedDict(),
            "sessions": OrderedDict(),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"

    def describe(self) -> str:
        """``"zep-v2:http://127.0.0.1:8000"`` (never the API key)."""
        return f"{self.name}:{_strip_userinfo(self.base_url)}"

    # -- SDK clients (generation-specific construction) -------------------------------------

    def _new_sync_client(self, http: httpx.Client) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _new_async_client(self, http: httpx.AsyncClient) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _async_path(self, path: str) -> str:
        return path

    def _headers(self) -> dict[str, str]:
        return {}

    def _sync_client(self) -> Any:
        pair = self._sync
        if pair is None:
            with self._lock:
                pair = self._sync
                if pair is None:
                    http = httpx.Client(
                        headers=self._headers(),
                        timeout=self.timeout,
                        event_hooks={
                            "request": [self._on_request],
                            "response": [self._on_response],
                        },
                    )
                    pair = self._sync = (self._new_sync_client(http), http)
        return pair[0]

    def _async_client(self) -> Any:
        """The SDK's async client of the running event loop (an httpx pool is bound to one)."""
        loop = asyncio.get_running_loop()
        pair = self._async.get(loop)
        if pair is None:
            http = httpx.AsyncClient(
                headers=self._headers(),
                timeout=self.timeout,
                event_hooks={"request": [self._aon_request], "response": [self._aon_response]},
            )
            pair = (self._new_async_client(http), http)
            self._async[loop] = pair
        return pair[0]

    def _on_request(self, request: httpx.Request) -> None:
        self.stats.http_requests += 1
        if self._api_key is None:
            request.headers.pop("Authorization", None)

    def _on_response(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            response.read()  # a connection lost here is a transport error, not an answer
        _LAST_RESPONSE.set(response)

    async def _aon_request(self, request: httpx.Request) -> None:
        self._on_request(request)

    async def _aon_response(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            await response.aread()
        _LAST_RESPONSE.set(response)

    def close(self) -> None:
        """Close the SDK's HTTP connections (the async ones too, when their loop allows)."""
        with self._lock:
            pair, self._sync = self._sync, None
        if pair is not None:
            pair[1].close()
        self._async.clear()

    async def aclose(self) -> None:
        """Close the SDK's HTTP connections, async ones included."""
        loop = asyncio.get_running_loop()
        pair = self._async.pop(loop, None)
        if pair is not None:
            await pair[1].aclose()
        self.close()

    # -- drivers: the only place sync and async differ ---------------------------------------

    @staticmethod
    def _resolve(root: Any, path: str) -> Any:
        target = root
        for part in path.split("."):
            target = getattr(target, part)
        return target

    def _run(self, plan: Plan[_T]) -> _T:
        try:
            step = next(plan)
            while True:
                try:
                    if isinstance(step, list):
                        result: Any = [self._execute(call) for call in step]
                    else:
                        result = self._execute(step)
                except ZepMemoryError as error:
                    step = plan.throw(error)
                else:
                    step = plan.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def _arun(self, plan: Plan[_T]) -> _T:
        try:
            step = next(plan)
            while True:
                try:
                    if isinstance(step, list):
                        result: Any = await asyncio.gather(*(self._aexecute(c) for c in step))
                    else:
                        result = await self._aexecute(step)
                except ZepMemoryError as error:
                    step = plan.throw(error)
                else:
                    step = plan.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _execute(self, call: Call) -> Any:
        attempt = 0
        while True:
            _LAST_RESPONSE.set(None)
            try:
                result = self._resolve(self._sync_client(), call.path)(*call.args, **call.kwargs)
                return call.post(result) if call.post is not None else result
            except Exception as exc:
                failure = self._failure(exc)
                response = _LAST_RESPONSE.get()
                if failure.kind == "protocol" and call.recover and response is not None:
                    return call.recover(response)
            delay = self._next_delay(call, failure, attempt)
            if delay is None:
                raise self._error(call, failure, attempt + 1)
            time.sleep(delay)
            attempt += 1

    async def _aexecute(self, call: Call) -> Any:
        attempt = 0
        path = self._async_path(call.path)
        while True:
            _LAST_RESPONSE.set(None)
            try:
                result = await self._resolve(self._async_client(), path)(*call.args, **call.kwargs)
                return call.post(result) if call.post is not None else result
            except Exception as exc:
                failure = self._failure(exc)
                response = _LAST_RESPONSE.get()
                if failure.kind == "protocol" and call.recover and response is not None:
                    return call.recover(response)
            delay = self._next_delay(call, failure, attempt)
            if delay is None:
                raise self._error(call, failure, attempt + 1)
            await asyncio.sleep(delay)
            attempt += 1

    # -- failures: classification, retry decision, our error types ----------------------------

    def _next_delay(self, call: Call, failure: Failure, attempt: int) -> float | None:
        delay = self.retry.delay(failure, attempt)
        if delay is not None:
            call.ambiguous = call.ambiguous or failure.outcome_unknown
            logger.info(
                "zep %s failed (%s); retry %d/%d in %.2fs",
                call.path,
                failure.status or failure.kind,
                attempt + 1,
                self.retry.max_retries,
                delay,
            )
        return delay

    def _scrub(self, text: str) -> str:
        if self._api_key and self._api_key in text:
            text = text.replace(self._api_key, "***")
        return text[:_MAX_MESSAGE_CHARS]

    def _failure(self, exc: Exception) -> Failure:
        response = _LAST_RESPONSE.get()
        if response is not None and response.status_code >= 400:
            return Failure(
                kind="http",
                status=response.status_code,
                text=self._scrub(_server_message(response)),
                retry_after=parse_retry_after(response.headers),
            )
        for error in _causes(exc):
            if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)):
                return Failure(kind="connect", detail=self._scrub(_describe(error)))
            if isinstance(error, httpx.TimeoutException):
                return Failure(kind="timeout", detail=self._scrub(_describe(error)))
            if isinstance(error, httpx.TransportError):
                return Failure(kind="network", detail=self._scrub(_describe(error)))
        if isinstance(exc, ConnectionError):
            return Failure(kind="network", detail=self._scrub(_describe(exc)))
        return Failure(kind="protocol", detail=self._scrub(_describe(exc)))

    def _error(self, call: Call, failure: Failure, attempts: int) -> ZepMemoryError:
        from ..._client import API_KEY_ENV, API_URL_ENV

        where = f"the Zep server at {self.describe().split(':', 1)[1]}"
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        if failure.kind in ("connect", "network", "timeout"):
            what = (
                f"did not answer within {self.timeout:g}s"
                if failure.kind == "timeout"
                else "is unreachable"
            )
            return ServiceUnavailableError(
                f"{where} {what}{tries}: {failure.detail}. Check that the server is running "
                f"and that {API_URL_ENV} (or base_url=) points to it."
            )
        if failure.kind != "http" or failure.status is None:
            return BackendError(f"unexpected answer from {where} to {call.path}: {failure.detail}")
        status, text = failure.status, failure.text
        lowered = text.lower()
        if status == 404:
            return NotFoundError(text or f"{call.what or 'resource'} not found", status_code=404)
        if "already exists" in lowered or status == 409 or is_duplicate_key(text):
            return AlreadyExistsError(text or f"{call.what} already exists", status_code=status)
        if status in (400, 422) and "does not exist" in lowered:
            return NotFoundError(text, status_code=status)
        if status in (400, 422):
            return BadRequestError(f"{where} refused the request: {text}", status_code=status)
        if status in (401, 403):
            return AuthenticationError(
                f"{where} refused the API key (HTTP {status}: {text or 'unauthorized'}); pass "
                f"api_key= or set {API_KEY_ENV}",
                status_code=status,
            )
        if status == 429:
            return RateLimitError(
                f"{where} answered 429 Too Many Requests{tries}: {text}", status_code=status
            )
        if status >= 500:
            return ServerError(
                f"{where} failed with HTTP {status}{tries}: {text}", status_code=status
            )
        return BackendError(f"{where} answered HTTP {status}: {text}", status_code=status)

    # -- conversion from SDK models (either generation) to ours ------------------------------

    @staticmethod
    def _user(raw: Any) -> User:
        d = _fields(raw)
        return trusted(
            User,
            {
                "user_id": d.get("user_id"),
                "email": d.get("email"),
                "first_name": d.get("first_name"),
                "last_name": d.get("last_name"),
                "metadata": d.get("metadata"),
                "id": d.get("id"),
                "uuid": _uuid_of(d.get("uuid_") or d.get("uuid")),
                "created_at": _utc(d.get("created_at")),
                "updated_at": _utc(d.get("updated_at")),
            },
        )

    @staticmethod
    def _session(raw: Any) -> Session:
        d = _fields(raw)
        return trusted(
            Session,
            {
                "session_id": d.get("session_id"),
                "user_id": d.get("user_id") or None,
                "metadata": d.get("metadata"),
                "id": d.get("id"),
                "uuid": _uuid_of(d.get("uuid_") or d.get("uuid")),
                "created_at": _utc(d.get("created_at")),
                "updated_at": _utc(d.get("updated_at")),
                "deleted_at": _utc(d.get("deleted_at")),
            },
        )

    def _message(self, raw: Any) -> Message:
        d = _fields(raw)
        role = d.get("role") or ""
        metadata, carried = self._unpack_metadata(d.get("metadata"))
        role_type = carried or d.get("role_type")
        if role_type not in ROLE_TYPES:
            role_type = _default_role_type(role)
        return trusted(
            Message,
            {
                "role": role,
                "role_type": role_type,
                "content": d.get("content") or "",
                "metadata": metadata,
                "uuid": _uuid_of(d.get("uuid_") or d.get("uuid")),
                "created_at": _utc(d.get("created_at")),
            },
        )

    def _unpack_metadata(self, metadata: Any) -> tuple[dict[str, Any] | None, str | None]:
        """Metadata as the caller stored it, and a role type carried in it (1.x only)."""
        return metadata, None

    # -- generation-specific calls (thin; see _v1.py and _v2.py) -----------------------------

    def _call_add_user(self, request: CreateUserRequest) -> Call:
        raise NotImplementedError

    def _call_get_user(self, user_id: str) -> Call:
        raise NotImplementedError

    def _call_update_user(self, user_id: str, fields: dict[str, Any]) -> Call:
        raise NotImplementedError

    def _call_delete_user(self, user_id: str) -> Call:
        raise NotImplementedError

    def _call_user_sessions(self, user_id: str) -> Call:
        raise NotImplementedError

    def _call_add_session(self, session: Session) -> Call:
        raise NotImplementedError

    def _call_get_session(self, session_id: str) -> Call:
        raise NotImplementedError

    def _call_update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Call:
        raise NotImplementedError

    def _call_delete_session(self, session_id: str) -> Call:
        raise NotImplementedError

    def _call_add_messages(self, session_id: str, messages: Sequence[Message]) -> Call:
        raise NotImplementedError

    def _call_last_messages(self, session_id: str, lastn: int) -> Call:
        """A call whose result is the list of the session's last ``lastn`` SDK messages."""
        raise NotImplementedError

    def _call_messages_page(self, session_id: str, limit: int, page: int) -> Call:
        """A call whose result is ``(sdk_messages, total_count)``."""
        raise NotImplementedError

    def _call_update_message(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Call:
        raise NotImplementedError

    def _plan_list_users(self, limit: int | None, cursor: int) -> Plan[list[User]]:
        raise NotImplementedError

    def _plan_list_sessions(self, limit: int | None, cursor: int) -> Plan[list[Session]]:
        raise NotImplementedError

    # -- plans: the logic of each operation, shared by sync and async ------------------------

    def _plan_add_user(self, request: CreateUserRequest) -> Plan[User]:
        call = self._call_add_user(request)
        try:
            raw = yield call
        except AlreadyExistsError:
            if not call.ambiguous:
                raise
            # An earlier attempt may have created it: if what is stored is what we sent, it did.
            user = self._user((yield self._call_get_user(request.user_id)))
            sent = (request.email, request.first_name, request.last_name, request.metadata or None)
            if (user.email, user.first_name, user.last_name, user.metadata or None) != sent:
                raise
            return user
        return self._user(raw)

    def _plan_get_user(self, user_id: str) -> Plan[User]:
        return self._user((yield self._call_get_user(user_id)))

    def _plan_update_user(self, request: UpdateUserRequest) -> Plan[User]:
        fields = {
            key: value
            for key, value in (
                ("email", request.email),
                ("first_name", request.first_name),
                ("last_name", request.last_name),
                ("metadata", request.metadata or None),  # {} would make Zep answer 500
            )
            if value is not None
        }
        if not fields:
            return self._user((yield self._call_get_user(request.user_id)))
        return self._user((yield self._call_update_user(request.user_id, fields)))

    def _plan_delete(self, call: Call) -> Plan[None]:
        try:
            yield call
        except NotFoundError:
            if not call.ambiguous:  # else an earlier attempt deleted it
                raise

    def _plan_user_sessions(self, user_id: str) -> Plan[list[Session]]:
        raw = (yield self._call_user_sessions(user_id)) or []
        sessions = [self._session(s) for s in raw]
        if not sessions:
            yield self._call_get_user(user_id)  # NotFoundError for an unknown user
        live = [s for s in sessions if s.deleted_at is None]
        return sorted(live, key=lambda s: s.id or 0)

    def _plan_add_session(self, session: Session) -> Plan[Session]:
        call = self._call_add_session(session)
        assert session.session_id is not None
        try:
            raw = yield call
        except AlreadyExistsError:
            if not call.ambiguous:
                raise
            stored = self._session((yield self._call_get_session(session.session_id)))
            if stored.user_id != session.user_id:
                raise
            return stored
        return self._session(raw)

    def _plan_get_session(self, session_id: str) -> Plan[Session]:
        return self._session((yield self._call_get_session(session_id)))

    def _plan_update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Plan[Session]:
        if not metadata:
            return self._session((yield self._call_get_session(session_id)))
        return self._session((yield self._call_update_session(session_id, metadata)))

    def _plan_ordered(
        self,
        kind: str,
        limit: int | None,
        cursor: int,
        page_call: Callable[[int, int], Call],
        convert: Callable[[Any], _T],
    ) -> Plan[list[_T]]:
        """Cursor listing ("id greater than ``cursor``") on an id-ordered page-number listing.

        A cursor handed out by an earlier listing is remembered with its position, so reading
        the next chunk is one request: the page that holds the cursor's item and the ``limit``
        items after it. The item at that position must still be the cursor's (else something
        before it was deleted), otherwise the boundary is found by binary search over pages.
        """
        hints = self._hints[kind]
        want = limit if limit is not None else math.inf
        pages: dict[tuple[int, int], tuple[list[Any], int]] = {}

        def fetch(page: int, size: int) -> Plan[tuple[list[Any], int]]:
            if (page, size) not in pages:
                raw, total = yield page_call(page, size)
                pages[page, size] = ([convert(r) for r in raw or []], int(total or 0))
            return pages[page, size]

        found: list[tuple[int, Any]] = []  # (position, item)
        size = limit or LIST_PAGE_SIZE
        page = 0
        position = hints.get(cursor) if cursor else None
        located = False
        if not cursor:
            located, page = True, 1
            items, _ = yield from fetch(1, size)
            found = list(enumerate(items))
        elif position is not None:
            page, size = _window_page(position, (limit or LIST_PAGE_SIZE) + 1)
            items, _ = yield from fetch(page, size)
            index = position - (page - 1) * size
            if index < len(items) and items[index].id == cursor:
                located = True
                found = [((page - 1) * size + i, it) for i, it in enumerate(items) if i > index]
        if not located:
            size = limit or LIST_PAGE_SIZE
            items, total = yield from fetch(1, size)
            low, high = 1, max(1, math.ceil(total / size))
            while low < high:  # first page whose last item is past the cursor
                middle = (low + high) // 2
                items, _ = yield from fetch(middle, size)
                if not items or items[-1].id > cursor:
                    high = middle
                else:
                    low = middle + 1
            page = low
            items, _ = yield from fetch(page, size)
            found = [((page - 1) * size + i, it) for i, it in enumerate(items) if it.id > cursor]
        while len(found) < want and len(pages[page, size][0]) == size:
            page += 1
            items, _ = yield from fetch(page, size)
            found.extend(((page - 1) * size + i, it) for i, it in enumerate(items))
        if limit is not None:
            found = found[:limit]
        if found:
            last_position, last = found[-1]
            with self._lock:
                hints[last.id] = last_position
                hints.move_to_end(last.id)
                while len(hints) > _CURSOR_HINTS:
                    hints.popitem(last=False)
        return [item for _, item in found]

    def _plan_add_messages(
        self, session_id: str, messages: Sequence[Message]
    ) -> Plan[list[Message]]:
        stored: list[Message] = []
        seen: set[_uuid.UUID] = set()
        for message in messages:
            uid = message.uuid or new_message_uuid()
            if uid in seen:
                raise AlreadyExistsError(f"message uuid {uid} appears twice in the batch")
            seen.add(uid)
            if message.uuid is None:
                message = trusted(Message, {**message.__dict__, "uuid": uid})
            stored.append(message)
        for batch in _batches(stored):
            call = self._call_add_messages(session_id, batch)
            try:
                yield call
            except AlreadyExistsError as error:
                # A uuid is taken. If an earlier attempt of this very call landed, that is
                # success; otherwise name the uuid, as the embedded store does.
                existing = {m.uuid: m for m in (yield from self._plan_all_messages(session_id))}
                if call.ambiguous and all(
                    m.uuid in existing and existing[m.uuid].content == m.content for m in batch
                ):
                    continue
                taken = next((m.uuid for m in batch if m.uuid in existing), None)
                if taken is not None:
                    raise AlreadyExistsError(
                        f"message uuid {taken} already exists", status_code=error.status_code
                    ) from None
                raise AlreadyExistsError(
                    f"a message uuid of this batch already exists in another session "
                    f"({error.message})",
                    status_code=error.status_code,
                ) from None
        return stored

    def _plan_last_messages(self, session_id: str, lastn: int) -> Plan[list[Message]]:
        try:
            raw = yield self._call_last_messages(session_id, lastn)
        except NotFoundError:
            return []
        return [self._message(m) for m in raw or []]

    def _plan_all_messages(self, session_id: str) -> Plan[list[Message]]:
        """Every message, page by page: ceil(n / MESSAGE_PAGE_SIZE) requests (1 if empty)."""
        size = MESSAGE_PAGE_SIZE
        try:
            first, total = yield self._call_messages_page(session_id, size, 1)
            raw = list(first or [])
            if len(raw) == size and total > size:
                later = range(2, math.ceil(total / size) + 1)
                for more, _ in (
                    yield [self._call_messages_page(session_id, size, p) for p in later]
                ):
                    raw.extend(more or [])
        except NotFoundError:
            return []
        return [self._message(m) for m in raw]

    def _plan_messages_page(self, session_id: str, limit: int, page: int) -> Plan[MessagePage]:
        try:
            raw, total = yield self._call_messages_page(session_id, limit, page)
        except NotFoundError:
            raw, total = [], 0
        messages = [self._message(m) for m in raw or []]
        return MessagePage.model_construct(
            messages=messages, total_count=int(total or 0), row_count=len(messages)
        )

    def _plan_update_message(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Plan[Message]:
        raw = yield self._call_update_message(session_id, message_uuid, metadata)
        return self._message(raw)

    # -- the Backend interface: one plan each, run sync or async ------------------------------

    def add_user(self, request: CreateUserRequest) -> User:
        return self._run(self._plan_add_user(request))

    def get_user(self, user_id: str) -> User:
        return self._run(self._plan_get_user(user_id))

    def update_user(self, request: UpdateUserRequest) -> User:
        return self._run(self._plan_update_user(request))

    def delete_user(self, user_id: str) -> None:
        self._run(self._plan_delete(self._call_delete_user(user_id)))

    def list_users(self, limit: int | None, cursor: int) -> list[User]:
        return self._run(self._plan_list_users(limit, cursor))

    def get_user_sessions(self, user_id: str) -> list[Session]:
        return self._run(self._plan_user_sessions(user_id))

    def add_session(self, session: Session) -> Session:
        return self._run(self._plan_add_session(session))

    def get_session(self, session_id: str) -> Session:
        return self._run(self._plan_get_session(session_id))

    def update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Session:
        return self._run(self._plan_update_session(session_id, metadata))

    def delete_session(self, session_id: str) -> None:
        self._run(self._plan_delete(self._call_delete_session(session_id)))

    def list_sessions(self, limit: int | None, cursor: int) -> list[Session]:
        return self._run(self._plan_list_sessions(limit, cursor))

    def add_messages(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        return self._run(self._plan_add_messages(session_id, messages))

    def get_messages(self, session_id: str, lastn: int | None) -> list[Message]:
        if lastn is None:
            return self._run(self._plan_all_messages(session_id))
        return self._run(self._plan_last_messages(session_id, lastn))

    def get_messages_page(self, session_id: str, limit: int, page: int) -> MessagePage:
        return self._run(self._plan_messages_page(session_id, limit, page))

    def update_message_metadata(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        return self._run(self._plan_update_message(session_id, message_uuid, metadata))

    async def aadd_user(self, request: CreateUserRequest) -> User:
        return await self._arun(self._plan_add_user(request))

    async def aget_user(self, user_id: str) -> User:
        return await self._arun(self._plan_get_user(user_id))

    async def aupdate_user(self, request: UpdateUserRequest) -> User:
        return await self._arun(self._plan_update_user(request))

    async def adelete_user(self, user_id: str) -> None:
        await self._arun(self._plan_delete(self._call_delete_user(user_id)))

    async def alist_users(self, limit: int | None, cursor: int) -> list[User]:
        return await self._arun(self._plan_list_users(limit, cursor))

    async def aget_user_sessions(self, user_id: str) -> list[Session]:
        return await self._arun(self._plan_user_sessions(user_id))

    async def aadd_session(self, session: Session) -> Session:
        return await self._arun(self._plan_add_session(session))

    async def aget_session(self, session_id: str) -> Session:
        return await self._arun(self._plan_get_session(session_id))

    async def aupdate_session(self, session_id: str, metadata: Mapping[str, Any]) -> Session:
        return await self._arun(self._plan_update_session(session_id, metadata))

    async def adelete_session(self, session_id: str) -> None:
        await self._arun(self._plan_delete(self._call_delete_session(session_id)))

    async def alist_sessions(self, limit: int | None, cursor: int) -> list[Session]:
        return await self._arun(self._plan_list_sessions(limit, cursor))

    async def aadd_messages(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        return await self._arun(self._plan_add_messages(session_id, messages))

    async def aget_messages(self, session_id: str, lastn: int | None) -> list[Message]:
        if lastn is None:
            return await self._arun(self._plan_all_messages(session_id))
        return await self._arun(self._plan_last_messages(session_id, lastn))

    async def aget_messages_page(self, session_id: str, limit: int, page: int) -> MessagePage:
        return await self._arun(self._plan_messages_page(session_id, limit, page))

    async def aupdate_message_metadata(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        return await self._arun(self._plan_update_message(session_id, message_uuid, metadata))


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 5:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _server_message(response: httpx.Response) -> str:
    """The server's error message: plain text, or the ``message`` of a JSON body."""
    text = response.text.strip()
    if text.startswith("{"):
        try:
            body = json.loads(text)
        except ValueError:
            return text
        if isinstance(body, dict):
            for key in ("message", "error", "detail"):
                if isinstance(body.get(key), str):
                    return str(body[key])
    return text


def _message_bytes(message: Message) -> int:
    size = len(message.content.encode("utf-8")) + len(message.role.encode("utf-8")) + 120
    if message.metadata:
        size += len(json.dumps(message.metadata, ensure_ascii=False).encode("utf-8"))
    return size


def _batches(messages: list[Message]) -> list[list[Message]]:
    """The messages in as few requests as :data:`MAX_BATCH_BYTES` allows (usually one)."""
    batches: list[list[Message]] = [[]]
    size = 0
    for message in messages:
        nbytes = _message_bytes(message)
        if batches[-1] and size + nbytes > MAX_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(message)
        size += nbytes
    return batches
