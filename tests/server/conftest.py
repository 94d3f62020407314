"""Fixtures of the test-server tests."""

from __future__ import annotations

import os

import pytest

# testing.SERVER_ENV, spelled out: importing the testing package needs the server extra.
SERVER_ENV = "ZEP_MEMORY_TEST_SERVER"


@pytest.fixture
def no_external_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``ZEP_MEMORY_TEST_SERVER*`` variable: for tests that run the test servers themselves
    or set the variables themselves, whatever real servers this run is pointed at."""
    for name in list(os.environ):
        if name.startswith(SERVER_ENV):
            monkeypatch.delenv(name)
