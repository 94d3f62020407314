"""Fixtures of the Zep backend tests: a test server of each generation, and a clean environment.

``server`` runs a test once per generation (``/api/v1`` on the library's own transport,
``/api/v2`` through zep-python 2.x), on an emptied test server; ``v1`` and ``v2`` name one.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZEP_API_URL", "ZEP_API_KEY", "ZEP_API_VERSION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["v1", "v2"])
def server(request: pytest.FixtureRequest, zep_servers: Any) -> Any:
    """An emptied test server of each generation in turn."""
    return zep_servers.fresh(request.param)


@pytest.fixture
def v1(zep_servers: Any) -> Any:
    """The emptied ``/api/v1`` (open-source Zep v0.27) test server."""
    return zep_servers.fresh("v1")


@pytest.fixture
def v2(zep_servers: Any) -> Any:
    """The emptied ``/api/v2`` (Community Edition) test server."""
    return zep_servers.fresh("v2")


@pytest.fixture(params=["sync", "async"])
def api_mode(request: pytest.FixtureRequest) -> str:
    """Whether a test calls the sync methods or their async twins."""
    return str(request.param)
