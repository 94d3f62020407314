"""The test server's wire behaviour on /api/v1 and /api/v2, driven with raw httpx."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from zep_memory_plugins.testing import ZepTestServer


class Api:
    """One API generation seen through raw httpx."""

    def __init__(self, server: ZepTestServer, gen: str) -> None:
        self.gen = gen
        self.server = server
        self.http = httpx.Client(base_url=f"{server.url}/api/{gen}", timeout=10)
        self.users = "/user" if gen == "v1" else "/users"

    def error(self, response: httpx.Response) -> str:
        """The error text: plain text on v1, ``{"message": ...}`` on v2."""
        if self.gen == "v1":
            assert response.headers["content-type"].startswith("text/plain")
            return response.text
        return str(response.json()["message"])

    def add_user(self, user_id: str, **fields: Any) -> httpx.Response:
        return self.http.post(self.users, json={"user_id": user_id, **fields})

    def add_session(self, session_id: str, **fields: Any) -> httpx.Response:
        return self.http.post("/sessions", json={"session_id": session_id, **fields})

    def add_messages(self, session_id: str, *messages: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"/sessions/{session_id}/memory", json={"messages": list(messages)})

    def memory(self, session_id: str, **params: Any) -> list[dict[str, Any]]:
        r = self.http.get(f"/sessions/{session_id}/memory", params=params)
        assert r.status_code == 200, r.text
        return list(r.json()["messages"])


@pytest.fixture
def server(zep_server: ZepTestServer) -> ZepTestServer:
    zep_server.reset()
    return zep_server


@pytest.fixture
def make_api(server: ZepTestServer) -> Iterator[Callable[[str], Api]]:
    made: list[Api] = []

    def make(gen: str) -> Api:
        made.append(Api(server, gen))
        return made[-1]

    yield make
    for a in made:
        a.http.close()


@pytest.fixture(params=["v1", "v2"])
def api(make_api: Callable[[str], Api], request: pytest.FixtureRequest) -> Api:
    return make_api(request.param)


def msg(content: str, role: str = "user", **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **extra}


# -- health ------------------------------------------------------------------------------------


def test_healthz(server: ZepTestServer) -> None:
    r = httpx.get(f"{server.url}/healthz")
    assert r.status_code == 200
    assert r.text == "."
    assert r.headers["X-Zep-Version"].startswith("0.27")


# -- users -------------------------------------------------------------------------------------


def test_user_add_get_and_wire_shape(api: Api) -> None:
    r = api.add_user("u1", email="a@b.c", first_name="Ann", metadata={"a": 1})
    assert r.status_code == 201
    body = r.json()
    assert body["user_id"] == "u1"
    assert body["email"] == "a@b.c"
    assert body["metadata"] == {"a": 1}
    assert isinstance(body["id"], int)
    uuid.UUID(body["uuid"])
    assert body["created_at"].endswith("Z")
    got = api.http.get(f"{api.users}/u1").json()
    assert got == body


def test_user_duplicate_is_400_with_real_server_text(api: Api) -> None:
    api.add_user("u1")
    r = api.add_user("u1")
    assert r.status_code == 400
    assert api.error(r) == "bad request: user already exists with user_id: u1"


def test_user_missing_is_404_not_found(api: Api) -> None:
    r = api.http.get(f"{api.users}/nobody")
    assert r.status_code == 404
    assert api.error(r) == "not found"
    assert api.http.delete(f"{api.users}/nobody").status_code == 404
    assert api.http.patch(f"{api.users}/nobody", json={"email": "x"}).status_code == 404


def test_user_update_deep_merges_and_keeps_other_fields(api: Api) -> None:
    api.add_user("u1", email="a@b.c", metadata={"a": 1, "n": {"x": 1}, "system": 1})
    r = api.http.patch(f"{api.users}/u1", json={"metadata": {"b": 2, "n": {"y": 2}}})
    assert r.status_code == 200
    assert r.json()["metadata"] == {"a": 1, "b": 2, "n": {"x": 1, "y": 2}, "system": 1}
    assert r.json()["email"] == "a@b.c"
    r = api.http.patch(f"{api.users}/u1", json={"first_name": "Bo"})
    assert r.json()["first_name"] == "Bo"
    assert r.json()["metadata"]["b"] == 2


def test_empty_metadata_update_is_500_like_the_real_server(api: Api) -> None:
    api.add_user("u1", metadata={"a": 1})
    api.add_session("s1", metadata={"a": 1})
    assert api.http.patch(f"{api.users}/u1", json={"metadata": {}}).status_code == 500
    assert api.http.patch("/sessions/s1", json={"metadata": {}}).status_code == 500
    assert api.server.store.get_user("u1").metadata == {"a": 1}


def test_user_delete_cascades_and_id_can_be_reused(api: Api) -> None:
    api.add_user("u1")
    api.add_session("s1", user_id="u1")
    api.add_messages("s1", msg("hello"))
    r = api.http.delete(f"{api.users}/u1")
    assert r.status_code == 200
    assert api.http.get("/sessions/s1").status_code == 404
    assert api.memory("s1") == []
    assert api.add_user("u1").status_code == 201
    # The session id is free again too: the cascade removed it for good.
    assert api.add_session("s1", user_id="u1").status_code == 201


def test_user_sessions_lists_live_sessions_only(api: Api) -> None:
    api.add_user("u1")
    for sid in ("s1", "s2", "s3"):
        api.add_session(sid, user_id="u1")
    api.add_session("other")
    api.http.delete("/sessions/s2/memory")
    r = api.http.get(f"{api.users}/u1/sessions")
    assert r.status_code == 200
    assert [s["session_id"] for s in r.json()] == ["s1", "s3"]
    assert api.http.get(f"{api.users}/nobody/sessions").status_code == 404


def test_v1_user_cursor_listing_is_id_greater_than(make_api: Callable[[str], Api]) -> None:
    a = make_api("v1")
    for i in range(5):
        a.add_user(f"u{i}")
    a.add_user("u0")  # a failed insert
    everyone = a.http.get("/user").json()
    assert [u["user_id"] for u in everyone] == [f"u{i}" for i in range(5)]
    ids = [u["id"] for u in everyone]
    page = a.http.get("/user", params={"limit": 2, "cursor": ids[1]}).json()
    assert [u["user_id"] for u in page] == ["u2", "u3"]
    # httpx 0.24 (zep-python 1.x) sends ``limit=&cursor=`` for None: means "all".
    assert len(a.http.get("/user?limit=&cursor=").json()) == 5
    assert a.http.get("/user", params={"limit": "x"}).status_code == 400


def test_v2_users_ordered_pages(make_api: Callable[[str], Api]) -> None:
    a = make_api("v2")
    for i in range(5):
        a.add_user(f"u{i}")
    r = a.http.get("/users-ordered", params={"pageNumber": 2, "pageSize": 2})
    assert r.status_code == 200
    body = r.json()
    assert [u["user_id"] for u in body["users"]] == ["u2", "u3"]
    assert body["total_count"] == 5
    assert body["row_count"] == 2
    last = a.http.get("/users-ordered", params={"pageNumber": 3, "pageSize": 2}).json()
    assert [u["user_id"] for u in last["users"]] == ["u4"]
    assert len(a.http.get("/users-ordered").json()["users"]) == 5


# -- sessions ----------------------------------------------------------------------------------


def test_session_add_get_update(api: Api) -> None:
    api.add_user("u1")
    r = api.add_session("s1", user_id="u1", metadata={"a": 1, "n": {"x": 1}, "system": "drop"})
    assert r.status_code == 201
    assert r.json()["metadata"] == {"a": 1, "n": {"x": 1}}
    assert r.json()["user_id"] == "u1"
    assert isinstance(r.json()["id"], int)
    r = api.http.patch("/sessions/s1", json={"metadata": {"n": {"y": 2}, "system": 1}})
    assert r.status_code == 200
    assert r.json()["metadata"] == {"a": 1, "n": {"x": 1, "y": 2}}
    assert api.http.get("/sessions/s1").json()["metadata"] == r.json()["metadata"]


def test_session_errors(api: Api) -> None:
    api.add_session("s1")
    r = api.add_session("s1")
    assert r.status_code == 400
    assert api.error(r) == "bad request: session already exists with session_id: s1"
    r = api.add_session("s2", user_id="ghost")
    assert r.status_code == 400
    assert api.error(r) == "bad request: user does not exist with user_id: ghost"
    assert api.http.get("/sessions/s2").status_code == 404
    r = api.http.patch("/sessions/nope", json={"metadata": {"a": 1}})
    assert r.status_code == 404
    assert api.http.post("/sessions", json={"metadata": {}}).status_code == 400


def test_soft_delete_and_undelete(api: Api) -> None:
    api.add_session("s1", metadata={"keep": True})
    api.add_messages("s1", msg("old"))
    r = api.http.delete("/sessions/s1/memory")
    assert r.status_code == 200
    assert api.http.get("/sessions/s1").status_code == 404
    assert api.memory("s1") == []
    r = api.http.delete("/sessions/s1/memory")
    assert r.status_code == 404
    assert api.error(r) == "not found"
    r = api.add_session("s1")
    assert r.status_code == 400
    assert "already exists" in api.error(r)
    # Writing revives the session with its metadata; the old messages stay deleted.
    assert api.add_messages("s1", msg("new")).status_code == 200
    assert api.http.get("/sessions/s1").json()["metadata"] == {"keep": True}
    assert [m["content"] for m in api.memory("s1")] == ["new"]


def test_update_revives_a_deleted_session(api: Api) -> None:
    api.add_session("s1", metadata={"a": 1})
    api.http.delete("/sessions/s1/memory")
    r = api.http.patch("/sessions/s1", json={"metadata": {"b": 2}})
    assert r.status_code == 200
    assert r.json()["metadata"] == {"a": 1, "b": 2}
    assert api.http.get("/sessions/s1").status_code == 200


def test_v1_session_cursor_listing_skips_deleted(make_api: Callable[[str], Api]) -> None:
    a = make_api("v1")
    for i in range(4):
        a.add_session(f"s{i}")
    a.http.delete("/sessions/s1/memory")
    listed = a.http.get("/sessions").json()
    assert [s["session_id"] for s in listed] == ["s0", "s2", "s3"]
    page = a.http.get("/sessions", params={"limit": 1, "cursor": listed[0]["id"]}).json()
    assert [s["session_id"] for s in page] == ["s2"]


def test_v2_sessions_ordered(make_api: Callable[[str], Api]) -> None:
    a = make_api("v2")
    for sid in ("b", "a", "c"):
        a.add_session(sid)
    body = a.http.get("/sessions-ordered", params={"page_number": 1, "page_size": 2}).json()
    assert [s["session_id"] for s in body["sessions"]] == ["b", "a"]
    assert body["total_count"] == 3
    assert body["response_count"] == 2
    by_id = a.http.get("/sessions-ordered", params={"order_by": "session_id", "asc": "false"})
    assert [s["session_id"] for s in by_id.json()["sessions"]] == ["c", "b", "a"]
    assert a.http.get("/sessions-ordered", params={"order_by": "bogus"}).status_code == 400


# -- memory and messages -----------------------------------------------------------------------


def test_add_memory_creates_session_and_answers_ok(api: Api) -> None:
    r = api.add_messages("fresh", msg("hi"), msg("yo", role="assistant"))
    assert r.status_code == 200
    assert (r.text if api.gen == "v1" else r.json()["message"]) == "OK"
    session = api.http.get("/sessions/fresh").json()
    assert session["user_id"] is None
    messages = api.memory("fresh")
    assert [(m["role"], m["content"]) for m in messages] == [("user", "hi"), ("assistant", "yo")]
    for m in messages:
        uuid.UUID(m["uuid"])
        assert m["created_at"].endswith("Z")
    if api.gen == "v1":
        assert "role_type" not in messages[0]
    else:
        assert [m["role_type"] for m in messages] == ["user", "assistant"]


def test_role_type_on_each_generation(
    server: ZepTestServer, make_api: Callable[[str], Api]
) -> None:
    v1, v2 = make_api("v1"), make_api("v2")
    v1.add_messages("s1", msg("a", role="Jane"), msg("b", role="tool", role_type="user"))
    stored = server.store.get_messages("s1")
    # v1 has no role_type on the wire: derived from the role, anything else is ignored.
    assert [m.role_type for m in stored] == ["norole", "tool"]
    v2.add_messages("s2", msg("c", role="Jane", role_type="assistant"), msg("d", role="system"))
    assert [m["role_type"] for m in v2.memory("s2")] == ["assistant", "system"]
    r = v2.add_messages("s2", msg("e", role_type="wizard"))
    assert r.status_code == 400
    assert "role type" in v2.error(r)


def test_window_of_twelve_without_lastn(api: Api) -> None:
    api.add_messages("s1", *[msg(f"m{i}") for i in range(20)])
    window = api.memory("s1")
    assert [m["content"] for m in window] == [f"m{i}" for i in range(8, 20)]
    assert [m["content"] for m in api.memory("s1", lastn=3)] == ["m17", "m18", "m19"]
    assert len(api.memory("s1", lastn=100)) == 20
    assert len(api.memory("s1", lastn=0)) == 12
    assert api.http.get("/sessions/s1/memory", params={"lastn": -1}).status_code == 400


def test_window_is_a_constructor_argument() -> None:
    with ZepTestServer(window=3) as server:
        a = Api(server, "v2")
        a.add_messages("s1", *[msg(f"m{i}") for i in range(5)])
        assert [m["content"] for m in a.memory("s1")] == ["m2", "m3", "m4"]
        a.http.close()


def test_unknown_session_memory_is_empty_200(api: Api) -> None:
    assert api.memory("never-seen") == []
    assert api.http.get("/sessions/never-seen").status_code == 404


def test_client_uuids_kept_and_duplicates_reject_whole_batch(api: Api) -> None:
    u1, u2 = str(uuid.uuid4()), str(uuid.uuid4())
    assert api.add_messages("s1", msg("a", uuid=u1)).status_code == 200
    assert api.memory("s1")[0]["uuid"] == u1
    r = api.add_messages("s1", msg("b", uuid=u2), msg("c", uuid=u1))
    assert r.status_code == 500
    assert [m["content"] for m in api.memory("s1")] == ["a"]
    # A retry of the same write after an unknown outcome: duplicate key, nothing doubled.
    assert api.add_messages("s1", msg("a", uuid=u1)).status_code == 500
    r = api.add_messages("s1", msg("x", uuid=u2), msg("y", uuid=u2))
    assert r.status_code == 500
    assert len(api.memory("s1")) == 1


def test_invalid_uuid_is_400(api: Api) -> None:
    r = api.add_messages("s1", msg("a", uuid="not-a-uuid"))
    assert r.status_code == 400
    assert api.error(r).startswith("bad request: ")
    assert api.memory("s1") == []


def test_empty_batch_and_missing_role(api: Api) -> None:
    assert api.http.post("/sessions/s1/memory", json={"messages": []}).status_code == 200
    assert api.server.store.get_messages("s1") == []
    assert api.add_messages("s1", {"content": "no role"}).status_code == 200
    [m] = api.memory("s1")
    assert m["role"] == ""
    assert m["content"] == "no role"


def test_malformed_json_is_400(api: Api) -> None:
    headers = {"content-type": "application/json"}
    for path in ("/sessions/s1/memory", api.users, "/sessions"):
        r = api.http.post(path, content=b"{not json", headers=headers)
        assert r.status_code == 400, path
        assert api.error(r).startswith("bad request")
    r = api.http.post("/sessions/s1/memory", json={"messages": "nope"})
    assert r.status_code == 400
    r = api.http.post("/sessions/s1/memory", json=[1, 2])
    assert r.status_code == 400
    assert api.server.store.get_messages("s1") == []


def test_bad_ids_are_400(api: Api) -> None:
    assert api.add_user("a/b").status_code == 400
    assert api.add_user(" ").status_code == 400
    assert api.add_session("x\ny").status_code == 400
    assert api.http.get("/sessions/%20/memory").status_code == 400
    assert api.server.store.count_users() == 0


def test_messages_pages(api: Api) -> None:
    api.add_messages("s1", *[msg(f"m{i}") for i in range(7)])
    r = api.http.get("/sessions/s1/messages", params={"limit": 3, "cursor": 2})
    assert r.status_code == 200
    body = r.json()
    assert [m["content"] for m in body["messages"]] == ["m3", "m4", "m5"]
    assert body["total_count"] == 7
    assert body["row_count"] == 3
    last = api.http.get("/sessions/s1/messages", params={"limit": 3, "cursor": 3}).json()
    assert [m["content"] for m in last["messages"]] == ["m6"]
    everything = api.http.get("/sessions/s1/messages").json()
    assert everything["row_count"] == 7


def test_message_metadata_get_and_patch(api: Api) -> None:
    api.add_messages("s1", msg("a", metadata={"k": {"x": 1}}))
    [m] = api.memory("s1")
    path = f"/sessions/s1/messages/{m['uuid']}"
    assert api.http.get(path).json()["content"] == "a"
    r = api.http.patch(path, json={"metadata": {"k": {"y": 2}}})
    assert r.status_code == 200
    assert r.json()["metadata"] == {"k": {"x": 1, "y": 2}}
    assert api.memory("s1")[0]["metadata"] == {"k": {"x": 1, "y": 2}}
    missing = f"/sessions/s1/messages/{uuid.uuid4()}"
    assert api.http.patch(missing, json={"metadata": {"a": 1}}).status_code == 404
    assert api.http.get(missing).status_code == 404
    assert api.http.get("/sessions/s1/messages/nope").status_code == 400


def test_both_generations_share_one_store(
    server: ZepTestServer, make_api: Callable[[str], Api]
) -> None:
    v1, v2 = make_api("v1"), make_api("v2")
    v1.add_user("u1", metadata={"from": "v1"})
    assert v2.http.get("/users/u1").json()["metadata"] == {"from": "v1"}
    v2.add_messages("s1", msg("hello"))
    assert [m["content"] for m in v1.memory("s1")] == ["hello"]
