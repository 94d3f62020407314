"""What the two Zep Cloud generations (v3, v4) of the test server share with each other and
with the other generations: construction, the key, the rate-limit headers, faults, the
request log, ``reset()``, the pytest plugin; and v4's ``Idempotency-Key``, tasks and cursors
over raw HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from zep_memory_plugins.testing import ZepTestServer
from zep_memory_plugins.testing.pytest_plugin import ZepTestServers

CLOUD = ("v3", "v4")
PREFIX = {"v3": "/api/v2", "v4": "/api/v4"}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def client(server: Any) -> httpx.Client:
    headers = {"Authorization": f"Api-Key {server.api_key}"}
    return httpx.Client(base_url=server.url + PREFIX[server.api], headers=headers)


def error_text(api: str, response: httpx.Response) -> str:
    """The message of an error, in either generation's shape."""
    body = response.json()
    if api == "v3":
        assert set(body) == {"message"}
        return str(body["message"])
    assert set(body) == {"error"} and {"code", "message", "request_id"} <= set(body["error"])
    return str(body["error"]["message"])


@pytest.fixture(params=CLOUD)
def cloud(request: pytest.FixtureRequest, zep_servers: ZepTestServers) -> Any:
    """Each Cloud generation's server of the pytest plugin, emptied."""
    server = zep_servers.fresh(request.param)
    if server.external:
        pytest.skip("needs the test server's faults and request log")
    return server


@pytest.fixture
def v4(zep_servers: ZepTestServers) -> Iterator[httpx.Client]:
    server = zep_servers.fresh("v4")
    if server.external:
        pytest.skip("needs the test server's faults and request log")
    with client(server) as http:
        yield http


def make_user(http: httpx.Client, api: str) -> str:
    """A user's address: its id (v3) or uuid (v4)."""
    created = http.post("/users", json={"user_id": "u1"})
    assert created.status_code == 201
    return "u1" if api == "v3" else str(created.json()["uuid"])


# -- construction --------------------------------------------------------------------------------


def test_constructor_and_options() -> None:
    with ZepTestServer(api="v4", task_delay=1.5, rate_limit=7) as v4:
        assert v4.api == "v4" and v4.api_key and len(v4.api_key) >= 20
        assert v4.app.generation.task_delay == 1.5  # type: ignore[attr-defined]
        assert "key required" in repr(v4) and v4.api_key not in repr(v4)
    with pytest.raises(ValueError, match="task_delay"):
        ZepTestServer(api="v2", task_delay=1)
    with pytest.raises(ValueError, match="rate_limit"):
        ZepTestServer(api="v1", rate_limit=5)
    with pytest.raises(ValueError, match="task_delay"):
        ZepTestServer(api="v3", task_delay=-1)
    with pytest.raises(ValueError, match="rate_limit"):
        ZepTestServer(api="v3", rate_limit=0)
    with pytest.raises(ValueError, match="in memory"):
        ZepTestServer(api="v4", path="cloud.sqlite3")
    with pytest.raises(ValueError, match="window"):
        ZepTestServer(api="v3", window=5)


@pytest.mark.parametrize("api", CLOUD)
def test_restart_keeps_the_data_and_reset_empties_it(api: str) -> None:
    with ZepTestServer(api=api) as server, client(server) as http:
        user = make_user(http, api)
        server.restart()
        assert http.get(f"/users/{user}").status_code == 200
        server.faults.add("GET", "**", status=503)
        server.reset()
        assert (len(server.faults), server.requests) == (0, [])
        assert http.get(f"/users/{user}").status_code == 404


def test_the_plugin_serves_every_generation(zep_servers: ZepTestServers) -> None:
    servers = [zep_servers[api] for api in ("v1", "v2", "v3", "v4")]
    assert [s.api for s in servers] == ["v1", "v2", "v3", "v4"]
    assert len({s.url for s in servers}) == 4
    assert zep_servers["v4"] is servers[3]  # started once


# -- the key, errors, headers ----------------------------------------------------------------


def test_every_api_route_wants_the_key(cloud: Any) -> None:
    base = cloud.url + PREFIX[cloud.api]
    paths = ["/users", "/threads", f"/tasks/{uuid.uuid4()}", "/no/such/route"]
    with httpx.Client() as anonymous:
        for path in paths:
            for headers in ({}, {"Authorization": "Api-Key nope"}, {"Authorization": "nope"}):
                refused = anonymous.get(base + path, headers=headers)
                assert refused.status_code == 401, path
                assert "unauthorized" in error_text(cloud.api, refused)
    assert httpx.get(cloud.url + "/healthz").text == "."
    with client(cloud) as http:
        unknown = http.get("/no/such/route")
        assert unknown.status_code == 404 and error_text(cloud.api, unknown)


def test_rate_limit_headers_on_every_response(cloud: Any) -> None:
    cloud.faults.add("GET", "**/faulty", status=500)
    with client(cloud) as http:
        answers = [
            http.post("/users", json={"user_id": "u1"}),  # 201
            http.get("/users/nobody"),  # 400 or 404
            http.get("/faulty"),  # an injected fault
            httpx.get(cloud.url + PREFIX[cloud.api] + "/users"),  # 401
            httpx.get(cloud.url + "/healthz"),
        ]
    remaining = []
    for answer in answers:
        assert all(name in answer.headers for name in RATE_HEADERS), answer
        assert answer.headers["x-ratelimit-increment"] == "1"
        assert int(answer.headers["x-ratelimit-limit"]) == 100_000
        assert "retry-after" not in answer.headers
        remaining.append(int(answer.headers["x-ratelimit-remaining"]))
    assert remaining == sorted(remaining, reverse=True) and len(set(remaining)) == 5


def test_the_rate_limit_answers_429(cloud: Any) -> None:
    with ZepTestServer(api=cloud.api, rate_limit=3) as limited, client(limited) as http:
        statuses = [http.get("/users/x").status_code for _ in range(4)]
        assert statuses[:3] != [429] * 3 and statuses[3] == 429
        last = http.get("/users/x")
        assert last.status_code == 429 and "rate limit" in error_text(limited.api, last)
        assert last.headers["x-ratelimit-remaining"] == "0"
        assert 1 <= int(last.headers["retry-after"]) <= 60
        reset = int(last.headers["x-ratelimit-reset"])
        assert reset % 60 == 0
        limited.reset()
        assert http.get("/users/x").status_code != 429


def test_an_injected_429_carries_retry_after(cloud: Any) -> None:
    cloud.faults.add("GET", "**", status=429, retry_after=2)
    with client(cloud) as http:
        answer = http.get("/users/x")
    assert answer.status_code == 429 and "injected" in error_text(cloud.api, answer)
    assert answer.headers["retry-after"] == "2"
    assert answer.headers["x-ratelimit-remaining"] == "0"


def test_faults_and_the_request_log(cloud: Any) -> None:
    with client(cloud) as http:
        user = make_user(http, cloud.api)
        path = f"{PREFIX[cloud.api]}/users/*"
        cloud.faults.add("PATCH", path, status=500, after=True)
        failed = http.patch(f"/users/{user}", json={"email": "new@x.org"})
        assert failed.status_code == 500 and error_text(cloud.api, failed)
        assert http.get(f"/users/{user}").json()["email"] == "new@x.org"  # it landed
        cloud.faults.add("GET", path, drop=True)
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(f"/users/{user}")
    assert cloud.count("PATCH", path) == 1 and cloud.count("GET", path) == 2
    assert cloud.requests[0] == ("POST", f"{PREFIX[cloud.api]}/users")


# -- v4 over raw HTTP: Idempotency-Key, tasks, cursors -----------------------------------------


def test_idempotency_key_replays_the_first_answer(v4: httpx.Client) -> None:
    key = {"Idempotency-Key": "k-1"}
    first = v4.post("/users", json={"user_id": "once"}, headers=key)
    again = v4.post("/users", json={"user_id": "once"}, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    # JSON compared as values: the same body written differently is the same request.
    spaced = v4.post(
        "/users", content=b'{ "user_id" : "once" }', headers={**key, "content-type": "json"}
    )
    assert spaced.json() == first.json()
    other = v4.post("/users", json={"user_id": "twice"}, headers=key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    page = v4.post("/users/list", json={}).json()
    assert [u["user_id"] for u in page["items"]] == ["once"]
    # A refusal is kept too; a key of another request is refused; a new key is a new write.
    bad = {"Idempotency-Key": "k-2"}
    assert v4.post("/users", json={"user_id": ""}, headers=bad).status_code == 400
    assert v4.post("/users", json={"user_id": ""}, headers=bad).status_code == 400
    assert v4.post("/users", json={"user_id": "once"}, headers=bad).status_code == 409
    assert v4.post("/users", json={"user_id": "once"}).status_code == 409  # no key
    too_long = {"Idempotency-Key": "k" * 256}
    assert v4.post("/users", json={}, headers=too_long).status_code == 400


def test_idempotency_key_is_forgotten_after_a_5xx(zep_servers: ZepTestServers) -> None:
    server = zep_servers.fresh("v4")
    if server.external:
        pytest.skip("needs fault injection")
    server.faults.add("POST", "/api/v4/users", status=503)
    with client(server) as http:
        key = {"Idempotency-Key": "retry-me"}
        assert http.post("/users", json={"user_id": "a"}, headers=key).status_code == 503
        assert http.post("/users", json={"user_id": "a"}, headers=key).status_code == 201
        assert http.post("/users", json={"user_id": "a"}, headers=key).status_code == 201
        assert len(http.post("/users/list", json={}).json()["items"]) == 1


def test_tasks_wait_for_their_delay() -> None:
    with ZepTestServer(api="v4", task_delay=60) as server, client(server) as http:
        user = make_user(http, "v4")
        task = http.delete(f"/users/{user}").json()["task"]
        assert task["status"] == "pending" and "completed_at" not in task
        assert http.get(f"/tasks/{task['uuid']}").json()["status"] == "pending"
        assert http.get(f"/users/{user}").status_code == 200  # not gone yet
        pending = http.get("/tasks", params={"status": "pending"}).json()["items"]
        assert [t["uuid"] for t in pending] == [task["uuid"]]
        assert http.get("/tasks", params={"status": "done"}).status_code == 400
        assert http.get("/tasks/not-a-uuid").json()["error"]["code"] == "invalid_identifier"


def test_cursor_pages(v4: httpx.Client) -> None:
    users = [v4.post("/users", json={"user_id": f"u{i}"}).json()["uuid"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"page_size": 2, "order": "desc"}
        if cursor:
            params["cursor"] = cursor
        page = v4.post("/users/list", params=params, json={}).json()
        assert page["total_size"] == (5 if len(seen) < 2 else 4)
        seen += [u["uuid"] for u in page["items"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            break
        # a user already served, deleted between two pages, shifts nothing
        if len(seen) == 2:
            v4.delete(f"/users/{users[4]}")
    assert seen == users[::-1]
    for params in (
        {"page_size": 0},
        {"page_size": "x"},
        {"order": "up"},
        {"order_by": "name"},
        {"cursor": "garbage"},
    ):
        refused = v4.post("/users/list", params=params, json={})
        assert refused.status_code == 400, params
    first = v4.post("/users/list", params={"page_size": 1}, json={}).json()
    other_order = {"page_size": 1, "cursor": first["next_cursor"], "order": "desc"}
    assert v4.post("/users/list", params=other_order, json={}).status_code == 400


def test_lookups(v4: httpx.Client) -> None:
    user = v4.post("/users", json={"user_id": "dev-1"}).json()
    assert v4.post("/users/lookup", json={"user_id": "dev-1"}).json() == user
    assert v4.post("/users/lookup", json={}).status_code == 400
    assert v4.post("/users/lookup", json={"user_id": "a", "thread_id": "b"}).status_code == 400
    assert v4.post("/users/lookup", json={"thread_id": "t"}).status_code == 404
    assert v4.post("/threads/lookup", json={"thread_id": "t"}).status_code == 404
    batch = v4.post("/lookup", json={"users": ["dev-1", "nobody"], "threads": ["t"]}).json()
    assert batch["items"] == [
        {"resource_type": "user", "legacy_id": "dev-1", "found": True, "uuid": user["uuid"]},
        {"resource_type": "user", "legacy_id": "nobody", "found": False},
        {"resource_type": "thread", "legacy_id": "t", "found": False},
    ]
