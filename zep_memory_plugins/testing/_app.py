"""The ASGI application: one Zep wire generation (``/api/v1`` or ``/api/v2``) on a store.

``api="v1"`` answers like open-source Zep v0.27.2, ``api="v2"`` like Zep Community Edition
v1.0.2: their routes, status codes, error texts, JSON shapes and limits, as recorded in the
golden transcripts under ``tests/server/golden/`` and read from the servers' Go handlers. The
outer :class:`ZepASGIApp` records every request, injects faults and checks the API key before a
request reaches a route. Handlers call the :class:`SQLiteStore` directly (in-process SQLite,
fast and thread-safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import uuid as _uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

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
    from starlette.responses import Response
    from starlette.routing import Route, Router
except ImportError:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("starlette and uvicorn", "server") from None

__all__ = [
    "API_VERSIONS",
    "DEFAULT_MESSAGE_WINDOW",
    "DEFAULT_WINDOWS",
    "MAX_CONTENT_CHARS",
    "MAX_MESSAGES_PER_REQUEST",
    "ZEP_SERVER_VERSION",
    "ApiVersion",
    "ZepASGIApp",
]

logger = logging.getLogger("zep_memory_plugins.testing")

_T = TypeVar("_T")

ApiVersion = Literal["v1", "v2"]
#: The wire generations the server can speak.
API_VERSIONS: tuple[ApiVersion, ...] = ("v1", "v2")

#: How many messages ``GET /sessions/{id}/memory`` returns without ``lastn``, per generation:
#: Zep v0.27's default message window (12) and Zep CE's fixed ``DefaultLastNMessages`` (6).
DEFAULT_WINDOWS: dict[str, int] = {"v1": 12, "v2": 6}
#: The ``/api/v1`` window (kept for callers of earlier releases).
DEFAULT_MESSAGE_WINDOW = DEFAULT_WINDOWS["v1"]
#: Zep CE refuses (400) a ``POST .../memory`` with more messages than this, and stores them anyway.
MAX_MESSAGES_PER_REQUEST = 30
#: Zep CE refuses (400, nothing stored) a message whose content has more characters than this.
MAX_CONTENT_CHARS = 2500

#: Header of the start-up probe of :class:`ZepTestServer`: such requests are neither recorded
#: nor hit by faults.
PROBE_HEADER = "x-zep-test-probe"

#: What ``/api/v1`` responses carry in ``X-Zep-Version`` (v0.27 sends it on every response,
#: ``/healthz`` included; Zep CE never does). zep-python 1.x parses the part before a "-".
ZEP_SERVER_VERSION = "0.27.2-testserver"

_GO_ZERO_TIME = "0001-01-01T00:00:00Z"
_NIL_UUID = "00000000-0000-0000-0000-000000000000"
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json; charset=utf-8"
_INT = re.compile(r"^[+-]?[0-9]+$")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", re.IGNORECASE)
_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}
_SESSION_ORDERS = ("created_at", "updated_at", "user_id", "session_id")

# The page an open-source Zep v0.27 server shows for a route it does not have (its web UI's
# 404 page; zep-python 2.x turns it into a NotFoundError carrying the whole page).
_V1_NOT_FOUND_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Zep - Page not found</title></head>
<body><main><h1>404</h1><p>The page you requested could not be found.</p></main></body>
</html>
"""

Scope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]
Handler = Callable[[Request], Awaitable[Response]]


class _HTTPError(Exception):
    """Raised by a handler: answer ``status`` with ``text`` in the generation's error format."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _bad_request(text: str) -> _HTTPError:
    return _HTTPError(400, f"bad request: {text}")


def _not_found() -> _HTTPError:
    return _HTTPError(404, "not found")


def error_response(
    api: str, status: int, text: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An error as the real server of generation ``api`` sends it.

    ``v1`` (Zep v0.27, Go's ``http.Error``): the text and a newline, ``text/plain``, with the
    ``X-Zep-Version`` header. ``v2`` (Zep CE): the JSON object ``{"message": text}`` and a
    newline, ``application/json``.
    """
    if api == "v2":
        return Response(_encode({"message": text}), status, headers=headers, media_type=_JSON)
    out = {"X-Zep-Version": ZEP_SERVER_VERSION, **(headers or {})}
    return Response(text + "\n", status, headers=out, media_type=_TEXT)


def _encode(data: Any) -> str:
    """Go's ``json.Encoder``: compact, one trailing newline."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


# -- wire formats ------------------------------------------------------------------------------


def _ts(value: datetime | None) -> str | None:
    """A timestamp as Go's RFC 3339 (nano) encoding writes it: UTC, no trailing zeros."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    text = value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if "." in text:
        head, frac = text[:-1].split(".")
        frac = frac.rstrip("0")
        text = f"{head}.{frac}Z" if frac else f"{head}Z"
    return text


def _str_uuid(value: _uuid.UUID | None) -> str:
    return str(value) if value else _NIL_UUID


def _pick(items: Sequence[tuple[str, Any, bool]]) -> dict[str, Any]:
    """Build a JSON object in field order; a field marked ``omitempty`` is left out if empty."""
    return {k: v for k, v, omitempty in items if not (omitempty and not v)}


# -- request parsing -----------------------------------------------------------------------------


def _go_text(value: str) -> str:
    """A decoded JSON string as Go keeps it: lone surrogates become U+FFFD."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _go_json(value: Any) -> Any:
    if isinstance(value, str):
        return _go_text(value)
    if isinstance(value, list):
        return [_go_json(v) for v in value]
    if isinstance(value, dict):
        return {_go_text(k): _go_json(v) for k, v in value.items()}
    return value


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    # Go's decoder reads invalid UTF-8 as U+FFFD; an empty body is "unexpected EOF".
    text = raw.decode("utf-8", "replace")
    if not text.strip():
        raise _HTTPError(400, "EOF")
    try:
        body = json.loads(text)
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise _HTTPError(
                400, f"json: cannot unmarshal {type(body).__name__} into Go value of type object"
            )
        converted: dict[str, Any] = _go_json(body)
    except (ValueError, RecursionError) as exc:
        raise _HTTPError(400, f"invalid JSON body: {exc}") from None
    return converted


def _field(body: Mapping[str, Any], name: str, kind: type, go_type: str) -> Any:
    """A body field of the expected JSON type (``None`` if absent or null), else Go's 400."""
    value = body.get(name)
    wrong_type = not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
    if value is not None and wrong_type:
        raise _HTTPError(
            400,
            f"json: cannot unmarshal {type(value).__name__} into Go struct field {name} "
            f"of type {go_type}",
        )
    return value


def _str_field(body: Mapping[str, Any], name: str) -> str | None:
    value: str | None = _field(body, name, str, "string")
    return value


def _metadata_field(body: Mapping[str, Any], name: str = "metadata") -> dict[str, Any] | None:
    value = _field(body, name, dict, "map[string]interface {}")
    try:
        return check_metadata(value, name)
    except InvalidInputError as exc:
        raise _bad_request(exc.message) from None


def _query_int(request: Request, name: str, *, trim: bool) -> int:
    """An integer query parameter the way Go's ``strconv.ParseInt`` reads it (absent: 0)."""
    raw = request.query_params.get(name, "")
    if trim:
        raw = raw.strip()
    if raw == "":
        return 0
    if not _INT.match(raw):
        raise _HTTPError(400, f'strconv.ParseInt: parsing "{raw}": invalid syntax')
    value = int(raw)
    if not -(2**63) <= value < 2**63:
        raise _HTTPError(400, f'strconv.ParseInt: parsing "{raw}": value out of range')
    return value


def _query_int_or(request: Request, name: str, default: int) -> int:
    """Like :func:`_query_int`, but a value that does not parse means ``default``."""
    try:
        return _query_int(request, name, trim=True)
    except _HTTPError:
        return default


def _path_id(request: Request, name: str) -> str:
    value = request.path_params[name]
    try:
        return check_id(value, name)
    except InvalidInputError as exc:
        raise _bad_request(exc.message) from None


def _parse_uuid(value: object, field: str) -> _uuid.UUID | None:
    """A uuid from a JSON body: absent, empty or the nil uuid mean "let the server choose"."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _HTTPError(
            400,
            f"json: cannot unmarshal {type(value).__name__} into Go struct "
            f"field {field} of type uuid.UUID",
        )
    try:
        parsed = _uuid.UUID(value)
    except ValueError:
        raise _HTTPError(400, f"invalid UUID format: {value!r} in {field}") from None
    return None if parsed.int == 0 else parsed


def _parse_created_at(value: object, field: str) -> datetime | None:
    """A client's ``created_at``: RFC 3339 with an offset, and representable in UTC.

    The real servers parse it (Go's ``time.Time``, RFC 3339 only) and then stamp the message
    themselves; this server keeps it (so exported conversations re-import with their times),
    and so refuses one it could not serve back: a time whose UTC form falls outside years
    1..9999 (``9999-12-31T23:00:00-05:00``) would make every later read of the session fail.
    """
    if value is None or value == "" or value == _GO_ZERO_TIME:
        return None
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise _HTTPError(
            400,
            f'parsing time {json.dumps(value)} as "2006-01-02T15:04:05Z07:00": '
            f"cannot parse {field}",
        )
    text = value.upper().replace("Z", "+00:00")
    head, _, rest = text.partition(".")
    if rest:  # the fraction, to microseconds (what every supported Python parses)
        digits = rest[: len(rest) - 6]
        text = f"{head}.{(digits + '000000')[:6]}{rest[len(digits) :]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _bad_request(f"{field} {value!r} is not a valid RFC 3339 time") from None
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise _bad_request(
            f"{field} {value!r} is out of range: its time in UTC must fall in years 1 to 9999"
        ) from None


async def _drain(receive: Receive) -> None:
    """Read the request body: closing a socket with unread data would reset the connection."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


class _MessageIn:
    """One message of a ``POST .../memory`` body, parsed but not validated as a model yet."""

    __slots__ = ("content", "created_at", "metadata", "role", "role_type", "uuid")

    def __init__(self, raw: object, index: int) -> None:
        field = f"messages[{index}]"
        if not isinstance(raw, dict):
            raise _HTTPError(
                400,
                f"json: cannot unmarshal {type(raw).__name__} into Go value "
                f"of type Message ({field})",
            )
        self.role: str = _str_field(raw, "role") or ""
        self.role_type: str = _str_field(raw, "role_type") or ""
        self.content: str = _str_field(raw, "content") or ""
        self.metadata = _metadata_field(raw, "metadata")
        self.uuid = _parse_uuid(raw.get("uuid"), f"{field}.uuid")
        self.created_at = _parse_created_at(raw.get("created_at"), f"{field}.created_at")
        _parse_created_at(raw.get("updated_at"), f"{field}.updated_at")
        if raw.get("token_count") is not None:
            _field(raw, "token_count", int, "int")

    def model(self, role_type: str) -> Message:
        """The library's message (400 if the model refuses it)."""
        try:
            return Message(
                role=self.role,
                role_type=role_type,
                content=self.content,
                metadata=self.metadata,
                uuid=self.uuid,
                created_at=self.created_at,
            )
        except InvalidInputError as exc:
            raise _bad_request(exc.message) from None


# -- the application ----------------------------------------------------------------------------


class ZepASGIApp:
    """The test server's ASGI application for one wire generation.

    ``api`` is ``"v1"`` (Zep v0.27, routes under ``/api/v1``) or ``"v2"`` (Zep CE, routes under
    ``/api/v2``); the other generation's routes answer 404 as the real server does. Every
    request is appended to ``requests``; then the first matching fault in ``faults`` (if any)
    answers it; then the API key is checked (``/healthz`` is always open); then the route
    handles it. ``v2`` needs an ``api_key`` (``Authorization: Api-Key <key>``); on ``v1`` a key
    is optional (``Authorization: Bearer <key>``). ``window`` is how many messages a memory
    read without ``lastn`` returns (default: 12 on v1, 6 on v2).
    """

    def __init__(
        self,
        store: SQLiteStore,
        *,
        api: ApiVersion = "v2",
        window: int | None = None,
        api_key: str | None = None,
        faults: FaultInjector | None = None,
        requests: RequestLog | None = None,
        version: str = ZEP_SERVER_VERSION,
    ) -> None:
        if api not in API_VERSIONS:
            raise ValueError(f"api must be 'v1' or 'v2', not {api!r}")
        if window is None:
            window = DEFAULT_WINDOWS[api]
        if window < 1:
            raise ValueError("window must be at least 1")
        if api == "v2" and not api_key:
            raise ValueError("a v2 (Zep CE) server always requires an API key: give api_key")
        self.store = store
        self.api: ApiVersion = api
        self.prefix = f"/api/{api}"
        self.window = window
        self._api_key = api_key
        self.faults = faults if faults is not None else FaultInjector()
        self.requests = requests if requests is not None else RequestLog()
        self.version = version
        self._router = Router(routes=self._routes(), default=self._not_found_route)

    def __repr__(self) -> str:
        auth = "on" if self._api_key else "off"
        return (
            f"ZepASGIApp(api={self.api!r}, store={self.store!r}, window={self.window}, auth={auth})"
        )

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
                await self._answer_fault(fault, send)
                return
        if not self._authorised(scope):
            await _drain(receive)
            if self.api == "v2":
                response = Response("unauthorized\n", 401, media_type=_TEXT)
            else:
                response = error_response("v1", 401, "Unauthorized")
            await response(scope, receive, send)
            return
        if fault is not None and fault.after and (fault.drop or fault.status is not None):

            async def discard(message: ASGIMessage) -> None:
                return None

            await self._router(scope, receive, discard)
            await self._answer_fault(fault, send)
            return
        await self._router(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if self._api_key is None or not (path == self.prefix or path.startswith(self.prefix + "/")):
            return True
        header = b""
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                header = value
                break
        scheme = "Api-Key" if self.api == "v2" else "Bearer"
        expected = f"{scheme} {self._api_key}".encode()
        return hmac.compare_digest(header, expected)

    async def _answer_fault(self, fault: Fault, send: Send) -> None:
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
        response = error_response(self.api, status, text, headers)
        scope: Scope = {"type": "http"}

        async def no_receive() -> ASGIMessage:  # pragma: no cover - responses never read
            return {"type": "http.disconnect"}

        await response(scope, no_receive, send)

    async def _not_found_route(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A route this generation does not have: v0.27's web UI page, or chi's plain text.
        if self.api == "v1":
            response = Response(
                _V1_NOT_FOUND_PAGE,
                404,
                headers={"X-Zep-Version": self.version},
                media_type="text/html; charset=utf-8",
            )
        else:
            response = Response("404 page not found\n", 404, media_type=_TEXT)
        await response(scope, receive, send)

    # -- routing ---------------------------------------------------------------------------------

    def _route(self, path: str, handler: Handler, methods: Sequence[str]) -> Route:
        api = self.api

        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except _HTTPError as exc:
                return error_response(api, exc.status, exc.text)
            except InvalidInputError as exc:
                return error_response(api, 400, f"bad request: {exc.message}")
            except NotFoundError:
                return error_response(api, 404, "not found")
            except Exception as exc:  # the real server answers 500 to whatever it did not expect
                logger.debug("unexpected %s on %s", type(exc).__name__, path, exc_info=True)
                return error_response(api, 500, f"internal server error: {type(exc).__name__}")

        return Route(f"{self.prefix}{path}", endpoint, methods=list(methods))

    def _routes(self) -> list[Route]:
        r = self._route
        users = "/users" if self.api == "v2" else "/user"
        routes = [
            Route("/healthz", self._healthz, methods=["GET", "HEAD"]),
            r(users, self._add_user, ["POST"]),
            r(users, self._list_users_cursor, ["GET"]),
            r(f"{users}/{{user_id}}", self._get_user, ["GET"]),
            r(f"{users}/{{user_id}}", self._update_user, ["PATCH"]),
            r(f"{users}/{{user_id}}", self._delete_user, ["DELETE"]),
            r(f"{users}/{{user_id}}/sessions", self._user_sessions, ["GET"]),
            r("/sessions", self._add_session, ["POST"]),
            r("/sessions", self._list_sessions_cursor, ["GET"]),
            r("/sessions/{session_id}", self._get_session, ["GET"]),
            r("/sessions/{session_id}", self._update_session, ["PATCH"]),
            r("/sessions/{session_id}/memory", self._add_memory, ["POST"]),
            r("/sessions/{session_id}/memory", self._get_memory, ["GET"]),
            r("/sessions/{session_id}/memory", self._delete_memory, ["DELETE"]),
            r("/sessions/{session_id}/messages", self._get_messages, ["GET"]),
            r("/sessions/{session_id}/messages/{uuid}", self._get_message, ["GET"]),
            r("/sessions/{session_id}/messages/{uuid}", self._update_message, ["PATCH"]),
        ]
        if self.api == "v2":
            routes += [
                r("/users-ordered", self._list_users_ordered, ["GET"]),
                r("/sessions-ordered", self._list_sessions_ordered, ["GET"]),
            ]
        return routes

    # -- responses -------------------------------------------------------------------------------

    def _json(self, data: Any, status: int = 200) -> Response:
        # Go's handlers encode without setting a content type: Go sniffs text/plain.
        headers = {"X-Zep-Version": self.version} if self.api == "v1" else None
        return Response(_encode(data), status, headers=headers, media_type=_TEXT)

    def _ok(self, status: int = 200) -> Response:
        if self.api == "v2":
            return Response(_encode({"message": "OK"}), status, media_type=_JSON)
        return Response("OK", status, headers={"X-Zep-Version": self.version}, media_type=_TEXT)

    async def _healthz(self, request: Request) -> Response:
        # v0.27 sends X-Zep-Version on every response, /healthz included; CE answers /healthz
        # before its version middleware runs.
        headers = {"X-Zep-Version": self.version} if self.api == "v1" else None
        return Response(".", headers=headers, media_type=_TEXT)

    def _user_json(self, user: User, *, count_sessions: bool = True) -> dict[str, Any]:
        fields: list[tuple[str, Any, bool]] = [
            ("uuid", _str_uuid(user.uuid), False),
            ("id", user.id or 0, False),
            ("created_at", _ts(user.created_at), False),
            ("updated_at", _ts(user.updated_at), False),
            ("deleted_at", None, False),
            ("user_id", user.user_id, False),
            ("email", user.email, True),
            ("first_name", user.first_name, True),
            ("last_name", user.last_name, True),
        ]
        if self.api == "v2":
            fields.append(("project_uuid", _NIL_UUID, False))
        fields.append(("metadata", user.metadata, True))
        if self.api == "v2" and count_sessions:
            # CE counts the user's live sessions on every read (not on create).
            fields.append(("session_count", len(self.store.get_user_sessions(user.user_id)), True))
        return _pick(fields)

    def _session_json(self, session: Session, *, with_id: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uuid": _str_uuid(session.uuid),
            "id": (session.id or 0) if with_id else 0,
            "created_at": _ts(session.created_at),
            "updated_at": _ts(session.updated_at),
            "deleted_at": None,
        }
        if self.api == "v2":
            out["ended_at"] = None
        out["session_id"] = session.session_id
        out["metadata"] = session.metadata
        out["user_id"] = session.user_id
        if self.api == "v2":
            out["project_uuid"] = _NIL_UUID
        return out

    def _message_json(self, message: Message) -> dict[str, Any]:
        fields: list[tuple[str, Any, bool]] = [
            ("uuid", _str_uuid(message.uuid), False),
            ("created_at", _ts(message.created_at), False),
            # Both servers leave a message's updated_at at Go's zero time when reading back.
            ("updated_at", _GO_ZERO_TIME, False),
            ("role", message.role, False),
        ]
        if self.api == "v2":
            fields.append(("role_type", message.role_type, True))
        fields += [
            ("content", message.content, False),
            ("metadata", message.metadata, True),
            ("token_count", 0, False),
        ]
        return _pick(fields)

    # -- users -----------------------------------------------------------------------------------

    async def _add_user(self, request: Request) -> Response:
        body = await _json_body(request)
        user_id = _str_field(body, "user_id")
        if not user_id:
            raise _bad_request("UserID cannot be empty")
        create = CreateUserRequest(
            user_id=user_id,
            email=_str_field(body, "email") or None,
            first_name=_str_field(body, "first_name") or None,
            last_name=_str_field(body, "last_name") or None,
            metadata=_metadata_field(body),
        )
        try:
            user = self.store.add_user(create)
        except AlreadyExistsError as exc:
            raise _bad_request(exc.message) from None
        return self._json(self._user_json(user, count_sessions=False), 201)

    async def _get_user(self, request: Request) -> Response:
        return self._json(self._user_json(self.store.get_user(_path_id(request, "user_id"))))

    async def _update_user(self, request: Request) -> Response:
        user_id = _path_id(request, "user_id")
        body = await _json_body(request)
        metadata = _metadata_field(body)
        if metadata == {} and self.api == "v1":
            # v0.27 merges any non-null metadata, and refuses to merge nothing (before it even
            # looks the user up).
            raise _HTTPError(500, "failed to merge metadata: metadata cannot be empty")
        update = UpdateUserRequest(
            user_id=user_id,
            email=_str_field(body, "email") or None,
            first_name=_str_field(body, "first_name") or None,
            last_name=_str_field(body, "last_name") or None,
            metadata=metadata or None,
        )
        return self._json(self._user_json(self.store.update_user(update)))

    async def _delete_user(self, request: Request) -> Response:
        self.store.delete_user(_path_id(request, "user_id"))
        return self._ok()

    async def _user_sessions(self, request: Request) -> Response:
        # Both servers join sessions to users: an unknown user has no sessions (200, []), and
        # the integer id is not selected (0).
        try:
            sessions = self.store.get_user_sessions(_path_id(request, "user_id"))
        except NotFoundError:
            sessions = []
        return self._json([self._session_json(s, with_id=False) for s in sessions])

    async def _list_users_cursor(self, request: Request) -> Response:
        return self._cursor_listing(request, self.store.list_users, self._user_json)

    async def _list_users_ordered(self, request: Request) -> Response:
        page, size = _page_params(request, "failed to list users")
        users = self.store.list_users()
        users.reverse()  # CE: ORDER BY id DESC
        return self._json(_page(users, page, size, "users", self._user_json, "row_count"))

    def _cursor_listing(
        self,
        request: Request,
        read: Callable[[int | None, int], list[_T]],
        to_json: Callable[[_T], dict[str, Any]],
    ) -> Response:
        """A cursor listing: ``read(limit, cursor)``, ``limit`` 0 or absent meaning all."""
        trim = self.api == "v2"
        limit = _query_int(request, "limit", trim=trim)
        cursor = _query_int(request, "cursor", trim=trim)
        if limit < 0:
            raise _HTTPError(500, "ERROR: LIMIT must not be negative (SQLSTATE=2201W)")
        return self._json([to_json(x) for x in read(limit or None, cursor)])

    # -- sessions --------------------------------------------------------------------------------

    async def _add_session(self, request: Request) -> Response:
        body = await _json_body(request)
        session_id = _str_field(body, "session_id") or ""
        user_id = _str_field(body, "user_id")
        metadata = _metadata_field(body)
        if self.api == "v2":
            if user_id:
                try:
                    self.store.get_user(user_id)
                except NotFoundError:
                    raise _HTTPError(400, "user not found") from None
            if not session_id:
                raise _bad_request("sessionID cannot be empty")
        elif not session_id:
            raise _HTTPError(500, "sessionID cannot be empty")
        if user_id == "":
            raise _bad_request("user does not exist with user_id: ")
        session = Session(session_id=session_id, user_id=user_id, metadata=metadata)
        try:
            stored = self.store.add_session(session)
        except (AlreadyExistsError, NotFoundError) as exc:
            raise _bad_request(exc.message) from None
        if metadata and "system" in metadata:
            # Both servers store a new session's metadata as given; only an update drops a
            # top-level "system" key (the embedded store drops it on creation too).
            stored = self.store.replace_session_metadata(session_id, metadata)
        return self._json(self._session_json(stored), 201)

    async def _get_session(self, request: Request) -> Response:
        session = self.store.get_session(_path_id(request, "session_id"))
        return self._json(self._session_json(session))

    async def _update_session(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        body = await _json_body(request)
        metadata = _metadata_field(body)
        if self.api == "v2":
            # CE: a deleted session is gone (404); without metadata, or with {}, the metadata
            # is replaced by {}; otherwise deep-merged ("system" ignored).
            self.store.get_session(session_id)
            if not metadata:
                stored = self.store.replace_session_metadata(session_id, {})
            else:
                stored = self.store.update_session(session_id, metadata)
            return self._json(self._session_json(stored))
        if metadata == {}:
            raise _HTTPError(500, "failed to merge session metadata: metadata cannot be empty")
        return self._json(self._session_json(self.store.update_session(session_id, metadata)))

    async def _list_sessions_cursor(self, request: Request) -> Response:
        return self._cursor_listing(request, self.store.list_sessions, self._session_json)

    async def _list_sessions_ordered(self, request: Request) -> Response:
        # CE reads pageNumber / pageSize here too: zep-python 2.0.2 sends page_number /
        # page_size, which the server ignores (every session on one page).
        page, size = _page_params(request, "failed to list sessions")
        order_by = request.query_params.get("order_by", "").strip()
        if order_by and order_by not in _SESSION_ORDERS:
            raise _HTTPError(400, "invalid value for order_by")
        raw_asc = request.query_params.get("asc", "").strip()
        if raw_asc and raw_asc not in _BOOLS:
            raise _HTTPError(400, f'strconv.ParseBool: parsing "{raw_asc}": invalid syntax')
        asc = _BOOLS.get(raw_asc, False)
        sessions = _ordered(self.store.list_sessions(), order_by or "id", asc)
        return self._json(
            _page(sessions, page, size, "sessions", self._session_json, "response_count")
        )

    # -- memory and messages ---------------------------------------------------------------------

    async def _add_memory(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        body = await _json_body(request)
        raw = body.get("messages")
        if raw is not None and not isinstance(raw, list):
            raise _HTTPError(
                400,
                f"json: cannot unmarshal {type(raw).__name__} into Go struct field "
                "messages of type []Message",
            )
        parsed = [_MessageIn(m, i) for i, m in enumerate(raw or [])]
        if self.api == "v1":
            return self._add_memory_v1(session_id, parsed)
        return self._add_memory_v2(session_id, parsed, raw is None)

    def _ensure_session(self, session_id: str) -> None:
        """Both servers create an unknown session before inserting its messages (no rollback)."""
        try:
            self.store.get_session(session_id)
        except NotFoundError:
            # A soft-deleted session (v1) already exists: add_messages revives it.
            with contextlib.suppress(AlreadyExistsError):
                self.store.add_session(Session(session_id=session_id))

    def _add_memory_v1(self, session_id: str, parsed: list[_MessageIn]) -> Response:
        messages = [m.model(m.role if m.role in ROLE_TYPES else "norole") for m in parsed]
        self._ensure_session(session_id)
        try:
            self.store.add_messages(session_id, messages)
        except AlreadyExistsError:
            # Postgres' unique constraint: 500, nothing of the batch stored.
            raise _HTTPError(
                500,
                "failed to put messages: failed to create messages ERROR: duplicate key value "
                'violates unique constraint "message_pkey" (SQLSTATE=23505)',
            ) from None
        return self._ok()

    def _add_memory_v2(self, session_id: str, parsed: list[_MessageIn], absent: bool) -> Response:
        # CE writes an error for a batch over the limit but carries on: later errors and the
        # final OK are appended to the same 400 response, and the messages are stored.
        chunks: list[str] = []
        status = 0

        def fail(code: int, text: str) -> None:
            nonlocal status
            status = status or code
            chunks.append(_encode({"message": text}))

        def answer() -> Response:
            return Response("".join(chunks), status, media_type=_JSON)

        if len(parsed) > MAX_MESSAGES_PER_REQUEST:
            fail(
                400,
                f"max messages per memory of {MAX_MESSAGES_PER_REQUEST} exceeded. reduce the "
                "number of messages in your request",
            )
        if any(len(m.content) > MAX_CONTENT_CHARS for m in parsed):
            fail(400, f"message content exceeds {MAX_CONTENT_CHARS} characters")
            return answer()
        if any(not m.role_type for m in parsed):
            fail(400, "messages are required to have a RoleType")
            return answer()
        if absent:
            fail(
                400,
                "Key: 'AddMemoryRequest.AddMemoryRequestCommon.Messages' Error:Field validation "
                "for 'Messages' failed on the 'required' tag",
            )
            return answer()
        bad = next((m.role_type for m in parsed if m.role_type not in ROLE_TYPES), None)
        messages = [m.model(m.role_type) for m in parsed] if bad is None else []
        self._ensure_session(session_id)
        if bad is not None:
            fail(
                500,
                "failed to create messages ERROR: invalid input value for enum role_type_enum: "
                f'"{bad}" (SQLSTATE=22P02)',
            )
            return answer()
        try:
            self.store.add_messages(session_id, messages)
        except AlreadyExistsError:
            fail(400, "bad request: message_uuid already exists")
            return answer()
        fail(201, "OK")
        return answer()

    async def _get_memory(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        lastn = _query_int(request, "lastn", trim=self.api == "v2")
        if lastn < 0:
            if self.api == "v2":
                raise _HTTPError(400, "lastn cannot be negative")
            raise _HTTPError(500, "cannot specify negative lastNMessages")
        messages = self.store.get_messages(session_id, lastn=lastn or self.window)
        out: dict[str, Any] = {"messages": [self._message_json(m) for m in messages]}
        if self.api == "v2":
            out["relevant_facts"] = []
        else:
            # v0.27 always answers a summary; without one it is all zero values.
            out["summary"] = {
                "uuid": _NIL_UUID,
                "created_at": _GO_ZERO_TIME,
                "content": "",
                "recent_message_uuid": _NIL_UUID,
                "token_count": 0,
            }
        return self._json(out)

    async def _delete_memory(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        self.store.delete_session(session_id)
        if self.api == "v2":
            # CE purges what it soft-deletes at once: the id is free again, the messages gone.
            self.store.purge_deleted_session(session_id)
        return self._ok()

    async def _get_messages(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        # Both servers: a limit or cursor that does not parse means 100 / page 1; none means
        # 0, i.e. no LIMIT and OFFSET (cursor - 1) * limit, which Postgres refuses if negative.
        limit = _query_int_or(request, "limit", 100)
        page = _query_int_or(request, "cursor", 1)
        if limit < 0:
            raise _HTTPError(
                500, "failed to get messages ERROR: LIMIT must not be negative (SQLSTATE=2201W)"
            )
        if limit and page < 1:
            raise _HTTPError(
                500, "failed to get messages ERROR: OFFSET must not be negative (SQLSTATE=2201X)"
            )
        if not limit:
            messages = self.store.get_messages(session_id)
            total = len(messages)
        else:
            result = self.store.get_messages_page(session_id, limit=limit, page=page)
            messages, total = result.messages, result.total_count
        return self._json(
            {
                "messages": [self._message_json(m) for m in messages],
                "total_count": total if messages else 0,
                "row_count": len(messages),
            }
        )

    def _path_uuid(self, request: Request) -> _uuid.UUID:
        raw = request.path_params["uuid"]
        try:
            return _uuid.UUID(raw)
        except ValueError:
            raise _HTTPError(400, f"unable to parse UUID: invalid UUID format: {raw!r}") from None

    async def _get_message(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        wanted = self._path_uuid(request)
        for message in self.store.get_messages(session_id):
            if message.uuid == wanted:
                return self._json(self._message_json(message))
        if self.api == "v2":
            raise _HTTPError(404, "no message found for UUID")
        raise _not_found()

    async def _update_message(self, request: Request) -> Response:
        session_id = _path_id(request, "session_id")
        wanted = self._path_uuid(request)
        body = await _json_body(request)
        metadata = _metadata_field(body) or {}
        message = self.store.update_message_metadata(session_id, wanted, metadata)
        return self._json(self._message_json(message))


def _page_params(request: Request, what: str) -> tuple[int, int]:
    """CE's ``pageNumber`` / ``pageSize`` (0 and 0 when absent: everything on one page)."""
    page = _query_int(request, "pageNumber", trim=True)
    size = _query_int(request, "pageSize", trim=True)
    if size < 0:
        raise _HTTPError(500, f"{what}: ERROR: LIMIT must not be negative (SQLSTATE=2201W)")
    if size and page < 1:
        raise _HTTPError(500, f"{what}: ERROR: OFFSET must not be negative (SQLSTATE=2201X)")
    return page, size


def _page(
    items: Sequence[_T],
    page: int,
    size: int,
    key: str,
    to_json: Callable[[_T], dict[str, Any]],
    count_key: str,
) -> dict[str, Any]:
    """Page ``page`` of ``size`` items (size 0: all) as CE's ordered listings answer it.

    ``{key: [...], "total_count": <all items>, count_key: <items on this page>}``.
    """
    chosen = items if not size else items[(page - 1) * size : page * size]
    return {key: [to_json(x) for x in chosen], "total_count": len(items), count_key: len(chosen)}


def _ordered(sessions: list[Session], order_by: str, asc: bool) -> list[Session]:
    """``ORDER BY <order_by> ASC|DESC`` as Postgres does it (NULLs sort as the largest)."""

    def key(s: Session) -> tuple[Any, ...]:
        if order_by == "id":
            return (0, s.id or 0)
        value: Any = getattr(s, order_by)
        if value is None:
            return (1, "", s.id or 0)
        return (0, value, s.id or 0)

    return sorted(sessions, key=key, reverse=not asc)
