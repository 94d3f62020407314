"""Messages read back from the store are built without validation: they are what validation builds.

The store builds messages it reads straight through their slots (``store/_rows.py``): no
second validation of what it wrote itself. These tests hold the result to what a validated
``Message`` of the same values is and does, and damaged rows to the typed error they raised
before.
"""

from __future__ import annotations

import copy
import gc
import pickle
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_strategies import JSON_VALUE, TEXT

from zep_memory_plugins import (
    InvalidInputError,
    Message,
    StoreFileError,
    ZepMemoryClient,
    ZepMemoryError,
)
from zep_memory_plugins._models import (
    building_many,
    uuid_from_bytes,
    uuid_from_int,
)
from zep_memory_plugins.store import SQLiteStore

_messages = st.lists(
    st.builds(
        Message,
        role=TEXT,
        role_type=st.sampled_from(["user", "assistant", "system", "tool", "function", "norole"]),
        content=TEXT,
        metadata=st.none() | st.dictionaries(TEXT, JSON_VALUE, max_size=3),
        created_at=st.none()
        | st.datetimes(
            min_value=datetime(1970, 1, 2),
            max_value=datetime(2200, 1, 1),
            timezones=st.just(timezone.utc),
        ),
    ),
    min_size=1,
    max_size=8,
)


def _validated(message: Message) -> Message:
    """The same message, built by validation from its fields."""
    return Message.model_validate({name: getattr(message, name) for name in Message.model_fields})


def _check_like_validated(read: Message) -> None:
    twin = _validated(read)
    assert type(read) is Message
    assert read == twin and twin == read
    assert read.model_dump() == twin.model_dump()
    assert read.model_dump_json() == twin.model_dump_json()
    assert read.model_dump(exclude_unset=True) == twin.model_dump(exclude_unset=True)
    assert repr(read) == repr(twin)
    assert read.model_fields_set == set(Message.model_fields)
    assert read.__pydantic_extra__ is None and read.__pydantic_private__ is None
    assert isinstance(read.uuid, uuid.UUID) and read.uuid == uuid.UUID(str(read.uuid))
    assert hash(read.uuid) == hash(uuid.UUID(str(read.uuid)))
    for copied in (
        copy.copy(read),
        copy.deepcopy(read),
        read.model_copy(),
        read.model_copy(deep=True),
        pickle.loads(pickle.dumps(read)),
    ):
        assert copied == read and copied.model_dump() == read.model_dump()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=_messages)
def test_messages_read_back_are_what_validation_builds(batch):
    with ZepMemoryClient(path=":memory:") as client:
        stored = client.memory.add_messages("s", batch)
        whole = client.memory.get_messages("s")
        last = client.memory.get_messages("s", lastn=3)
        page = client.memory.get_session_messages("s", limit=5).messages
    assert whole == stored
    assert last == stored[-3:]
    assert page == stored[:5]
    for message in whole + last + page:
        _check_like_validated(message)


def test_a_message_read_back_validates_its_assignments_and_keeps_to_itself():
    with ZepMemoryClient(path=":memory:") as client:
        client.memory.add_messages(
            "s", [Message(role="user", content=f"m{i}", metadata={"i": i}) for i in range(3)]
        )
        first, second, third = client.memory.get_messages("s")
    with pytest.raises(InvalidInputError):
        first.content = "nul \x00 inside"
    with pytest.raises(InvalidInputError):
        first.metadata = {"bad": {1, 2}}  # type: ignore[dict-item]
    first.content = "changed"
    first.metadata = {"i": 10}
    changed = second.model_copy(update={"content": "copied"})
    assert (first.content, first.metadata) == ("changed", {"i": 10})
    assert (second.content, second.metadata) == ("m1", {"i": 1})
    assert changed.content == "copied" and third.content == "m2"
    for message in (first, second, third, changed):
        assert message.model_fields_set == set(Message.model_fields)


def test_messages_sharing_a_batch_time_each_have_it():
    with ZepMemoryClient(path=":memory:") as client:
        client.memory.add_messages("s", [Message(role="user", content=str(i)) for i in range(50)])
        read = client.memory.get_messages("s")
    assert len({m.created_at for m in read}) == 1
    assert all(m.created_at is not None and m.created_at.tzinfo is not None for m in read)


def _damage(path: Path, statement: str) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    with conn:
        conn.execute(statement)
    conn.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE messages SET uuid = x'0102' WHERE id = 2",  # a uuid of 2 bytes
        "UPDATE messages SET uuid = x'000102030405060708090a0b0c0d0e0f10' WHERE id = 2",  # 17
        "UPDATE messages SET uuid = 'text, not a blob' WHERE id = 2",
        "UPDATE messages SET metadata = '{\"i\":1}}' WHERE id = 2",  # trailing garbage
        "UPDATE messages SET metadata = '[[' WHERE id = 2",
        "UPDATE messages SET metadata = '' WHERE id = 2",
        "UPDATE messages SET created_at = 'yesterday' WHERE id = 2",
    ],
)
def test_a_damaged_message_row_is_a_store_file_error_on_every_read(tmp_path, statement):
    path = tmp_path / "m.db"
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages(
            "s", [Message(role="user", content=f"m{i}", metadata={"i": i}) for i in range(3)]
        )
    _damage(path, statement)
    with ZepMemoryClient(path=path) as client:
        for read in (
            lambda: client.memory.get_messages("s"),
            lambda: client.memory.get_messages("s", lastn=2),
            lambda: client.memory.get_session_messages("s", limit=10),
        ):
            with pytest.raises(StoreFileError) as info:
                read()
            assert info.value.path == str(path)


def test_metadata_the_store_did_not_write_compactly_still_reads(tmp_path):
    """Whitespace around stored JSON (another writer's, a hand edit) is not damage."""
    path = tmp_path / "m.db"
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("s", [Message(role="user", content="x", metadata={"a": 1})])
    _damage(path, "UPDATE messages SET metadata = '  { \"a\" : [1, 2] }  '")
    with ZepMemoryClient(path=path) as client:
        assert client.memory.get_messages("s")[0].metadata == {"a": [1, 2]}


def test_whole_reads_leave_the_garbage_collector_as_they_found_it(tmp_path):
    store = SQLiteStore(":memory:")
    try:
        store.add_messages("s", [Message(role="user", content=str(i)) for i in range(10)])
        assert gc.isenabled()
        store.get_messages("s")
        assert gc.isenabled()
        gc.disable()
        try:
            store.get_messages("s")
            assert not gc.isenabled()
        finally:
            gc.enable()
        store.close()
        with pytest.raises(ZepMemoryError):
            store.get_messages("s")  # a read that fails restores it too
        assert gc.isenabled()
    finally:
        store.close()


def test_the_collector_pause_nests_and_crosses_threads():
    assert gc.isenabled()
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with building_many:
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    with building_many:
        thread.start()
        entered.wait(5)
        with building_many:
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread is still building
    release.set()
    thread.join(5)
    assert gc.isenabled()


@given(st.binary(min_size=16, max_size=16))
def test_uuids_built_through_their_slots_are_uuids(raw):
    fast = uuid_from_bytes(raw)
    slow = uuid.UUID(bytes=raw)
    assert type(fast) is uuid.UUID
    assert fast == slow and hash(fast) == hash(slow) and str(fast) == str(slow)
    assert fast.version == slow.version and fast.is_safe == slow.is_safe
    assert pickle.loads(pickle.dumps(fast)) == slow and copy.deepcopy(fast) == slow
    assert uuid_from_int(slow.int) == slow


@pytest.mark.parametrize("raw", [b"", b"\x01" * 15, b"\x01" * 17, "0" * 16, bytearray(16)])
def test_a_uuid_that_is_not_16_bytes_is_refused(raw):
    with pytest.raises(ValueError):
        uuid_from_bytes(raw)  # type: ignore[arg-type]


def test_a_batch_is_written_with_one_insert_per_hundred_messages():
    store = SQLiteStore(":memory:")
    try:
        store.add_messages("s", [Message(role="user", content="first")])
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        stored = store.add_messages("s", [Message(role="user", content=str(i)) for i in range(250)])
        store._conn.set_trace_callback(None)
        inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO MESSAGES")]
        assert len(inserts) == 3
        assert [m.content for m in store.get_messages("s")] == ["first"] + [
            str(i) for i in range(250)
        ]
        assert [m.uuid for m in store.get_messages("s")][1:] == [m.uuid for m in stored]
    finally:
        store.close()
