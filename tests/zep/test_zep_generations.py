"""Real-server behaviour of the Zep backend: the generation probe, CE's limits, partial writes.

Everything runs over real HTTP against test servers on 127.0.0.1 that answer like open-source
Zep v0.27.2 (``/api/v1``) and Zep Community Edition 1.0.2 (``/api/v2``) (their transcripts are
replayed in ``tests/server/test_golden_wire.py``), and against small servers that are not Zep.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from zep_memory_plugins import (
    AlreadyExistsError,
    BackendError,
    ConfigurationError,
    CreateUserRequest,
    InvalidInputError,
    Message,
    MissingDependencyError,
    NotFoundError,
    OutcomeUnknownError,
    PartialWriteError,
    Session,
    ZepMemoryClient,
)
from zep_memory_plugins.backends.zep import ZepBackend

SECRET = "sk-zep-test-9f1e-not-a-real-key"


def client_of(server, **kwargs) -> ZepMemoryClient:
    kwargs.setdefault("backoff", 0.001)
    return ZepMemoryClient(backend=ZepBackend(server.url, server.api_key, **kwargs))


def msgs(n: int, prefix: str = "m") -> list[Message]:
    return [Message(role="user", content=f"{prefix}{i}") for i in range(n)]


class _NotZep(BaseHTTPRequestHandler):
    """Answers every GET with the same page: a web app, not a Zep server."""

    status = 404
    body = b"<!doctype html><html><body>Not here</body></html>"

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=[404, 200])
def not_zep(request) -> Iterator[str]:
    handler = type("Handler", (_NotZep,), {"status": request.param})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- the generation is found, not guessed ------------------------------------------------------


def test_one_probe_finds_the_generation_and_is_kept(server):
    client = ZepMemoryClient(base_url=server.url, api_key=server.api_key)
    client.user.add(CreateUserRequest(user_id="jane"))
    client.memory.add_messages("s", msgs(2))
    assert client.backend.name == f"zep-{server.api}"
    assert server.count("GET", "/healthz") == 1
    assert asyncio.run(client.memory.aget_messages("s", lastn=1))[0].content == "m1"
    assert server.count("GET", "/healthz") == 1  # cached per client, whatever the call mode
    client.close()


async def test_the_probe_runs_async_too(server):
    client = ZepMemoryClient(base_url=server.url, api_key=server.api_key)
    assert await client.backend.aprobe() == server.api
    await client.aclose()


@pytest.mark.parametrize("how", ["argument", "environment", "url"])
def test_the_version_can_be_set_and_then_nothing_is_probed(server, monkeypatch, how):
    if how == "argument":
        client = ZepMemoryClient(
            base_url=server.url, api_key=server.api_key, api_version=server.api
        )
    elif how == "environment":
        monkeypatch.setenv("ZEP_API_VERSION", server.api)
        client = ZepMemoryClient(base_url=server.url, api_key=server.api_key)
    else:
        client = ZepMemoryClient(base_url=f"{server.url}/api/{server.api}/", api_key=server.api_key)
    client.user.add(CreateUserRequest(user_id="jane"))
    assert client.backend.name == f"zep-{server.api}"
    assert server.count("GET", "/healthz") == 0
    client.close()


def test_auto_in_the_environment_means_probe(v1, monkeypatch):
    monkeypatch.setenv("ZEP_API_VERSION", "auto")
    with ZepMemoryClient(base_url=v1.url) as client:
        assert client.backend.probe() == "v1"


def test_an_unknown_version_is_refused():
    with pytest.raises(ConfigurationError, match="'v5'"):
        ZepMemoryClient(base_url="http://127.0.0.1:9", api_version="v5")


def test_a_url_that_is_not_zep_gets_one_clear_error(not_zep):
    client = ZepMemoryClient(base_url=not_zep)
    with pytest.raises(ConfigurationError) as info:
        client.memory.get_messages("s")
    text = str(info.value)
    assert not_zep in text and "does not answer like a Zep server" in text
    assert "<html" not in text.lower()
    assert "ZEP_API_URL" in text and "api_version" in text
    # The probe's three questions (Cloud's /api/v4, /healthz, Cloud v3's /api/v2), once each:
    # a configuration error is not retried.
    assert client.stats.http_requests == 3


def test_a_forced_version_on_a_non_zep_url_never_reads_as_empty(not_zep):
    client = ZepMemoryClient(base_url=not_zep, api_version="v1", max_retries=0)
    with pytest.raises(BackendError) as info:
        client.memory.get_messages("s")
    assert "<html" not in str(info.value).lower()
    with pytest.raises(BackendError):
        client.memory.get_messages("s", lastn=3)


def test_the_wrong_forced_version_is_an_error_not_an_empty_read(v1, v2):
    # v2 routes on a v0.27 server: an HTML 404 page; v1 routes on CE: the router's 404.
    for server, wrong in ((v1, "v2"), (v2, "v1")):
        client = ZepMemoryClient(
            base_url=server.url, api_key=server.api_key or SECRET, api_version=wrong, max_retries=0
        )
        for read in (
            lambda c: c.memory.get_messages("s"),
            lambda c: c.memory.get_messages("s", lastn=2),
            lambda c: c.memory.get_session_messages("s"),
        ):
            with pytest.raises(BackendError) as info:
                read(client)
            assert "no route" in str(info.value) and "ZEP_API_VERSION" in str(info.value)
            assert not isinstance(info.value, NotFoundError)
        client.close()


def test_ce_without_a_key_says_so_before_any_other_request(v2):
    client = ZepMemoryClient(base_url=v2.url)
    with pytest.raises(ConfigurationError) as info:
        client.user.add(CreateUserRequest(user_id="jane"))
    text = str(info.value)
    assert v2.url in text and "Community Edition" in text and "ZEP_API_KEY" in text
    assert v2.count("POST", "**") == 0  # nothing but the probe was sent
    assert v2.store.count_users() == 0


def test_ce_without_zep_python_2_names_what_to_install(v2, monkeypatch):
    monkeypatch.setitem(sys.modules, "zep_python", None)  # as if not installed
    client = ZepMemoryClient(base_url=v2.url, api_key=v2.api_key)
    with pytest.raises(MissingDependencyError) as info:
        client.memory.get_messages("s")
    text = str(info.value)
    assert v2.url in text and "Community Edition" in text and "zep-python>=2,<3" in text


def test_v1_needs_no_sdk_at_all(v1, monkeypatch):
    monkeypatch.setitem(sys.modules, "zep_python", None)
    with ZepMemoryClient(base_url=v1.url) as client:
        client.memory.add_messages("s", msgs(3))
        assert [m.content for m in client.memory.get_messages("s")] == ["m0", "m1", "m2"]


# -- the API key -------------------------------------------------------------------------------


def test_a_key_read_from_a_file_with_its_newline_works(v2, caplog):
    caplog.set_level(logging.DEBUG)
    with ZepMemoryClient(base_url=v2.url, api_key=v2.api_key + "\n") as client:
        client.user.add(CreateUserRequest(user_id="jane"))
        assert client.user.get("jane").user_id == "jane"
    assert v2.api_key not in caplog.text


@pytest.mark.parametrize("bad", [f"{SECRET}\r\nX-Evil: 1", f"sk {SECRET}", f"{SECRET}\u00e9"])
def test_a_key_a_header_cannot_carry_is_refused_without_showing_it(bad):
    with pytest.raises(ConfigurationError) as info:
        ZepMemoryClient(base_url="http://127.0.0.1:9", api_key=bad)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


def test_the_key_is_scrubbed_from_what_the_server_echoes(v2):
    # A proxy echoing the request into its error page must not put the key in an exception.
    client = client_of(v2, max_retries=0)
    client.backend.probe()
    echo = f"bad gateway for Api-Key {v2.api_key}"
    v2.faults.add("GET", "/api/v2/users/*", status=502, body=echo)
    with pytest.raises(BackendError) as info:
        client.user.get("jane")
    assert v2.api_key not in str(info.value) and "***" in str(info.value)


# -- Community Edition's limits and semantics --------------------------------------------------


def test_content_over_ces_limit_is_refused_before_anything_is_sent(v2):
    client = client_of(v2)
    client.backend.probe()
    batch = [*msgs(3), Message(role="user", content="y" * 2501)]
    with pytest.raises(InvalidInputError, match=r"messages\[3\].content.*2500") as info:
        client.memory.add_messages("s", batch)
    assert info.value.field == "messages[3].content"
    assert v2.count("POST", "**") == 0
    client.memory.add_messages("s", [Message(role="user", content="y" * 2500)])  # the limit


def test_v1_takes_long_content(v1):
    client = client_of(v1)
    client.memory.add_messages("s", [Message(role="user", content="y" * 10_000)])
    assert len(client.memory.get_messages("s")[0].content) == 10_000


@pytest.mark.parametrize("n", [30, 31, 65])
async def test_big_batches_go_30_at_a_time_on_ce(v2, n, api_mode):
    client = client_of(v2)
    client.backend.probe()
    batch = msgs(n)
    if api_mode == "sync":
        stored = client.memory.add_messages("s", batch)
    else:
        stored = await client.memory.aadd_messages("s", batch)
    assert v2.count("POST", "/api/v2/sessions/s/memory") == -(-n // 30)
    got = client.memory.get_messages("s")
    assert [m.content for m in got] == [f"m{i}" for i in range(n)]
    assert [m.uuid for m in got] == [m.uuid for m in stored]


def test_a_batch_is_one_request_on_v1_whatever_its_size(v1):
    client = client_of(v1)
    client.memory.add_messages("s", msgs(65))
    assert v1.count("POST", "/api/v1/sessions/s/memory") == 1


@pytest.mark.parametrize("api_mode", ["sync", "async"])
async def test_a_write_that_stops_part_way_says_what_landed_and_completes_when_repeated(
    v2, api_mode
):
    client = client_of(v2, max_retries=1)
    client.backend.probe()
    batch = msgs(65)
    path = "/api/v2/sessions/s/memory"

    async def add() -> list[Message]:
        if api_mode == "sync":
            return client.memory.add_messages("s", batch)
        return await client.memory.aadd_messages("s", batch)

    # The first request goes through (only slowed down), every later one fails.
    v2.faults.add("POST", path, status=None, delay=0.0001, times=1)
    v2.faults.add("POST", path, status=503, times=None)
    with pytest.raises(PartialWriteError) as info:
        await add()
    error = info.value
    assert len(error.stored) == 30 and len(error.pending) == 35
    assert "30 of 65" in str(error) and "again" in str(error)
    assert [m.content for m in client.memory.get_messages("s")] == [f"m{i}" for i in range(30)]
    assert [m.uuid for m in error.stored] == [m.uuid for m in batch[:30]]

    v2.faults.clear()
    await add()  # the same call again completes it
    got = client.memory.get_messages("s")
    assert [m.content for m in got] == [f"m{i}" for i in range(65)]
    assert len({m.uuid for m in got}) == 65


def test_nothing_stored_when_the_first_request_fails(v2):
    client = client_of(v2, max_retries=0)
    client.backend.probe()
    v2.faults.add("POST", "/api/v2/sessions/s/memory", status=500, times=None)
    with pytest.raises(BackendError) as info:
        client.memory.add_messages("s", msgs(65))
    assert not isinstance(info.value, PartialWriteError)
    v2.faults.clear()
    assert client.memory.get_messages("s") == []


def test_a_repeated_uuid_is_still_refused(server):
    client = client_of(server)
    batch = msgs(2)
    client.memory.add_messages("s", batch)
    with pytest.raises(AlreadyExistsError, match=str(batch[0].uuid)):
        client.memory.add_messages("s", [batch[0]])
    assert len(client.memory.get_messages("s")) == 2


def test_whole_reads_are_never_cut_by_the_servers_window(server):
    client = client_of(server)
    client.memory.add_messages("s", msgs(40))
    assert len(client.memory.get_messages("s")) == 40  # the window is 12 (v1) or 6 (CE)
    assert len(client.memory.get_memory("s").messages) == 40
    assert len(client.memory.get_messages("s", lastn=20)) == 20


def test_listings_ce_accepts_one_request_per_chunk(v2):
    client = client_of(v2)
    for i in range(25):
        client.memory.add_session(Session(session_id=f"s{i:02d}"))
    client.memory.delete_memory("s03")
    client.stats.reset()
    chunks = list(client.memory.list_all_sessions(10))
    assert [len(c) for c in chunks] == [10, 10, 4]
    assert "s03" not in [s.session_id for c in chunks for s in c]
    assert client.stats.http_requests <= 4  # a stand-in listed among them costs one more
    assert v2.count("GET", "/api/v2/sessions-ordered") == 0  # it refuses order_by=id


def test_an_update_without_metadata_never_wipes_it(v2):
    client = client_of(v2)
    client.memory.add_session(Session(session_id="s", metadata={"a": 1}))
    assert client.memory.update_session(Session(session_id="s", metadata={})).metadata == {"a": 1}
    assert client.memory.update_session(Session(session_id="s")).metadata == {"a": 1}
    assert v2.count("PATCH", "**") == 0
    assert client.memory.get_session("s").metadata == {"a": 1}


def test_clear_and_write_again_keeps_owner_and_metadata(server):
    client = client_of(server)
    client.user.add(CreateUserRequest(user_id="ann"))
    client.user.add(CreateUserRequest(user_id="bob"))
    client.memory.add_session(Session(session_id="s", user_id="ann", metadata={"topic": "t"}))
    client.memory.add_messages("s", msgs(2, "old"))
    client.memory.delete_memory("s")
    with pytest.raises(NotFoundError):
        client.memory.get_session("s")
    assert client.user.get_sessions("ann") == []
    with pytest.raises(AlreadyExistsError):  # the id stays taken, as on /api/v1
        client.memory.add_session(Session(session_id="s", user_id="bob"))
    client.memory.add_messages("s", msgs(1, "new"))
    session = client.memory.get_session("s")
    assert (session.user_id, session.metadata) == ("ann", {"topic": "t"})
    assert [m.content for m in client.memory.get_messages("s")] == ["new0"]
    assert [s.session_id for s in client.user.get_sessions("ann")] == ["s"]
    client.user.delete("ann")  # the privacy promise: everything of theirs goes
    assert client.memory.get_messages("s") == []
    with pytest.raises(NotFoundError):
        client.memory.get_session("s")


def test_a_deleted_session_is_revived_by_an_update_from_any_client(server):
    first, other = client_of(server), client_of(server)
    first.user.add(CreateUserRequest(user_id="ann"))
    first.memory.add_session(Session(session_id="s", user_id="ann", metadata={"a": 1}))
    first.memory.delete_memory("s")
    with pytest.raises(NotFoundError):
        other.memory.delete_memory("s")  # deleting again: not found, on both generations
    revived = other.memory.update_session(Session(session_id="s", metadata={"b": 2}))
    assert (revived.user_id, revived.metadata) == ("ann", {"a": 1, "b": 2})


def test_reserved_stand_in_key_is_refused_on_ce(v2):
    client = client_of(v2)
    with pytest.raises(InvalidInputError, match="zep_memory_deleted_at"):
        client.memory.add_session(Session(session_id="s", metadata={"zep_memory_deleted_at": 1}))
    assert v2.count("POST", "**") == 0


# -- deletes and merges that got no answer are not resent ---------------------------------------


@pytest.mark.parametrize("what", ["session", "user", "metadata"])
def test_a_timed_out_delete_or_merge_is_not_sent_again(server, what):
    client = client_of(server, timeout=0.3, max_retries=3)
    client.user.add(CreateUserRequest(user_id="ann"))
    client.memory.add_session(Session(session_id="s", user_id="ann"))
    api = f"/api/{server.api}"
    user_path = f"{api}/{'user' if server.api == 'v1' else 'users'}/ann"
    method, path, call = {
        "session": ("DELETE", f"{api}/sessions/s/memory", lambda: client.memory.delete_memory("s")),
        "user": ("DELETE", user_path, lambda: client.user.delete("ann")),
        "metadata": (
            "PATCH",
            f"{api}/sessions/s",
            lambda: client.memory.update_session(Session(session_id="s", metadata={"x": 1})),
        ),
    }[what]
    server.faults.add(method, path, status=None, delay=1.0, times=None)
    with pytest.raises(OutcomeUnknownError) as info:
        call()
    assert "may or may not" in str(info.value)
    assert server.count(method, path) == 1


def test_a_timed_out_write_of_messages_is_resent_safely(server):
    client = client_of(server, timeout=0.5, max_retries=2)
    client.backend.probe()
    path = f"/api/{server.api}/sessions/s/memory"
    server.faults.add("POST", path, status=None, delay=1.0, times=1)
    client.memory.add_messages("s", msgs(3))
    server.faults.clear()
    import time

    time.sleep(0.7)  # the slow first copy lands (or is refused as a duplicate) meanwhile
    assert [m.content for m in client.memory.get_messages("s")] == ["m0", "m1", "m2"]


# -- answers that are not Zep's ----------------------------------------------------------------


def test_an_answer_that_does_not_parse_is_an_error_not_an_empty_model(server):
    client = client_of(server, max_retries=0)
    client.backend.probe()
    user_path = f"/api/{server.api}/{'user' if server.api == 'v1' else 'users'}/jane"
    server.faults.add("GET", user_path, status=200, body='{"nothing": "here"}', times=None)
    with pytest.raises(BackendError, match=r"not Zep's|not a Zep answer"):
        client.user.get("jane")


# -- more than one request per batch on /api/v1 too (bodies over 1 MB) --------------------------


def test_a_v1_batch_over_a_megabyte_that_stops_part_way_says_so_and_completes(v1):
    client = client_of(v1, max_retries=0)
    big = [Message(role="user", content=f"{i}" + "x" * 600_000) for i in range(3)]
    path = "/api/v1/sessions/s/memory"
    v1.faults.add("POST", path, status=None, delay=0.0001, times=1)  # the first goes through
    v1.faults.add("POST", path, status=500, times=None)
    with pytest.raises(PartialWriteError) as info:
        client.memory.add_messages("s", big)
    assert [m.uuid for m in info.value.stored] == [big[0].uuid]
    assert [m.uuid for m in info.value.pending] == [big[1].uuid, big[2].uuid]
    assert [m.uuid for m in client.memory.get_messages("s")] == [big[0].uuid]
    v1.faults.clear()
    client.memory.add_messages("s", big)
    assert [m.uuid for m in client.memory.get_messages("s")] == [m.uuid for m in big]


# -- the command line shows no key either -------------------------------------------------------


def test_the_cli_takes_a_key_with_a_newline_and_never_prints_a_bad_one(v2, monkeypatch, capsys):
    from zep_memory_plugins.cli import main

    monkeypatch.setenv("ZEP_API_KEY", v2.api_key + "\n")
    assert main(["users", "list", "--url", v2.url]) == 0
    monkeypatch.setenv("ZEP_API_KEY", f"{SECRET}\nX-Evil: 1")
    code = main(["users", "list", "--url", v2.url])
    out, err = capsys.readouterr()
    assert code != 0 and "API key" in err
    assert SECRET not in out + err
