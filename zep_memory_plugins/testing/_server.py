"""Run the Zep-compatible application under uvicorn, in a background thread or the foreground."""

from __future__ import annotations

import http.client
import logging
import os
import secrets
import socket
import threading
import time
from typing import Any

from .._errors import MissingDependencyError
from ..store import MEMORY, SQLiteStore
from ._app import PROBE_HEADER, ZepASGIApp
from ._faults import FaultInjector, RequestLog
from ._generation import ApiVersion, generation_class

try:
    import uvicorn
except ImportError:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("starlette and uvicorn", "server") from None

__all__ = ["ZepTestServer", "serve"]

logger = logging.getLogger("zep_memory_plugins.testing")

#: How long :meth:`ZepTestServer.start` waits for the server to answer ``/healthz``.
START_TIMEOUT_S = 10.0


class _QuietDrops(logging.Filter):
    """Hide uvicorn's complaint about the responses that fault injection cuts off on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


_QUIET_DROPS = _QuietDrops()


def _uvicorn_config(
    app: ZepASGIApp, host: str, port: int, log_level: str, *, own_logging: bool
) -> Any:
    """Uvicorn settings: no access log; ``own_logging`` lets uvicorn set up its log handlers."""
    log = logging.getLogger("uvicorn.error")
    if _QUIET_DROPS not in log.filters:
        log.addFilter(_QUIET_DROPS)
    extra: dict[str, Any] = {} if own_logging else {"log_config": None}
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        **extra,
    )


class ZepTestServer:
    """A Zep server stand-in on 127.0.0.1 for tests, backed by the embedded :class:`SQLiteStore`.

    One wire generation per server: ``api="v2"`` (default) answers like Zep Community Edition
    1.0.2 on ``/api/v2`` (zep-python 2.x), ``api="v1"`` like open-source Zep 0.27.2 on
    ``/api/v1``, ``api="v3"`` like Zep Cloud's threads on ``/api/v2`` (zep-cloud 3.x) and
    ``api="v4"`` like Zep Cloud on ``/api/v4`` (zep-cloud 4.x); the other generations' routes
    answer 404.

    ``api_key``: v2, v3 and v4 always require one (``Authorization: Api-Key <key>``); without
    it a random key is generated, readable as :attr:`api_key`. On v1 a key is optional
    (``Authorization: Bearer <key>``). ``port=0`` picks a free port; ``path`` is the store's
    file (default in memory; the Cloud generations keep their data in memory and take no
    ``path``); ``window`` is how many messages a memory read without ``lastn`` returns (the real
    servers: 12 on v1, 6 on v2). Cloud only: ``task_delay`` is how many seconds a task (an
    asynchronous delete, a message ingestion) takes to succeed (default 0: done by the next
    request), ``rate_limit`` how many requests a minute pass before a 429.

    >>> with ZepTestServer() as server:            # doctest: +SKIP
    ...     client = ZepMemoryClient(base_url=server.url, api_key=server.api_key)

    ``faults`` arms injected failures, ``requests`` records every request (method, path),
    ``reset()`` empties everything, ``restart()`` stops and starts again on the same port.
    """

    #: A test server runs in this process (an :class:`ExternalZepServer` says ``True``).
    external = False

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        path: str | os.PathLike[str] = MEMORY,
        window: int | None = None,
        *,
        api: ApiVersion = "v2",
        log_level: str = "warning",
        task_delay: float | None = None,
        rate_limit: int | None = None,
    ) -> None:
        _check_path(api, path)
        if generation_class(api).requires_key and api_key is None:
            api_key = secrets.token_urlsafe(24)
        self.host = host
        self.port = port
        self.api: ApiVersion = api
        self._api_key = api_key
        self.faults = faults_ = FaultInjector()
        self.requests = requests_ = RequestLog()
        self.store = SQLiteStore(path)
        try:
            self.app = ZepASGIApp(
                self.store,
                api=api,
                window=window,
                api_key=api_key,
                faults=faults_,
                requests=requests_,
                task_delay=task_delay,
                rate_limit=rate_limit,
            )
        except BaseException:
            self.store.close()
            raise
        self._log_level = log_level
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def api_key(self) -> str | None:
        """The key clients must send (always set on v2; ``None`` on an open v1 server)."""
        return self._api_key

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        auth = "key required" if self._api_key else "open"
        return (
            f"ZepTestServer(api={self.api!r}, url={self.url!r}, {state}, {auth}, "
            f"store={self.store!r})"
        )

    @property
    def url(self) -> str:
        """The base URL to give a client: ``http://127.0.0.1:PORT`` (no ``/api/vN``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Where the generation's API lives (``.../api/v2`` for ``v2`` and ``v3``).

        The URL its SDK takes, and the one a client of the Cloud ``v3`` server must be given:
        its root alone does not tell Cloud's v3 threads from Community Edition.
        """
        return self.url + generation_class(self.api).api_path

    @property
    def window(self) -> int:
        """How many messages a memory read without ``lastn`` returns."""
        return self.app.window

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> ZepTestServer:
        """Serve in a background thread; return once ``/healthz`` answers."""
        if self.running:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only
        # then; without it every response waits ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._socket = sock
        self._server = uvicorn.Server(
            _uvicorn_config(self.app, self.host, self.port, self._log_level, own_logging=False)
        )
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"zep-test-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._wait_until_up()
        logger.debug("Zep test server listening on %s", self.url)
        return self

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._thread is None or not self._thread.is_alive():
                raise RuntimeError(f"the Zep test server on {self.url} failed to start")
            if self._server.started:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=1)
                try:
                    # Marked as a probe: not recorded, and no fault can hit it.
                    conn.request("GET", "/healthz", headers={PROBE_HEADER: "1"})
                    if conn.getresponse().status == 200:
                        return
                except OSError:
                    pass
                finally:
                    conn.close()
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(
            f"the Zep test server on {self.url} did not answer within {START_TIMEOUT_S}s"
        )

    def stop(self) -> None:
        """Stop serving and join the thread. The store stays open (see :meth:`close`)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive():  # pragma: no cover - uvicorn stuck
                self._server.force_exit = True
                self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def restart(self) -> ZepTestServer:
        """Stop, then start again on the same port with the same store (data survives)."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop serving and close the store."""
        self.stop()
        self.store.close()

    def __enter__(self) -> ZepTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- test helpers ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Empty the store (every row; the file stays), disarm all faults, forget all requests.

        Integer ids start again from 1. A Cloud generation forgets its users, threads, messages,
        tasks, idempotency keys and rate-limit count.
        """
        self.store.clear()
        self.app.reset()
        self.faults.clear()
        self.requests.clear()

    def count(self, method: str = "*", path: str = "**") -> int:
        """How many requests with this method (``"*"``: any) and path pattern were received.

        In ``path``, ``*`` matches one segment and ``**`` anything:
        ``server.count("POST", "/api/v2/sessions/*/memory")``.
        """
        return len(self.requests.matching(method, path))


def _check_path(api: ApiVersion, path: str | os.PathLike[str]) -> None:
    """Refuse a store file for a generation that keeps its data in memory (a Cloud one)."""
    cls = generation_class(api)
    if not cls.uses_store and os.fspath(path) != MEMORY:
        raise ValueError(
            f"a {api} ({cls.server}) server keeps its data in memory: it takes no store path"
        )


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    path: str | os.PathLike[str] = MEMORY,
    api_key: str | None = None,
    window: int | None = None,
    *,
    api: ApiVersion = "v2",
    task_delay: float | None = None,
    rate_limit: int | None = None,
) -> None:
    """Serve one Zep wire generation in the foreground until interrupted (Ctrl-C).

    ``api="v2"`` (Zep CE, ``/api/v2``), ``"v3"`` (Cloud threads, ``/api/v2``) and ``"v4"``
    (Cloud, ``/api/v4``) need ``api_key``; ``api="v1"`` (Zep 0.27, ``/api/v1``) takes one
    optionally. ``path`` is the store's file (default: in memory, gone on exit; the Cloud
    generations always keep their data in memory). ``task_delay`` and ``rate_limit``: see
    :class:`ZepTestServer`. The API key is never printed or logged.
    """
    _check_path(api, path)
    store = SQLiteStore(path)
    try:
        app = ZepASGIApp(
            store,
            api=api,
            window=window,
            api_key=api_key,
            task_delay=task_delay,
            rate_limit=rate_limit,
        )
    except BaseException:
        store.close()
        raise
    server = uvicorn.Server(_uvicorn_config(app, host, port, "info", own_logging=True))
    auth = "API key required" if api_key else "no API key"
    generation = app.generation
    details = f"window {generation.window}; store: {store.path}"
    if not generation.uses_store:
        details = "data in memory"
    print(
        f"Zep-compatible server ({generation.server}) on http://{host}:{port}"
        f"{generation.api_path} ({auth}, {details}). Ctrl-C to stop."
    )
    try:
        server.run()
    finally:
        store.close()
