"""Fixtures shared by every test: one client per backend, and sync/async call modes.

``client`` is parametrised over the backends available in this environment:

- ``embedded``: the SQLite store in memory, always;
- ``zep-v2`` or ``zep-v1``: the Zep backend through whichever zep-python generation is
  installed, over real HTTP to the Zep-compatible test server on 127.0.0.1.

Set ``ZEP_MEMORY_TEST_BACKENDS`` (comma-separated, e.g. ``embedded`` or ``zep``) to choose.
Every test starts with an empty store.

``api`` wraps the client so that one test body runs twice: once through the sync methods and
once through their ``a``-prefixed async twins (``await api.user.add(...)`` either way).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from zep_memory_plugins import ZepMemoryClient

ZEP_SDK = importlib.util.find_spec("zep_python") is not None
SERVER_DEPS = all(importlib.util.find_spec(m) is not None for m in ("starlette", "uvicorn"))


def zep_generation() -> str | None:
    """``"v1"`` or ``"v2"`` for the installed zep-python, ``None`` if it is not installed."""
    if not ZEP_SDK:
        return None
    import zep_python

    return "v1" if hasattr(zep_python, "ZepClient") else "v2"


def _backends() -> list[str]:
    chosen = os.environ.get("ZEP_MEMORY_TEST_BACKENDS")
    names = ["embedded"]
    if ZEP_SDK and SERVER_DEPS:
        names.append(f"zep-{zep_generation()}")
    if chosen:
        wanted = {w.strip() for w in chosen.split(",") if w.strip()}
        names = [n for n in names if n in wanted or n.split("-")[0] in wanted]
    return names


BACKENDS = _backends()


@pytest.fixture(scope="session")
def zep_server() -> Iterator[Any]:
    """One Zep-compatible test server for the whole run (emptied before each test that uses it)."""
    from zep_memory_plugins.testing import ZepTestServer

    with ZepTestServer(api="v1" if zep_generation() == "v1" else "v2") as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test."""
    return str(request.param)


@pytest.fixture
def client(backend_name: str, request: pytest.FixtureRequest) -> Iterator[ZepMemoryClient]:
    """A client on an empty store of the backend under test."""
    if backend_name == "embedded":
        c = ZepMemoryClient(path=":memory:")
    else:
        server = request.getfixturevalue("zep_server")
        server.reset()
        c = ZepMemoryClient(base_url=server.url, api_key=server.api_key)
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
        server = request.getfixturevalue("zep_server")
        server.reset()

        def make() -> ZepMemoryClient:
            return ZepMemoryClient(base_url=server.url, api_key=server.api_key)

    def factory() -> ZepMemoryClient:
        c = make()
        opened.append(c)
        return c

    yield factory
    for c in opened:
        c.close()
