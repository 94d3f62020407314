"""Pytest fixtures for the Zep-compatible test server.

Enable with ``pytest_plugins = ["zep_memory_plugins.testing.pytest_plugin"]`` in your root
``conftest.py`` (or ``-p zep_memory_plugins.testing.pytest_plugin``)::

    def test_memory(fresh_zep_server):
        client = ZepMemoryClient(base_url=fresh_zep_server.url)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._server import ZepTestServer

__all__ = ["fresh_zep_server", "zep_server"]


@pytest.fixture(scope="session")
def zep_server() -> Iterator[ZepTestServer]:
    """One started Zep test server (in-memory store) for the whole test session."""
    with ZepTestServer() as server:
        yield server


@pytest.fixture
def fresh_zep_server(zep_server: ZepTestServer) -> ZepTestServer:
    """The session's Zep test server, emptied (store, faults, request log) for this test."""
    zep_server.reset()
    return zep_server
