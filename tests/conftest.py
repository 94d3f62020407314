"""Fixtures shared by every test: one client per backend, and sync/async call modes.

``client`` is parametrised over the backends available in this environment:

- ``embedded``: the SQLite store in memory, always;
- ``zep-v1``: the Zep backend on the library's own ``/api/v1`` transport, ``zep-v2``: on
  ``/api/v2`` through zep-python 2.x, ``zep-v3`` and ``zep-v4``: on Zep Cloud's threads APIs
  (``/api/v2`` threads, ``/api/v4``) over the library's own transport; each over real HTTP to a
  Zep-compatible test server of that generation on 127.0.0.1, given only the server's URL (and
  key): the generation is found by the backend's probe. The servers are the shipped pytest plugin's
  (``zep_memory_plugins.testing.pytest_plugin``: ``zep_servers``, ``zep_server``).

Set ``ZEP_MEMORY_TEST_BACKENDS`` (comma-separated, e.g. ``embedded`` or ``zep``) to choose.
Every test starts with an empty store.

Against real Zep servers: ``ZEP_MEMORY_TEST_SERVER_V1=URL`` (and/or ``_V2``, ``_V2_KEY``) with a
reset command (``ZEP_MEMORY_TEST_SERVER_RESET`` or ``..._V1_RESET``) make the plugin's server of
that generation an external one (see :class:`zep_memory_plugins.testing.ExternalZepServer`);
run with ``-n 0``. A test that needs the test server's store, fault injection or request log
is then skipped, saying so.

``api`` wraps the client so that one test body runs twice: once through the sync methods and
once through their ``a``-prefixed async twins (``await api.user.add(...)`` either way).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from zep_memory_plugins import ZepMemoryClient

if TYPE_CHECKING:
    from zep_memory_plugins.testing import ApiVersion
    from zep_memory_plugins.testing.pytest_plugin import ZepTestServers

# No test may read or write the real user's default store (``~/.local/share/...``): the
# default data directory of this run is a fresh one.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="zep-memory-tests-")

ZEP_SDK_V2 = importlib.util.find_spec("zep_python") is not None
SERVER_DEPS = all(importlib.util.find_spec(m) is not None for m in ("starlette", "uvicorn"))


def _backends() -> list[str]:
    chosen = os.environ.get("ZEP_MEMORY_TEST_BACKENDS")
    names = ["embedded"]
    if SERVER_DEPS:
        names.append("zep-v1")  # the library's own /api/v1 transport: httpx only
        if ZEP_SDK_V2:
            names.append("zep-v2")  # Community Edition's /api/v2, through zep-python 2.x
        names += ["zep-v3", "zep-v4"]  # Zep Cloud's threads: the library's own transport
    if chosen:
        wanted = {w.strip() for w in chosen.split(",") if w.strip()}
        names = [n for n in names if n in wanted or n.split("-")[0] in wanted]
    return names


BACKENDS = _backends()


# The shipped plugin gives ``zep_servers`` (one test server per wire generation, started on
# first use: ``zep_servers["v1"]``, ``zep_servers.fresh("v1")`` emptied), ``zep_server`` (the
# Community Edition ``/api/v2`` one, unless ``--zep-api v1``) and ``fresh_zep_server``. It
# needs the server extra; without it only the embedded backend is tested.
pytest_plugins = ["zep_memory_plugins.testing.pytest_plugin"] if SERVER_DEPS else []


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test."""
    return str(request.param)


def connect(server: Any) -> ZepMemoryClient:
    """A client on a test server with nothing set but its URL and key, as a user would set them.

    A Zep Cloud v3 user's URL ends in ``/api/v2`` (zep-cloud 3.x's base URL): that, and the
    probe, make the client speak v3 rather than Cloud's default v4.
    """
    url = server.api_url if server.api == "v3" else server.url
    return ZepMemoryClient(base_url=url, api_key=server.api_key)


#: The route of a message write, by generation (for fault injection and request counts).
WRITE_ROUTES = {
    "v1": "/api/v1/sessions/*/memory",
    "v2": "/api/v2/sessions/*/memory",
    "v3": "/api/v2/threads/*/messages",
    "v4": "/api/v4/threads/*/messages",
}


@pytest.fixture
def write_route(backend_name: str) -> str:
    """The path pattern of the backend's message writes (a Zep backend under test)."""
    return WRITE_ROUTES[backend_name.split("-")[1]]


@pytest.fixture
def server_of(backend_name: str, zep_servers: ZepTestServers) -> Callable[[], Any]:
    """The (emptied) test server of a Zep backend under test."""
    return lambda: zep_servers.fresh(cast("ApiVersion", backend_name.split("-")[1]))


@pytest.fixture
def client(backend_name: str, request: pytest.FixtureRequest) -> Iterator[ZepMemoryClient]:
    """A client on an empty store of the backend under test."""
    if backend_name == "embedded":
        c = ZepMemoryClient(path=":memory:")
    else:
        c = connect(request.getfixturevalue("server_of")())
    try:
        yield c
    finally:
        c.close()


class _Namespace:
    def __init__(self, target: Any, mode: str) -> None:
        self._target = target
        self._mode = mode

    def __getattr__(self, name: str) -> Any:
        if self._mode == "sync":
            method = getattr(self._target, name)

            async def call(*args: Any, **kwargs: Any) -> Any:
                result = method(*args, **kwargs)
                if isinstance(result, Iterator):
                    return list(result)
                return result

        else:
            method = getattr(self._target, "a" + name)

            async def call(*args: Any, **kwargs: Any) -> Any:
                result = method(*args, **kwargs)
                if isinstance(result, AsyncIterator):
                    return [chunk async for chunk in result]
                return await result

        return call


class Api:
    """The client seen through one call mode: ``await api.memory.get_session(...)``.

    Generators (``list_chunked``, ``list_all_sessions``) come back as lists of chunks.
    """

    def __init__(self, client: ZepMemoryClient, mode: str) -> None:
        self.client = client
        self.mode = mode
        self.user = _Namespace(client.user, mode)
        self.memory = _Namespace(client.memory, mode)


@pytest.fixture(params=["sync", "async"])
def api(client: ZepMemoryClient, request: pytest.FixtureRequest) -> Api:
    """The client under test, called through its sync methods or its async twins."""
    return Api(client, request.param)


@pytest.fixture
def open_client(
    backend_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], ZepMemoryClient]]:
    """Open a NEW client on one store of the backend under test (same file / same server).

    The store starts empty; every call returns another client seeing the same data, as a new
    process would.
    """
    opened: list[ZepMemoryClient] = []
    if backend_name == "embedded":
        path = tmp_path / "memory.db"

        def make() -> ZepMemoryClient:
            return ZepMemoryClient(path=path)

    else:
        server = request.getfixturevalue("server_of")()

        def make() -> ZepMemoryClient:
            return connect(server)

    def factory() -> ZepMemoryClient:
        c = make()
        opened.append(c)
        return c

    yield factory
    for c in opened:
        c.close()
