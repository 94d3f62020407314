"""The ASGI application: the request log, faults and the API key, then one wire generation.

The outer :class:`ZepASGIApp` is the same for every generation: it records every request,
injects faults and checks the API key before a request reaches a route. Routes, error formats,
auth headers and limits are the generation's (:mod:`._v1`, :mod:`._v2`, registered in
:data:`~._generation.GENERATIONS`). Handlers call the :class:`SQLiteStore` directly
(in-process SQLite, fast and thread-safe).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .._errors import MissingDependencyError
from ..store import SQLiteStore

try:
    from starlette.responses import Response
    from starlette.routing import Route, Router
except ImportError:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("starlette and uvicorn", "server") from None

from ._faults import Fault, FaultInjector, RecordedRequest, RequestLog
from ._generation import (
    API_VERSIONS,
    ZEP_SERVER_VERSION,
    ApiVersion,
    Generation,
    generation_class,
)

__all__ = [
    "API_VERSIONS",
    "DEFAULT_MESSAGE_WINDOW",
    "DEFAULT_WINDOWS",
    "ZEP_SERVER_VERSION",
    "ApiVersion",
    "ZepASGIApp",
]

#: How many messages ``GET /sessions/{id}/memory`` returns without ``lastn``, per generation that
#: has that route: Zep v0.27's default message window (12) and Zep CE's fixed
#: ``DefaultLastNMessages`` (6).
DEFAULT_WINDOWS: dict[str, int] = {
    api: generation_class(api).default_window
    for api in API_VERSIONS
    if generation_class(api).default_window
}
#: The ``/api/v1`` window (kept for callers of earlier releases).
DEFAULT_MESSAGE_WINDOW = DEFAULT_WINDOWS["v1"]

#: Header of the start-up probe of :class:`ZepTestServer`: such requests are neither recorded
#: nor hit by faults.
PROBE_HEADER = "x-zep-test-probe"

Scope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]


async def _drain(receive: Receive) -> None:
    """Read the request body: closing a socket with unread data would reset the connection."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


class ZepASGIApp:
    """The test server's ASGI application for one wire generation.

    ``api`` is one of :data:`API_VERSIONS`: ``"v1"`` (Zep v0.27, routes under ``/api/v1``),
    ``"v2"`` (Zep CE, routes under ``/api/v2``), ``"v3"`` (Zep Cloud's threads under
    ``/api/v2``) or ``"v4"`` (Zep Cloud, ``/api/v4``); the other generations' routes answer 404.
    Every request is appended to ``requests`` (and counted by the generation's rate meter, if
    it has one: the Cloud generations, whose every response carries ``X-RateLimit-*``); then
    the first matching fault in ``faults`` (if any) answers it; then the API key is checked
    (``/healthz`` is always open); then a request past the rate limit is answered 429; then the
    generation's route handles it. ``v2``, ``v3`` and ``v4`` need an ``api_key``
    (``Authorization: Api-Key <key>``); on ``v1`` a key is optional (``Authorization: Bearer
    <key>``). ``window`` is how many messages a memory read without ``lastn`` returns (default:
    the real server's, 12 on v1, 6 on v2; the Cloud generations have none). ``task_delay``
    (seconds until a Cloud task succeeds) and ``rate_limit`` (requests a minute) are for the
    Cloud generations only.
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
        task_delay: float | None = None,
        rate_limit: int | None = None,
    ) -> None:
        cls = generation_class(api)
        if not cls.default_window and window is not None:
            raise ValueError(f"a {api} ({cls.server}) server has no memory reads: no window")
        if window is None:
            window = cls.default_window
        if cls.default_window and window < 1:
            raise ValueError("window must be at least 1")
        if cls.requires_key and not api_key:
            raise ValueError(
                f"a {api} ({cls.server}) server always requires an API key: give api_key"
            )
        options = {
            name: value
            for name, value in (("task_delay", task_delay), ("rate_limit", rate_limit))
            if value is not None
        }
        self.store = store
        self.api: ApiVersion = api
        self.generation: Generation = cls(store, window=window, server_version=version, **options)
        self.prefix = cls.api_path
        self.window = window
        self._api_key = api_key
        self.faults = faults if faults is not None else FaultInjector()
        self.requests = requests if requests is not None else RequestLog()
        self.version = version
        routes = [
            Route("/healthz", self.generation.healthz, methods=["GET", "HEAD"]),
            *self.generation.routes(),
        ]
        self._router = Router(routes=routes, default=self._not_found_route)

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
        meter = self.generation.meter
        limited = False
        if meter is not None:
            limited = meter.hit()
            send = meter.stamping(send)
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
            await self.generation.unauthorized()(scope, receive, send)
            return
        if limited and meter is not None:
            await _drain(receive)
            # The meter's stamp adds Retry-After: the seconds until its window ends.
            await self.generation.error(429, "rate limit exceeded")(scope, receive, send)
            return
        if fault is not None and fault.after and (fault.drop or fault.status is not None):

            async def discard(message: ASGIMessage) -> None:
                return None

            await self._router(scope, receive, discard)
            await self._answer_fault(fault, send)
            return
        await self._router(scope, receive, send)

    def reset(self) -> None:
        """Forget what the generation keeps besides the store (a Cloud one: all its data)."""
        self.generation.reset()

    def _authorised(self, scope: Scope) -> bool:
        if self._api_key is None or not self.generation.protects(scope["path"]):
            return True
        return self.generation.authorised(scope.get("headers", ()), self._api_key)

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
        response: Response = self.generation.error(status, text, headers)
        scope: Scope = {"type": "http"}

        async def no_receive() -> ASGIMessage:  # pragma: no cover - responses never read
            return {"type": "http.disconnect"}

        await response(scope, no_receive, send)

    async def _not_found_route(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.generation.not_found_route()(scope, receive, send)
