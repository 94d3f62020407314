"""Property-based tests of the public API (hypothesis) on the embedded store (a tmp file).

For every public entry: generated input that must be refused raises a ``ZepMemoryError`` (never
another exception type) and leaves the store file byte-for-byte the same (every row, soft-
deleted ones included, compared as an SQL dump before and after); generated input that must
be kept comes back exactly. The Zep backend gets the same inputs through the contract suite.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_helpers import db_dump, seed
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from json_strategies import CHARS, JSON_SCALAR, JSON_VALUE, PACKED_TEXT, PACKED_VALUE, TEXT
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from llama_index.core.llms import ChatMessage, MessageRole

from zep_memory_plugins import ZepMemoryClient, ZepMemoryError
from zep_memory_plugins._models import (
    MAX_COUNT,
    MAX_ID_LENGTH,
    MAX_METADATA_DEPTH,
    MAX_METADATA_INTEGER,
    MAX_TEXT_LENGTH,
    ROLE_TYPES,
)
from zep_memory_plugins.cli import main
from zep_memory_plugins.langchain import ZepChatMessageHistory
from zep_memory_plugins.llama_index import ZepChatStore
from zep_memory_plugins.llama_index._convert import from_zep_message, to_zep_message

PROFILE = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# -- strategies --------------------------------------------------------------------------------

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
#: A string holding at least one lone surrogate somewhere.
SURROGATE_TEXT = st.builds(lambda a, s, b: a + s + b, TEXT, SURROGATES, TEXT)
#: A string holding a NUL character somewhere.
NUL_TEXT = st.builds(lambda a, b: a + "\x00" + b, TEXT, TEXT)

GOOD_ID = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="/?#%\\"),
    min_size=1,
    max_size=30,
).filter(lambda s: bool(s.strip()) and s not in (".", ".."))
BAD_ID = st.one_of(
    SURROGATE_TEXT,
    st.sampled_from(
        [
            "",
            " ",
            "\t",
            ".",
            "..",
            "a/b",
            "a?b",
            "a#b",
            "50%",
            "a\\b",
            "a\nb",
            "\x00",
            "x\u2028",
            "\x7f",
            "\x9f",
        ]
    ),
    st.builds(lambda a, c, b: a + c + b, TEXT, st.sampled_from(list("/?#%\\\n\x00")), TEXT),
    st.binary(min_size=1, max_size=8),
    st.integers(),
    st.none(),
    st.integers(MAX_ID_LENGTH + 1, MAX_ID_LENGTH + 50).map(lambda n: "i" * n),
)

METADATA = st.dictionaries(TEXT, JSON_VALUE, max_size=4)
SESSION_METADATA = st.dictionaries(TEXT.filter(lambda k: k != "system"), JSON_VALUE, max_size=4)

#: Values JSON cannot carry at all, or not exactly.
BAD_LEAF = st.one_of(
    SURROGATE_TEXT,
    st.sets(st.integers(), max_size=2),
    st.frozensets(st.integers(), max_size=2),
    st.binary(max_size=4),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.integers(min_value=MAX_COUNT + 1),
    st.integers(max_value=-MAX_COUNT - 1),
    NUL_TEXT,
    st.integers(MAX_METADATA_INTEGER + 1, MAX_COUNT),
    st.integers(-MAX_COUNT, -MAX_METADATA_INTEGER - 1),
    st.integers(-(2**60), 2**60).map(float).filter(math.isfinite),  # whole floats
    st.sampled_from([0.0, -0.0, 1.0, 1e308]),
    st.datetimes(),
    st.uuids(),
    st.builds(object),
    st.integers(MAX_METADATA_DEPTH, MAX_METADATA_DEPTH + 30).map(lambda n: _nest({}, ["d"] * n)),
    st.just("circular"),
)


#: What even a packed copy cannot hold: what JSON cannot carry, or not exactly.
PACKED_BAD_LEAF = st.one_of(
    SURROGATE_TEXT,
    st.sets(st.integers(), max_size=2),
    st.binary(min_size=1, max_size=4),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.integers(min_value=MAX_COUNT + 1),
    st.datetimes(),
    st.uuids(),
)


def _nest(leaf: Any, path: list[str]) -> Any:
    for key in reversed(path):
        leaf = {key: leaf}
    return leaf


@st.composite
def bad_metadata(draw: st.DrawFn) -> dict[str, Any]:
    """Good metadata with one bad thing planted somewhere: a value, a key, or a cycle."""
    good = draw(METADATA)
    path = draw(st.lists(TEXT, min_size=1, max_size=3))
    leaf = draw(BAD_LEAF)
    if isinstance(leaf, str) and leaf == "circular":
        cycle: dict[str, Any] = {path[0]: [good]}
        good[path[0]] = cycle  # good -> cycle -> [good]: a cycle
        return good
    where = draw(st.sampled_from(["value", "key", "in-list"]))
    if where == "key":
        leaf = {
            draw(st.one_of(SURROGATE_TEXT, NUL_TEXT, st.integers(), st.tuples(st.integers()))): 1
        }
    elif where == "in-list":
        leaf = [*draw(st.lists(JSON_SCALAR, max_size=2)), leaf]
    return {**good, **_nest(leaf, path)}


@st.composite
def good_message(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "role": draw(TEXT),
        "role_type": draw(st.sampled_from(ROLE_TYPES)),
        "content": draw(st.text(CHARS, max_size=60)),
        "metadata": draw(st.none() | METADATA.filter(bool)),
    }


@st.composite
def bad_message(draw: st.DrawFn) -> Any:
    message = draw(good_message())
    field = draw(st.sampled_from(["role", "content", "metadata", "role_type", "uuid", "whole"]))
    if field in ("role", "content"):
        message[field] = draw(SURROGATE_TEXT | NUL_TEXT | st.binary(max_size=4) | st.integers())
    elif field == "metadata":
        message["metadata"] = draw(bad_metadata() | st.lists(st.integers(), max_size=2) | TEXT)
    elif field == "role_type":
        message["role_type"] = draw(TEXT.filter(lambda t: t not in ROLE_TYPES))
    elif field == "uuid":
        message["uuid"] = draw(TEXT | SURROGATE_TEXT)
        assume(not _is_uuid(message["uuid"]))
    else:
        return draw(st.one_of(TEXT, st.integers(), st.none(), st.lists(st.integers())))
    return message


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _uid() -> str:
    return uuid.uuid4().hex[:8]


# -- stores ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ZepMemoryClient, Path]]:
    """A seeded store file that refused calls must never change."""
    path = tmp_path_factory.mktemp("refusals") / "store.sqlite3"
    with ZepMemoryClient(path=path) as client:
        seed(client)
        yield client, path


@pytest.fixture(scope="module")
def keeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZepMemoryClient]:
    """A store file for round trips (every example uses fresh ids)."""
    with ZepMemoryClient(path=tmp_path_factory.mktemp("keeper") / "store.sqlite3") as client:
        yield client


def refused(refusals: tuple[ZepMemoryClient, Path], call: Callable[[ZepMemoryClient], Any]) -> None:
    """``call`` raises a ZepMemoryError and the store file holds exactly what it held."""
    client, path = refusals
    before = db_dump(path)
    with pytest.raises(ZepMemoryError):
        result = call(client)
        if isinstance(result, Iterator):
            list(result)
    assert db_dump(path) == before


# -- users -------------------------------------------------------------------------------------


@PROFILE
@given(
    user_id=GOOD_ID,
    email=st.none() | TEXT,
    first=st.none() | TEXT,
    last=st.none() | TEXT,
    metadata=st.none() | METADATA,
)
def test_users_are_kept_exactly(
    keeper: ZepMemoryClient, user_id: str, email: Any, first: Any, last: Any, metadata: Any
) -> None:
    user_id = f"{_uid()}{user_id}"
    keeper.user.add(
        {
            "user_id": user_id,
            "email": email,
            "first_name": first,
            "last_name": last,
            "metadata": metadata,
        }
    )
    back = keeper.user.get(user_id)
    assert (back.user_id, back.email, back.first_name, back.last_name) == (
        user_id,
        email,
        first,
        last,
    )
    assert (back.metadata or {}) == (metadata or {})
    assert user_id in [s.user_id for s in keeper.user.list()]


@PROFILE
@given(
    field=st.sampled_from(["user_id", "email", "first_name", "last_name", "metadata"]),
    data=st.data(),
)
def test_bad_users_are_refused(refusals: Any, field: str, data: st.DataObject) -> None:
    request: dict[str, Any] = {"user_id": f"new-{_uid()}"}
    if field == "user_id":
        request["user_id"] = data.draw(BAD_ID)
    elif field == "metadata":
        request["metadata"] = data.draw(bad_metadata() | st.lists(st.integers()) | TEXT)
    else:
        request[field] = data.draw(
            SURROGATE_TEXT
            | NUL_TEXT
            | st.binary(max_size=4)
            | st.integers()
            | st.integers(MAX_TEXT_LENGTH + 1, MAX_TEXT_LENGTH + 20).map(lambda n: "t" * n)
        )
    refused(refusals, lambda c: c.user.add(request))
    update = {**request, "user_id": "jane"} if field != "user_id" else request
    refused(refusals, lambda c: c.user.update(update))


@PROFILE
@given(user_id=BAD_ID)
def test_bad_user_ids_are_refused_by_every_entry(refusals: Any, user_id: Any) -> None:
    calls = [
        lambda c: c.user.get(user_id),
        lambda c: c.user.delete(user_id),
        lambda c: c.user.get_sessions(user_id),
    ]
    if user_id is not None:  # a session without an owner is fine
        calls.append(
            lambda c: c.memory.add_session({"session_id": f"s-{_uid()}", "user_id": user_id})
        )
    for call in calls:
        refused(refusals, call)


# -- sessions and messages ---------------------------------------------------------------------


@PROFILE
@given(session_id=BAD_ID)
def test_bad_session_ids_are_refused_by_every_entry(refusals: Any, session_id: Any) -> None:
    calls = [
        lambda c: c.memory.get_session(session_id),
        lambda c: c.memory.update_session({"session_id": session_id, "metadata": {"a": 1}}),
        lambda c: c.memory.delete_memory(session_id),
        lambda c: c.memory.add_messages(session_id, [{"role": "user", "content": "x"}]),
        lambda c: c.memory.get_messages(session_id),
        lambda c: c.memory.get_session_messages(session_id),
        lambda c: c.memory.update_message_metadata(session_id, uuid.uuid4(), {"a": 1}),
    ]
    if session_id is not None:  # add_session without an id picks one
        calls.append(lambda c: c.memory.add_session({"session_id": session_id}))
    for call in calls:
        refused(refusals, call)


@PROFILE
@given(metadata=bad_metadata())
def test_bad_session_metadata_is_refused(refusals: Any, metadata: dict[str, Any]) -> None:
    refused(refusals, lambda c: c.memory.add_session({"session_id": "n", "metadata": metadata}))
    refused(
        refusals, lambda c: c.memory.update_session({"session_id": "trip", "metadata": metadata})
    )
    uid = refusals[0].memory.get_messages("trip")[0].uuid
    refused(refusals, lambda c: c.memory.update_message_metadata("trip", uid, metadata))


@PROFILE
@given(session_id=GOOD_ID, metadata=SESSION_METADATA, batch=st.lists(good_message(), max_size=6))
def test_sessions_and_message_batches_are_kept_exactly(
    keeper: ZepMemoryClient, session_id: str, metadata: dict[str, Any], batch: list[Any]
) -> None:
    session_id = f"{_uid()}{session_id}"
    keeper.memory.add_session({"session_id": session_id, "metadata": metadata})
    assert (keeper.memory.get_session(session_id).metadata or {}) == metadata
    stored = keeper.memory.add_messages(session_id, batch)
    back = keeper.memory.get_messages(session_id)
    assert [(m.role, m.role_type, m.content, m.metadata) for m in back] == [
        (m["role"], m["role_type"], m["content"], m["metadata"]) for m in batch
    ]
    assert [m.uuid for m in back] == [m.uuid for m in stored]


@PROFILE
@given(
    session_id=st.sampled_from(["trip", "loose", "brand-new"]),
    before=st.lists(good_message(), max_size=3),
    bad=bad_message(),
    after=st.lists(good_message(), max_size=3),
)
def test_a_batch_with_one_bad_message_stores_nothing(
    refusals: Any, session_id: str, before: list[Any], bad: Any, after: list[Any]
) -> None:
    batch = [*before, bad, *after]
    refused(refusals, lambda c: c.memory.add_messages(session_id, batch))
    refused(refusals, lambda c: c.memory.add_memory(session_id, {"messages": batch}))


COUNT = st.one_of(
    st.integers(-5, 5),
    st.integers(),
    st.integers(MAX_COUNT - 2, MAX_COUNT + 2),
    st.integers(min_value=MAX_COUNT),
    st.floats(),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.binary(max_size=2),
)


def _valid(value: Any, minimum: int, none_ok: bool) -> bool:
    if value is None:
        return none_ok
    return type(value) is int and minimum <= value <= MAX_COUNT


@PROFILE
@given(lastn=COUNT, limit=COUNT, cursor=COUNT, chunk=COUNT)
def test_counts_are_served_or_refused_with_a_typed_error(
    refusals: Any, lastn: Any, limit: Any, cursor: Any, chunk: Any
) -> None:
    client, path = refusals
    before = db_dump(path)
    calls = [
        (lambda: client.memory.get_messages("trip", lastn), _valid(lastn, 1, True)),
        (
            lambda: client.user.list(limit, cursor),
            _valid(limit, 0, True) and _valid(cursor, 0, True),
        ),
        (
            lambda: client.memory.list_sessions(limit, cursor),
            _valid(limit, 0, True) and _valid(cursor, 0, True),
        ),
        (
            lambda: client.memory.get_session_messages("trip", limit, cursor),
            _valid(limit, 1, False)
            and _valid(cursor, 1, False)
            and (cursor - 1) * limit <= MAX_COUNT,
        ),
        (lambda: list(client.user.list_chunked(chunk)), _valid(chunk, 1, False)),
        (lambda: list(client.memory.list_all_sessions(chunk)), _valid(chunk, 1, False)),
    ]
    for call, ok in calls:
        if ok:
            call()
        else:
            with pytest.raises(ZepMemoryError):
                call()
    assert db_dump(path) == before


# -- LangChain ---------------------------------------------------------------------------------

LC_KINDS = {"human": HumanMessage, "ai": AIMessage, "system": SystemMessage}
EXACT_KWARGS = st.dictionaries(PACKED_TEXT, PACKED_VALUE, max_size=3)


@st.composite
def lc_message(draw: st.DrawFn) -> BaseMessage:
    kind = LC_KINDS[draw(st.sampled_from(sorted(LC_KINDS)))]
    name = draw(st.none() | TEXT.filter(bool))
    return kind(
        content=draw(st.text(CHARS, max_size=40)),
        name=name,
        additional_kwargs=draw(EXACT_KWARGS),
    )


@PROFILE
@given(messages=st.lists(lc_message(), min_size=1, max_size=5))
def test_langchain_history_keeps_messages_exactly(
    keeper: ZepMemoryClient, messages: list[BaseMessage]
) -> None:
    session_id = f"lc-{_uid()}"
    ZepChatMessageHistory(session_id=session_id, user_id="lc", client=keeper).add_messages(messages)
    fresh = ZepChatMessageHistory(session_id=session_id, user_id="lc", client=keeper)
    assert fresh.messages == messages


@PROFILE
@given(
    good=st.lists(lc_message(), max_size=3),
    field=st.sampled_from(["name", "content", "additional_kwargs"]),
    data=st.data(),
)
def test_langchain_history_refuses_bad_messages(
    refusals: Any, good: list[BaseMessage], field: str, data: st.DataObject
) -> None:
    if field == "name":
        bad = HumanMessage("x", name=data.draw(SURROGATE_TEXT))
    elif field == "content":
        bad = HumanMessage(data.draw(SURROGATE_TEXT | NUL_TEXT))
    else:
        bad = AIMessage(
            "x",
            additional_kwargs=data.draw(
                st.builds(lambda k, v: {k: v}, TEXT, PACKED_BAD_LEAF)
                | st.builds(lambda k, v: {k: v}, TEXT, st.tuples(st.integers()))
            ),
        )
    history = ZepChatMessageHistory(
        session_id=f"lc-{_uid()}", user_id=f"lc-{_uid()}", client=refusals[0]
    )
    refused(refusals, lambda c: history.add_messages([*good, bad]))


# -- LlamaIndex --------------------------------------------------------------------------------

LI_ROLES = [
    MessageRole.USER,
    MessageRole.ASSISTANT,
    MessageRole.SYSTEM,
    MessageRole.TOOL,
    MessageRole.DEVELOPER,
]


@PROFILE
@given(
    role=st.sampled_from(LI_ROLES),
    content=st.text(CHARS, max_size=40),
    kwargs=EXACT_KWARGS,
)
def test_llama_index_messages_are_kept_exactly(
    keeper: ZepMemoryClient, role: MessageRole, content: str, kwargs: dict[str, Any]
) -> None:
    sent = ChatMessage(role=role, content=content, additional_kwargs=kwargs)
    assert from_zep_message(to_zep_message(sent)) == sent
    key = f"li-{_uid()}"
    ZepChatStore(client=keeper, user_id="li").add_message(key, sent)
    [back] = ZepChatStore(client=keeper, user_id="li").get_messages(key)
    assert back == sent and back.additional_kwargs == kwargs


@PROFILE
@given(
    kwargs=st.builds(lambda k, v: {k: v}, TEXT, PACKED_BAD_LEAF)
    | st.builds(
        lambda k, v: {k: v}, TEXT, st.tuples(st.integers()) | st.dates() | st.sets(st.integers())
    )
)
def test_llama_index_refuses_what_json_would_change(refusals: Any, kwargs: dict[str, Any]) -> None:
    bad = ChatMessage(role="assistant", content="x", additional_kwargs=kwargs)
    with pytest.raises(ZepMemoryError) as caught:
        to_zep_message(bad)
    assert str(getattr(caught.value, "field", "")).startswith("additional_kwargs")
    store = ZepChatStore(client=refusals[0], user_id=f"li-{_uid()}")
    refused(refusals, lambda c: store.add_message(f"k-{_uid()}", bad))


# -- CLI import --------------------------------------------------------------------------------

BAD_LINE = st.one_of(
    # One line that is not blank (import skips blank lines, Unicode whitespace included).
    st.binary(min_size=1, max_size=10).filter(
        lambda b: b"\n" not in b and b.decode("utf-8", "replace").strip() != ""
    ),
    st.builds(
        lambda m: json.dumps({"type": "message", "session_id": "s", **m}).encode(),
        bad_message()
        .filter(lambda m: isinstance(m, dict))
        .map(lambda m: {k: v for k, v in m.items() if isinstance(v, str)} | {"role": "\ud800"}),
    ),
    st.builds(
        lambda sid: json.dumps(
            {"type": "message", "session_id": sid, "content": "x"}, default=repr
        ).encode(),
        BAD_ID.filter(lambda v: v is not None and not isinstance(v, bytes)),
    ),
    st.just(b'{"type": "user", "user_id": "\\udc80"}'),
    st.just(b'{"type": "frobnicate"}'),
)


@settings(PROFILE, max_examples=20)  # two CLI runs and a new store file per example
@given(
    messages=st.lists(st.text(CHARS, max_size=30), min_size=1, max_size=8),
    cut=st.integers(0, 8),
    bad=BAD_LINE,
    batch_size=st.integers(1, 5),
)
def test_cli_import_keeps_everything_before_a_bad_line(
    tmp_path_factory: pytest.TempPathFactory,
    messages: list[str],
    cut: int,
    bad: bytes,
    batch_size: int,
) -> None:
    cut = min(cut, len(messages))
    lines = [json.dumps({"type": "session", "session_id": "s"}).encode()]
    lines += [
        json.dumps(
            {
                "type": "message",
                "session_id": "s",
                "role": "user",
                "content": text,
                "uuid": str(uuid.uuid4()),
            }
        ).encode()
        for text in messages
    ]
    lines.insert(1 + cut, bad)
    folder = tmp_path_factory.mktemp("import")
    dump = folder / "dump.jsonl"
    dump.write_bytes(b"\n".join(lines) + b"\n")
    store = folder / "store.sqlite3"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(
            ["import", "-i", str(dump), "--path", str(store), "-q", "--batch-size", str(batch_size)]
        )
    assert code == 1, err.getvalue()
    assert f"line {2 + cut}" in err.getvalue(), err.getvalue()
    with ZepMemoryClient(path=store) as client:
        kept = [m.content for m in client.memory.get_messages("s")]
    assert kept == messages[:cut]
    # The repaired file imports the rest, and only the rest.
    del lines[1 + cut]
    dump.write_bytes(b"\n".join(lines) + b"\n")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(["import", "-i", str(dump), "--path", str(store), "-q"]) == 0
    with ZepMemoryClient(path=store) as client:
        assert [m.content for m in client.memory.get_messages("s")] == messages
