"""Helpers of the hostile-input tests: what the store holds, compared before and after a call."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from zep_memory_plugins import Message, Session, ZepMemoryClient

#: A lone surrogate: a str Python holds but UTF-8 (hence every store and every wire) cannot.
SURROGATE = "\ud800"


def api_snapshot(client: ZepMemoryClient) -> dict[str, Any]:
    """Everything the public API shows: users, live sessions, their owners and messages."""
    users = [u.model_dump() for u in client.user.list()]
    sessions = client.memory.list_sessions()
    return {
        "users": users,
        "user_sessions": {
            u["user_id"]: [s.session_id for s in client.user.get_sessions(u["user_id"])]
            for u in users
        },
        "sessions": [s.model_dump() for s in sessions],
        "messages": {
            s.session_id: [m.model_dump() for m in client.memory.get_messages(str(s.session_id))]
            for s in sessions
        },
    }


def db_dump(path: Path) -> list[str]:
    """Every row of an embedded store file (soft-deleted ones too), as SQL text."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def seed(client: ZepMemoryClient) -> None:
    """A user owning a session with two messages, and an ownerless session."""
    client.user.add({"user_id": "jane", "email": "jane@example.com", "metadata": {"a": 1}})
    client.memory.add_session(Session(session_id="trip", user_id="jane", metadata={"t": 1}))
    client.memory.add_messages(
        "trip",
        [
            Message(role="Jane", role_type="user", content="hello", metadata={"k": [1, 2]}),
            Message(role="ai", role_type="assistant", content="hi"),
        ],
    )
    client.memory.add_messages("loose", [Message(role="user", content="x")])


def circular() -> dict[str, Any]:
    """A dict that contains itself."""
    value: dict[str, Any] = {"a": 1}
    value["self"] = value
    return value


def deep(levels: int) -> dict[str, Any]:
    """A dict nested ``levels`` deep."""
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"x": value}
    return value


class _Mode:
    """One namespace of the client seen through one call mode (sync methods or ``a`` twins)."""

    def __init__(self, target: Any, mode: str) -> None:
        self._target = target
        self._mode = mode

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._target, name if self._mode == "sync" else "a" + name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if isinstance(result, Iterator):
                return list(result)
            if isinstance(result, AsyncIterator):
                return [chunk async for chunk in result]
            return await result if self._mode == "async" else result

        return call


class Api:
    """``await api.user.add(...)`` through the client's sync methods or their async twins."""

    def __init__(self, client: ZepMemoryClient, mode: str) -> None:
        self.client = client
        self.user = _Mode(client.user, mode)
        self.memory = _Mode(client.memory, mode)


def strict(value: Any) -> str:
    """``value`` as JSON text, keys sorted: equal only if equal in type (``1.0`` is not ``1``)."""
    return json.dumps(value, sort_keys=True)
