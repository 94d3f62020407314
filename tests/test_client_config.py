"""How the client picks its backend, and client-level behaviour outside the contract suite."""

from __future__ import annotations

import asyncio
import logging

import pytest

from zep_memory_plugins import (
    ConfigurationError,
    CreateUserRequest,
    EmbeddedBackend,
    Message,
    MissingDependencyError,
    Session,
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
