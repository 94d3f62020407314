"""What a wire generation of the test server is, and the table of them.

A generation (``/api/v1`` of open-source Zep 0.27, ``/api/v2`` of Zep Community Edition, ...)
is one subclass of :class:`Generation` in a module of its own: its routes, its error body format,
its auth header, its limits. The outer application (:mod:`._app`: request log, faults, the API
key check, dispatch) is the same for all. Adding a generation is one new module registered in
:data:`GENERATIONS`; :data:`API_VERSIONS`, the command line's ``--api`` and the pytest plugin's
``--zep-api`` choices follow from the table.
"""

from __future__ import annotations

import hmac
import importlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeAlias

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._errors import InvalidInputError, NotFoundError
from ..store import SQLiteStore
from ._http import TEXT_TYPE, HTTPError, encode
from ._ratelimit import RateMeter

__all__ = [
    "API_VERSIONS",
    "GENERATIONS",
    "ZEP_SERVER_VERSION",
    "ApiVersion",
    "Generation",
    "generation_class",
]

logger = logging.getLogger("zep_memory_plugins.testing")

#: A wire generation's name: one of :data:`API_VERSIONS` (``"v1"``, ``"v2"``, ``"v3"``, ``"v4"``).
ApiVersion: TypeAlias = str

#: The generations, by name: module and class, imported on first use.
GENERATIONS: dict[str, tuple[str, str]] = {
    "v1": ("._v1", "V1"),
    "v2": ("._v2", "V2"),
    "v3": ("._v3", "V3"),
    "v4": ("._v4", "V4"),
}

#: The wire generations the server can speak.
API_VERSIONS: tuple[ApiVersion, ...] = tuple(GENERATIONS)

#: What ``/api/v1`` responses carry in ``X-Zep-Version`` (v0.27 sends it on every response,
#: ``/healthz`` included; Zep CE never does). zep-python 1.x parses the part before a "-".
ZEP_SERVER_VERSION = "0.27.2-testserver"

Handler = Callable[[Request], Awaitable[Response]]


def generation_class(api: str) -> type[Generation]:
    """The :class:`Generation` named ``api`` (``ValueError`` for a name not in the table)."""
    if api not in GENERATIONS:
        raise ValueError(f"api must be one of {', '.join(API_VERSIONS)}, not {api!r}")
    module, name = GENERATIONS[api]
    cls: type[Generation] = getattr(importlib.import_module(module, __package__), name)
    return cls


class Generation:
    """One wire generation of the test server, on a store (subclassed once per generation).

    A subclass says where its API lives (:attr:`api_path`), which real server it answers like
    (:attr:`server`), how a memory read is windowed, how a request authenticates, how errors
    and successes are written, and which routes it has (:meth:`routes`).
    """

    #: The generation's name (``"v1"``): the ``api=`` of :class:`ZepTestServer`.
    version: ClassVar[str]
    #: The real server it answers like, for messages (``"Zep 0.27.2"``).
    server: ClassVar[str]
    #: Where its API lives under the server's root (``"/api/v1"``).
    api_path: ClassVar[str]
    #: How many messages a memory read without ``lastn`` returns on the real server (0: the
    #: generation has no memory reads, and no ``window``).
    default_window: ClassVar[int]
    #: Whether the server refuses to run without an API key.
    requires_key: ClassVar[bool] = False
    #: The scheme of ``Authorization: <scheme> <key>``.
    auth_scheme: ClassVar[str] = "Bearer"
    #: Whether its data lives in the store (``False``: in the generation, in memory).
    uses_store: ClassVar[bool] = True
    #: The keyword options the generation takes beyond ``window`` (``task_delay``, ...).
    options: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self, store: SQLiteStore, *, window: int, server_version: str, **options: Any
    ) -> None:
        unknown = sorted(set(options) - self.options)
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)} do(es) not apply to a {self.version} ({self.server}) server"
            )
        self.store = store
        self.window = window
        #: The ``X-Zep-Version`` a generation that sends one puts on its responses.
        self.server_version = server_version
        #: Counts requests and writes rate-limit headers on every response (``None``: none).
        self.meter: RateMeter | None = None

    def reset(self) -> None:
        """Forget what the generation keeps outside the store (nothing, unless overridden)."""

    # -- auth --------------------------------------------------------------------------------

    def protects(self, path: str) -> bool:
        """Whether ``path`` needs the API key (every path of the API, not ``/healthz``)."""
        return path == self.api_path or path.startswith(self.api_path + "/")

    def authorised(self, headers: Sequence[tuple[bytes, bytes]], api_key: str) -> bool:
        """Whether the request's headers carry ``api_key`` the way this generation wants it."""
        header = b""
        for name, value in headers:
            if name.lower() == b"authorization":
                header = value
                break
        return hmac.compare_digest(header, f"{self.auth_scheme} {api_key}".encode())

    def unauthorized(self) -> Response:
        """The answer to a request without the right key."""
        return self.error(401, "Unauthorized")

    # -- responses ---------------------------------------------------------------------------

    def error_body(self, texts: Sequence[str]) -> tuple[str, str]:
        """The body and content type of an error response carrying ``texts``, in order."""
        raise NotImplementedError

    def error(
        self, status: int, text: str, headers: Mapping[str, str] | None = None, *more: str
    ) -> Response:
        """An error as the real server of this generation writes it.

        ``more`` are further errors its handler wrote into the same response.
        """
        body, media_type = self.error_body((text, *more))
        out = {**(self.headers() or {}), **(headers or {})}
        return Response(body, status, headers=out, media_type=media_type)

    def not_found_route(self) -> Response:
        """The answer to a path this generation has no route for."""
        return Response("404 page not found\n", 404, media_type=TEXT_TYPE)

    def headers(self) -> dict[str, str] | None:
        """Headers every response of this generation carries."""
        return None

    def json(self, data: Any, status: int = 200) -> Response:
        """A success: Go's handlers encode without setting a content type (Go sniffs text)."""
        return Response(encode(data), status, headers=self.headers(), media_type=TEXT_TYPE)

    async def healthz(self, request: Request) -> Response:
        """``GET /healthz``: ``.``, open on every generation."""
        return Response(".", headers=self.headers(), media_type=TEXT_TYPE)

    # -- routes ------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The generation's routes (built with :meth:`route`), ``/healthz`` not included."""
        raise NotImplementedError

    def route(self, path: str, handler: Handler, methods: Sequence[str]) -> Route:
        """``path`` under :attr:`api_path`, with errors answered in this generation's format."""

        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPError as exc:
                return self.error(exc.status, exc.text, None, *exc.texts[1:])
            except InvalidInputError as exc:
                return self.error(400, f"bad request: {exc.message}")
            except NotFoundError:
                return self.error(404, "not found")
            except Exception as exc:  # the real server answers 500 to whatever it did not expect
                logger.debug("unexpected %s on %s", type(exc).__name__, path, exc_info=True)
                return self.error(500, f"internal server error: {type(exc).__name__}")

        return Route(f"{self.api_path}{path}", endpoint, methods=list(methods))
