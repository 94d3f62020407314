"""Fixtures of the LlamaIndex adapter tests: clients reopening one store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zep_memory_plugins import ZepMemoryClient


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
            return ZepMemoryClient(base_url=server.url)

    def factory() -> ZepMemoryClient:
        c = make()
        opened.append(c)
        return c

    yield factory
    for c in opened:
        c.close()
