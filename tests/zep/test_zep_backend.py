"""The Zep backend beyond the contract suite: failures, retries, idempotent writes, request counts.

Each test runs on both generations: ``/api/v1`` over the library's own httpx transport, and
``/api/v2`` through zep-python 2.x, over real HTTP to a test server of that generation on
127.0.0.1; faults are injected by the server, never by patching the SDK or the transport.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import math
import socket
import uuid

import pytest

from zep_memory_plugins import (
    AlreadyExistsError,
    AuthenticationError,
    ConfigurationError,
    CreateUserRequest,
    Message,
    NotFoundError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    Session,
    ZepMemoryClient,
)

if any(importlib.util.find_spec(m) is None for m in ("starlette", "uvicorn")):
    pytest.skip("the Zep test server needs starlette and uvicorn", allow_module_level=True)

from zep_memory_plugins.backends.zep import MESSAGE_PAGE_SIZE, ZepBackend
from zep_memory_plugins.testing import ZepTestServer

SECRET = "sk-zep-test-4b1c9a77-not-a-real-key"


@pytest.fixture
def api_root(server) -> str:
    return f"/api/{server.api}"


@pytest.fixture
def memory_path(api_root) -> str:
    return f"{api_root}/sessions/*/memory"


def make_client(url: str, **kwargs) -> ZepMemoryClient:
    kwargs.setdefault("backoff", 0.001)
    return ZepMemoryClient(backend=ZepBackend(url, **kwargs))


@pytest.fixture
def zc(server):
    client = make_client(server.url, api_key=server.api_key)
    assert client.backend.probe() == server.api
    client.stats.reset()
    yield client
    client.close()


def _msgs(n: int) -> list[Message]:
    return [Message(role="user", content=f"m{i}") for i in range(n)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- construction ------------------------------------------------------------------------------


def test_the_servers_generation_is_found_and_named(server):
    client = ZepMemoryClient(base_url=server.url, api_key=server.api_key)
    assert client.backend.name == "zep"  # not asked yet
    client.user.add(CreateUserRequest(user_id="jane"))
    assert client.backend.name == f"zep-{server.api}"
    assert client.backend.describe() == f"zep-{server.api}:{server.url}"
    assert repr(client) == f"ZepMemoryClient(backend='zep-{server.api}:{server.url}')"
    client.close()


def test_api_key_without_url_names_zep_api_url(monkeypatch):
    monkeypatch.setenv("ZEP_API_KEY", SECRET)
    with pytest.raises(ConfigurationError, match="ZEP_API_URL") as info:
        ZepMemoryClient()
    assert SECRET not in str(info.value)


def test_url_from_the_environment_and_explicit_url_wins(server, monkeypatch):
    monkeypatch.setenv("ZEP_API_URL", server.url)
    if server.api_key:
        monkeypatch.setenv("ZEP_API_KEY", server.api_key)
    with ZepMemoryClient() as client:
        client.user.add(CreateUserRequest(user_id="env"))
    # zep-python 2.x's own constructor would prefer ZEP_API_URL over base_url: ours must not.
    monkeypatch.setenv("ZEP_API_URL", f"http://127.0.0.1:{_free_port()}")
    with ZepMemoryClient(base_url=server.url, api_key=server.api_key) as client:
        assert client.user.get("env").user_id == "env"


def test_bad_configuration_is_refused():
    with pytest.raises(ConfigurationError, match="http"):
        ZepBackend("localhost:8000")
    with pytest.raises(ConfigurationError, match="timeout"):
        ZepBackend("http://127.0.0.1:1", timeout=0)
    with pytest.raises(ConfigurationError, match="max_retries"):
        ZepBackend("http://127.0.0.1:1", max_retries=-1)
    with pytest.raises(ConfigurationError, match="api_version"):
        ZepBackend("http://127.0.0.1:1", api_version="v5")


# -- unreachable, restarted, slow --------------------------------------------------------------


def test_unreachable_server_is_a_clear_service_unavailable_error():
    url = f"http://127.0.0.1:{_free_port()}"
    client = make_client(url, max_retries=2)
    with pytest.raises(ServiceUnavailableError) as info:
        client.user.get("jane")
    text = str(info.value)
    assert url in text and "unreachable" in text and "ZEP_API_URL" in text
    assert "after 3 attempts" in text
    assert client.stats.http_requests == 3  # first attempt + 2 retries


async def test_unreachable_server_async():
    client = make_client(f"http://127.0.0.1:{_free_port()}", max_retries=0)
    with pytest.raises(ServiceUnavailableError, match="unreachable"):
        await client.memory.aget_messages("s")
    await client.aclose()


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_server_restarted_between_calls_keeps_working(api):
    with ZepTestServer(api=api) as own:
        client = make_client(own.url, api_key=own.api_key)
        client.memory.add_messages("s", _msgs(2))
        own.restart()
        client.memory.add_messages("s", _msgs(1))
        assert [m.content for m in client.memory.get_messages("s")] == ["m0", "m1", "m0"]

        async def after_restart():
            own.restart()
            return await client.memory.aget_messages("s", lastn=1)

        assert [m.content for m in asyncio.run(after_restart())] == ["m0"]
        client.close()


def test_timeout_is_configurable(server, api_root):
    client = make_client(server.url, api_key=server.api_key, timeout=0.2, max_retries=0)
    client.user.add(CreateUserRequest(user_id="jane"))  # the generation is known
    server.faults.add("GET", f"{api_root}/sessions/*", status=None, delay=1.0)
    with pytest.raises(ServiceUnavailableError, match=r"did not answer in time"):
        client.memory.get_session("s")
    client.close()


# -- retries -----------------------------------------------------------------------------------


def test_429_then_success(server, zc, memory_path, api_root):
    zc.memory.add_session(Session(session_id="s"))
    server.faults.add("GET", f"{api_root}/sessions/s", status=429, times=2, retry_after=0)
    assert zc.memory.get_session("s").session_id == "s"
    assert server.count("GET", f"{api_root}/sessions/s") == 3


def test_429_until_the_budget_runs_out(server, api_root):
    client = make_client(server.url, api_key=server.api_key, max_retries=1)
    client.user.add(CreateUserRequest(user_id="jane"))  # the generation is known
    server.faults.add("GET", f"{api_root}/sessions/s", status=429, times=None, body="slow down")
    with pytest.raises(RateLimitError, match="429") as info:
        client.memory.get_session("s")
    assert info.value.status_code == 429
    assert server.count("GET", f"{api_root}/sessions/s") == 2


def test_5xx_on_a_read_is_retried_then_reported_with_the_servers_message(server, zc, api_root):
    server.faults.add("GET", f"{api_root}/sessions/*/messages", status=503, times=1)
    assert zc.memory.get_messages("s") == []
    messages = f"{api_root}/sessions/*/messages"
    server.faults.add("GET", messages, status=500, times=None, body="db down")
    with pytest.raises(ServerError, match="db down") as info:
        zc.memory.get_messages("s")
    assert info.value.status_code == 500


@pytest.mark.parametrize("mode", ["status", "drop"])
async def test_write_that_landed_but_failed_is_not_stored_twice(
    server, zc, api_mode, mode, memory_path
):
    """500 (or a dropped connection) AFTER the batch was stored: the retry must not duplicate."""
    fault = {"status": 500} if mode == "status" else {"drop": True}
    server.faults.add("POST", memory_path, after=True, **fault)
    batch = _msgs(3)
    if api_mode == "sync":
        stored = zc.memory.add_messages("s", batch)
    else:
        stored = await zc.memory.aadd_messages("s", batch)
    got = zc.memory.get_messages("s")
    assert [m.content for m in got] == ["m0", "m1", "m2"]
    assert [m.uuid for m in got] == [m.uuid for m in stored]
    assert server.count("POST", memory_path) == 2


async def test_write_that_failed_before_landing_is_stored_once(server, zc, api_mode, memory_path):
    server.faults.add("POST", memory_path, status=500, times=2)
    if api_mode == "sync":
        zc.memory.add_messages("s", _msgs(2))
    else:
        await zc.memory.aadd_messages("s", _msgs(2))
    assert [m.content for m in zc.memory.get_messages("s")] == ["m0", "m1"]
    assert server.count("POST", memory_path) == 3


def test_a_real_duplicate_uuid_is_still_refused_after_a_retry(server, zc, memory_path, api_root):
    taken = uuid.uuid4()
    zc.memory.add_messages("s", [Message(role="user", content="first", uuid=taken)])
    server.faults.add("POST", memory_path, status=503, times=1)
    with pytest.raises(AlreadyExistsError, match=str(taken)):
        zc.memory.add_messages("s", [Message(role="user", content="other", uuid=taken)])
    assert [m.content for m in zc.memory.get_messages("s")] == ["first"]


def test_write_failing_for_good_is_a_server_error_and_stores_nothing(server, memory_path):
    client = make_client(server.url, api_key=server.api_key, max_retries=2)
    client.user.add(CreateUserRequest(user_id="jane"))  # the generation is known
    server.faults.add("POST", memory_path, status=500, times=None)
    with pytest.raises(ServerError):
        client.memory.add_messages("s", _msgs(2))
    server.faults.clear()
    assert client.memory.get_messages("s") == []
    assert server.count("POST", memory_path) == 3


def test_other_writes_that_landed_are_not_repeated_or_misreported(server, zc, api_root):
    server.faults.add("POST", f"{api_root}/{'user' if server.api == 'v1' else 'users'}", after=True)
    assert zc.user.add(CreateUserRequest(user_id="jane", email="j@x.io")).email == "j@x.io"
    server.faults.add("POST", f"{api_root}/sessions", after=True)
    assert zc.memory.add_session(Session(session_id="s", user_id="jane")).user_id == "jane"
    server.faults.add("DELETE", f"{api_root}/sessions/s/memory", status=503, after=True)
    zc.memory.delete_memory("s")  # the retry's 404 means the first attempt deleted it
    with pytest.raises(NotFoundError):
        zc.memory.get_session("s")
    server.faults.add("DELETE", f"{api_root}/*/jane", status=503, after=True)
    zc.user.delete("jane")
    with pytest.raises(NotFoundError):
        zc.user.get("jane")


# -- authentication and secrets ----------------------------------------------------------------


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_wrong_api_key_is_an_authentication_error_that_never_shows_the_key(caplog, api):
    caplog.set_level(logging.DEBUG)
    with ZepTestServer(api=api, api_key="the-right-key") as own:
        client = make_client(own.url, api_key=SECRET)
        with pytest.raises(AuthenticationError) as info:
            client.user.get("jane")
        assert info.value.status_code == 401
        assert "ZEP_API_KEY" in str(info.value)
        for text in (str(info.value), repr(info.value), repr(client), repr(client.backend)):
            assert SECRET not in text
        assert SECRET not in caplog.text
        # the probe (Cloud's /api/v4 route, then /healthz), then one 401: it is not retried
        assert own.count("GET", "**") == 3
        client.close()
        if api == "v1":
            no_key = make_client(own.url)
            with pytest.raises(AuthenticationError):
                no_key.memory.get_session("s")
        else:
            with pytest.raises(ConfigurationError, match="requires an API key"):
                make_client(own.url).memory.get_session("s")
        right = make_client(own.url, api_key="the-right-key")
        right.user.add(CreateUserRequest(user_id="jane"))
        assert right.user.get("jane").user_id == "jane"
        assert "the-right-key" not in repr(right)


# -- event loops -------------------------------------------------------------------------------


def test_several_asyncio_run_calls_on_one_client(zc):
    for i in range(3):
        asyncio.run(zc.memory.aadd_messages("s", [Message(role="user", content=f"run {i}")]))
    got = asyncio.run(zc.memory.aget_messages("s"))
    assert [m.content for m in got] == ["run 0", "run 1", "run 2"]
    assert [m.content for m in zc.memory.get_messages("s")] == ["run 0", "run 1", "run 2"]


async def test_concurrent_async_calls(zc):
    await asyncio.gather(*(zc.memory.aadd_messages(f"s{i}", _msgs(2)) for i in range(10)))
    counts = await asyncio.gather(*(zc.memory.aget_messages(f"s{i}") for i in range(10)))
    assert [len(c) for c in counts] == [2] * 10


# -- requests per operation ----------------------------------------------------------------------


def test_a_batch_is_one_request(server, zc, memory_path, api_root):
    zc.stats.reset()
    zc.memory.add_messages("s", _msgs(10))
    assert zc.stats.http_requests == 1
    assert server.count("POST", memory_path) == 1


@pytest.mark.parametrize("n", [0, 1, MESSAGE_PAGE_SIZE, MESSAGE_PAGE_SIZE + 1, 250])
async def test_reading_a_whole_session_takes_ceil_n_over_page_requests(zc, api_mode, n):
    if n:
        zc.memory.add_messages("s", _msgs(n))
    zc.stats.reset()
    if api_mode == "sync":
        got = zc.memory.get_messages("s")
    else:
        got = await zc.memory.aget_messages("s")
    assert [m.content for m in got] == [f"m{i}" for i in range(n)]
    assert zc.stats.http_requests == max(1, math.ceil(n / MESSAGE_PAGE_SIZE))


def test_last_n_is_one_request(zc):
    zc.memory.add_messages("s", _msgs(30))
    zc.stats.reset()
    last = zc.memory.get_messages("s", lastn=20)
    assert [m.content for m in last] == [f"m{i}" for i in range(10, 30)]
    assert zc.stats.http_requests == 1


def test_listing_users_in_chunks_is_one_request_per_chunk(zc):
    for i in range(250):
        zc.user.add(CreateUserRequest(user_id=f"u{i:03d}"))
    zc.stats.reset()
    chunks = list(zc.user.list_chunked(100))
    assert [len(c) for c in chunks] == [100, 100, 50]
    assert zc.stats.http_requests == 3


async def test_listing_in_chunks_survives_deletions_between_chunks(zc, api_mode):
    ids = [f"u{i:02d}" for i in range(30)]
    for uid in ids:
        zc.user.add(CreateUserRequest(user_id=uid))
    first = zc.user.list(limit=10)
    zc.user.delete("u03")  # before the cursor: positions shift left by one
    zc.user.delete("u12")  # after the cursor
    if api_mode == "sync":
        rest = zc.user.list(limit=10, cursor=first[-1].id)
    else:
        rest = await zc.user.alist(limit=10, cursor=first[-1].id)
    assert [u.user_id for u in rest] == [f"u{i:02d}" for i in (10, 11, *range(13, 21))]
    # a cursor the client never handed out works too
    assert [u.user_id for u in zc.user.list(limit=2, cursor=rest[3].id)] == ["u15", "u16"]


def test_sessions_in_chunks_after_deletes(zc):
    for i in range(25):
        zc.memory.add_session(Session(session_id=f"s{i:02d}"))
    chunk = zc.memory.list_sessions(limit=10)
    zc.memory.delete_memory("s02")
    rest = zc.memory.list_sessions(limit=100, cursor=chunk[-1].id)
    assert [s.session_id for s in rest] == [f"s{i:02d}" for i in range(10, 25)]


# -- messages details ----------------------------------------------------------------------------


def test_role_type_round_trips_and_never_leaks_into_metadata(zc):
    zc.memory.add_messages(
        "s",
        [
            Message(role="Jane", role_type="user", content="a"),
            Message(role="Jane", role_type="user", content="b", metadata={"k": 1}),
            Message(role="bot", role_type="assistant", content="c"),
        ],
    )
    got = zc.memory.get_messages("s")
    assert [(m.role, m.role_type, m.metadata) for m in got] == [
        ("Jane", "user", None),
        ("Jane", "user", {"k": 1}),
        ("bot", "assistant", None),
    ]
    updated = zc.memory.update_message_metadata("s", got[0].uuid, {"x": 1})
    assert (updated.role_type, updated.metadata) == ("user", {"x": 1})
    (last,) = zc.memory.get_messages("s", lastn=1)
    assert (last.role_type, last.metadata) == ("assistant", None)


def test_close_and_aclose(server):
    client = make_client(server.url, api_key=server.api_key)
    client.user.add(CreateUserRequest(user_id="jane"))

    async def use_and_close():
        await client.user.aget("jane")
        await client.aclose()

    asyncio.run(use_and_close())
    client.close()
    # A closed client opens new connections if used again.
    assert client.user.get("jane").user_id == "jane"
    client.close()
