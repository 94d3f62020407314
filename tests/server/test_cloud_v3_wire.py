"""The v3 (Zep Cloud threads on ``/api/v2``) test server, over raw HTTP.

zep-cloud 3.x and 4.x are one module and cannot be installed together, so v3 is checked
against the request shapes zep-cloud 3.30.0 was recorded sending (the spec's §2.1 / §2.2 wire
examples, byte for byte where it gives them) and the response models of that SDK (§2.2).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from zep_memory_plugins.testing import ZepTestServer

# The fields of zep-cloud 3.30.0's response models (spec §2.2): a response may carry no other.
USER = {
    "user_id", "uuid", "id", "email", "first_name", "last_name", "metadata", "time_zone",
    "disable_default_ontology", "graph_uuid", "project_uuid", "created_at", "updated_at",
    "deleted_at", "session_count",
}  # fmt: skip
THREAD = {"thread_id", "uuid", "user_id", "user_uuid", "graph_uuid", "project_uuid", "created_at"}
MESSAGE = {"content", "role", "name", "created_at", "metadata", "processed", "uuid"}
MESSAGE_LIST = {
    "messages", "row_count", "total_count", "thread_created_at", "user_id", "user_uuid",
}  # fmt: skip
THREAD_LIST = {"threads", "total_count", "response_count"}
USER_LIST = {"users", "total_count", "row_count"}
ADD_RESPONSE = {"context", "message_uuids", "task_id"}
TASK = {
    "task_id", "type", "status", "params", "progress", "error", "created_at", "started_at",
    "updated_at", "completed_at",
}  # fmt: skip
UUID_1 = "22222222-2222-4222-8222-222222222222"


def model(body: Any, fields: set[str], *required: str) -> dict[str, Any]:
    """``body`` is a JSON object of that model: no unknown field, the required ones there."""
    assert isinstance(body, dict)
    assert set(body) <= fields, set(body) - fields
    assert set(required) <= set(body), set(required) - set(body)
    return body


@pytest.fixture(scope="module")
def running() -> Iterator[ZepTestServer]:
    with ZepTestServer(api="v3") as server:
        yield server


@pytest.fixture
def server(running: ZepTestServer) -> ZepTestServer:
    running.reset()
    return running


@pytest.fixture
def http(server: ZepTestServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Api-Key {server.api_key}", "User-Agent": "zep-cloud/3.30.0"}
    with httpx.Client(base_url=server.url + "/api/v2", headers=headers) as client:
        yield client


def post(http: httpx.Client, path: str, raw: str) -> httpx.Response:
    """POST the exact bytes the SDK sends."""
    return http.post(path, content=raw.encode(), headers={"content-type": "application/json"})


@pytest.fixture
def thread(http: httpx.Client) -> str:
    assert post(http, "/users", '{"user_id":"u1"}').status_code == 201
    assert post(http, "/threads", '{"thread_id":"t1","user_id":"u1"}').status_code == 201
    return "t1"


def test_users(server: ZepTestServer, http: httpx.Client) -> None:
    created = post(
        http,
        "/users",
        '{"user_id":"u1","email":"a@b.c","first_name":"A","last_name":"B",'
        '"metadata":{"k":1},"time_zone":"UTC","disable_default_ontology":false}',
    )
    assert created.status_code == 201
    assert created.headers["content-type"].startswith("application/json")
    user = model(created.json(), USER, "user_id", "uuid", "id", "created_at")
    assert (user["user_id"], user["email"], user["metadata"]) == ("u1", "a@b.c", {"k": 1})
    assert user["time_zone"] == "UTC" and user["disable_default_ontology"] is False
    assert http.get("/users/u1").json() == user
    # The SDK sends no body at all when update() gets no field: nothing changes.
    assert http.patch("/users/u1").json() == user
    patched = http.patch("/users/u1", json={"metadata": {"k": None, "j": 2}, "email": None})
    assert model(patched.json(), USER)["metadata"] == {"j": 2}
    assert "email" not in patched.json()  # null clears it
    duplicate = post(http, "/users", '{"user_id":"u1"}')
    assert duplicate.status_code == 400 and "already exists" in duplicate.json()["message"]
    missing = http.get("/users/nobody")
    assert missing.status_code == 404 and set(missing.json()) == {"message"}
    deleted = http.delete("/users/u1")
    assert deleted.status_code == 200 and set(deleted.json()) == {"message"}
    assert http.get("/users/u1").status_code == 404
    assert server.requests[0] == ("POST", "/api/v2/users")


def test_users_ordered_reads_camel_case_pages(http: httpx.Client) -> None:
    for name in ("carol", "alice", "bob"):
        post(http, "/users", f'{{"user_id":"{name}","email":"{name}@x.org"}}')
    page = http.get(
        "/users-ordered?pageNumber=1&pageSize=10&search=a&order_by=created_at&asc=true"
    ).json()
    model(page, USER_LIST, "users", "total_count", "row_count")
    assert [u["user_id"] for u in page["users"]] == ["carol", "alice"]
    newest = http.get("/users-ordered", params={"pageNumber": 2, "pageSize": 2}).json()
    assert [u["user_id"] for u in newest["users"]] == ["carol"]  # newest first by default
    assert (newest["total_count"], newest["row_count"]) == (3, 1)
    by_id = http.get("/users-ordered", params={"order_by": "user_id", "asc": "true"}).json()
    assert [u["user_id"] for u in by_id["users"]] == ["alice", "bob", "carol"]
    assert http.get("/users-ordered", params={"order_by": "name"}).status_code == 400


def test_threads(server: ZepTestServer, http: httpx.Client) -> None:
    post(http, "/users", '{"user_id":"u1"}')
    created = post(http, "/threads", '{"thread_id":"t1","user_id":"u1"}')
    assert created.status_code == 201
    thread = model(created.json(), THREAD, "thread_id", "uuid", "user_id", "created_at")
    assert (thread["thread_id"], thread["user_id"]) == ("t1", "u1")
    for i in range(2, 7):
        post(http, "/threads", f'{{"thread_id":"t{i}","user_id":"u1"}}')
    page = http.get("/threads?page_number=2&page_size=5&order_by=created_at&asc=false").json()
    model(page, THREAD_LIST, "threads", "total_count", "response_count")
    assert [t["thread_id"] for t in page["threads"]] == ["t1"]
    assert (page["total_count"], page["response_count"]) == (6, 1)
    listed = http.get("/users/u1/threads").json()
    assert [model(t, THREAD)["thread_id"] for t in listed] == [f"t{i}" for i in range(1, 7)]
    assert http.get("/users/nobody/threads").json() == []
    assert post(http, "/threads", '{"thread_id":"t1","user_id":"u1"}').status_code == 400
    assert post(http, "/threads", '{"thread_id":"t9","user_id":"nobody"}').status_code == 400
    deleted = http.delete("/threads/t1")
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Thread successfully deleted."}
    assert http.get("/threads/t1/messages").status_code == 404
    assert post(http, "/threads", '{"thread_id":"t1","user_id":"u1"}').status_code == 201
    assert http.get("/threads/t1/context").json() == {"context": ""}
    assert server.count("GET", "/api/v2/threads") == 1


def test_messages_as_the_sdk_sends_them(
    server: ZepTestServer, http: httpx.Client, thread: str
) -> None:
    first = post(
        http,
        f"/threads/{thread}/messages",
        '{"messages":[{"content":"hi","created_at":"2025-01-01T00:00:00Z","metadata":{"a":1},'
        f'"name":"Al","role":"user","uuid":"{UUID_1}"}}]}}',
    )
    assert first.status_code == 200
    added = model(first.json(), ADD_RESPONSE, "message_uuids", "task_id")
    assert added["message_uuids"] == [UUID_1] and "context" not in added  # the uuid honoured
    second = post(
        http,
        f"/threads/{thread}/messages",
        '{"ignore_roles":["assistant"],"messages":[{"content":"yo","role":"assistant"}],'
        '"return_context":true}',
    )
    assert second.status_code == 200
    assert model(second.json(), ADD_RESPONSE)["context"] == ""
    patched = http.patch(
        f"/messages/{UUID_1}",
        content=b'{"metadata":{"x":null,"y":1}}',
        headers={"content-type": "application/json"},
    )
    assert patched.status_code == 200
    message = model(patched.json(), MESSAGE, "content", "role", "uuid")
    assert message == {
        "uuid": UUID_1,
        "created_at": "2025-01-01T00:00:00Z",  # kept as sent
        "role": "user",
        "name": "Al",
        "content": "hi",
        "metadata": {"a": 1, "y": 1},
        "processed": True,
    }
    page = http.get(f"/threads/{thread}/messages?limit=10&cursor=2&lastn=3").json()
    model(page, MESSAGE_LIST, "messages", "row_count", "total_count", "thread_created_at")
    assert [m["content"] for m in page["messages"]] == ["hi", "yo"]  # lastn overrides
    assert (page["user_id"], page["row_count"], page["total_count"]) == ("u1", 2, 2)
    for m in page["messages"]:
        model(m, MESSAGE, "content", "role")
    task = http.get(f"/tasks/{added['task_id']}").json()
    assert model(task, TASK, "task_id", "status")["status"] == "succeeded"
    assert server.requests[-4:] == [
        ("POST", f"/api/v2/threads/{thread}/messages"),
        ("PATCH", f"/api/v2/messages/{UUID_1}"),
        ("GET", f"/api/v2/threads/{thread}/messages"),
        ("GET", f"/api/v2/tasks/{added['task_id']}"),
    ]


def test_message_pages(http: httpx.Client, thread: str) -> None:
    body = {"messages": [{"content": f"m{i}", "role": "user"} for i in range(5)]}
    http.post(f"/threads/{thread}/messages", json=body)
    contents = lambda query: [  # noqa: E731
        m["content"]
        for m in http.get(f"/threads/{thread}/messages", params=query).json()["messages"]
    ]
    assert contents({}) == [f"m{i}" for i in range(5)]
    assert contents({"limit": 2}) == ["m0", "m1"]
    assert contents({"limit": 2, "cursor": 3}) == ["m4"]
    assert contents({"lastn": 2}) == ["m3", "m4"]
    assert http.get(f"/threads/{thread}/messages", params={"lastn": -1}).status_code == 400


@pytest.mark.parametrize(
    ("messages", "what"),
    [
        ([{"content": f"m{i}", "role": "user"} for i in range(31)], "31 messages"),
        ([{"content": "x" * 4097, "role": "user"}], "4,097 characters"),
        ([{"content": "x", "role": "user", "metadata": {f"k{i}": i for i in range(11)}}], "keys"),
        ([{"content": "x", "role": "user", "metadata": {"n": {"a": 1}}}], "nested"),
        ([{"content": "x", "role": "robot"}], "an unknown role"),
        ([{"content": "x"}], "no role"),
        ([{"content": "ok", "role": "user"}, {"role": "user"}], "no content"),
        ([{"content": "x", "role": "user", "uuid": "not-a-uuid"}], "a bad uuid"),
        ([{"content": "x", "role": "user", "created_at": "yesterday"}], "a bad time"),
        ([{"content": "x", "role": "user", "uuid": UUID_1}] * 2, "a repeated uuid"),
        ([], "no messages"),
    ],
)
def test_limits_refuse_the_whole_batch(
    http: httpx.Client, thread: str, messages: list[dict[str, Any]], what: str
) -> None:
    refused = http.post(f"/threads/{thread}/messages", json={"messages": messages})
    assert refused.status_code == 400, what
    assert set(refused.json()) == {"message"}
    assert http.get(f"/threads/{thread}/messages").json()["messages"] == []


def test_a_uuid_taken_elsewhere_refuses_the_batch(http: httpx.Client, thread: str) -> None:
    post(http, "/threads", '{"thread_id":"t2","user_id":"u1"}')
    one = {"content": "x", "role": "user", "uuid": UUID_1}
    assert http.post(f"/threads/{thread}/messages", json={"messages": [one]}).status_code == 200
    fresh = {"content": "y", "role": "norole"}
    again = http.post("/threads/t2/messages", json={"messages": [fresh, one]})
    assert again.status_code == 400
    assert http.get("/threads/t2/messages").json()["messages"] == []


def test_message_metadata_update(http: httpx.Client, thread: str) -> None:
    body = {"messages": [{"content": "x", "role": "user", "metadata": {"a": 1}}]}
    uuid_ = http.post(f"/threads/{thread}/messages", json=body).json()["message_uuids"][0]
    many = {f"k{i}": i for i in range(10)}
    assert http.patch(f"/messages/{uuid_}", json={"metadata": many}).status_code == 400
    assert http.patch(f"/messages/{uuid_}", json={"metadata": {"a": None}}).json()["content"]
    assert http.patch(f"/messages/{uuid_}", json={"metadata": many}).status_code == 200
    assert http.patch(f"/messages/{uuid.uuid4()}", json={"metadata": {}}).status_code == 404
    assert http.patch("/messages/nope", json={"metadata": {}}).status_code == 400


def test_user_delete_cascades(http: httpx.Client, thread: str) -> None:
    http.post(f"/threads/{thread}/messages", json={"messages": [{"content": "x", "role": "user"}]})
    assert http.delete("/users/u1").status_code == 200
    assert http.get(f"/threads/{thread}/messages").status_code == 404
    assert http.get("/threads").json()["threads"] == []


def test_the_key_and_the_error_shape(server: ZepTestServer) -> None:
    for headers in ({}, {"Authorization": "Api-Key wrong"}, {"Authorization": "Bearer x"}):
        refused = httpx.get(server.url + "/api/v2/users/u1", headers=headers)
        assert refused.status_code == 401
        assert set(refused.json()) == {"message"}
    assert httpx.get(server.url + "/healthz").text == "."
    other = httpx.get(
        server.url + "/api/v2/sessions", headers={"Authorization": f"Api-Key {server.api_key}"}
    )
    assert other.status_code == 404 and set(other.json()) == {"message"}
