"""Pytest fixtures for the Zep-compatible test server.

Enable with ``pytest_plugins = ["zep_memory_plugins.testing.pytest_plugin"]`` in your root
``conftest.py`` (or ``-p zep_memory_plugins.testing.pytest_plugin``)::

    def test_memory(fresh_zep_server):
        client = ZepMemoryClient(
            base_url=fresh_zep_server.url, api_key=fresh_zep_server.api_key
        )

The fixtures:

- ``zep_servers`` (session-scoped): a :class:`ZepTestServers`, one started server per wire
  generation, each started on first use: ``zep_servers["v1"]``, ``zep_servers["v2"]``,
  ``zep_servers["v3"]``, ``zep_servers["v4"]`` (Zep Cloud), and ``zep_servers.fresh("v1")`` for
  that server emptied (store or Cloud data, faults, request log). For a suite that runs the
  same tests against several generations.
- ``zep_server`` (session-scoped): the server of the configured generation, one of the
  ``zep_servers``. It speaks ``/api/v2`` like Zep CE (key required) unless ``--zep-api v1`` (on
  the command line, or ``zep_api = v1`` in the ini file) asks for ``/api/v1`` like Zep 0.27.
- ``fresh_zep_server``: ``zep_server``, emptied for this test.

Real servers instead: with ``ZEP_MEMORY_TEST_SERVER_V1`` / ``_V2`` (a base URL), ``..._KEY``
and a reset command (``ZEP_MEMORY_TEST_SERVER_RESET`` or ``..._V1_RESET``) set, that
generation's server is an :class:`~zep_memory_plugins.testing.ExternalZepServer`: the same
tests run against it, and a test that needs what only the test server has (its store, fault
injection, the request log) is skipped, saying so. One real server cannot be shared by parallel
workers: such a run needs ``-n 0`` (pytest-xdist), which the plugin checks.

Needs the ``server`` extra (starlette and uvicorn), like the rest of
:mod:`zep_memory_plugins.testing`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from ._external import ExternalZepServer
from ._generation import API_VERSIONS, ApiVersion
from ._server import ZepTestServer

__all__ = [
    "ZepTestServers",
    "fresh_zep_server",
    "pytest_addoption",
    "pytest_configure",
    "zep_server",
    "zep_servers",
]

#: A server the fixtures hand out: one this process runs, or an external one.
AnyZepServer = ZepTestServer | ExternalZepServer


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--zep-api`` / ini ``zep_api``: the wire generation of the ``zep_server`` fixture."""
    group = parser.getgroup("zep-memory-plugins")
    group.addoption(
        "--zep-api",
        choices=API_VERSIONS,
        default=None,
        help="wire generation of the zep_server fixture: one of %(choices)s (default v2, Zep "
        "CE; v1 is Zep 0.27, v3 and v4 Zep Cloud)",
    )
    parser.addini(
        "zep_api",
        f"wire generation of the zep_server fixture ({', '.join(API_VERSIONS)})",
        default="v2",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Refuse parallel workers when tests are pointed at external servers (they share one)."""
    workers = getattr(config.option, "numprocesses", None)
    external = ExternalZepServer.configured()
    if external and workers not in (None, 0, "0"):
        raise pytest.UsageError(
            f"tests are pointed at external Zep servers ({', '.join(external)}): parallel "
            "workers would empty each other's server; run with -n 0"
        )


def _api(config: pytest.Config) -> ApiVersion:
    chosen = config.getoption("--zep-api") or config.getini("zep_api") or "v2"
    if chosen not in API_VERSIONS:
        raise pytest.UsageError(f"zep_api must be one of {', '.join(API_VERSIONS)}, not {chosen!r}")
    return str(chosen)


class ZepTestServers:
    """One Zep test server (in-memory store) per wire generation, each started on first use.

    ``servers["v1"]`` is the started ``/api/v1`` server, ``servers.fresh("v1")`` the same one
    emptied; :meth:`close` (or leaving a ``with`` block) stops every server started. A
    generation the environment points at a real server (``ZEP_MEMORY_TEST_SERVER_V1``, ...)
    is that :class:`~zep_memory_plugins.testing.ExternalZepServer` instead.
    """

    def __init__(self) -> None:
        self._running: dict[str, AnyZepServer] = {}
        self._stack = contextlib.ExitStack()

    def __getitem__(self, api: ApiVersion) -> AnyZepServer:
        if api not in self._running:
            external = ExternalZepServer.from_env(api)
            if external is not None:
                self._running[api] = external
            else:
                self._running[api] = self._stack.enter_context(ZepTestServer(api=api))
        return self._running[api]

    def fresh(self, api: ApiVersion) -> AnyZepServer:
        """The server of generation ``api``, emptied (store, faults, request log)."""
        server = self[api]
        server.reset()
        return server

    def close(self) -> None:
        """Stop every server started (and close its store)."""
        self._stack.close()
        self._running.clear()

    def __enter__(self) -> ZepTestServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(scope="session")
def zep_servers() -> Iterator[ZepTestServers]:
    """The test servers of the session, one per generation: ``zep_servers["v1"]``."""
    with ZepTestServers() as servers:
        yield servers


@pytest.fixture(scope="session")
def zep_server(pytestconfig: pytest.Config, zep_servers: ZepTestServers) -> AnyZepServer:
    """One started Zep test server (in-memory store) for the whole test session."""
    return zep_servers[_api(pytestconfig)]


@pytest.fixture
def fresh_zep_server(zep_server: AnyZepServer) -> AnyZepServer:
    """The session's Zep test server, emptied (store, faults, request log) for this test."""
    zep_server.reset()
    return zep_server
