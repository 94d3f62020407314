"""Every write and delete of the Zep backend against every kind of fault, on both generations.

The faults are injected by the test server on 127.0.0.1 (never by patching the transport):

- ``503-after-landing``: the request is carried out, then answered 503;
- ``dropped-after-landing``: the request is carried out, then the connection is dropped;
- ``timeout``: the request is held past the client's timeout, then carried out;
- ``429``: refused once with ``Retry-After: 0``;
- ``500-burst``: refused twice with 500.

What must hold whatever the fault: the call either succeeds with its effect made exactly once,
or raises one of the library's typed errors, and the store then holds a state the caller can
tell (a write that was resent is never stored twice; a delete or a merge that got no answer is
not sent again and raises ``OutcomeUnknownError``; repeating it then reaches the intended state).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from zep_memory_plugins import (
    CreateUserRequest,
    Message,
    NotFoundError,
    OutcomeUnknownError,
    Session,
    UpdateUserRequest,
    ZepMemoryClient,
)
from zep_memory_plugins.backends.zep import ZepBackend

TIMEOUT = 0.4
HELD = 1.0  # how long the "timeout" fault holds a request before carrying it out

FAULTS: dict[str, dict[str, Any]] = {
    "503-after-landing": {"status": 503, "after": True},
    "dropped-after-landing": {"drop": True, "after": True, "status": None},
    "timeout": {"status": None, "delay": HELD},
    "429": {"status": 429, "retry_after": 0},
    "500-burst": {"status": 500, "times": 2},
}
#: Faults after which the request may have been carried out without an answer coming back.
NO_ANSWER = {"dropped-after-landing", "timeout"}


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
    spec = dict(FAULTS[fault])
    spec.setdefault("times", 1)
    server.faults.add(op.method, op.path(api), **spec)

    error: Exception | None = None
    try:
        op.call(client)
    except Exception as exc:  # judged below: only the library's typed errors are allowed
        error = exc
    if fault == "timeout":
        time.sleep(HELD + 0.3)  # the held copy is carried out meanwhile
    server.faults.clear()

    if fault in NO_ANSWER and not op.resent_when_unanswered:
        assert isinstance(error, OutcomeUnknownError), error
        assert "may or may not" in str(error)
        sent = server.count(op.method, op.path(api))
        assert sent == 1, f"{name} was sent {sent} times after getting no answer"
        if fault == "timeout":
            # The held copy may or may not be carried out (a server may drop a request whose
            # client went away): the caller checks, and repeats the call to be sure.
            with contextlib.suppress(NotFoundError):  # a repeated delete: the first did it
                op.call(client)
    else:
        assert error is None, f"{name} under {fault}: {error!r}"
    assert op.landed(client), f"{name} under {fault}: its effect is not there"
    client.close()
