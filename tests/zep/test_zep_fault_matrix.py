"""Every write and delete of the Zep backend against every kind of fault, on both generations.

The faults (``fault_kinds.py``) are injected by the test server on 127.0.0.1, never by patching
the transport.

What must hold whatever the fault: the call either succeeds with its effect made exactly once,
or raises one of the library's typed errors, and the store then holds a state the caller can
tell (a write that was resent is never stored twice; a delete or a merge that got no answer is
not sent again and raises ``OutcomeUnknownError``; repeating it then reaches the intended state).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fault_kinds import FAULTS, TIMEOUT, call_under_fault, judge

from zep_memory_plugins import (
    CreateUserRequest,
    Message,
    NotFoundError,
    Session,
    UpdateUserRequest,
    ZepMemoryClient,
)
from zep_memory_plugins.backends.zep import ZepBackend


@dataclass
class Op:
    """One write: the request it sends, how to make it, and how to see its effect."""

    method: str
    path: Callable[[str], str]  # api root -> request path
    call: Callable[[ZepMemoryClient], Any]
    landed: Callable[[ZepMemoryClient], bool]
    resent_when_unanswered: bool


def _users(api: str) -> str:
    return f"{api}/user" if api.endswith("v1") else f"{api}/users"


MSGS = [Message(role="user", content=f"fault {i}", uuid=uuid.uuid4()) for i in range(3)]


def _has_messages(c: ZepMemoryClient) -> bool:
    got = [m.uuid for m in c.memory.get_messages("s1")]
    return got[-3:] == [m.uuid for m in MSGS] and len(got) == len(set(got))


def _gone_user(c: ZepMemoryClient) -> bool:
    try:
        c.user.get("u1")
    except NotFoundError:
        return True
    return False


def _gone_session(c: ZepMemoryClient) -> bool:
    try:
        c.memory.get_session("s1")
    except NotFoundError:
        return True
    return False


OPS: dict[str, Op] = {
    "add_user": Op(
        "POST",
        _users,
        lambda c: c.user.add(CreateUserRequest(user_id="u2", email="u2@x.io")),
        lambda c: c.user.get("u2").email == "u2@x.io",
        True,
    ),
    "update_user": Op(
        "PATCH",
        lambda api: f"{_users(api)}/u1",
        lambda c: c.user.update(UpdateUserRequest(user_id="u1", metadata={"k": 1})),
        lambda c: (c.user.get("u1").metadata or {}).get("k") == 1,
        False,
    ),
    "delete_user": Op(
        "DELETE",
        lambda api: f"{_users(api)}/u1",
        lambda c: c.user.delete("u1"),
        _gone_user,
        False,
    ),
    "add_session": Op(
        "POST",
        lambda api: f"{api}/sessions",
        lambda c: c.memory.add_session(Session(session_id="s2", user_id="u1")),
        lambda c: c.memory.get_session("s2").user_id == "u1",
        True,
    ),
    "update_session": Op(
        "PATCH",
        lambda api: f"{api}/sessions/s1",
        lambda c: c.memory.update_session(Session(session_id="s1", metadata={"k": 1})),
        lambda c: (c.memory.get_session("s1").metadata or {}).get("k") == 1,
        False,
    ),
    "delete_session": Op(
        "DELETE",
        lambda api: f"{api}/sessions/s1/memory",
        lambda c: c.memory.delete_memory("s1"),
        _gone_session,
        False,
    ),
    "add_messages": Op(
        "POST",
        lambda api: f"{api}/sessions/s1/memory",
        lambda c: c.memory.add_messages("s1", [m.model_copy() for m in MSGS]),
        _has_messages,
        True,
    ),
    "update_message_metadata": Op(
        "PATCH",
        lambda api: f"{api}/sessions/s1/messages/*",
        lambda c: c.memory.update_message_metadata(
            "s1", c.memory.get_messages("s1")[0].uuid, {"k": 1}
        ),
        lambda c: (c.memory.get_messages("s1")[0].metadata or {}).get("k") == 1,
        False,
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", OPS)
def test_fault_matrix(server, name, fault):
    op = OPS[name]
    client = ZepMemoryClient(
        backend=ZepBackend(
            server.url, server.api_key, timeout=TIMEOUT, max_retries=3, backoff=0.001
        )
    )
    client.user.add(CreateUserRequest(user_id="u1"))
    client.memory.add_session(Session(session_id="s1", user_id="u1", metadata={"a": 1}))
    client.memory.add_messages("s1", [Message(role="user", content="first")])
    api = f"/api/{server.api}"
    path = op.path(api)
    error = call_under_fault(server, op.method, path, fault, lambda: op.call(client))
    judge(
        error,
        fault,
        resent=op.resent_when_unanswered,
        what=name,
        sent=lambda: server.count(op.method, path),
        repeat=lambda: op.call(client),
    )
    assert op.landed(client), f"{name} under {fault}: its effect is not there"
    client.close()
