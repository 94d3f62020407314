"""The Zep backend on Zep Cloud (v3 threads, v4): what only Cloud has, against its test servers.

The contract, adapter and hostile suites run on ``zep-v3`` and ``zep-v4`` like on every backend;
here: finding the generation, the key without a URL, the library's reserved names, asynchronous
deletes, rate-limit waits, secrecy, and what Zep's own SDK sees of what the library stored.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from zep_memory_plugins import (
    ZEP_CLOUD_URL,
    AuthenticationError,
    ConfigurationError,
    CreateUserRequest,
    InvalidInputError,
    Message,
    NotFoundError,
    PendingDeletionError,
    Session,
    UpdateUserRequest,
    ZepMemoryClient,
)
from zep_memory_plugins.backends.zep import ZepBackend
from zep_memory_plugins.backends.zep._failures import parse_retry_after
from zep_memory_plugins.testing import ZepTestServer

SECRET = "z_cloud-test-key-that-must-never-show-7f3a"


def client_of(server: Any, **kwargs: Any) -> ZepMemoryClient:
    url = server.api_url if server.api == "v3" else server.url
    return ZepMemoryClient(base_url=url, api_key=server.api_key, **kwargs)


@pytest.fixture(params=["v3", "v4"])
def cloud(request: pytest.FixtureRequest, zep_servers: Any) -> Any:
    """An emptied Zep Cloud test server of each generation in turn."""
    return zep_servers.fresh(request.param)


# -- finding the generation ----------------------------------------------------------------------


def test_cloud_is_found_in_one_request_and_v4_is_the_default(zep_servers: Any) -> None:
    server = zep_servers.fresh("v4")
    with ZepMemoryClient(base_url=server.url, api_key=server.api_key) as client:
        assert client.backend.probe() == "v4"
        assert client.stats.http_requests == 1
        assert server.count("GET", "/api/v4/threads") == 1
        assert server.count("GET", "/healthz") == 0


def test_a_v3_url_or_setting_chooses_v3(zep_servers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server = zep_servers.fresh("v3")
    with ZepMemoryClient(base_url=server.api_url, api_key=server.api_key) as client:
        assert client.backend.probe() == "v3"  # /api/v4 is not there, /api/v2/threads is
        assert client.stats.http_requests == 2
    with ZepMemoryClient(base_url=server.url, api_key=server.api_key, api_version="v3") as client:
        client.user.add(CreateUserRequest(user_id="jane"))
        assert client.backend.name == "zep-v3"
        assert client.stats.http_requests == 1  # chosen: nothing probed
    monkeypatch.setenv("ZEP_API_VERSION", "v3")
    with ZepMemoryClient(base_url=server.url, api_key=server.api_key) as client:
        assert client.backend.probe() == "v3" and client.stats.http_requests == 0


def test_community_edition_is_still_found_beside_cloud(zep_servers: Any) -> None:
    server = zep_servers.fresh("v2")
    with ZepMemoryClient(base_url=server.url, api_key=server.api_key) as client:
        assert client.backend.probe() == "v2"  # /api/v4 answers no JSON there, /healthz does
        assert client.stats.http_requests == 2
    with ZepMemoryClient(base_url=server.api_url, api_key=server.api_key) as client:
        assert client.backend.probe() == "v2"  # /api/v2: CE's, since /api/v2/threads is not
        assert client.stats.http_requests == 2


def test_a_key_without_a_url_names_both_ways_out(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZEP_API_URL", "ZEP_MEMORY_PATH", "ZEP_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZEP_API_KEY", SECRET)
    with pytest.raises(ConfigurationError) as caught:
        ZepMemoryClient()
    text = str(caught.value)
    assert "ZEP_API_URL" in text and ZEP_CLOUD_URL in text and "self-hosted" in text
    assert SECRET not in text and SECRET not in repr(caught.value)


def test_cloud_without_a_key_says_so_before_anything_else(zep_servers: Any) -> None:
    server = zep_servers.fresh("v4")
    with ZepMemoryClient(base_url=server.url) as client:
        with pytest.raises(ConfigurationError, match=r"Zep Cloud.*API key"):
            client.user.add(CreateUserRequest(user_id="jane"))
        assert server.count("POST", "**") == 0


@pytest.mark.parametrize("api", ["v3", "v4"])
def test_a_wrong_key_is_an_authentication_error_that_never_shows_the_key(
    api: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ZepTestServer(api=api, api_key="the-right-key") as server:
        url = server.api_url if api == "v3" else server.url
        client = ZepMemoryClient(base_url=url, api_key=SECRET, max_retries=0)
        with pytest.raises(AuthenticationError) as caught:
            client.user.get("jane")
        for text in (str(caught.value), repr(caught.value), repr(client), repr(client.backend)):
            assert SECRET not in text
        assert SECRET not in caplog.text
        assert "ZEP_API_KEY" in str(caught.value)
        client.close()


# -- the library's own names on Cloud ----------------------------------------------------------


def test_records_and_the_index_stay_out_of_sight(cloud: Any) -> None:
    with client_of(cloud) as client:
        client.user.add(CreateUserRequest(user_id="jane", metadata={"plan": "pro"}))
        client.memory.add_session(Session(session_id="trip", user_id="jane", metadata={"t": 1}))
        client.memory.add_messages("loose", [Message(role="user", content="no owner")])
        assert [u.user_id for u in client.user.list()] == ["jane"]
        assert client.user.get("jane").metadata == {"plan": "pro"}
        assert sorted(s.session_id for s in client.memory.list_sessions()) == ["loose", "trip"]
        assert [s.session_id for s in client.user.get_sessions("jane")] == ["trip"]
        assert client.memory.get_session("loose").user_id is None
        # Zep's own view: a record per session, the shadow owner of ownerless threads
        with pytest.raises(NotFoundError):
            client.user.get("zep-memory:session:trip")
        with pytest.raises(NotFoundError):
            client.user.get("zep-memory:unowned")


def test_reserved_and_oversize_ids_are_refused_before_sending(cloud: Any) -> None:
    with client_of(cloud) as client:
        client.backend.probe()
        sent = len(cloud.requests)
        refused: list[Any] = [
            lambda: client.user.add(CreateUserRequest(user_id="zep-memory:me")),
            lambda: client.user.add(CreateUserRequest(user_id="u" * 501)),
            lambda: client.memory.add_session(Session(session_id="s" * 482)),
            lambda: client.user.add(
                CreateUserRequest(user_id="jane", metadata={"zep_memory_session:x": "1"})
            ),
            lambda: client.memory.add_messages("s", [Message(role="user", content="x" * 4097)]),
            lambda: client.memory.add_messages(
                "s", [Message(role="user", content="x", metadata={f"k{i}": i for i in range(10)})]
            ),
        ]
        for call in refused:
            with pytest.raises(InvalidInputError):
                call()
        assert len(cloud.requests) == sent  # nothing reached the server
        # the limits themselves are accepted
        client.user.add(CreateUserRequest(user_id="u" * 500))
        client.memory.add_session(Session(session_id="s" * 481))
        client.memory.add_messages(
            "s",
            [Message(role="user", content="x" * 4096, metadata={f"k{i}": i for i in range(9)})],
        )
        assert len(client.memory.get_messages("s")[0].content) == 4096


# -- asynchronous deletes (v4) -----------------------------------------------------------------


def test_a_user_delete_waits_for_its_tasks() -> None:
    with (
        ZepTestServer(api="v4", task_delay=0.3) as server,
        ZepMemoryClient(base_url=server.url, api_key=server.api_key) as client,
    ):
        client.user.add(CreateUserRequest(user_id="jane"))
        client.memory.add_messages("trip", [Message(role="user", content="hi")])
        client.memory.add_session(Session(session_id="mine", user_id="jane"))
        started = time.monotonic()
        client.user.delete("jane")
        assert time.monotonic() - started >= 0.3  # it waited for the task to succeed
        assert server.count("GET", "/api/v4/tasks/*") >= 1
        with pytest.raises(NotFoundError):
            client.user.get("jane")
        with pytest.raises(NotFoundError):
            client.memory.get_session("mine")
        client.user.add(CreateUserRequest(user_id="jane"))  # the id is free again at once


def test_a_delete_task_that_outlasts_the_wait_is_a_typed_error() -> None:
    with ZepTestServer(api="v4", task_delay=2.0) as server:
        backend = ZepBackend(server.url, server.api_key, task_timeout=0.2)
        with ZepMemoryClient(backend=backend) as client:
            client.user.add(CreateUserRequest(user_id="jane"))
            with pytest.raises(PendingDeletionError) as caught:
                client.user.delete("jane")
            assert caught.value.task and caught.value.task in str(caught.value)
            assert "0.2 s" in str(caught.value)


def test_the_task_timeout_is_checked() -> None:
    for bad in (0, -1, float("nan"), "5", True):
        with pytest.raises(ConfigurationError, match="task_timeout"):
            ZepBackend("http://127.0.0.1:9", "k", task_timeout=bad)  # type: ignore[arg-type]


# -- rate limits ---------------------------------------------------------------------------------


def test_a_429_waits_as_retry_after_then_x_ratelimit_reset_say() -> None:
    assert parse_retry_after({"retry-after": "2"}, 429) == 2.0
    soon = str(int(time.time()) + 3)
    waited = parse_retry_after({"x-ratelimit-reset": soon, "x-ratelimit-remaining": "0"}, 429)
    assert waited is not None and 1.0 <= waited <= 3.0
    # Cloud sends X-RateLimit-Reset on every answer: it is no reason to wait but on a 429
    assert parse_retry_after({"x-ratelimit-reset": soon}, 503) is None
    assert parse_retry_after({"x-ratelimit-reset": "not a time"}, 429) is None


def test_an_injected_429_is_retried_and_the_write_lands_once(cloud: Any) -> None:
    with client_of(cloud) as client:
        client.memory.add_messages("s", [Message(role="user", content="first")])
        route = "/api/v2/threads/*/messages" if cloud.api == "v3" else "/api/v4/threads/*/messages"
        cloud.faults.add("POST", route, status=429, retry_after=0)
        client.memory.add_messages("s", [Message(role="user", content="second")])
        assert [m.content for m in client.memory.get_messages("s")] == ["first", "second"]
        assert cloud.count("POST", route) == 3  # first, then the second twice


# -- what Zep's own SDK sees (v4) --------------------------------------------------------------


def test_zeps_own_sdk_reads_what_the_library_stored(zep_servers: Any) -> None:
    zep_cloud = pytest.importorskip("zep_cloud.client", reason="zep-cloud is a test dependency")
    server = zep_servers.fresh("v4")
    with ZepMemoryClient(base_url=server.url, api_key=server.api_key) as client:
        client.user.add(CreateUserRequest(user_id="jane", email="jane@example.com"))
        client.memory.add_session(Session(session_id="trip", user_id="jane"))
        client.memory.add_messages(
            "trip",
            [
                Message(role="Jane", role_type="user", content="Find me a hotel"),
                Message(role="concierge", role_type="assistant", content="Three options"),
            ],
        )
        client.user.update(UpdateUserRequest(user_id="jane", metadata={"plan": "pro"}))
    sdk = zep_cloud.Zep(api_key=server.api_key, base_url=f"{server.url}/api/v4")
    jane = sdk.user.lookup(user_id="jane")
    assert (jane.email, jane.metadata["plan"]) == ("jane@example.com", "pro")
    [thread] = list(sdk.thread.list(user_uuid=jane.uuid_))
    stored = list(sdk.thread.list_messages(thread.uuid_, order="asc"))
    assert [(m.role, m.name, m.content) for m in stored] == [
        ("user", "Jane", "Find me a hotel"),
        ("assistant", "concierge", "Three options"),
    ]
