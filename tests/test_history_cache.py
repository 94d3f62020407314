"""HistoryCache: whole histories for one tail read, never stale. Runs on every backend."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zep_memory_plugins import (
    AlreadyExistsError,
    CreateUserRequest,
    Message,
    NotFoundError,
    Session,
    ZepMemoryClient,
)
from zep_memory_plugins import _history_cache as history_cache_module
from zep_memory_plugins._context import SUMMARY_KEY, History, is_marked, split_summary
from zep_memory_plugins._history_cache import HistoryCache, history_cache
from zep_memory_plugins._models import pack_json

TAIL = 5


def msgs(*contents: str) -> list[Message]:
    return [Message(role="user", content=c) for c in contents]


def contents(messages) -> list[str]:
    return [m.content for m in messages]


@pytest.fixture
def cache(client):
    return HistoryCache(client, tail_size=TAIL)


def test_known_session_costs_one_tail_read(client, cache):
    client.memory.add_messages("s", msgs(*"abcdefgh"))
    assert contents(cache.get("s")) == list("abcdefgh")
    client.stats.reset()
    assert contents(cache.get("s")) == list("abcdefgh")
    assert client.stats.calls == {"get_messages": 1}
    if client.stats.http_requests:  # Zep: one request although 8 > TAIL messages
        assert client.stats.http_requests == 1


def test_other_writers_messages_are_seen(client, cache):
    client.memory.add_messages("s", msgs("a", "b", "c"))
    cache.get("s")
    client.memory.add_messages("s", msgs("d", "e"))  # not through the cache
    client.stats.reset()
    assert contents(cache.get("s")) == list("abcde")
    assert client.stats.reads == 1


def test_more_new_messages_than_a_tail_falls_back_to_a_full_read(client, cache):
    client.memory.add_messages("s", msgs("a", "b"))
    cache.get("s")
    client.memory.add_messages("s", msgs(*[str(i) for i in range(TAIL + 2)]))
    client.stats.reset()
    assert contents(cache.get("s")) == ["a", "b", *[str(i) for i in range(TAIL + 2)]]
    assert client.stats.reads == 2


def test_a_cleared_session_is_never_served_from_memory(client, cache):
    client.memory.add_messages("s", msgs("a", "b", "c"))
    cache.get("s")
    client.memory.delete_memory("s")
    assert cache.get("s") == []
    client.memory.add_messages("s", msgs("new"))
    assert contents(cache.get("s")) == ["new"]


def test_cleared_and_refilled_beyond_a_tail_is_read_in_full(client, cache):
    client.memory.add_messages("s", msgs(*"abcdefg"))
    cache.get("s")
    client.memory.delete_memory("s")
    refill = [f"n{i}" for i in range(TAIL + 3)]
    client.memory.add_messages("s", msgs(*refill))
    assert contents(cache.get("s")) == refill


def test_own_writes_are_appended_and_checked(client, cache):
    client.memory.add_messages("s", msgs("a"))
    cache.get("s")
    stored = client.memory.add_messages("s", msgs("b", "c"))
    cache.appended("s", stored)
    client.stats.reset()
    assert contents(cache.get("s")) == ["a", "b", "c"]
    assert client.stats.reads == 1


def test_interleaved_writers_keep_the_stored_order(client, cache):
    client.memory.add_messages("s", msgs("a"))
    cache.get("s")
    mine = client.memory.add_messages("s", msgs("mine-1"))
    client.memory.add_messages("s", msgs("theirs"))
    mine += client.memory.add_messages("s", msgs("mine-2"))
    cache.appended("s", mine)  # what this process believes: a, mine-1, mine-2
    assert contents(cache.get("s")) == ["a", "mine-1", "theirs", "mine-2"]


def upper_recorded() -> tuple[Callable[[Message], str], list[str]]:
    """A conversion (the content in upper case) and the contents it was called with."""
    calls: list[str] = []

    def convert(m: Message) -> str:
        calls.append(m.content)
        return m.content.upper()

    return convert, calls


def test_decoded_forms_are_reused_for_messages_already_held(client, cache):
    client.memory.add_messages("s", msgs("a", "b"))
    convert, calls = upper_recorded()
    assert cache.decode("s", cache.get("s"), "upper", convert) == ["A", "B"]
    client.memory.add_messages("s", msgs("c"))
    assert cache.decode("s", cache.get("s"), "upper", convert) == ["A", "B", "C"]
    assert calls == ["a", "b", "c"]


def test_stale_and_updated_conversions_are_made_again(client, cache):
    client.memory.add_messages("s", msgs("a", "b"))
    calls: list[str] = []

    def convert(m: Message) -> tuple[int, str]:
        calls.append(m.content)
        return len(calls), m.content

    held = cache.get("s")
    first = cache.decode("s", held, "k", convert)
    # a remembered conversion found stale (made with other settings) is made again, and kept
    again = cache.decode("s", held, "k", convert, stale=lambda seen: seen[1] == "a")
    assert calls == ["a", "b", "a"]
    assert again == [(3, "a"), first[1]]
    assert cache.decode("s", held, "k", convert) == again
    # a message whose metadata is updated through the cache is converted again
    cache.update_metadata("s", held[1].uuid, {"x": 1})
    assert cache.decode("s", cache.get("s"), "k", convert) == [(3, "a"), (4, "b")]
    assert calls == ["a", "b", "a", "b"]


def test_the_marked_positions_follow_metadata_updates(client, cache):
    # A held history longer than a tail is continued, not read again: the positions of its
    # marked messages (summaries, archived statuses) follow the updates made through the cache.
    client.memory.add_messages("s", msgs(*"abcdefgh"))
    held = cache.get("s")
    assert held.marked == ()
    cache.update_metadata("s", held[2].uuid, {"llama_index_status": "archived"})
    cache.update_metadata("s", held[5].uuid, {"llama_index_archived_through": True})
    assert cache.get("s").marked == (2, 5)
    cache.update_metadata("s", held[2].uuid, {"llama_index_status": "active"})
    client.memory.add_messages("s", msgs("i"))  # a tail read continues what is held
    again = cache.get("s")
    assert contents(again) == list("abcdefghi") and again.marked == (5,)


def test_messages_without_a_uuid_are_converted_each_on_its_own(client, cache):
    client.memory.add_messages("s", msgs("stored"))
    cache.get("s")  # held: conversions are remembered by uuid
    unsaved = msgs("x", "y")  # no uuid yet: nothing to remember them by
    assert cache.decode("s", unsaved, "upper", lambda m: m.content.upper()) == ["X", "Y"]
    assert cache.decode("s", unsaved[::-1], "upper", lambda m: m.content.upper()) == ["Y", "X"]


def test_decode_and_measure_converts_a_new_message_once(client, cache):
    client.memory.add_messages("s", msgs("a", "bb"))
    convert, converted = upper_recorded()
    held = cache.get("s")
    assert cache.decode_and_measure("s", held, "up", convert, "len", len) == (["A", "BB"], [1, 2])
    assert converted == ["a", "bb"]  # once each, for both memos
    client.memory.add_messages("s", msgs("ccc"))
    held = cache.get("s")
    assert cache.decode_and_measure("s", held, "up", convert, "len", len) == (
        ["A", "BB", "CCC"],
        [1, 2, 3],
    )
    assert converted == ["a", "bb", "ccc"]
    # measures found stale are measured again, from the remembered conversion
    assert cache.decode_and_measure(
        "s", held, "up", convert, "len", lambda v: -len(v), stale=lambda n: n > 0
    ) == (["A", "BB", "CCC"], [-1, -2, -3])
    assert converted == ["a", "bb", "ccc"]


def _described(m: Message) -> tuple[str, str, Any]:
    """A conversion that depends on what a message holds (its content and metadata; the JSON
    text, so that ``True`` and ``1`` differ)."""
    return m.content, m.role, json.dumps(m.metadata)


def test_window_reads_convert_only_the_messages_new_since_the_last(client, cache):
    # A session read only through windows is not held: the conversions of the last window
    # read are remembered, so each turn converts only what is new.
    client.memory.add_messages("s", msgs(*"abcd"))
    convert, calls = upper_recorded()
    assert cache.decode("s", cache.read("s", 3), "upper", convert) == ["B", "C", "D"]
    client.memory.add_messages("s", msgs("e"))
    assert cache.decode("s", cache.read("s", 3), "upper", convert) == ["C", "D", "E"]
    assert calls == ["b", "c", "d", "e"]
    # each conversion key remembers its own
    assert cache.decode("s", cache.read("s", 3), "lower", str) != ["C", "D", "E"]
    assert calls == ["b", "c", "d", "e"]


def test_a_window_read_asked_for_in_parts_remembers_them_all(client, cache):
    # A DecodedTail converts a read's messages newest first, in runs (``more``: older ones of
    # the same read): the next read finds every one of them, whichever run asks.
    client.memory.add_messages("s", msgs(*"abcdef"))
    convert, calls = upper_recorded()
    for _ in range(2):
        read = cache.read("s", 5)
        assert cache.decode("s", read[3:], "upper", convert) == ["E", "F"]
        assert cache.decode("s", read[1:3], "upper", convert, more=True) == ["C", "D"]
        assert cache.decode("s", read[:1], "upper", convert, more=True) == ["B"]
    assert calls == ["e", "f", "c", "d", "b"]
    # only the last read's are remembered: after one that asked for the newest only, the
    # older ones are converted again
    assert cache.decode("s", cache.read("s", 5)[3:], "upper", convert) == ["E", "F"]
    read = cache.read("s", 5)
    assert cache.decode("s", read[3:], "upper", convert) == ["E", "F"]
    assert cache.decode("s", read[:3], "upper", convert, more=True) == ["B", "C", "D"]
    assert calls == ["e", "f", "c", "d", "b", "b", "c", "d"]


def test_a_window_read_sees_metadata_another_writer_changed(client, cache):
    # Not through the cache (another process, say): the stored message is not what the
    # remembered conversion was made from, so it is converted again.
    client.memory.add_messages("s", msgs("a", "b"))
    first = cache.decode("s", cache.read("s", 2), "d", _described)
    assert first == [("a", "user", "null"), ("b", "user", "null")]
    b = client.memory.get_messages("s")[1].uuid
    client.memory.update_message_metadata("s", b, {"topic": "x"})
    assert cache.decode("s", cache.read("s", 2), "d", _described) == [
        ("a", "user", "null"),
        ("b", "user", '{"topic": "x"}'),
    ]
    client.memory.update_message_metadata("s", b, {"topic": "y"})
    assert cache.decode("s", cache.read("s", 2), "d", _described)[1][2] == '{"topic": "y"}'
    # equal in Python is not enough: True == 1, and their conversions may differ
    client.memory.update_message_metadata("s", b, {"topic": 1})
    assert cache.decode("s", cache.read("s", 2), "d", _described)[1][2] == '{"topic": 1}'
    client.memory.update_message_metadata("s", b, {"topic": True})
    assert cache.decode("s", cache.read("s", 2), "d", _described)[1][2] == '{"topic": true}'


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"a": 1, "b": True}, {"b": 1, "a": True}),  # equal, types swapped between keys
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # equal, keys in another order
        ({"a": 1}, {"a": True}),  # True == 1
    ],
)
def test_a_window_conversion_needs_exactly_what_its_message_held(
    client, cache, before: dict[str, Any], after: dict[str, Any]
) -> None:
    # Messages as a backend could hand them over (not through the store: neither reorders
    # keys), for a converter that sees what == does not.
    uid = uuid.uuid4()

    def message(metadata: dict[str, Any]) -> Message:
        return Message(role="user", content="a", uuid=uid, metadata=metadata)

    assert cache.decode("s", [message(before)], "d", _described) == [_described(message(before))]
    assert cache.decode("s", [message(after)], "d", _described) == [_described(message(after))]


def test_a_window_conversion_needs_the_same_offset_of_the_same_instant(client, cache):
    uid, noon = uuid.uuid4(), datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
    two_hours = timezone(timedelta(hours=2))

    def at(when: datetime) -> list[Message]:
        return [Message(role="user", content="a", uuid=uid, created_at=when)]

    def stamped(m: Message) -> str:
        return str(m.created_at)

    assert cache.decode("s", at(noon), "t", stamped) == ["2024-01-01 12:00:00+00:00"]
    assert cache.decode("s", at(noon.astimezone(two_hours)), "t", stamped) == [
        "2024-01-01 14:00:00+02:00"
    ]


def test_window_conversions_are_checked_against_a_copy_of_their_message(client, cache):
    client.memory.add_messages("s", [Message(role="user", content="a", metadata={"k": "v"})])
    convert, calls = upper_recorded()
    read = cache.read("s", 1)
    assert cache.decode("s", read, "upper", convert) == ["A"]
    read[0].metadata["k"] = "changed in place"  # the message read before, not the store
    read[0].content = "z"
    assert cache.decode("s", cache.read("s", 1), "upper", convert) == ["A"]
    assert calls == ["a"]  # what the store holds is what the conversion was made from
    # a message the read hands over changed since its conversion is converted again
    again = cache.read("s", 1)
    again[0].content = "q"
    assert cache.decode("s", again, "upper", convert) == ["Q"]


def test_window_messages_with_nested_metadata_are_converted_each_time(client, cache):
    # A list (or object) could change in place after the conversion: nothing is remembered.
    client.memory.add_messages("s", [Message(role="user", content="a", metadata={"k": [1, 2]})])
    convert, calls = upper_recorded()
    for _ in range(3):
        assert cache.decode("s", cache.read("s", 1), "upper", convert) == ["A"]
    assert calls == ["a", "a", "a"]


def test_stale_window_conversions_are_made_again(client, cache):
    client.memory.add_messages("s", msgs("a", "b"))
    convert, calls = upper_recorded()
    cache.decode("s", cache.read("s", 2), "upper", convert)
    got = cache.decode("s", cache.read("s", 2), "upper", convert, stale=lambda v: v == "A")
    assert got == ["A", "B"] and calls == ["a", "b", "a"]


def test_forgetting_a_session_drops_its_window_conversions(client, cache):
    client.memory.add_messages("s", msgs("a"))
    convert, calls = upper_recorded()
    cache.decode("s", cache.read("s", 1), "upper", convert)
    cache.forget("s")
    assert "s" not in cache._recent
    cache.decode("s", cache.read("s", 1), "upper", convert)
    assert calls == ["a", "a"]
    # a window read that finds the session empty (cleared by another writer) drops them too
    client.memory.delete_memory("s")
    assert cache.read("s", 1) == [] and "s" not in cache._recent
    # and a clear through the client drops them from the client's own cache at once
    client.memory.add_messages("s", msgs("b"))
    shared = history_cache(client)
    shared.decode("s", shared.read("s", 1), "upper", convert)
    assert "s" in shared._recent
    client.memory.delete_memory("s")
    assert "s" not in shared._recent


def test_window_conversions_are_kept_for_a_bounded_number_of_sessions(client):
    cache = HistoryCache(client, tail_size=TAIL, max_sessions=2)
    for sid in ("s1", "s2", "s3"):
        client.memory.add_messages(sid, msgs(sid))
        cache.decode(sid, cache.read(sid, 1), "upper", lambda m: m.content.upper())
    assert list(cache._recent) == ["s2", "s3"]


def test_a_read_longer_than_the_bound_remembers_nothing(client, cache, monkeypatch):
    monkeypatch.setattr(history_cache_module, "_RECENT_MESSAGES", 3)
    client.memory.add_messages("s", msgs(*"abcd"))
    convert, calls = upper_recorded()
    for _ in range(2):
        assert cache.decode("s", cache.read("s", 4), "upper", convert) == list("ABCD")
    assert calls == list("abcdabcd")
    for _ in range(2):  # within the bound: remembered
        assert cache.decode("s", cache.read("s", 3), "upper", convert) == list("BCD")
    assert calls == list("abcdabcd") + list("bcd")


WINDOW_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 4)),
        st.tuples(st.just("update"), st.integers(0, 30)),
        st.tuples(st.just("nested"), st.integers(0, 30)),
        st.tuples(st.just("read"), st.integers(1, 6)),
        st.tuples(st.just("forget"), st.just(0)),
    ),
    max_size=20,
)


@settings(max_examples=120, deadline=None)
@given(ops=WINDOW_OPS)
def test_window_conversions_are_always_those_of_what_is_stored(ops: list[tuple[str, int]]) -> None:
    """Whatever another writer changes, a window read's conversions are those of its messages."""
    with ZepMemoryClient(path=":memory:") as client:
        cache = HistoryCache(client, tail_size=TAIL)
        counter = 0
        for op, n in ops:
            stored = client.memory.get_messages("s")
            if op == "add":
                counter += n
                client.memory.add_messages("s", msgs(*map(str, range(counter - n, counter))))
            elif op in ("update", "nested") and stored:
                value = {"n": n} if op == "nested" else (n % 2 == 1 if n < 4 else n)  # True == 1
                client.memory.update_message_metadata(
                    "s", stored[n % len(stored)].uuid, {"v": value}
                )
            elif op == "forget":
                cache.forget("s")
            elif op == "read":
                read = cache.read("s", n)
                assert cache.decode("s", read, "d", _described) == [_described(m) for m in read]


def test_least_recently_used_sessions_are_dropped(client):
    cache = HistoryCache(client, tail_size=TAIL, max_sessions=2)
    for sid in ("s1", "s2", "s3"):
        client.memory.add_messages(sid, msgs(sid))
        cache.get(sid)
    assert list(cache._entries) == ["s2", "s3"]


def test_one_cache_per_client(client):
    assert history_cache(client) is history_cache(client)


async def test_async_twin(client):
    cache = HistoryCache(client, tail_size=TAIL)
    await client.memory.aadd_messages("s", msgs("a", "b"))
    assert contents(await cache.aget("s")) == ["a", "b"]
    await client.memory.aadd_messages("s", msgs("c"))
    client.stats.reset()
    assert contents(await cache.aget("s")) == ["a", "b", "c"]
    assert client.stats.reads == 1


# -- never vouching for what is gone (issue 11, item 1) --------------------------------------


def test_own_writes_after_another_clients_clear_do_not_bring_old_messages_back(client, cache):
    theirs = ZepMemoryClient(backend=client.backend)  # another client on the same store
    client.memory.add_messages("s", msgs("a", "b", "c"))
    cache.get("s")
    theirs.memory.delete_memory("s")
    cache.add("s", msgs("mine"))
    assert contents(cache.get("s")) == ["mine"]


def test_a_tail_full_of_own_writes_after_a_clear_is_read_in_full(client, cache):
    theirs = ZepMemoryClient(backend=client.backend)
    client.memory.add_messages("s", msgs("a", "b"))
    cache.get("s")
    theirs.memory.delete_memory("s")
    mine = [f"m{i}" for i in range(TAIL + 2)]
    cache.add("s", msgs(*mine))
    assert contents(cache.get("s")) == mine


def test_a_long_held_history_is_continued_from_its_anchor(client, cache):
    client.memory.add_messages("s", msgs(*[f"o{i}" for i in range(3 * TAIL)]))
    cache.get("s")
    cache.add("s", msgs("mine"))
    client.memory.add_messages("s", msgs("theirs"))
    client.stats.reset()
    assert contents(cache.get("s"))[-3:] == [f"o{3 * TAIL - 1}", "mine", "theirs"]
    assert client.stats.calls == {"get_messages": 1}


def test_listeners_hear_of_held_messages_that_are_gone(client, cache):
    lost: list[str] = []
    cache.on_lost(lost.append)
    theirs = ZepMemoryClient(backend=client.backend)
    client.memory.add_messages("s", msgs("a"))
    cache.get("s")
    client.memory.add_messages("s", msgs("b"))
    cache.get("s")
    assert lost == []  # new messages are no loss
    theirs.memory.delete_memory("s")
    cache.get("s")
    assert lost == ["s"]


def test_a_delete_through_the_client_drops_the_session(client):
    shared = history_cache(client)
    client.memory.add_messages("s", msgs("a"))
    shared.get("s")
    client.memory.delete_memory("s")
    assert "s" not in shared._entries


# -- property: whatever the interleaving, a read is what the store holds ---------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("mine"), st.integers(1, 2 * TAIL)),
        st.tuples(st.just("theirs"), st.integers(1, 2 * TAIL)),
        st.tuples(st.just("clear"), st.just(0)),
        st.tuples(st.just("delete user"), st.just(0)),
        st.tuples(st.just("read"), st.just(0)),
        st.tuples(st.just("window"), st.integers(1, 2 * TAIL)),
        st.tuples(st.just("mark"), st.integers(0, 4 * TAIL)),
    ),
    max_size=16,
)


def check_marked(held: list[Message]) -> None:
    """What the cache says is marked is what a look at every message finds."""
    assert isinstance(held, History)
    assert held.marked == tuple(i for i, m in enumerate(held) if is_marked(m))
    summary, conversation, lo = split_summary(held)
    assert (summary, conversation, lo) == split_summary(list(held))
    assert conversation.marked == tuple(i for i, m in enumerate(conversation) if is_marked(m))


@settings(max_examples=150, deadline=None)
@given(ops=OPS)
def test_reads_are_always_what_the_store_holds(ops: list[tuple[str, int]]) -> None:
    """Two clients on one embedded store (in memory, for many examples); some messages are
    marked as summaries, when written or later (a metadata update through the cache)."""
    with ZepMemoryClient(path=":memory:") as mine:
        theirs = ZepMemoryClient(backend=mine.backend)
        cache = HistoryCache(mine, tail_size=TAIL)
        counter = 0

        def owned_by_ann() -> None:
            with contextlib.suppress(AlreadyExistsError):
                theirs.user.add(CreateUserRequest(user_id="ann"))
            with contextlib.suppress(AlreadyExistsError):  # soft-deleted: still ann's
                theirs.memory.add_session(Session(session_id="s", user_id="ann"))

        owned_by_ann()

        def batch(n: int) -> list[Message]:
            nonlocal counter
            counter += n
            return [
                Message(role="user", content=str(i), metadata=_marked(i // 3) if i % 3 else None)
                for i in range(counter - n, counter)
            ]

        for op, n in ops:
            if op == "mine":
                cache.add("s", batch(n))
            elif op == "theirs":
                theirs.memory.add_messages("s", batch(n))
            elif op == "clear":
                with contextlib.suppress(NotFoundError):
                    theirs.memory.delete_memory("s")
            elif op == "delete user":
                theirs.user.delete("ann")
                owned_by_ann()
            elif op == "window":
                assert contents(cache.read("s", n)) == contents(mine.memory.get_messages("s", n))
            elif op == "mark":
                held = cache.get("s")
                if held:
                    cache.update_metadata("s", held[n % len(held)].uuid, _marked(n))
            else:
                held = cache.get("s")
                assert contents(held) == contents(mine.memory.get_messages("s"))
                check_marked(held)
        held = cache.get("s")
        assert contents(held) == contents(mine.memory.get_messages("s"))
        check_marked(held)


def _marked(number: int) -> dict[str, Any]:
    """Metadata marking a message or not (see ``is_marked``): a summary (half of them through a
    message that is not there), a LlamaIndex status or archived-through mark; the last two
    unmark a marked message when merged into its metadata."""
    kind = number % 6
    if kind == 0:
        return {"llama_index_status": "archived"}
    if kind == 1:
        return {"llama_index_archived_through": True}
    if kind == 4:
        return {"llama_index_status": "active"}
    if kind == 5:
        return {"llama_index_archived_through": False, "llama_index_status": "active"}
    return {SUMMARY_KEY: pack_json({"through": str(uuid.uuid4()) if kind == 2 else ""})}
