"""The test server through the real zep-python 2.x SDK (``Zep`` / ``AsyncZep``) over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from zep_memory_plugins.testing import ZepTestServer

zep_python = pytest.importorskip("zep_python", reason="zep-python is not installed")
if hasattr(zep_python, "ZepClient"):
    pytest.skip(
        "zep-python 1.x is installed; these tests need 2.x (run them in the 2.x environment)",
        allow_module_level=True,
    )

from zep_python.client import AsyncZep, Zep  # noqa: E402
from zep_python.core.api_error import ApiError  # noqa: E402
from zep_python.errors import (  # noqa: E402
    BadRequestError,
    InternalServerError,
    NotFoundError,
)
from zep_python.types import Message  # noqa: E402

KEY = "v2-secret-key"


@pytest.fixture(scope="module")
def keyed() -> Iterator[ZepTestServer]:
    with ZepTestServer(api="v2", api_key=KEY) as server:
        yield server


@pytest.fixture
def server(keyed: ZepTestServer) -> ZepTestServer:
    keyed.reset()
    return keyed


@pytest.fixture
def zep(server: ZepTestServer) -> Iterator[Zep]:
    client = Zep(base_url=server.url, api_key=KEY)
    yield client
    client._client_wrapper.httpx_client.httpx_client.close()


def test_users_round_trip(zep: Zep) -> None:
    user = zep.user.add(user_id="u1", email="a@b.c", metadata={"a": 1, "n": {"x": 1}})
    assert user.user_id == "u1"
    assert isinstance(user.id, int)
    uuid.UUID(user.uuid_)
    updated = zep.user.update("u1", metadata={"n": {"y": 2}})
    assert updated.metadata == {"a": 1, "n": {"x": 1, "y": 2}}
    assert updated.email == "a@b.c"
    assert zep.user.get("u1").metadata == updated.metadata
    zep.user.add(user_id="u2")
    page = zep.user.list_ordered(page_number=1, page_size=1)
    assert page.total_count == 2
    assert [u.user_id for u in page.users] == ["u2"]  # CE: newest first
    assert zep.user.delete("u1").message == "OK"
    with pytest.raises(NotFoundError) as info:
        zep.user.get("u1")
    assert info.value.body.message == "not found"


def test_duplicate_user_is_bad_request(zep: Zep) -> None:
    zep.user.add(user_id="u1")
    with pytest.raises(BadRequestError) as info:
        zep.user.add(user_id="u1")
    assert info.value.status_code == 400
    assert info.value.body.message == "bad request: user already exists with user_id: u1"


def test_sessions_and_memory(zep: Zep, server: ZepTestServer) -> None:
    zep.user.add(user_id="u1")
    session = zep.memory.add_session(session_id="s1", user_id="u1", metadata={"a": 1})
    assert session.session_id == "s1"
    assert session.user_id == "u1"
    merged = zep.memory.update_session("s1", metadata={"b": 2})
    assert merged.metadata == {"a": 1, "b": 2}
    listed = zep.memory.list_sessions(page_number=1, page_size=10)
    assert [s.session_id for s in listed.sessions] == ["s1"]
    mine = uuid.uuid4()
    messages = [
        Message(role="Jane", role_type="user", content=f"m{i}", uuid_=str(mine) if i == 0 else None)
        for i in range(15)
    ]
    assert zep.memory.add("s1", messages=messages).message == "OK"
    window = zep.memory.get("s1")
    assert [m.content for m in window.messages] == [f"m{i}" for i in range(9, 15)]  # 6 on CE
    assert all(m.role == "Jane" and m.role_type == "user" for m in window.messages)
    assert [m.content for m in zep.memory.get("s1", lastn=2).messages] == ["m13", "m14"]
    page = zep.memory.get_session_messages("s1", limit=10, cursor=1)
    assert page.total_count == 15
    assert page.messages[0].uuid_ == str(mine)
    one = zep.memory.update_message_metadata("s1", str(mine), metadata={"k": 1})
    assert one.metadata == {"k": 1}
    assert zep.memory.get_session_message("s1", str(mine)).metadata == {"k": 1}
    assert server.count("POST", "/api/v2/sessions/*/memory") == 1


def test_duplicate_uuid_is_bad_request_and_nothing_stored(zep: Zep) -> None:
    mine = str(uuid.uuid4())
    zep.memory.add("s1", messages=[Message(role="user", role_type="user", content="a", uuid_=mine)])
    # memory.add maps only 500 to a class of its own: a 400 is the base ApiError
    with pytest.raises(ApiError) as info:
        zep.memory.add(
            "s1",
            messages=[
                Message(role="user", role_type="user", content="b"),
                Message(role="user", role_type="user", content="c", uuid_=mine),
            ],
        )
    assert info.value.status_code == 400
    assert info.value.body == {"message": "bad request: message_uuid already exists"}
    assert [m.content for m in zep.memory.get("s1").messages] == ["a"]


def test_role_type_unknown_is_internal_server_error(zep: Zep) -> None:
    with pytest.raises(InternalServerError):
        zep.memory.add("s1", messages=[Message(role="u", role_type="wizard", content="a")])


def test_soft_delete_through_the_sdk(zep: Zep) -> None:
    zep.memory.add_session(session_id="s1", metadata={"keep": 1})
    zep.memory.add("s1", messages=[Message(role="user", role_type="user", content="old")])
    assert zep.memory.delete("s1").message == "OK"
    with pytest.raises(NotFoundError):
        zep.memory.get_session("s1")
    with pytest.raises(NotFoundError):
        zep.memory.delete("s1")
    assert zep.memory.get("s1").messages == []
    with pytest.raises(NotFoundError):
        zep.memory.update_session("s1", metadata={"revive": True})  # CE: no revive by update
    # Writing again makes a NEW session: no metadata, only the new message.
    zep.memory.add("s1", messages=[Message(role="user", role_type="user", content="new")])
    assert zep.memory.get_session("s1").metadata is None
    assert [m.content for m in zep.memory.get("s1").messages] == ["new"]
    # And add_session over a deleted session is a fresh session.
    zep.memory.delete("s1")
    assert zep.memory.add_session(session_id="s1", metadata={"n": 1}).metadata == {"n": 1}


def test_limits_through_the_sdk(zep: Zep, server: ZepTestServer) -> None:
    many = [Message(role="u", role_type="user", content=f"x{i}") for i in range(31)]
    with pytest.raises(ApiError) as info:
        zep.memory.add("s1", messages=many)
    # two JSON objects in one body (the error, then "OK"): the SDK keeps it as text
    assert info.value.status_code == 400 and isinstance(info.value.body, str)
    assert len(server.store.get_messages("s1")) == 31  # stored anyway, as on Zep CE
    with pytest.raises(ApiError) as info:
        zep.memory.add("s2", messages=[Message(role="u", role_type="user", content="y" * 2501)])
    assert info.value.body == {"message": "message content exceeds 2500 characters"}
    assert server.store.get_messages("s2") == []
    zep.memory.add("s3", messages=many[:20])
    assert len(zep.memory.get("s3").messages) == 6  # the CE window without lastn


def test_user_sessions_wire_is_a_flat_list(zep: Zep, server: ZepTestServer) -> None:
    # The real server answers a flat JSON list; zep-python 2.0.2 declares List[List[Session]]
    # and cannot parse it, so a backend must read this route's JSON itself.
    zep.user.add(user_id="u1")
    zep.memory.add_session(session_id="s1", user_id="u1")
    r = httpx.get(
        f"{server.url}/api/v2/users/u1/sessions", headers={"Authorization": f"Api-Key {KEY}"}
    )
    assert [s["session_id"] for s in r.json()] == ["s1"]


def test_wrong_key_is_401(server: ZepTestServer) -> None:
    bad = Zep(base_url=server.url, api_key="wrong")
    with pytest.raises(ApiError) as info:
        bad.user.get("u1")
    assert info.value.status_code == 401
    bad._client_wrapper.httpx_client.httpx_client.close()
    # v1 scheme on the v2 API is refused too.
    r = httpx.get(f"{server.url}/api/v2/users/u1", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 401
    assert KEY not in r.text


def test_sdk_retries_injected_faults(zep: Zep, server: ZepTestServer) -> None:
    server.faults.add("POST", "/api/v2/sessions/*/memory", status=503, times=2)
    zep.memory.add(
        "s1",
        messages=[Message(role="user", role_type="user", content="x")],
        request_options={"max_retries": 3},
    )
    assert server.count("POST", "/api/v2/sessions/s1/memory") == 3
    assert [m.content for m in zep.memory.get("s1").messages] == ["x"]


def test_sdk_retry_after_a_landed_write_sees_duplicate(zep: Zep, server: ZepTestServer) -> None:
    # The write lands, the answer is an error: a retry with the same uuid gets 400.
    server.faults.add("POST", "/api/v2/sessions/*/memory", status=502, after=True)
    message = Message(role="user", role_type="user", content="once", uuid_=str(uuid.uuid4()))
    with pytest.raises(ApiError) as info:
        zep.memory.add("s1", messages=[message])
    assert info.value.status_code == 502
    with pytest.raises(ApiError) as info:
        zep.memory.add("s1", messages=[message])
    assert info.value.status_code == 400
    assert [m.content for m in zep.memory.get("s1").messages] == ["once"]


async def test_async_client(server: ZepTestServer) -> None:
    azep = AsyncZep(base_url=server.url, api_key=KEY)
    await azep.user.add(user_id="ua")
    await azep.memory.add_session(session_id="sa", user_id="ua")
    await azep.memory.add("sa", messages=[Message(role="bot", role_type="assistant", content="hi")])
    memory = await azep.memory.get("sa")
    assert [(m.role, m.role_type, m.content) for m in memory.messages] == [
        ("bot", "assistant", "hi")
    ]
    await azep._client_wrapper.httpx_client.httpx_client.aclose()
