"""Pytest fixtures for the Zep-compatible test server.

Enable with ``pytest_plugins = ["zep_memory_plugins.testing.pytest_plugin"]`` in your root
``conftest.py`` (or ``-p zep_memory_plugins.testing.pytest_plugin``)::

    def test_memory(fresh_zep_server):
        client = ZepMemoryClient(
            base_url=fresh_zep_server.url, api_key=fresh_zep_server.api_key
        )

The server speaks ``/api/v2`` like Zep CE (key required) unless ``--zep-api v1`` (on the
command line, or ``zep_api = v1`` in the ini file) asks for ``/api/v1`` like Zep 0.27.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest

from ._app import ApiVersion
from ._server import ZepTestServer

__all__ = ["fresh_zep_server", "pytest_addoption", "zep_server"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--zep-api`` / ini ``zep_api``: the wire generation of the ``zep_server`` fixture."""
    group = parser.getgroup("zep-memory-plugins")
    group.addoption(
        "--zep-api",
        choices=("v1", "v2"),
        default=None,
        help="wire generation of the zep_server fixture: v2 (Zep CE, default) or v1 (Zep 0.27)",
    )
    parser.addini("zep_api", "wire generation of the zep_server fixture (v1 or v2)", default="v2")


def _api(config: pytest.Config) -> ApiVersion:
    chosen = config.getoption("--zep-api") or config.getini("zep_api") or "v2"
    if chosen not in ("v1", "v2"):
        raise pytest.UsageError(f"zep_api must be v1 or v2, not {chosen!r}")
    return cast(ApiVersion, chosen)


@pytest.fixture(scope="session")
def zep_server(pytestconfig: pytest.Config) -> Iterator[ZepTestServer]:
    """One started Zep test server (in-memory store) for the whole test session."""
    with ZepTestServer(api=_api(pytestconfig)) as server:
        yield server


@pytest.fixture
def fresh_zep_server(zep_server: ZepTestServer) -> ZepTestServer:
    """The session's Zep test server, emptied (store, faults, request log) for this test."""
    zep_server.reset()
    return zep_server
