"""The test server's wire behaviour, one server per generation, driven with raw httpx.

``v1`` answers like open-source Zep 0.27.2 on ``/api/v1``; ``v2`` like Zep CE 1.0.2 on
``/api/v2``. The golden transcripts (``test_golden_wire.py``) pin the common scenario; these
tests cover each route's details, the CE limits and where the two generations differ.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zep_memory_plugins.testing import ExternalZepServer, ZepTestServer
from zep_memory_plugins.testing._go import stored_json, stored_text
from zep_memory_plugins.testing.pytest_plugin import ZepTestServers

NIL_UUID = "00000000-0000-0000-0000-000000000000"


class Api:
    """One server seen through raw httpx, with its key if it has one."""

    def __init__(self, server: ZepTestServer | ExternalZepServer) -> None:
        self.gen = server.api
        self.server = server
        headers = {"Authorization": f"Api-Key {server.api_key}"} if server.api_key else {}
        self.http = httpx.Client(
            base_url=f"{server.url}/api/{self.gen}", timeout=10, headers=headers
        )
        self.users = "/user" if self.gen == "v1" else "/users"
        self.ok_status = 200 if self.gen == "v1" else 201

    def error(self, response: httpx.Response) -> str:
        """The error text: plain text on v1, ``{"message": ...}`` on v2."""
        if self.gen == "v1":
            assert response.headers["content-type"].startswith("text/plain")
            assert response.text.endswith("\n")
            return response.text[:-1]
        assert response.headers["content-type"].startswith("application/json")
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

    def contents(self, session_id: str) -> list[str]:
        """Every message's content, read over HTTP (no limit: all of them)."""
        r = self.http.get(f"/sessions/{session_id}/messages")
        assert r.status_code == 200, r.text
        return [m["content"] for m in r.json()["messages"]]

    def user_ids(self) -> list[str]:
        return [u["user_id"] for u in self.http.get(self.users).json()]


@pytest.fixture(scope="module")
def servers(zep_servers: ZepTestServers) -> ZepTestServers:
    """The plugin's servers: ours, or the real ones the environment points at."""
    return zep_servers


def _api(servers: ZepTestServers, gen: str) -> Iterator[Api]:
    servers[gen].reset()
    a = Api(servers[gen])
    yield a
    a.http.close()


@pytest.fixture(params=["v1", "v2"])
def api(servers: ZepTestServers, request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from _api(servers, request.param)


@pytest.fixture
def v1(servers: ZepTestServers) -> Iterator[Api]:
    yield from _api(servers, "v1")


@pytest.fixture
def v2(servers: ZepTestServers) -> Iterator[Api]:
    yield from _api(servers, "v2")


def msg(content: str, role: str = "user", **extra: Any) -> dict[str, Any]:
    """A message; ``role_type`` defaults to the role when that is a role type (v2 needs one)."""
    if "role_type" not in extra and role in ("user", "assistant", "system", "tool"):
        extra["role_type"] = role
    return {"role": role, "content": content, **extra}


# -- health, routes of the other generation ----------------------------------------------------


def test_healthz(api: Api) -> None:
    r = httpx.get(f"{api.server.url}/healthz")
    assert r.status_code == 200
    assert r.text == "."
    if api.gen == "v1":
        assert r.headers["X-Zep-Version"].startswith("0.27")
    else:
        assert "X-Zep-Version" not in r.headers


def test_the_other_generation_is_not_there(v1: Api, v2: Api) -> None:
    r = httpx.post(f"{v1.server.url}/api/v2/users", json={"user_id": "u"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")  # v0.27's web UI 404 page
    r = httpx.post(f"{v2.server.url}/api/v1/user", json={"user_id": "u"})
    assert (r.status_code, r.text) == (404, "404 page not found\n")
    assert v1.user_ids() == v2.user_ids() == []
    # and neither answers a route it does not have inside its own prefix
    assert v1.http.get("/users-ordered").status_code == 404
    assert v2.http.get("/user/u").status_code == 404


def test_v1_responses_carry_the_version_header(v1: Api) -> None:
    assert v1.add_user("u1").headers["X-Zep-Version"].startswith("0.27")
    assert v1.http.get("/user/nobody").headers["X-Zep-Version"].startswith("0.27")


# -- users -------------------------------------------------------------------------------------


def test_user_wire_shape_omits_empty_fields(api: Api) -> None:
    r = api.add_user("u1", email="a@b.c", first_name="Ann", metadata={"a": 1})
    assert r.status_code == 201
    body = r.json()
    expected = {"uuid", "id", "created_at", "updated_at", "deleted_at", "user_id", "email"}
    expected |= {"first_name", "metadata"} | ({"project_uuid"} if api.gen == "v2" else set())
    assert set(body) == expected  # no last_name: Go's omitempty
    assert (body["user_id"], body["email"], body["metadata"]) == ("u1", "a@b.c", {"a": 1})
    assert isinstance(body["id"], int) and body["deleted_at"] is None
    uuid.UUID(body["uuid"])
    assert body["created_at"].endswith("Z")
    assert api.http.get(f"{api.users}/u1").json() == body
    bare = api.add_user("u2").json()
    assert "metadata" not in bare and "email" not in bare


def test_v2_user_reads_count_live_sessions(v2: Api) -> None:
    v2.add_user("u1")
    assert "session_count" not in v2.http.get("/users/u1").json()
    v2.add_session("s1", user_id="u1")
    v2.add_session("s2", user_id="u1")
    assert v2.http.get("/users/u1").json()["session_count"] == 2
    assert v2.http.get("/users").json()[0]["session_count"] == 2
    v2.http.delete("/sessions/s1/memory")
    assert v2.http.get("/users/u1").json()["session_count"] == 1


def test_user_duplicate_is_400_with_real_server_text(api: Api) -> None:
    api.add_user("u1")
    r = api.add_user("u1")
    assert r.status_code == 400
    assert api.error(r) == "bad request: user already exists with user_id: u1"
    r = api.http.post(api.users, json={"email": "no-id@x.y"})
    assert (r.status_code, api.error(r)) == (400, "bad request: UserID cannot be empty")


def test_user_missing_is_404_not_found(api: Api) -> None:
    r = api.http.get(f"{api.users}/nobody")
    assert r.status_code == 404
    assert api.error(r) == "not found"
    assert api.http.delete(f"{api.users}/nobody").status_code == 404
    assert api.http.patch(f"{api.users}/nobody", json={"email": "x"}).status_code == 404


def test_user_update_deep_merges_keeps_system_and_other_fields(api: Api) -> None:
    api.add_user("u1", email="a@b.c", metadata={"a": 1, "n": {"x": 1}})
    r = api.http.patch(f"{api.users}/u1", json={"metadata": {"n": {"y": 2}, "system": 1}})
    assert r.status_code == 200
    assert r.json()["metadata"] == {"a": 1, "n": {"x": 1, "y": 2}, "system": 1}
    assert r.json()["email"] == "a@b.c"
    r = api.http.patch(f"{api.users}/u1", json={"first_name": "Bo"})
    assert r.json()["first_name"] == "Bo"
    assert r.json()["metadata"]["system"] == 1


def test_empty_metadata_update(api: Api) -> None:
    api.add_user("u1", metadata={"a": 1})
    api.add_session("s1", metadata={"a": 1})
    user = api.http.patch(f"{api.users}/u1", json={"metadata": {}})
    session = api.http.patch("/sessions/s1", json={"metadata": {}})
    stored_user = api.http.get(f"{api.users}/u1").json()
    stored_session = api.http.get("/sessions/s1").json()
    if api.gen == "v1":
        # v0.27 merges whatever is not null, and refuses to merge nothing
        assert (user.status_code, session.status_code) == (500, 500)
        assert api.error(user) == "failed to merge metadata: metadata cannot be empty"
        assert api.error(session) == "failed to merge session metadata: metadata cannot be empty"
        assert stored_user["metadata"] == stored_session["metadata"] == {"a": 1}
    else:
        # CE: {} REPLACES a user's metadata (then omitted, being empty) and a session's
        assert user.status_code == 200 and "metadata" not in user.json()
        assert "metadata" not in stored_user
        assert session.status_code == 200 and session.json()["metadata"] == {}
        assert stored_session["metadata"] == {}


@pytest.mark.parametrize("body", [{"session_id": "s1"}, {"metadata": None}, {}])
def test_session_update_without_metadata_keeps_it(api: Api, body: dict[str, Any]) -> None:
    created = api.add_session("s1", metadata={"a": 1}).json()
    r = api.http.patch("/sessions/s1", json=body)
    assert r.status_code == 200
    assert r.json()["metadata"] == {"a": 1}
    assert r.json()["updated_at"] > created["updated_at"]  # and the update is a write
    assert api.http.get("/sessions/s1").json()["metadata"] == {"a": 1}


def test_user_update_moves_updated_at_even_if_nothing_changes(api: Api) -> None:
    created = api.add_user("u1", email="a@b.c").json()
    r = api.http.patch(f"{api.users}/u1", json={"email": ""})  # empty: left as it is
    assert r.status_code == 200
    assert r.json()["email"] == "a@b.c"
    assert r.json()["updated_at"] > created["updated_at"]


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


def test_user_sessions_is_a_flat_list_of_live_sessions_with_id_0(api: Api) -> None:
    api.add_user("u1")
    for sid in ("s1", "s2", "s3"):
        api.add_session(sid, user_id="u1")
    api.add_session("other")
    api.http.delete("/sessions/s2/memory")
    r = api.http.get(f"{api.users}/u1/sessions")
    assert r.status_code == 200
    assert [s["session_id"] for s in r.json()] == ["s1", "s3"]
    assert {s["id"] for s in r.json()} == {0}
    # Both servers join sessions to users: an unknown user simply has none.
    r = api.http.get(f"{api.users}/nobody/sessions")
    assert (r.status_code, r.json()) == (200, [])


def test_cursor_listings_are_id_greater_than(api: Api) -> None:
    for i in range(5):
        api.add_user(f"u{i}")
    api.add_user("u0")  # a failed insert
    everyone = api.http.get(api.users).json()
    assert [u["user_id"] for u in everyone] == [f"u{i}" for i in range(5)]
    ids = [u["id"] for u in everyone]
    page = api.http.get(api.users, params={"limit": 2, "cursor": ids[1]}).json()
    assert [u["user_id"] for u in page] == ["u2", "u3"]
    # httpx 0.24 (zep-python 1.x) sends ``limit=&cursor=`` for None: means "all".
    assert len(api.http.get(f"{api.users}?limit=&cursor=").json()) == 5
    r = api.http.get(api.users, params={"limit": "x"})
    assert (r.status_code, api.error(r)) == (400, 'strconv.ParseInt: parsing "x": invalid syntax')
    for i in range(4):
        api.add_session(f"s{i}")
    api.http.delete("/sessions/s1/memory")
    listed = api.http.get("/sessions").json()
    assert [s["session_id"] for s in listed] == ["s0", "s2", "s3"]
    page = api.http.get("/sessions", params={"limit": 1, "cursor": listed[0]["id"]}).json()
    assert [s["session_id"] for s in page] == ["s2"]


def test_v2_users_ordered_is_newest_first(v2: Api) -> None:
    for i in range(5):
        v2.add_user(f"u{i}")
    r = v2.http.get("/users-ordered", params={"pageNumber": 2, "pageSize": 2})
    assert r.status_code == 200
    body = r.json()
    assert [u["user_id"] for u in body["users"]] == ["u2", "u1"]
    assert (body["total_count"], body["row_count"]) == (5, 2)
    last = v2.http.get("/users-ordered", params={"pageNumber": 3, "pageSize": 2}).json()
    assert [u["user_id"] for u in last["users"]] == ["u0"]
    assert len(v2.http.get("/users-ordered").json()["users"]) == 5


@pytest.mark.parametrize("path", ["/users-ordered", "/sessions-ordered"])
def test_v2_ordered_listing_page_corners(v2: Api, path: str) -> None:
    # LIMIT pageSize OFFSET (pageNumber - 1) * pageSize, each clause written only if positive
    for i in range(5):
        v2.add_user(f"u{i}")
        v2.add_session(f"s{i}")
    key, count = (
        ("users", "row_count") if path == "/users-ordered" else ("sessions", "response_count")
    )
    ids = "user_id" if key == "users" else "session_id"
    newest = [f"{key[0]}{i}" for i in (4, 3, 2, 1, 0)]

    def listed(**params: Any) -> tuple[list[str], int, int]:
        r = v2.http.get(path, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        return [x[ids] for x in body[key]], body["total_count"], body[count]

    assert listed(pageSize=2) == (newest[:2], 5, 2)  # no page number: the first page
    assert listed(pageNumber=0, pageSize=2) == (newest[:2], 5, 2)
    assert listed(pageNumber=-1, pageSize=2) == (newest[:2], 5, 2)
    assert listed(pageNumber=2) == (newest, 5, 5)  # no page size: everything
    assert listed(pageNumber=9, pageSize=2) == ([], 5, 0)
    assert listed(pageSize=-1) == (newest[1:], 5, 4)  # OFFSET (0 - 1) * -1, no LIMIT
    r = v2.http.get(path, params={"pageNumber": "x"})
    assert (r.status_code, v2.error(r)) == (400, 'strconv.ParseInt: parsing "x": invalid syntax')


# -- sessions ----------------------------------------------------------------------------------


def test_session_wire_shape(api: Api) -> None:
    api.add_user("u1")
    r = api.add_session("s1", user_id="u1", metadata={"a": 1})
    assert r.status_code == 201
    body = r.json()
    expected = {"uuid", "id", "created_at", "updated_at", "deleted_at", "session_id"}
    expected |= {"metadata", "user_id"}
    if api.gen == "v2":
        expected |= {"ended_at", "project_uuid"}
        assert body["project_uuid"] == NIL_UUID and body["ended_at"] is None
    assert set(body) == expected
    bare = api.add_session("s2").json()
    assert bare["metadata"] is None and bare["user_id"] is None  # not omitted


def test_session_add_keeps_system_update_ignores_it(api: Api) -> None:
    api.add_user("u1")
    r = api.add_session("s1", user_id="u1", metadata={"a": 1, "n": {"x": 1}, "system": "kept"})
    assert r.status_code == 201
    assert r.json()["metadata"] == {"a": 1, "n": {"x": 1}, "system": "kept"}
    r = api.http.patch("/sessions/s1", json={"metadata": {"n": {"y": 2}, "system": "new"}})
    assert r.status_code == 200
    assert r.json()["metadata"] == {"a": 1, "n": {"x": 1, "y": 2}, "system": "kept"}
    assert api.http.get("/sessions/s1").json()["metadata"] == r.json()["metadata"]


def test_session_errors(api: Api) -> None:
    api.add_session("s1")
    r = api.add_session("s1")
    assert r.status_code == 400
    assert api.error(r) == "bad request: session already exists with session_id: s1"
    r = api.add_session("s2", user_id="ghost")
    assert r.status_code == 400
    if api.gen == "v1":
        assert api.error(r) == "bad request: user does not exist with user_id: ghost"
    else:
        assert api.error(r) == "user not found"
    assert api.http.get("/sessions/s2").status_code == 404
    r = api.http.patch("/sessions/nope", json={"metadata": {"a": 1}})
    assert r.status_code == 404
    r = api.http.post("/sessions", json={"metadata": {}})
    # v0.27 answers 500 to a session without an id; CE a 400
    assert r.status_code == (500 if api.gen == "v1" else 400)


def test_v1_soft_delete_and_revive(v1: Api) -> None:
    v1.add_user("u1")
    v1.add_session("s1", user_id="u1", metadata={"keep": True})
    v1.add_messages("s1", msg("old"))
    assert v1.http.delete("/sessions/s1/memory").status_code == 200
    assert v1.http.get("/sessions/s1").status_code == 404
    assert v1.memory("s1") == []
    r = v1.http.delete("/sessions/s1/memory")
    assert (r.status_code, v1.error(r)) == (404, "not found")
    r = v1.add_session("s1")
    assert r.status_code == 400 and "already exists" in v1.error(r)
    # Writing revives the session with its owner and metadata; the old messages stay deleted.
    assert v1.add_messages("s1", msg("new")).status_code == 200
    revived = v1.http.get("/sessions/s1").json()
    assert (revived["user_id"], revived["metadata"]) == ("u1", {"keep": True})
    assert [m["content"] for m in v1.memory("s1")] == ["new"]
    # An update revives too, with or without metadata, and so does an empty write.
    v1.http.delete("/sessions/s1/memory")
    r = v1.http.patch("/sessions/s1", json={"metadata": {"b": 2}})
    assert r.status_code == 200
    assert r.json()["metadata"] == {"keep": True, "b": 2}
    for revive in ({}, {"messages": []}):
        v1.http.delete("/sessions/s1/memory")
        path = "/sessions/s1" + ("/memory" if revive else "")
        r = v1.http.request("POST" if revive else "PATCH", path, json=revive)
        assert r.status_code == 200
        revived = v1.http.get("/sessions/s1").json()
        assert (revived["user_id"], revived["metadata"]) == ("u1", {"keep": True, "b": 2})
        assert v1.memory("s1") == []


def test_v2_deleted_session_is_gone_for_good(v2: Api) -> None:
    v2.add_user("u1")
    v2.add_session("s1", user_id="u1", metadata={"keep": True})
    old = str(uuid.uuid4())
    v2.add_messages("s1", msg("old", uuid=old))
    assert v2.http.delete("/sessions/s1/memory").json() == {"message": "OK"}
    assert v2.http.get("/sessions/s1").status_code == 404
    assert v2.http.delete("/sessions/s1/memory").status_code == 404
    # PATCH does not revive it
    assert v2.http.patch("/sessions/s1", json={"metadata": {"b": 2}}).status_code == 404
    # A write creates a NEW session: no owner, no metadata, only the new message
    assert v2.add_messages("s1", msg("new")).status_code == 201
    fresh = v2.http.get("/sessions/s1").json()
    assert (fresh["user_id"], fresh["metadata"]) == (None, None)
    assert [m["content"] for m in v2.memory("s1")] == ["new"]
    assert v2.http.get("/users/u1/sessions").json() == []
    # The purged message's uuid is free again (CE purges soft-deleted rows at once)
    assert v2.add_messages("s1", msg("again", uuid=old)).status_code == 201


def test_v2_add_session_over_a_deleted_one_is_a_fresh_session(v2: Api) -> None:
    v2.add_user("u1")
    v2.add_session("s1", metadata={"old": True})
    v2.add_messages("s1", msg("old"))
    v2.http.delete("/sessions/s1/memory")
    r = v2.add_session("s1", user_id="u1")
    assert r.status_code == 201
    assert (r.json()["user_id"], r.json()["metadata"]) == ("u1", None)
    assert v2.memory("s1") == []
    assert [s["session_id"] for s in v2.http.get("/users/u1/sessions").json()] == ["s1"]


def test_v2_sessions_ordered(v2: Api) -> None:
    v2.add_user("ua")
    v2.add_user("ub")
    v2.add_session("b", user_id="ub")
    v2.add_session("a")
    v2.add_session("c", user_id="ua")
    body = v2.http.get("/sessions-ordered").json()
    # default: by id, newest first
    assert [s["session_id"] for s in body["sessions"]] == ["c", "a", "b"]
    assert (body["total_count"], body["response_count"]) == (3, 3)
    paged = v2.http.get("/sessions-ordered", params={"pageNumber": 1, "pageSize": 2}).json()
    assert [s["session_id"] for s in paged["sessions"]] == ["c", "a"]
    # zep-python 2.0.2 sends page_number / page_size, which CE does not read: all on one page
    ignored = v2.http.get("/sessions-ordered", params={"page_number": 2, "page_size": 1})
    assert len(ignored.json()["sessions"]) == 3
    asc = v2.http.get("/sessions-ordered", params={"order_by": "created_at", "asc": "true"})
    assert [s["session_id"] for s in asc.json()["sessions"]] == ["b", "a", "c"]
    by_sid = v2.http.get("/sessions-ordered", params={"order_by": "session_id", "asc": "false"})
    assert [s["session_id"] for s in by_sid.json()["sessions"]] == ["c", "b", "a"]
    # user_id: NULL sorts as the largest value, as in Postgres
    by_user = v2.http.get("/sessions-ordered", params={"order_by": "user_id", "asc": "true"})
    assert [s["session_id"] for s in by_user.json()["sessions"]] == ["c", "b", "a"]
    for bad in ("id", "bogus"):
        r = v2.http.get("/sessions-ordered", params={"order_by": bad})
        assert (r.status_code, v2.error(r)) == (400, "invalid value for order_by")
    assert v2.http.get("/sessions-ordered", params={"asc": "maybe"}).status_code == 400


# -- memory and messages -----------------------------------------------------------------------


def test_add_memory_creates_session_and_answers_ok(api: Api) -> None:
    r = api.add_messages("fresh", msg("hi"), msg("yo", role="assistant"))
    assert r.status_code == api.ok_status
    assert (r.text if api.gen == "v1" else r.json()["message"]) == "OK"
    session = api.http.get("/sessions/fresh").json()
    assert session["user_id"] is None
    messages = api.memory("fresh")
    assert [(m["role"], m["content"]) for m in messages] == [("user", "hi"), ("assistant", "yo")]
    for m in messages:
        uuid.UUID(m["uuid"])
        assert m["created_at"].endswith("Z")
        assert m["updated_at"] == "0001-01-01T00:00:00Z"  # Go's zero time, as both servers
        assert m["token_count"] == 0
        assert "metadata" not in m  # omitempty
    if api.gen == "v1":
        assert "role_type" not in messages[0]
    else:
        assert [m["role_type"] for m in messages] == ["user", "assistant"]


def test_a_write_of_messages_moves_the_sessions_updated_at(api: Api) -> None:
    created = api.add_session("s1").json()
    assert api.add_messages("s1", msg("a")).status_code == api.ok_status
    moved = api.http.get("/sessions/s1").json()
    assert moved["updated_at"] > created["updated_at"]
    assert moved["created_at"] == created["created_at"]


def test_memory_read_shape(api: Api) -> None:
    api.add_messages("s1", msg("a"))
    body = api.http.get("/sessions/s1/memory").json()
    if api.gen == "v1":
        assert set(body) == {"messages", "summary"}
        assert body["summary"]["content"] == "" and body["summary"]["uuid"] == NIL_UUID
    else:
        assert body == {"messages": body["messages"], "relevant_facts": []}


def test_v1_role_type_is_derived_from_the_role(v1: Api) -> None:
    v1.add_messages("s1", msg("a", role="Jane"), msg("b", role="tool", role_type="user"))
    # v1 has no role_type on the wire: derived from the role, anything else is ignored.
    assert [m.role_type for m in v1.server.store.get_messages("s1")] == ["norole", "tool"]


def test_v2_role_type_is_required_and_checked(v2: Api) -> None:
    ok = v2.add_messages("s1", msg("c", role="Jane", role_type="assistant"), msg("d", "system"))
    assert ok.status_code == 201
    assert [m["role_type"] for m in v2.memory("s1")] == ["assistant", "system"]
    r = v2.add_messages("s2", {"role": "Jane", "content": "no type"})
    assert (r.status_code, v2.error(r)) == (400, "messages are required to have a RoleType")
    assert v2.http.get("/sessions/s2").status_code == 404  # refused before anything happened
    r = v2.add_messages("s3", msg("e", role_type="wizard"))
    assert r.status_code == 500
    assert 'role_type_enum: "wizard"' in v2.error(r)
    # CE creates the session before inserting the messages, and does not roll it back
    assert v2.http.get("/sessions/s3").status_code == 200
    assert v2.contents("s3") == []


def test_v2_at_most_30_messages_but_31_are_stored_anyway(v2: Api) -> None:
    batch = [msg(f"x{i}") for i in range(31)]
    r = v2.add_messages("s1", *batch)
    assert r.status_code == 400
    assert r.text.splitlines() == [
        '{"message":"max messages per memory of 30 exceeded. reduce the number of messages in '
        'your request"}',
        '{"message":"OK"}',
    ]
    assert len(v2.contents("s1")) == 31
    assert v2.add_messages("s2", *batch[:30]).status_code == 201
    assert len(v2.contents("s2")) == 30
    # over the count AND too long: both errors, nothing stored
    r = v2.add_messages("s3", *batch[:30], msg("y" * 2501))
    assert r.status_code == 400 and len(r.text.splitlines()) == 2
    assert v2.contents("s3") == []


def test_v2_content_limit_is_2500_characters(v2: Api) -> None:
    assert v2.add_messages("s1", msg("é" * 2500)).status_code == 201  # characters, not bytes
    r = v2.add_messages("s1", msg("ok"), msg("y" * 2501))
    assert (r.status_code, v2.error(r)) == (400, "message content exceeds 2500 characters")
    assert v2.contents("s1") == ["é" * 2500]


def test_v1_has_no_batch_or_content_limit(v1: Api) -> None:
    assert v1.add_messages("s1", *[msg(f"x{i}") for i in range(40)]).status_code == 200
    assert v1.add_messages("s1", msg("y" * 10_000)).status_code == 200
    assert len(v1.contents("s1")) == 41


def test_windows_without_lastn_are_12_on_v1_and_6_on_v2(api: Api) -> None:
    api.add_messages("s1", *[msg(f"m{i}") for i in range(20)])
    window = 12 if api.gen == "v1" else 6
    assert [m["content"] for m in api.memory("s1")] == [f"m{i}" for i in range(20 - window, 20)]
    assert len(api.memory("s1", lastn=0)) == window
    assert [m["content"] for m in api.memory("s1", lastn=3)] == ["m17", "m18", "m19"]
    assert len(api.memory("s1", lastn=100)) == 20
    r = api.http.get("/sessions/s1/memory", params={"lastn": -1})
    assert r.status_code == (500 if api.gen == "v1" else 400)
    assert api.http.get("/sessions/s1/memory", params={"lastn": "x"}).status_code == 400


def test_window_is_a_constructor_argument() -> None:
    with ZepTestServer(window=3) as server:
        a = Api(server)
        a.add_messages("s1", *[msg(f"m{i}") for i in range(5)])
        assert [m["content"] for m in a.memory("s1")] == ["m2", "m3", "m4"]
        a.http.close()


def test_unknown_session_memory_is_empty_200(api: Api) -> None:
    assert api.memory("never-seen") == []
    assert api.http.get("/sessions/never-seen").status_code == 404


def test_client_uuids_kept_and_duplicates_reject_whole_batch(api: Api) -> None:
    u1, u2 = str(uuid.uuid4()), str(uuid.uuid4())
    assert api.add_messages("s1", msg("a", uuid=u1)).status_code == api.ok_status
    assert api.memory("s1")[0]["uuid"] == u1
    dup_status = 500 if api.gen == "v1" else 400
    r = api.add_messages("s1", msg("b", uuid=u2), msg("c", uuid=u1))
    assert r.status_code == dup_status
    if api.gen == "v2":
        assert api.error(r) == "bad request: message_uuid already exists"
    else:
        assert "duplicate key value violates unique constraint" in api.error(r)
    assert [m["content"] for m in api.memory("s1")] == ["a"]
    # A retry of the same write after an unknown outcome: duplicate, nothing doubled.
    assert api.add_messages("s1", msg("a", uuid=u1)).status_code == dup_status
    r = api.add_messages("s1", msg("x", uuid=u2), msg("y", uuid=u2))
    assert r.status_code == dup_status
    assert len(api.memory("s1")) == 1
    # the nil uuid means "let the server choose"
    assert api.add_messages("s1", msg("n", uuid=NIL_UUID)).status_code == api.ok_status
    assert api.memory("s1")[-1]["uuid"] != NIL_UUID


def test_invalid_uuid_is_400(api: Api) -> None:
    r = api.add_messages("s1", msg("a", uuid="not-a-uuid"))
    assert r.status_code == 400
    assert api.memory("s1") == []
    assert api.http.get("/sessions/s1").status_code == 404


def test_empty_batch_creates_the_session_and_missing_role_is_empty(api: Api) -> None:
    r = api.http.post("/sessions/s1/memory", json={"messages": []})
    assert r.status_code == api.ok_status
    assert api.http.get("/sessions/s1").status_code == 200  # both servers create it first
    assert api.contents("s1") == []
    r = api.add_messages("s1", {"content": "no role", "role_type": "norole"})
    assert r.status_code == api.ok_status
    [m] = api.memory("s1")
    assert (m["role"], m["content"]) == ("", "no role")


def test_v2_memory_body_without_messages_is_400(v2: Api) -> None:
    r = v2.http.post("/sessions/s1/memory", json={})
    assert r.status_code == 400
    assert "'required' tag" in v2.error(r)
    assert v2.http.get("/sessions/s1").status_code == 404


def test_malformed_json_is_400(api: Api) -> None:
    headers = {"content-type": "application/json"}
    for path in ("/sessions/s1/memory", api.users, "/sessions"):
        r = api.http.post(path, content=b"{not json", headers=headers)
        assert r.status_code == 400, path
        api.error(r)  # in the generation's error format
    assert api.http.post("/sessions/s1/memory", json={"messages": "nope"}).status_code == 400
    assert api.http.post("/sessions/s1/memory", json=[1, 2]).status_code == 400
    assert api.http.post(api.users, json={"user_id": 5}).status_code == 400
    assert api.memory("s1") == []
    assert api.user_ids() == []


def test_lone_surrogates_become_replacement_characters_as_in_go(api: Api) -> None:
    body = b'{"user_id": "u1", "first_name": "a\\ud800b"}'
    r = api.http.post(api.users, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 201
    assert r.json()["first_name"] == "a\ufffdb"


ODD_IDS = ["a/b", "a?b", "a#b", "a%b", "a\\b", "a\nb", "a b", " ", ".", "..", "x" * 2000, "\x01"]


def test_any_id_in_a_body_is_stored(api: Api) -> None:
    # Both servers take any non-empty id in a JSON body; only their URLs may break later.
    # (The library refuses these ids itself, before sending.)
    for odd in ODD_IDS:
        assert api.add_user(odd).status_code == 201, odd
        assert api.add_session(odd).status_code == 201, odd
    assert api.user_ids() == ODD_IDS
    # the ones a URL can carry are found again
    for odd, segment in [("a b", "a%20b"), ("a\nb", "a%0Ab"), (" ", "%20"), ("a#b", "a%23b")]:
        assert api.http.get(f"{api.users}/{segment}").json()["user_id"] == odd
        assert api.http.get(f"/sessions/{segment}").json()["session_id"] == odd
    r = api.add_user("")
    assert (r.status_code, api.error(r)) == (400, "bad request: UserID cannot be empty")
    assert api.add_session("").status_code == (500 if api.gen == "v1" else 400)


def test_a_nul_is_dropped_from_ids_and_text_fields(api: Api) -> None:
    body = {"user_id": "u\x001", "email": "a\x00b@c", "first_name": "\x00", "last_name": "L\x00"}
    r = api.http.post(api.users, json=body)
    assert r.status_code == 201
    assert (r.json()["user_id"], r.json()["email"], r.json()["last_name"]) == ("u1", "ab@c", "L")
    assert "first_name" not in r.json()  # empty once stored: omitted
    assert api.http.get(f"{api.users}/u1").json() == r.json()
    assert api.add_session("s\x001").json()["session_id"] == "s1"
    api.add_messages("s1", msg("he\x00llo", role="us\x00er", role_type="user"))
    [m] = api.memory("s1")
    assert (m["role"], m["content"]) == ("user", "hello")


def test_messages_pages(api: Api) -> None:
    api.add_messages("s1", *[msg(f"m{i}") for i in range(7)])
    r = api.http.get("/sessions/s1/messages", params={"limit": 3, "cursor": 2})
    assert r.status_code == 200
    body = r.json()
    assert [m["content"] for m in body["messages"]] == ["m3", "m4", "m5"]
    assert (body["total_count"], body["row_count"]) == (7, 3)
    last = api.http.get("/sessions/s1/messages", params={"limit": 3, "cursor": 3}).json()
    assert [m["content"] for m in last["messages"]] == ["m6"]
    past = api.http.get("/sessions/s1/messages", params={"limit": 3, "cursor": 4}).json()
    assert past == {"messages": [], "total_count": 0, "row_count": 0}
    assert api.http.get("/sessions/s1/messages").json()["row_count"] == 7  # no limit: all


def test_messages_page_corners(api: Api) -> None:
    # LIMIT limit OFFSET (cursor - 1) * limit, each clause written only when positive; a
    # limit or cursor that does not parse is 100 / 1 (CE trims spaces first, v0.27 does not)
    api.add_messages("s1", *[msg(f"m{i}") for i in range(7)])

    def page(query: str) -> tuple[list[str], int, int]:
        r = api.http.get(f"/sessions/s1/messages?{query}")
        assert r.status_code == 200, r.text
        body = r.json()
        return [m["content"] for m in body["messages"]], body["total_count"], body["row_count"]

    everything = [f"m{i}" for i in range(7)]
    assert page("limit=3") == (everything[:3], 7, 3)  # no cursor: the first page
    assert page("limit=3&cursor=0") == (everything[:3], 7, 3)
    assert page("limit=3&cursor=-1") == (everything[:3], 7, 3)
    assert page("limit=3&cursor=x") == (everything[:3], 7, 3)
    assert page("cursor=2") == (everything, 7, 7)  # no limit: everything
    assert page("limit=0&cursor=2") == (everything, 7, 7)
    assert page("limit=-1") == (everything[1:], 7, 6)  # OFFSET (0 - 1) * -1, no LIMIT
    spaced = everything[3:6] if api.gen == "v2" else everything[:3]
    assert page("limit=3&cursor=%202") == (spaced, 7, 3)


def test_a_messages_limit_that_does_not_parse_is_100(api: Api) -> None:
    for start in range(0, 105, 30):
        api.add_messages("s1", *[msg(f"m{i}") for i in range(start, min(start + 30, 105))])
    for limit in ("x", "99999999999999999999", "1.5"):
        body = api.http.get("/sessions/s1/messages", params={"limit": limit}).json()
        assert (body["row_count"], body["total_count"]) == (100, 105), limit
    body = api.http.get("/sessions/s1/messages", params={"limit": " 5"}).json()
    assert body["row_count"] == (5 if api.gen == "v2" else 100)


def test_message_metadata_get_and_patch(api: Api) -> None:
    api.add_messages("s1", msg("a", metadata={"k": {"x": 1}}))
    [m] = api.memory("s1")
    path = f"/sessions/s1/messages/{m['uuid']}"
    assert api.http.get(path).json()["content"] == "a"
    r = api.http.patch(path, json={"metadata": {"k": {"y": 2}}})
    assert r.status_code == 200
    assert r.json()["metadata"] == {"k": {"x": 1, "y": 2}}
    assert api.memory("s1")[0]["metadata"] == {"k": {"x": 1, "y": 2}}
    # 32 hex digits, braces: uuid.Parse reads them too
    assert api.http.get(f"/sessions/s1/messages/{m['uuid'].replace('-', '')}").status_code == 200
    assert api.http.get(f"/sessions/s1/messages/{{{m['uuid']}}}").status_code == 200


def test_unknown_and_bad_message_uuids(api: Api) -> None:
    api.add_messages("s1", msg("a"))
    missing = f"/sessions/s1/messages/{uuid.uuid4()}"
    r = api.http.patch(missing, json={"metadata": {"a": 1}})
    assert (r.status_code, api.error(r)) == (404, "not found")
    r = api.http.get(missing)
    if api.gen == "v1":
        # v0.27's handler indexes an empty result: its recoverer answers an empty 500
        assert (r.status_code, r.content, "content-type" in r.headers) == (500, b"", False)
        assert api.http.get(f"/sessions/nobody/messages/{uuid.uuid4()}").status_code == 500
    else:
        assert (r.status_code, api.error(r)) == (404, "no message found for UUID")
    # a bad uuid: the handler writes the parse error, then goes on with the nil uuid
    get = api.http.get("/sessions/s1/messages/nope")
    patch = api.http.patch("/sessions/s1/messages/nope", json={"metadata": {"a": 1}})
    assert get.status_code == patch.status_code == 400
    if api.gen == "v1":
        assert get.text == "unable to parse document UUID: invalid UUID length: 4\n"
        assert patch.text == (
            "unable to parse document UUID: invalid UUID length: 4\nmessage UUID cannot be nil\n"
        )
    else:
        assert get.text.splitlines() == [
            '{"message":"unable to parse UUID: invalid UUID length: 4"}',
            '{"message":"no message found for UUID"}',
        ]
        assert patch.text.splitlines() == [
            '{"message":"unable to parse UUID: invalid UUID length: 4"}',
            '{"message":"bad request: messageUUID is required"}',
        ]
    bad = api.http.get(f"/sessions/s1/messages/{'x' * 36}")
    assert bad.status_code == 400 and "invalid UUID format" in bad.text


# -- stored values: Go's float64, PostgreSQL's jsonb and text (issue 16, item 3) ---------------

# (JSON sent, what both real servers read back), measured on v0.27.2 and CE 1.0.2 alike
STORED_VALUES = [
    ("9007199254740993", 9007199254740992),  # 2^53 + 1: through float64
    ("9223372036854775807", 9223372036854776000),  # float64's shortest form, zero-padded
    ("-9223372036854775807", -9223372036854776000),
    ("18446744073709551616", 18446744073709552000),
    ("123456789012345678901234567890", 123456789012345680000000000000),
    ("1e308", 10**308),  # a whole float: jsonb prints it without exponent, an integer
    ("1e21", 10**21),
    ("1E+2", 100),
    ("-0.0", 0),
    ("0.0", 0),
    ("1.0", 1),
    ("1e-7", 1e-7),  # not whole: exact
    ("5e-324", 5e-324),
    ("0.1", 0.1),
    ("-2.5e-5", -2.5e-5),
    ('"a\\u0000b"', "a\\u0000b"),  # a NUL becomes the six characters \u0000
    ('"a\\\\u0000b"', "a\\u0000b"),  # those six characters stay as they are
    ('"\\u2028\\ufeff e\\u0301"', "\u2028\ufeff e\u0301"),
    ("[1.0, -0.0, true, null]", [1, 0, True, None]),
    ('{"x": 1e22, "a\\u0000": "\\u0000"}', {"x": 10**22, "a\\u0000": "\\u0000"}),
]


def same_json(got: Any, expected: Any) -> bool:
    """Equal as JSON, types included (1 is not 1.0)."""
    return json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


def post_raw(api: Api, path: str, body: str, md: str = "") -> httpx.Response:
    """POST ``body`` as it is (``MD`` in it replaced by ``md``): JSON Python would not write."""
    content = body.replace("MD", md).encode()
    return api.http.post(path, content=content, headers={"content-type": "application/json"})


@pytest.mark.parametrize(("sent", "expected"), STORED_VALUES, ids=[v[0] for v in STORED_VALUES])
def test_metadata_values_are_stored_as_the_real_servers_store_them(
    api: Api, sent: str, expected: Any
) -> None:
    md = '{"k": SENT, "n": {"k": SENT}}'.replace("SENT", sent)
    assert post_raw(api, api.users, '{"user_id": "u1", "metadata": MD}', md).status_code == 201
    assert post_raw(api, "/sessions", '{"session_id": "s1", "metadata": MD}', md).status_code == 201
    message = '{"role": "u", "role_type": "user", "content": "c", "metadata": MD}'
    r = post_raw(
        api, "/sessions/s1/memory", '{"messages": [MESSAGE]}'.replace("MESSAGE", message), md
    )
    assert r.status_code == api.ok_status
    want = {"k": expected, "n": {"k": expected}}
    assert same_json(api.http.get(f"{api.users}/u1").json()["metadata"], want)
    assert same_json(api.http.get("/sessions/s1").json()["metadata"], want)
    [m] = api.memory("s1")
    assert same_json(m["metadata"], want)
    # and an update stores the same way
    patch = '{"metadata": {"p": SENT}}'.replace("SENT", sent)
    r = api.http.patch(
        f"/sessions/s1/messages/{m['uuid']}",
        content=patch.encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200
    assert same_json(r.json()["metadata"]["p"], expected)
    r = api.http.patch(
        f"{api.users}/u1", content=patch.encode(), headers={"content-type": "application/json"}
    )
    assert same_json(r.json()["metadata"]["p"], expected)
    # our model of it, which the property tests below use
    assert same_json(stored_json(json.loads(sent)), expected)


@pytest.mark.parametrize("sent", ["1e400", "-1e309", "1" + "0" * 400, "NaN", "Infinity"])
def test_a_number_beyond_float64_is_400(api: Api, sent: str) -> None:
    r = post_raw(api, api.users, '{"user_id": "u1", "metadata": {"k": MD}}', sent)
    assert r.status_code == 400
    assert api.user_ids() == []


def test_a_create_echoes_a_nul_key_both_as_sent_and_as_stored(api: Api) -> None:
    # The server scans the stored row back into the map it was sent: a key the database
    # changed is then there twice. Reads show only the stored one.
    body = '{"user_id": "u1", "metadata": {"a\\u0000b": 1.0, "n": 9007199254740993}}'
    r = post_raw(api, api.users, body)
    assert r.json()["metadata"] == {"a\x00b": 1, "a\\u0000b": 1, "n": 9007199254740992}
    assert api.http.get(f"{api.users}/u1").json()["metadata"] == {
        "a\\u0000b": 1,
        "n": 9007199254740992,
    }
    body = '{"session_id": "s1", "metadata": {"x\\u0000": {"y\\u0000": 1.5}, "z": 2.0}}'
    r = post_raw(api, "/sessions", body)
    assert r.json()["metadata"] == {
        "x\x00": {"y\x00": 1.5},
        "x\\u0000": {"y\\u0000": 1.5},
        "z": 2,
    }
    r = api.http.patch(
        "/sessions/s1",
        content=b'{"metadata": {"q\\u0000": 1, "z": 3.0}}',
        headers={"content-type": "application/json"},
    )
    assert r.json()["metadata"] == {
        "q\x00": 1,
        "q\\u0000": 1,
        "x\\u0000": {"y\\u0000": 1.5},
        "z": 3,
    }
    # a user update and a message answer what was stored
    r = api.http.patch(
        f"{api.users}/u1",
        content=b'{"metadata": {"c\\u0000": 1}}',
        headers={"content-type": "application/json"},
    )
    assert "c\x00" not in r.json()["metadata"] and r.json()["metadata"]["c\\u0000"] == 1


# -- created_at: ignored, stamped on arrival (issue 16, item 3) --------------------------------


def utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    "created_at",
    [
        "2020-01-02T03:04:05.5+02:00",
        "9999-12-31T23:00:00-05:00",  # UTC would be year 10000: accepted, ignored
        "0001-01-01T01:00:00+05:00",  # UTC would be year 0
        "0000-01-01T00:00:00Z",
        "2020-01-02T3:04:05Z",  # Go 1.22 has its strict RFC 3339 checks switched off
        "2020-01-02T03:04:05,5Z",
        "2020-01-02T03:04:05+99:99",
        None,
    ],
)
def test_a_client_created_at_is_ignored(api: Api, created_at: str | None) -> None:
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    r = api.add_messages("s1", msg("a", created_at=created_at), msg("b"))
    assert r.status_code == api.ok_status
    after = datetime.now(timezone.utc) + timedelta(seconds=5)
    first, second = (utc(m["created_at"]) for m in api.memory("s1"))
    assert before <= first <= second <= after  # stamped on arrival, in order


@pytest.mark.parametrize(
    ("created_at", "error"),
    [
        ("yesterday", 'as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"'),
        ("2020-01-02T03:04:05", 'cannot parse "" as "Z07:00"'),
        ("2020-13-01T00:00:00Z", ": month out of range"),
        ("2021-02-29T00:00:00Z", ": day out of range"),
        ("2020-01-02T24:00:00Z", ": hour out of range"),
        ("2020-01-02t03:04:05Z", 'cannot parse "t03:04:05Z" as "T"'),
        ("2020-01-02T03:04:05Zjunk", ': extra text: "junk"'),
        ("10000-01-01T00:00:00Z", 'cannot parse "0-01-01T00:00:00Z" as "-"'),
        ("été", 'cannot parse "\\xc3\\xa9t\\xc3\\xa9" as "2006"'),
        ("", 'cannot parse "" as "2006"'),
        (12345, "Time.UnmarshalJSON: input is not a JSON string"),
        (True, "Time.UnmarshalJSON: input is not a JSON string"),
    ],
)
def test_a_created_at_go_cannot_read_is_400(api: Api, created_at: Any, error: str) -> None:
    api.add_messages("s1", msg("before"))
    body = json.dumps(
        {"messages": [msg("ok"), msg("bad", created_at=created_at)]}, ensure_ascii=False
    )
    r = post_raw(api, "/sessions/s1/memory", body)
    assert r.status_code == 400
    text = api.error(r)
    assert text.endswith(error)
    if isinstance(created_at, str):
        assert text.startswith("parsing time ")
    assert api.contents("s1") == ["before"]  # nothing of the batch stored
    assert post_raw(api, "/sessions/s2/memory", body).status_code == 400
    assert api.http.get("/sessions/s2").status_code == 404  # refused before anything


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        (r"2020-01-01T00:00:00\u005A", r'cannot parse "\\u005A" as "Z07:00"'),
        (r"\u0032020-01-01T00:00:00Z", r'cannot parse "\\u0032020-01-01T00:00:00Z" as "2006"'),
    ],
)
def test_a_created_at_sent_with_escapes_is_parsed_as_sent(api: Api, sent: str, error: str) -> None:
    """Go parses a time from its JSON string's raw bytes (seen on both real servers): a time
    written with escapes is refused, however valid the text it decodes to."""
    head = json.dumps(msg("t"))[:-1]  # the message object, left open
    body = '{"messages": [' + head + ', "created_at": "' + sent + '"}]}'
    r = post_raw(api, "/sessions/s1/memory", body)
    assert r.status_code == 400
    assert api.error(r).startswith("parsing time ") and api.error(r).endswith(error)
    # Escapes anywhere else are read as JSON reads them, the times beside them as usual.
    fine = '{"messages": [{"role": "u", "role_type": "user", "content": "caf\\u00e9\\n",'
    fine += ' "metadata": {"k": "\\u0041"}, "created_at": "2020-01-01T00:00:00Z"}]}'
    r = post_raw(api, "/sessions/s1/memory", fine)
    assert r.status_code in (200, 201), r.text
    (stored,) = api.memory("s1")
    assert (stored["content"], stored["metadata"]) == ("café\n", {"k": "A"})


def test_a_body_that_is_no_object_names_the_go_type_of_the_route(api: Api) -> None:
    """Seen on both real servers: Go's error names the request type the handler decodes into;
    CE's message PATCH handler writes its decoding errors as plain text."""
    api.add_messages("s1", msg("a"))
    (stored,) = api.memory("s1")
    v1 = api.gen == "v1"
    cases = [
        ("POST", "/sessions", "models.CreateSessionRequest"),
        ("PATCH", "/sessions/s1", "models.UpdateSessionRequest"),
        ("POST", "/sessions/s1/memory", "models.Memory" if v1 else "apidata.AddMemoryRequest"),
    ]
    for method, path, go_type in cases:
        r = api.http.request(method, path, content=b"[1]")
        assert r.status_code == 400
        assert api.error(r) == f"json: cannot unmarshal array into Go value of type {go_type}"
    r = api.http.patch(f"/sessions/s1/messages/{stored['uuid']}", content=b"[1]")
    go_type = "models.Message" if v1 else "models.MessageMetadataUpdate"
    assert (r.status_code, r.headers["content-type"]) == (400, "text/plain; charset=utf-8")
    assert r.text == f"json: cannot unmarshal array into Go value of type {go_type}\n"


# -- properties --------------------------------------------------------------------------------


OFFSETS = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    offset=OFFSETS,
)
def test_any_rfc3339_created_at_is_accepted_and_ignored(
    servers: ZepTestServers, moment: datetime, offset: timezone
) -> None:
    server = servers["v2"]
    server.reset()
    stamp = moment.replace(tzinfo=offset).isoformat()
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    with httpx.Client(
        base_url=f"{server.url}/api/v2", headers={"Authorization": f"Api-Key {server.api_key}"}
    ) as http:
        r = http.post("/sessions/s1/memory", json={"messages": [msg("x", created_at=stamp)]})
        assert r.status_code == 201, r.text
        read = http.get("/sessions/s1/messages")
        assert read.status_code == 200
        [m] = read.json()["messages"]
        assert before <= utc(m["created_at"]) <= datetime.now(timezone.utc) + timedelta(seconds=5)


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    content=st.text(max_size=40),
    role=st.text(max_size=10),
    metadata=st.none()
    | st.dictionaries(
        st.text(max_size=5),
        st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=3), max_leaves=4),
        max_size=3,
    ),
)
def test_any_message_is_stored_as_the_real_servers_store_it(
    servers: ZepTestServers, content: str, role: str, metadata: dict[str, Any] | None
) -> None:
    server = servers["v2"]
    server.reset()
    with httpx.Client(
        base_url=f"{server.url}/api/v2", headers={"Authorization": f"Api-Key {server.api_key}"}
    ) as http:
        body = {
            "messages": [
                {"role": role, "role_type": "user", "content": content, "metadata": metadata}
            ]
        }
        r = http.post("/sessions/s1/memory", json=body)
        assert r.status_code == 201, r.text
        [m] = http.get("/sessions/s1/memory").json()["messages"]
        assert (m["role"], m["content"]) == (stored_text(role), stored_text(content))
        assert same_json(m.get("metadata") or None, stored_json(metadata) if metadata else None)
