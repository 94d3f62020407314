"""Every write and delete of the Zep backend on Zep Cloud (v3, v4) against every kind of fault.

The Cloud counterpart of ``test_zep_fault_matrix.py``, with the same faults injected by the
test server on 127.0.0.1 and the same rule: the call either succeeds with its effect made
exactly once, or raises one of the library's typed errors and the state is one the caller can
tell. What differs on Cloud: on v4 every write but a user create carries an
``Idempotency-Key``, so an update or a delete that got no answer is sent again (the server
carries it out once, however many copies arrive) where v3 raises ``OutcomeUnknownError`` (but
for a session delete, whose thread is looked up: gone, the delete goes on); and a message batch
resent after a lost answer is stored once on both (v3: by its uuids, v4: by its key).
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

MSGS = [Message(role="user", content=f"fault {i}", uuid=uuid.uuid4()) for i in range(3)]


@dataclass
class Op:
    """One write: the request a fault hits (by generation), the call, and its effect."""

    method: str
    path: Callable[[str, ZepMemoryClient], str]  # (api, client) -> request path pattern
    call: Callable[[ZepMemoryClient], Any]
    landed: Callable[[ZepMemoryClient], bool]
    keyed_on_v4: bool  # carries an Idempotency-Key on v4 (then resent after no answer)
    post: bool = False  # a POST (resent after no answer on both generations)
    looks: bool = False  # without an answer, the library looks whether it was carried out


def _gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except NotFoundError:
        return True
    return False


def _has_messages(c: ZepMemoryClient) -> bool:
    got = [m.uuid for m in c.memory.get_messages("s1")]
    return got[-3:] == [m.uuid for m in MSGS] and len(got) == len(set(got))


def _user_path(api: str, c: ZepMemoryClient) -> str:
    return "/api/v2/users/u1" if api == "v3" else f"/api/v4/users/{c.user.get('u1').uuid}"


def _record_path(api: str, c: ZepMemoryClient) -> str:
    if api == "v3":
        return "/api/v2/users/zep-memory:session:s1"
    return f"/api/v4/users/{c.memory.get_session('s1').uuid}"


def _prefix(api: str) -> str:
    return "/api/v2" if api == "v3" else "/api/v4"


OPS: dict[str, Op] = {
    "add_user": Op(
        "POST",
        lambda api, c: f"{_prefix(api)}/users",
        lambda c: c.user.add(CreateUserRequest(user_id="u2", email="u2@x.io")),
        lambda c: c.user.get("u2").email == "u2@x.io",
        False,
        post=True,
    ),
    "update_user": Op(
        "PATCH",
        _user_path,
        lambda c: c.user.update(UpdateUserRequest(user_id="u1", metadata={"k": 1})),
        lambda c: (c.user.get("u1").metadata or {}).get("k") == 1,
        True,
    ),
    "delete_user": Op(
        "DELETE",
        _user_path,
        lambda c: c.user.delete("u1"),
        lambda c: _gone(lambda: c.user.get("u1")) and _gone(lambda: c.memory.get_session("s1")),
        True,
    ),
    "add_session": Op(
        "POST",
        lambda api, c: f"{_prefix(api)}/threads",
        lambda c: c.memory.add_session(Session(session_id="s2", user_id="u1")),
        lambda c: c.memory.get_session("s2").user_id == "u1",
        True,
        post=True,
    ),
    "update_session": Op(
        "PATCH",
        _record_path,
        lambda c: c.memory.update_session(Session(session_id="s1", metadata={"k": 1})),
        lambda c: (c.memory.get_session("s1").metadata or {}).get("k") == 1,
        True,
    ),
    "delete_session": Op(
        "DELETE",
        lambda api, c: f"{_prefix(api)}/threads/*",
        lambda c: c.memory.delete_memory("s1"),
        lambda c: _gone(lambda: c.memory.get_session("s1")),
        True,
        looks=True,
    ),
    "add_messages": Op(
        "POST",
        lambda api, c: f"{_prefix(api)}/threads/*/messages",
        lambda c: c.memory.add_messages("s1", [m.model_copy() for m in MSGS]),
        _has_messages,
        True,
        post=True,
    ),
    "update_message_metadata": Op(
        "PATCH",
        lambda api, c: "/api/v2/messages/*" if api == "v3" else "/api/v4/threads/*/messages/*",
        lambda c: c.memory.update_message_metadata(
            "s1", c.memory.get_messages("s1")[0].uuid, {"k": 1}
        ),
        lambda c: (c.memory.get_messages("s1")[0].metadata or {}).get("k") == 1,
        True,
    ),
}


@pytest.fixture(params=["v3", "v4"])
def cloud(request: pytest.FixtureRequest, zep_servers: Any) -> Any:
    """An emptied Zep Cloud test server of each generation in turn."""
    return zep_servers.fresh(request.param)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", OPS)
def test_cloud_fault_matrix(cloud: Any, name: str, fault: str) -> None:
    op = OPS[name]
    api = cloud.api
    url = cloud.api_url if api == "v3" else cloud.url
    # Backoff long enough for a retry to outlast a held request (v4 answers 409 while an
    # earlier copy with the same key is still being carried out).
    backend = ZepBackend(url, cloud.api_key, timeout=TIMEOUT, max_retries=4, backoff=0.3)
    client = ZepMemoryClient(backend=backend)
    client.user.add(CreateUserRequest(user_id="u1"))
    client.memory.add_session(Session(session_id="s1", user_id="u1", metadata={"a": 1}))
    client.memory.add_messages("s1", [Message(role="user", content="first")])
    path = op.path(api, client)
    before = cloud.count(op.method, path)  # (making the session wrote to its owner too)
    error = call_under_fault(cloud, op.method, path, fault, lambda: op.call(client))
    # A thread delete that got no answer is looked up: found gone (it landed before the
    # connection dropped), the delete goes on; still there (held), it is OutcomeUnknownError.
    settled = op.looks and fault == "dropped-after-landing"
    judge(
        error,
        fault,
        resent=op.post or (api == "v4" and op.keyed_on_v4) or settled,
        what=f"{name} on {api}",
        sent=lambda: cloud.count(op.method, path) - before,
        repeat=lambda: op.call(client),
    )
    assert op.landed(client), f"{name} under {fault} on {api}: its effect is not there"
    client.close()
