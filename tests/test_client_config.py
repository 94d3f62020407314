"""How the client picks its backend, and client-level behaviour outside the contract suite."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from zep_memory_plugins import (
    ConfigurationError,
    CreateUserRequest,
    EmbeddedBackend,
    Message,
    MissingDependencyError,
    Session,
    Settings,
    ZepMemoryClient,
)
from zep_memory_plugins.store import SQLiteStore, default_path

SECRET = "sk-test-7d1f0c9e-not-a-real-key"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for name in ("ZEP_API_URL", "ZEP_API_KEY", "ZEP_MEMORY_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def test_no_configuration_means_the_embedded_store_in_the_user_data_dir(tmp_path):
    with ZepMemoryClient() as client:
        assert isinstance(client.backend, EmbeddedBackend)
        client.memory.add_messages("s", [Message(role="user", content="persisted")])
    expected = tmp_path / "xdg" / "zep-memory-plugins" / "memory.sqlite3"
    assert default_path() == expected
    assert expected.exists()
    with ZepMemoryClient() as again:
        assert [m.content for m in again.memory.get_messages("s")] == ["persisted"]


def test_path_from_environment_variable(monkeypatch, tmp_path):
    target = tmp_path / "custom" / "memory.db"
    monkeypatch.setenv("ZEP_MEMORY_PATH", str(target))
    with ZepMemoryClient() as client:
        client.user.add(CreateUserRequest(user_id="jane"))
        assert str(target) in repr(client)
    assert target.exists()


def test_path_argument_wins_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEP_MEMORY_PATH", str(tmp_path / "env.db"))
    with ZepMemoryClient(path=tmp_path / "arg.db") as client:
        client.user.add(CreateUserRequest(user_id="jane"))
    assert (tmp_path / "arg.db").exists()
    assert not (tmp_path / "env.db").exists()


def test_data_survives_a_new_client_on_the_same_file(tmp_path):
    path = tmp_path / "m.db"
    with ZepMemoryClient(path=path) as client:
        client.user.add(CreateUserRequest(user_id="jane", metadata={"k": 1}))
        client.memory.add_session(Session(session_id="s", user_id="jane"))
        client.memory.add_messages("s", [Message(role="user", content="hello")])
    with ZepMemoryClient(path=path) as fresh:
        assert fresh.user.get("jane").metadata == {"k": 1}
        assert [s.session_id for s in fresh.user.get_sessions("jane")] == ["s"]
        assert [m.content for m in fresh.memory.get_messages("s")] == ["hello"]


def test_api_key_without_url_names_what_to_set_and_hides_the_key(monkeypatch):
    monkeypatch.setenv("ZEP_API_KEY", SECRET)
    with pytest.raises(ConfigurationError) as info:
        ZepMemoryClient()
    assert "ZEP_API_URL" in str(info.value)
    assert SECRET not in str(info.value)
    with pytest.raises(ConfigurationError, match="api_key") as info:
        ZepMemoryClient(api_key=SECRET, path=":memory:")
    assert SECRET not in str(info.value)


def test_an_explicit_path_wins_over_zep_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEP_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ZEP_API_KEY", SECRET)
    with ZepMemoryClient(path=tmp_path / "local.db") as client:
        assert isinstance(client.backend, EmbeddedBackend)
        client.user.add(CreateUserRequest(user_id="jane"))
    assert (tmp_path / "local.db").exists()


def test_bad_path_and_backend_arguments_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="path"):
        ZepMemoryClient(path=5)
    with pytest.raises(ConfigurationError, match="Backend"):
        ZepMemoryClient(backend="embedded")


def test_conflicting_arguments_are_refused():
    with pytest.raises(ConfigurationError, match="path"):
        ZepMemoryClient(base_url="http://127.0.0.1:1", path=":memory:")
    with pytest.raises(ConfigurationError, match="base_url or api_url"):
        ZepMemoryClient(base_url="http://127.0.0.1:1", api_url="http://127.0.0.1:2")
    with pytest.raises(ConfigurationError, match="timeout"):
        ZepMemoryClient(path=":memory:", timeout=3)


def test_missing_dependency_error_carries_the_install_hint():
    error = MissingDependencyError("zep-python", "zep")
    assert error.install_hint == 'pip install "zep-memory-plugins[zep]"'
    assert error.install_hint in str(error)
    assert isinstance(error, ImportError) and isinstance(error, ConfigurationError)


def test_an_unopenable_store_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    from zep_memory_plugins import BackendError

    with pytest.raises(BackendError, match="embedded store"):
        ZepMemoryClient(path=blocker / "sub" / "m.db")


def test_a_store_from_a_newer_release_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "future.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    from zep_memory_plugins import BackendError

    with pytest.raises(BackendError, match="schema version 99"):
        SQLiteStore(path)


def test_a_single_message_instead_of_a_list_is_refused_clearly():
    from zep_memory_plugins import InvalidInputError

    with ZepMemoryClient(path=":memory:") as client:
        with pytest.raises(InvalidInputError, match="wrap a single message in a list") as info:
            client.memory.add_messages("s", Message(role="user", content="x"))
        assert info.value.field == "messages"
        with pytest.raises(InvalidInputError) as info:
            client.memory.add_messages("s", ["just text"])
        assert info.value.field == "messages[0]"
        assert str(info.value).count("messages[0]") == 1
        assert client.memory.get_messages("s") == []


def test_stats_count_backend_calls(tmp_path):
    with ZepMemoryClient(path=":memory:") as client:
        client.memory.add_messages("s", [Message(role="user", content=str(i)) for i in range(10)])
        client.memory.get_messages("s", lastn=3)
        client.memory.get_messages("s")
        assert client.stats.writes == 1
        assert client.stats.reads == 2
        assert client.stats.calls == {"add_messages": 1, "get_messages": 2}
        client.memory.add_messages("s", [])  # nothing to send: no backend call
        client.memory.update_session(Session(session_id="s", metadata={}))  # a read, no write
        assert client.stats.writes == 1
        client.stats.reset()
        assert client.stats.snapshot() == {
            "calls": {},
            "reads": 0,
            "writes": 0,
            "http_requests": 0,
        }


def test_async_client_works_across_several_event_loops(tmp_path):
    client = ZepMemoryClient(path=tmp_path / "loops.db")

    async def turn(i: int) -> int:
        await client.memory.aadd_messages("s", [Message(role="user", content=str(i))])
        return len(await client.memory.aget_messages("s"))

    assert [asyncio.run(turn(i)) for i in range(3)] == [1, 2, 3]

    async def with_context() -> list[str]:
        async with ZepMemoryClient(path=tmp_path / "loops.db") as c:
            return [m.content for m in await c.memory.aget_messages("s")]

    assert asyncio.run(with_context()) == ["0", "1", "2"]
    client.close()


def test_logs_never_carry_message_content(caplog, tmp_path):
    caplog.set_level(logging.DEBUG, logger="zep_memory_plugins")
    with ZepMemoryClient(path=tmp_path / "log.db") as client:
        client.user.add(CreateUserRequest(user_id="jane"))
        client.memory.add_session(Session(session_id="s", user_id="jane"))
        client.memory.add_messages("s", [Message(role="user", content="my secret diagnosis")])
        client.memory.get_messages("s")
        client.user.delete("jane")
    assert "my secret diagnosis" not in caplog.text


# -- the settings object -----------------------------------------------------------------------


def test_settings_read_the_environment_and_arguments_win(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEP_API_URL", "http://env.example:8000")
    monkeypatch.setenv("ZEP_API_KEY", SECRET)
    monkeypatch.setenv("ZEP_API_VERSION", "v1")
    monkeypatch.setenv("ZEP_MEMORY_PATH", str(tmp_path / "env.db"))
    from_env = Settings()
    assert from_env.api_url == "http://env.example:8000"
    assert from_env.api_key_value() == SECRET
    assert from_env.api_version == "v1"
    assert from_env.memory_path == str(tmp_path / "env.db")
    assert from_env.arguments == frozenset()
    mixed = Settings(api_url="http://arg.example:8000", api_version="v2", timeout=5)
    assert mixed.api_url == "http://arg.example:8000"  # the argument wins
    assert mixed.api_version == "v2"
    assert mixed.api_key_value() == SECRET  # what no argument says comes from the environment
    assert mixed.timeout == 5.0
    assert mixed.arguments == {"api_url", "api_version", "timeout"}
    # None and "" (for the URL, key and version) mean "not given", as for the client
    assert Settings(api_url="", api_key=None).api_url == "http://env.example:8000"
    assert Settings(api_version="AUTO").api_version is None  # auto: ask the server


def test_an_explicit_path_reads_no_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEP_API_URL", "http://env.example:8000")
    monkeypatch.setenv("ZEP_API_KEY", "a key no header can carry")
    monkeypatch.setenv("ZEP_API_VERSION", "v9")
    local = Settings(memory_path=tmp_path / "local.db")
    assert local.api_url is None and local.api_key is None and local.api_version is None
    assert local.memory_path == str(tmp_path / "local.db")
    with ZepMemoryClient(settings=local) as client:
        assert isinstance(client.backend, EmbeddedBackend)
        assert client.backend.store.path == str(tmp_path / "local.db")


def test_timeout_and_max_retries_are_arguments_only(monkeypatch):
    monkeypatch.setenv("ZEP_TIMEOUT", "not a number")
    monkeypatch.setenv("ZEP_MAX_RETRIES", "many")
    read = Settings()
    assert read.timeout is None and read.max_retries is None


def test_the_key_is_a_secret_and_never_shown(monkeypatch):
    monkeypatch.setenv("ZEP_API_KEY", f"  {SECRET}\n")  # as read from a file: stripped
    monkeypatch.setenv("ZEP_API_URL", "http://127.0.0.1:9")
    read = Settings()
    assert isinstance(read.api_key, SecretStr)
    assert read.api_key_value() == SECRET
    for shown in (repr(read), str(read), read.model_dump_json(), repr(read.model_dump())):
        assert SECRET not in shown
    with ZepMemoryClient(settings=read) as client:
        assert SECRET not in repr(client)
    for bad in (f"{SECRET} extra", f"{SECRET}\x00", f"{SECRET}\u00e9", f"{SECRET}\r\nX-Evil: 1"):
        with pytest.raises(ConfigurationError, match="HTTP header") as info:
            Settings(api_url="http://127.0.0.1:9", api_key=bad)
        _assert_hidden(info.value, SECRET)
        if "\x00" in bad:
            continue  # no environment variable can hold a NUL
        monkeypatch.setenv("ZEP_API_KEY", bad)
        with pytest.raises(ConfigurationError) as info:
            ZepMemoryClient()
        _assert_hidden(info.value, SECRET)


def _assert_hidden(error: BaseException, secret: str) -> None:
    """Neither the error nor anything chained to it shows the secret."""
    seen: BaseException | None = error
    while seen is not None:
        assert secret not in str(seen) and secret not in repr(seen)
        assert not isinstance(seen, ValidationError)
        seen = seen.__cause__ or seen.__context__


def test_a_key_from_another_variable_must_be_set(monkeypatch):
    monkeypatch.setenv("MY_ZEP_KEY", f"{SECRET}\n")
    assert Settings(api_key_env="MY_ZEP_KEY").api_key_value() == SECRET
    monkeypatch.setenv("MY_ZEP_KEY", "  ")
    with pytest.raises(ConfigurationError, match="MY_ZEP_KEY is not set or empty"):
        Settings(api_key_env="MY_ZEP_KEY")
    with pytest.raises(ConfigurationError, match="not both"):
        Settings(api_key=SECRET, api_key_env="MY_ZEP_KEY")


@pytest.mark.parametrize(
    "timeout", ["10s", "10", [10], {"s": 1}, float("nan"), float("inf"), -1, 0, True, b"1"]
)
def test_a_timeout_that_is_not_a_positive_number_is_refused(timeout):
    for where in ({}, {"base_url": "http://127.0.0.1:9"}):
        with pytest.raises(ConfigurationError, match=r"^timeout must be a positive") as info:
            ZepMemoryClient(timeout=timeout, **where)
        assert not isinstance(info.value.__cause__, ValidationError)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("store\x00.db", "NUL"),
        ("store\ud800.db", "lone surrogate"),
        (b"store.db", "not bytes"),
        ("", "empty"),
        (3.5, "not float"),
    ],
)
def test_a_path_a_file_system_cannot_take_is_refused(path, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=r"^path ") as info:
        ZepMemoryClient(path=path)
    assert says in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_a_bad_environment_variable_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEP_MEMORY_PATH", str(tmp_path / "bad\udcff.db"))  # undecodable byte
    with pytest.raises(ConfigurationError, match=r"^ZEP_MEMORY_PATH holds"):
        ZepMemoryClient()
    with pytest.raises(ConfigurationError, match=r"^ZEP_MEMORY_PATH holds"):
        default_path()
    monkeypatch.delenv("ZEP_MEMORY_PATH")
    monkeypatch.setenv("ZEP_API_VERSION", "v5")
    with pytest.raises(ConfigurationError, match=r"^ZEP_API_VERSION must be one of v1, v2, v3, v4"):
        ZepMemoryClient()
    with pytest.raises(ConfigurationError, match=r"^api_version must be one of v1, v2, v3, v4"):
        ZepMemoryClient(base_url="http://127.0.0.1:9", api_version="v5")
    # an explicit path reads none of them
    ZepMemoryClient(path=":memory:").close()


def test_max_retries_and_unknown_settings_are_refused():
    for bad in (-1, 101, 2.5, "3", True):
        with pytest.raises(ConfigurationError, match=r"^max_retries must be an int from 0 to 100"):
            ZepMemoryClient(base_url="http://127.0.0.1:9", max_retries=bad)
    with pytest.raises(ConfigurationError, match="no setting 'api_token'"):
        Settings(api_token=SECRET)
    with pytest.raises(ConfigurationError, match=r"^base_url must be a str"):
        Settings(api_url=8000)


def test_settings_are_frozen():
    read = Settings(memory_path=":memory:")
    with pytest.raises(ValidationError):
        read.memory_path = "elsewhere.db"  # type: ignore[misc]


def test_a_client_from_settings_takes_no_other_configuration(tmp_path):
    with ZepMemoryClient(settings=Settings(memory_path=tmp_path / "s.db")) as client:
        client.user.add(CreateUserRequest(user_id="jane"))
    assert (tmp_path / "s.db").exists()
    read = Settings(memory_path=":memory:")
    for extra in ({"path": ":memory:"}, {"timeout": 3}, {"backend": EmbeddedBackend(":memory:")}):
        with pytest.raises(ConfigurationError, match=r"pass settings= or .* not both"):
            ZepMemoryClient(settings=read, **extra)
    with pytest.raises(ConfigurationError, match="settings must be a Settings"):
        ZepMemoryClient(settings={"memory_path": ":memory:"})
    # the client's own rules hold for settings too
    with pytest.raises(ConfigurationError, match="ZEP_API_URL"):
        ZepMemoryClient(settings=Settings(api_key=SECRET))
    with pytest.raises(ConfigurationError, match="path= is for the embedded store"):
        ZepMemoryClient(settings=Settings(memory_path=":memory:", api_url="http://127.0.0.1:9"))
    with pytest.raises(ConfigurationError, match="apply to a Zep server"):
        ZepMemoryClient(settings=Settings(max_retries=2))


def test_the_environment_is_read_when_the_client_is_built(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEP_MEMORY_PATH", str(tmp_path / "first.db"))
    client = ZepMemoryClient()
    monkeypatch.setenv("ZEP_MEMORY_PATH", str(tmp_path / "second.db"))
    client.user.add(CreateUserRequest(user_id="jane"))
    client.close()
    assert (tmp_path / "first.db").exists() and not (tmp_path / "second.db").exists()


def test_a_key_with_a_newline_from_the_environment_authenticates(monkeypatch):
    pytest.importorskip("zep_python", reason="the v2 backend needs zep-python")
    from zep_memory_plugins.testing import ZepTestServer

    with ZepTestServer(api_key=SECRET) as server:
        monkeypatch.setenv("ZEP_API_URL", server.url)
        monkeypatch.setenv("ZEP_API_KEY", SECRET + "\n")
        with ZepMemoryClient() as client:
            client.user.add(CreateUserRequest(user_id="jane"))
            assert client.user.get("jane").user_id == "jane"


_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    url=_ANY,
    key=st.one_of(_ANY, st.text(min_size=1).map(lambda t: SECRET + t)),
    version=_ANY,
    path=_ANY,
    timeout=_ANY,
    retries=_ANY,
)
def test_settings_refuse_only_with_configuration_errors_never_showing_the_key(
    url, key, version, path, timeout, retries
):
    try:
        read = Settings(
            api_url=url,
            api_key=key,
            api_version=version,
            memory_path=path,
            timeout=timeout,
            max_retries=retries,
        )
    except ConfigurationError as error:
        _assert_hidden(error, SECRET)
        return
    assert SECRET not in repr(read)
    assert read.timeout is None or (isinstance(read.timeout, float) and read.timeout > 0)
    assert read.max_retries is None or 0 <= read.max_retries <= 100
    assert read.api_version in (None, "v1", "v2")


async def test_sync_and_async_calls_count_alike_and_refused_calls_do_not_count():
    from zep_memory_plugins import InvalidInputError

    with ZepMemoryClient(path=":memory:") as client:
        client.user.add({"user_id": "jane"})
        await client.user.aadd({"user_id": "bob"})
        await client.memory.aadd_messages("s", [Message(role="user", content="x")])
        client.memory.get_messages("s", lastn=1)
        await client.memory.aget_messages("s")
        await client.memory.aupdate_session(Session(session_id="s", metadata={}))  # a read
        await client.user.adelete("bob")
        assert client.stats.calls == {
            "add_user": 2,
            "add_messages": 1,
            "get_messages": 2,
            "get_session": 1,
            "delete_user": 1,
        }
        assert (client.stats.reads, client.stats.writes) == (3, 4)
        before = client.stats.snapshot()
        for refused in (
            lambda: client.memory.get_messages("a/b"),
            lambda: client.memory.get_messages("s", lastn=0),
            lambda: client.memory.get_session_messages("s", limit=0),
            lambda: client.user.delete(""),
            lambda: client.memory.add_messages("s", "not a list"),
        ):
            with pytest.raises(InvalidInputError):
                refused()
        for arefused in (
            client.memory.aget_messages("s", lastn=-1),
            client.user.adelete("a/b"),
            client.memory.alist_sessions(limit=-1),
        ):
            with pytest.raises(InvalidInputError):
                await arefused
        assert client.stats.snapshot() == before
