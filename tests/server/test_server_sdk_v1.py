"""The test server through the real zep-python 1.x SDK (``ZepClient``) over real HTTP."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator

import httpx
import pytest

from zep_memory_plugins.testing import ZepTestServer

zep_python = pytest.importorskip("zep_python", reason="zep-python is not installed")
if not hasattr(zep_python, "ZepClient"):
    pytest.skip(
        "zep-python 2.x is installed; these tests need 1.x (run them in the 1.x environment)",
        allow_module_level=True,
    )

from zep_python import ZepClient  # noqa: E402
from zep_python.exceptions import APIError, AuthError, NotFoundError  # noqa: E402
from zep_python.memory import Memory, Session  # noqa: E402
from zep_python.message import Message  # noqa: E402
from zep_python.user import CreateUserRequest, UpdateUserRequest  # noqa: E402

KEY = "v1-secret-key"


@pytest.fixture(scope="module")
def keyed() -> Iterator[ZepTestServer]:
    with ZepTestServer(api="v1", api_key=KEY) as server:
        yield server


@pytest.fixture
def server(keyed: ZepTestServer) -> ZepTestServer:
    keyed.reset()
    return keyed


@pytest.fixture
def zep(server: ZepTestServer) -> Iterator[ZepClient]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "incompatible Zep server version" warning
        client = ZepClient(server.url, api_key=KEY)
    yield client
    client.close()


def test_constructor_health_check_passes(server: ZepTestServer, zep: ZepClient) -> None:
    assert ("GET", "/healthz") in server.requests


def test_users_round_trip(zep: ZepClient) -> None:
    user = zep.user.add(CreateUserRequest(user_id="u1", email="a@b.c", metadata={"a": 1}))
    assert user.user_id == "u1"
    assert isinstance(user.id, int)
    assert user.created_at is not None and user.created_at.tzinfo is not None
    updated = zep.user.update(UpdateUserRequest(user_id="u1", metadata={"b": 2}))
    assert updated.metadata == {"a": 1, "b": 2}
    assert updated.email == "a@b.c"
    for i in range(2, 5):
        zep.user.add(CreateUserRequest(user_id=f"u{i}"))
    first = zep.user.list(limit=2)
    assert [u.user_id for u in first] == ["u1", "u2"]
    rest = zep.user.list(limit=10, cursor=first[-1].id)
    assert [u.user_id for u in rest] == ["u3", "u4"]
    assert len(zep.user.list()) == 4
    zep.user.delete("u1")
    with pytest.raises(NotFoundError):
        zep.user.get("u1")


def test_duplicate_user_is_api_error_400(zep: ZepClient) -> None:
    zep.user.add(CreateUserRequest(user_id="u1"))
    with pytest.raises(APIError) as info:
        zep.user.add(CreateUserRequest(user_id="u1"))
    assert info.value.response_data == {
        "status_code": 400,
        # Go's http.Error ends the text with a newline
        "message": "bad request: user already exists with user_id: u1\n",
    }


def test_sessions_and_memory(zep: ZepClient, server: ZepTestServer) -> None:
    zep.user.add(CreateUserRequest(user_id="u1"))
    zep.memory.add_session(Session(session_id="s1", user_id="u1", metadata={"a": 1}))
    merged = zep.memory.update_session(Session(session_id="s1", metadata={"n": {"x": 1}}))
    assert merged.metadata == {"a": 1, "n": {"x": 1}}
    assert [s.session_id for s in zep.user.get_sessions("u1")] == ["s1"]
    assert [s.session_id for s in zep.memory.list_sessions(limit=5)] == ["s1"]
    mine = str(uuid.uuid4())
    messages = [Message(role="human", content=f"m{i}") for i in range(14)]
    messages[0] = Message(role="human", content="m0", uuid=mine)
    assert zep.memory.add_memory("s1", Memory(messages=messages)) == "OK"
    window = zep.memory.get_memory("s1")
    assert [m.content for m in window.messages] == [f"m{i}" for i in range(2, 14)]
    assert [m.content for m in zep.memory.get_memory("s1", lastn=1).messages] == ["m13"]
    page = zep.message.get_session_messages("s1", limit=5, cursor=3)
    assert [m.content for m in page] == ["m10", "m11", "m12", "m13"]
    assert zep.message.get_session_messages("s1", limit=5, cursor=1)[0].uuid == mine
    # v1 has no role_type: the server stored "norole" for the free-form role.
    assert {m.role_type for m in server.store.get_messages("s1")} == {"norole"}
    updated = zep.message.update_message_metadata("s1", mine, {"metadata": {"k": 1}})
    assert updated.metadata == {"k": 1}


def test_soft_delete_through_the_sdk(zep: ZepClient) -> None:
    zep.memory.add_session(Session(session_id="s1", metadata={"keep": 1}))
    zep.memory.add_memory("s1", Memory(messages=[Message(role="user", content="old")]))
    assert zep.memory.delete_memory("s1") == "OK"
    with pytest.raises(NotFoundError):
        zep.memory.get_session("s1")
    with pytest.raises(NotFoundError):
        zep.memory.delete_memory("s1")
    assert zep.memory.get_memory("s1").messages == []
    with pytest.raises(APIError):
        zep.memory.add_session(Session(session_id="s1"))
    zep.memory.add_memory("s1", Memory(messages=[Message(role="user", content="new")]))
    assert zep.memory.get_session("s1").metadata == {"keep": 1}
    assert [m.content for m in zep.memory.get_memory("s1").messages] == ["new"]


def test_duplicate_uuid_rejects_the_batch(zep: ZepClient) -> None:
    mine = str(uuid.uuid4())
    zep.memory.add_memory("s1", Memory(messages=[Message(role="user", content="a", uuid=mine)]))
    batch = [Message(role="user", content="b"), Message(role="user", content="c", uuid=mine)]
    with pytest.raises(APIError) as info:
        zep.memory.add_memory("s1", Memory(messages=batch))
    assert info.value.response_data is not None
    assert info.value.response_data["status_code"] == 500
    assert [m.content for m in zep.memory.get_memory("s1").messages] == ["a"]


def test_wrong_key_is_auth_error(server: ZepTestServer) -> None:
    bad = ZepClient(server.url, api_key="wrong")  # the health check needs no key
    with pytest.raises(AuthError):
        bad.user.get("u1")
    bad.close()
    r = httpx.get(f"{server.url}/api/v1/user/u1", headers={"Authorization": f"Api-Key {KEY}"})
    assert r.status_code == 401


def test_injected_fault_reaches_the_sdk(zep: ZepClient, server: ZepTestServer) -> None:
    server.faults.add("GET", "/api/v1/sessions/*", status=500, times=1)
    with pytest.raises(APIError) as info:
        zep.memory.get_session("s1")
    assert info.value.response_data == {"status_code": 500, "message": "injected fault: 500\n"}
    with pytest.raises(NotFoundError):  # the fault is used up: the real answer comes back
        zep.memory.get_session("s1")


async def test_async_twins(server: ZepTestServer) -> None:
    zep = ZepClient(server.url, api_key=KEY)
    await zep.user.aadd(CreateUserRequest(user_id="ua"))
    await zep.memory.aadd_session(Session(session_id="sa", user_id="ua"))
    await zep.memory.aadd_memory("sa", Memory(messages=[Message(role="ai", content="hi")]))
    memory = await zep.memory.aget_memory("sa")
    assert [(m.role, m.content) for m in memory.messages] == [("ai", "hi")]
    await zep.aclose()
    zep.close()
