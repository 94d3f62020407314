"""The ASGI application: Zep's ``/api/v1`` and ``/api/v2`` wire formats on a :class:`SQLiteStore`.

Routing is Starlette's; the outer :class:`ZepASGIApp` records every request, injects faults and
checks the API key before a request reaches a route. Handlers call the store directly (it is
in-process SQLite, fast and thread-safe), and turn its typed errors into the status codes and
bodies the real server sends.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import uuid as _uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

from .._errors import AlreadyExistsError, InvalidInputError, MissingDependencyError, NotFoundError
from .._models import (
    ROLE_TYPES,
    CreateUserRequest,
    Message,
    Session,
    UpdateUserRequest,
    User,
    check_id,
    check_metadata,
)
from ..store import SQLiteStore
from ._faults import Fault, FaultInjector, RecordedRequest, RequestLog

try:
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route, Router
except ImportError:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("starlette and uvicorn", "server") from None

__all__ = [
    "DEFAULT_MESSAGE_WINDOW",
    "PROBE_HEADER",
    "ZEP_SERVER_VERSION",
    "ZepASGIApp",
]

logger = logging.getLogger("zep_memory_plugins.testing")

#: How many messages ``GET /sessions/{id}/memory`` returns without ``lastn``: the real server's
#: default message window.
DEFAULT_MESSAGE_WINDOW = 12

#: Header of the start-up probe of :class:`ZepTestServer`: such requests are neither recorded
#: nor hit by faults.
PROBE_HEADER = "x-zep-test-probe"

#: What ``GET /healthz`` reports in ``X-Zep-Version``; zep-python 1.x parses only the part before
#: a "-" (the real server sends "<version>-<commit>") and warns below 0.21.0.
ZEP_SERVER_VERSION = "0.27.2-testserver"

Scope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]
Handler = Callable[[Request], Awaitable[Response]]


class _HTTPError(Exception):
    """Raised by a handler: answer ``status`` with ``text`` in the API generation's format."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _bad_request(text: str) -> _HTTPError:
    return _HTTPError(400, f"bad request: {text}")


def _not_found() -> _HTTPError:
    return _HTTPError(404, "not found")


def error_response(
    generation: str, status: int, text: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An error as the real server sends it.

    ``/api/v1`` (open-source Zep 0.x) answers plain text. ``/api/v2`` answers the JSON object
    ``{"message": text}`` that zep-python 2.x parses into its ``ApiError`` model (the 2.x SDK
    calls ``response.json()`` on every 400/404/500, so plain text would crash it).
    """
    if generation == "v2":
        return JSONResponse({"message": text}, status_code=status, headers=headers)
    return PlainTextResponse(text, status_code=status, headers=headers)


def _generation(path: str) -> str:
    return "v2" if path.startswith("/api/v2") else "v1"


# -- wire formats ------------------------------------------------------------------------------


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _user_json(user: User) -> dict[str, Any]:
    return {
        "uuid": str(user.uuid) if user.uuid else None,
        "id": user.id,
        "created_at": _ts(user.created_at),
        "updated_at": _ts(user.updated_at),
        "deleted_at": None,
        "user_id": user.user_id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "metadata": user.metadata,
    }


def _session_json(session: Session) -> dict[str, Any]:
    return {
        "uuid": str(session.uuid) if session.uuid else None,
        "id": session.id,
        "created_at": _ts(session.created_at),
        "updated_at": _ts(session.updated_at),
        "deleted_at": _ts(session.deleted_at),
        "session_id": session.session_id,
        "user_id": session.user_id,
        "metadata": session.metadata,
    }


def _message_json(message: Message, generation: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uuid": str(message.uuid) if message.uuid else None,
        "created_at": _ts(message.created_at),
        "role": message.role,
        "content": message.content,
        "metadata": message.metadata,
        "token_count": 0,
    }
    if generation == "v2":
        out["role_type"] = message.role_type
        out["updated_at"] = out["created_at"]
    return out


# -- request parsing -----------------------------------------------------------------------------


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_request(f"invalid JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise _bad_request("the JSON body must be an object")
    return body


def _opt_str(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad_request(f"{name} must be a string")
    return value


def _query_int(request: Request, *names: str) -> int | None:
    """The first of ``names`` present in the query string as an int (empty: ``None``)."""
    for name in names:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            continue
        try:
            return int(raw)
        except ValueError:
            raise _bad_request(f"{name} must be an integer, not {raw!r}") from None
    return None


def _path_id(request: Request, name: str) -> str:
    value = request.path_params[name]
    try:
        return check_id(value, name)
    except InvalidInputError as exc:
        raise _bad_request(exc.message) from None


def _parse_uuid(value: object, field: str) -> _uuid.UUID | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad_request(f"{field} must be a string")
    try:
        return _uuid.UUID(value)
    except ValueError:
        raise _bad_request(f"invalid uuid in {field}: {value!r}") from None


def _reject_empty_metadata(body: Mapping[str, Any]) -> None:
    # The real server answers 500 to ``"metadata": {}`` on a user or session update.
    if "metadata" in body and body["metadata"] == {}:
        raise _HTTPError(500, "internal server error: failed to update: metadata is empty")


async def _drain(receive: Receive) -> None:
    """Read the request body: closing a socket with unread data would reset the connection."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


# -- the application ----------------------------------------------------------------------------


class ZepASGIApp:
    """The test server's ASGI application.

    Every request is appended to ``requests``; then the first matching fault in ``faults``
    (if any) answers it; then the API key is checked (when ``api_key`` is set, every route but
    ``/healthz``); then the route handles it. ``window`` is how many messages a memory read
    without ``lastn`` returns.
    """

    def __init__(
        self,
        store: SQLiteStore,
        *,
        window: int = DEFAULT_MESSAGE_WINDOW,
        api_key: str | None = None,
        faults: FaultInjector | None = None,
        requests: RequestLog | None = None,
        version: str = ZEP_SERVER_VERSION,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.store = store
        self.window = window
        self._api_key = api_key
        self.faults = faults if faults is not None else FaultInjector()
        self.requests = requests if requests is not None else RequestLog()
        self.version = version
        self._router = Router(routes=self._routes())

    def __repr__(self) -> str:
        auth = "on" if self._api_key else "off"
        return f"ZepASGIApp(store={self.store!r}, window={self.window}, auth={auth})"

    # -- ASGI entry ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection event."""
        if scope["type"] != "http":
            await self._router(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        if path == "/healthz" and (PROBE_HEADER.encode(), b"1") in scope.get("headers", ()):
            await self._router(scope, receive, send)
            return
        self.requests.append(RecordedRequest(method, path))
        fault = self.faults.take(method, path)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if not fault.after and (fault.drop or fault.status is not None):
                await _drain(receive)
                await self._answer_fault(fault, path, send)
                return
        if path != "/healthz" and not self._authorised(scope):
            response = error_response(_generation(path), 401, "unauthorized")
            await response(scope, receive, send)
            return
        if fault is not None and fault.after and (fault.drop or fault.status is not None):

            async def discard(message: ASGIMessage) -> None:
                return None

            await self._router(scope, receive, discard)
            await self._answer_fault(fault, path, send)
            return
        await self._router(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        if self._api_key is None:
            return True
        header = b""
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                header = value
                break
        scheme = "Api-Key" if _generation(scope["path"]) == "v2" else "Bearer"
        expected = f"{scheme} {self._api_key}".encode()
        return hmac.compare_digest(header, expected)

    async def _answer_fault(self, fault: Fault, path: str, send: Send) -> None:
        if fault.drop:
            # Headers promising a body, then nothing: the server closes the connection and the
            # client sees a transport error (httpx.RemoteProtocolError).
            await send(
                {
                    "type": "http.response.start",
                    "status": fault.status or 200,
                    "headers": [(b"content-length", b"1024")],
                }
            )
            return
        status = fault.status or 500
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        text = fault.body if fault.body is not None else f"injected fault: {status}"
        response = error_response(_generation(path), status, text, headers)
        scope: Scope = {"type": "http"}

        async def no_receive() -> ASGIMessage:  # pragma: no cover - responses never read
            return {"type": "http.disconnect"}

        await response(scope, no_receive, send)

    # -- routing ---------------------------------------------------------------------------------

    def _route(self, path: str, handler: Handler, methods: Sequence[str]) -> Route:
        generation = _generation(path)

        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except _HTTPError as exc:
                return error_response(generation, exc.status, exc.text)
            except InvalidInputError as exc:
                return error_response(generation, 400, f"bad request: {exc.message}")
            except NotFoundError:
                return error_response(generation, 404, "not found")
            except Exception as exc:  # the real server answers 500 to whatever it did not expect
                logger.debug("unexpected %s on %s", type(exc).__name__, path, exc_info=True)
                return error_response(
                    generation, 500, f"internal server error: {type(exc).__name__}"
                )

        return Route(path, endpoint, methods=list(methods))

    def _routes(self) -> list[Route]:
        r = self._route
        routes = [Route("/healthz", self._healthz, methods=["GET"])]
        for gen, users in (("v1", "user"), ("v2", "users")):
            p = f"/api/{gen}"
            routes += [
                r(f"{p}/{users}", self._add_user, ["POST"]),
                r(f"{p}/{users}/{{user_id}}", self._get_user, ["GET"]),
                r(f"{p}/{users}/{{user_id}}", self._update_user, ["PATCH"]),
                r(f"{p}/{users}/{{user_id}}", self._delete_user, ["DELETE"]),
                r(f"{p}/{users}/{{user_id}}/sessions", self._user_sessions, ["GET"]),
                r(f"{p}/sessions", self._add_session, ["POST"]),
                r(f"{p}/sessions/{{session_id}}", self._get_session, ["GET"]),
                r(f"{p}/sessions/{{session_id}}", self._update_session, ["PATCH"]),
                r(f"{p}/sessions/{{session_id}}/memory", self._add_memory, ["POST"]),
                r(f"{p}/sessions/{{session_id}}/memory", self._get_memory, ["GET"]),
                r(f"{p}/sessions/{{session_id}}/memory", self._delete_memory, ["DELETE"]),
                r(f"{p}/sessions/{{session_id}}/messages", self._get_messages, ["GET"]),
                r(f"{p}/sessions/{{session_id}}/messages/{{uuid}}", self._get_message, ["GET"]),
                r(
                    f"{p}/sessions/{{session_id}}/messages/{{uuid}}",
                    self._update_message,
                    ["PATCH"],
                ),
            ]
        routes += [
            r("/api/v1/user", self._list_users_cursor, ["GET"]),
            r("/api/v1/sessions", self._list_sessions_cursor, ["GET"]),
            r("/api/v2/users-ordered", self._list_users_ordered, ["GET"]),
            r("/api/v2/sessions-ordered", self._list_sessions_ordered, ["GET"]),
        ]
        return routes

    @staticmethod
    def _ok(request: Request) -> Response:
        if _generation(request.url.path) == "v2":
            return JSONResponse({"message": "OK"})
        return PlainTextResponse("OK")

    async def _healthz(self, request: Request) -> Response:
        return PlainTextResponse(".", headers={"X-Zep-Version": self.version})

    # -- users -----------------------------------------------------------------------------------

    async def _add_user(self, request: Request) -> Response:
        body = await _json_body(request)
        user_id = _opt_str(body, "user_id")
        if not user_id:
            raise _bad_request("user_id is required")
        create = CreateUserRequest(
            user_id=user_id,
            email=_opt_str(body, "email"),
            first_name=_opt_str(body, "first_name"),
            last_name=_opt_str(body, "last_name"),
            metadata=body.get("metadata"),
        )
        try:
            user = self.store.add_user(create)
        except AlreadyExistsError as exc:
            raise _bad_request(exc.message) from None
        return JSONResponse(_user_json(user), status_code=201)

    async def _get_user(self, request: Request) -> Response:
        return JSONResponse(_user_json(self.store.get_user(_path_id(request, "user_id"))))

    async def _update_user(self, request: Request) -> Response:
        user_id = _path_id(request, "user_id")
        body = await _json_body(request)
        _reject_empty_metadata(body)
        update = UpdateUserRequest(
            user_id=user_id,
            email=_opt_str(body, "email"),
            first_name=_opt_str(body, "first_name"),
            last_name=_opt_str(body, "last_name"),
            metadata=body.get("metadata"),
        )
        return JSONResponse(_user_json(self.store.update_user(update)))

    async def _delete_user(self, request: Request) -> Response:
        self.store.delete_user(_path_id(request, "user_id"))
        return self._ok(request)

    async def _user_sessions(self, request: Request) -> Response:
        sessions = self.store.get_user_sessions(_path_id(request, "user_id"))
        return JSONResponse([_session_json(s) for s in sessions])

    async def _list_users_cursor(self, request: Request) -> Response:
        users = self.store.list_users(*_cursor_params(request))
        return JSONResponse([_user_json(u) for u in users])

    async def _list_users_ordered(self, request: Request) -> Response:
        page, size = _page_params(request, ("pageNumber", "page_number"), ("pageSize", "page_size"))
        users = self.store.list_users()
        chosen = _page_of(users, page, size)
        return JSONResponse(
            {
                "users": [_user_json(u) for u in chosen],
                "total_count": len(users),
                "row_count": len(chosen),
            }
        )

    # -- sessions --------------------------------------------------------------------------------

    async def _add_session(self, request: Request) -> Response:
        body = await _json_body(request)
        session_id = _opt_str(body, "session_id")
        if not session_id:
            raise _bad_request("session_id is required")
        user_id = _opt_str(body, "user_id") or None
        session = Session(session_id=session_id, user_id=user_id, metadata=body.get("metadata"))
        try:
            stored = self.store.add_session(session)
        except (AlreadyExistsError, NotFoundError) as exc:
            raise _bad_request(exc.message) from None
        return JSONResponse(_session_json(stored), status_code=201)

    async def _get_session(self, request: Request) -> Response:
        session = self.store.get_session(_path_id(request, "session_id"))
        return JSONResponse(_session_json(session))

    async def _update_session(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        body = await _json_body(request)
        _reject_empty_metadata(body)
        metadata = check_metadata(body.get("metadata"))
        return JSONResponse(_session_json(self.store.update_session(session_id, metadata)))

    async def _list_sessions_cursor(self, request: Request) -> Response:
        sessions = self.store.list_sessions(*_cursor_params(request))
        return JSONResponse([_session_json(s) for s in sessions])

    async def _list_sessions_ordered(self, request: Request) -> Response:
        page, size = _page_params(request, ("page_number", "pageNumber"), ("page_size", "pageSize"))
        order_by = request.query_params.get("order_by") or "created_at"
        if order_by not in _SESSION_ORDER:
            raise _bad_request(f"invalid order_by: {order_by!r}")
        asc = request.query_params.get("asc", "true").lower() not in ("false", "0")
        sessions = sorted(self.store.list_sessions(), key=_SESSION_ORDER[order_by])
        if not asc:
            sessions.reverse()
        chosen = _page_of(sessions, page, size)
        return JSONResponse(
            {
                "sessions": [_session_json(s) for s in chosen],
                "total_count": len(sessions),
                "response_count": len(chosen),
            }
        )

    # -- memory and messages ---------------------------------------------------------------------

    async def _add_memory(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        generation = _generation(request.url.path)
        body = await _json_body(request)
        raw_messages = body.get("messages")
        if raw_messages is None:
            raw_messages = []
        if not isinstance(raw_messages, list):
            raise _bad_request("messages must be a list")
        messages = [_parse_message(m, i, generation) for i, m in enumerate(raw_messages)]
        try:
            self.store.add_messages(session_id, messages)
        except AlreadyExistsError as exc:
            # The real server hits Postgres' unique constraint: 500, nothing of the batch stored.
            raise _HTTPError(
                500,
                "internal server error: failed to put messages: duplicate key value violates "
                f"unique constraint (SQLSTATE 23505): {exc.message}",
            ) from None
        return self._ok(request)

    async def _get_memory(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        lastn = _query_int(request, "lastn")
        if lastn is not None and lastn < 0:
            raise _bad_request("lastn must not be negative")
        messages = self.store.get_messages(session_id, lastn=lastn or self.window)
        generation = _generation(request.url.path)
        return JSONResponse(
            {
                "messages": [_message_json(m, generation) for m in messages],
                "summary": None,
                "metadata": {},
            }
        )

    async def _delete_memory(self, request: Request) -> Response:
        self.store.delete_session(_path_id(request, "session_id"))
        return self._ok(request)

    async def _get_messages(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        limit = _query_int(request, "limit")
        page = _query_int(request, "cursor") or 1
        if (limit is not None and limit < 0) or page < 0:
            raise _bad_request("limit and cursor must not be negative")
        generation = _generation(request.url.path)
        if not limit:
            messages = self.store.get_messages(session_id)
            if page > 1:
                messages = []
            total = len(messages)
        else:
            result = self.store.get_messages_page(session_id, limit=limit, page=page)
            messages, total = result.messages, result.total_count
        return JSONResponse(
            {
                "messages": [_message_json(m, generation) for m in messages],
                "total_count": total,
                "row_count": len(messages),
            }
        )

    async def _get_message(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        wanted = _parse_uuid(request.path_params["uuid"], "uuid")
        for message in self.store.get_messages(session_id):
            if message.uuid == wanted:
                return JSONResponse(_message_json(message, _generation(request.url.path)))
        raise _not_found()

    async def _update_message(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        wanted = _parse_uuid(request.path_params["uuid"], "uuid")
        assert wanted is not None  # a path segment is never empty
        body = await _json_body(request)
        metadata = check_metadata(body.get("metadata")) or {}
        message = self.store.update_message_metadata(session_id, wanted, metadata)
        return JSONResponse(_message_json(message, _generation(request.url.path)))


_SESSION_ORDER: dict[str, Callable[[Session], Any]] = {
    "created_at": lambda s: s.id or 0,
    "id": lambda s: s.id or 0,
    "updated_at": lambda s: (s.updated_at or datetime.min.replace(tzinfo=timezone.utc), s.id),
    "session_id": lambda s: s.session_id or "",
    "user_id": lambda s: (s.user_id or "", s.id),
}


_T = TypeVar("_T")


def _cursor_params(request: Request) -> tuple[int | None, int]:
    """``limit`` (0 or absent: all) and ``cursor`` ("id greater than") of a v1 listing."""
    limit = _query_int(request, "limit")
    if limit is not None and limit < 0:
        raise _bad_request("limit must not be negative")
    return limit or None, _query_int(request, "cursor") or 0


def _page_of(items: list[_T], page: int, size: int | None) -> list[_T]:
    """Page ``page`` (1-based) of ``items``, ``size`` per page (``None``: everything)."""
    return items if size is None else items[(page - 1) * size : page * size]


def _page_params(
    request: Request, page_names: tuple[str, ...], size_names: tuple[str, ...]
) -> tuple[int, int | None]:
    page = _query_int(request, *page_names) or 1
    size = _query_int(request, *size_names)
    if page < 1 or (size is not None and size < 0):
        raise _bad_request("page number must be at least 1 and page size not negative")
    return page, size or None


def _parse_message(raw: object, index: int, generation: str) -> Message:
    field = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise _bad_request(f"{field} must be an object")
    role = _opt_str(raw, "role") or ""
    content = _opt_str(raw, "content") or ""
    role_type: str | None = None
    if generation == "v2":
        role_type = _opt_str(raw, "role_type") or None
        if role_type is not None and role_type not in ROLE_TYPES:
            raise _bad_request(f"invalid role type in {field}: {role_type!r}")
    try:
        return Message(
            role=role,
            role_type=role_type,
            content=content,
            metadata=check_metadata(raw.get("metadata"), f"{field}.metadata"),
            uuid=_parse_uuid(raw.get("uuid"), f"{field}.uuid"),
            # A client-sent timestamp is kept (exports re-imported keep their times).
            created_at=raw.get("created_at") or None,
        )
    except InvalidInputError as exc:
        raise _bad_request(exc.message) from None
