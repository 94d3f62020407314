"""Bad input on every ``ZepMemoryClient`` entry: a typed error naming the field, store unchanged.

Issue 11, items 7 (lone surrogates), 8 (circular / deep metadata, huge integers and counts) and
9 (size limits on every field, ``bytes`` ids): each case failed on main with a raw
``UnicodeEncodeError``, ``RecursionError``, ``ValueError`` or ``OverflowError``, or was
accepted. Every case runs on every backend, through the sync methods and their async twins.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hostile_helpers import SURROGATE, Api, api_snapshot, circular, deep, seed

from zep_memory_plugins import (
    InvalidInputError,
    Message,
    ZepMemoryClient,
    ZepMemoryError,
)
from zep_memory_plugins._models import (
    MAX_COUNT,
    MAX_ID_LENGTH,
    MAX_MESSAGE_CONTENT_LENGTH,
    MAX_METADATA_DEPTH,
    MAX_METADATA_INTEGER,
    MAX_METADATA_LENGTH,
    MAX_TEXT_LENGTH,
)

S = SURROGATE
Case = Callable[[Any], Awaitable[Any]]


def _msg(**fields: Any) -> dict[str, Any]:
    return {"role": "user", "role_type": "user", "content": "x", **fields}


def _meta_cases(name: str, value: Any, field: str | None, *, heavy: bool = False) -> list[Any]:
    """The same bad metadata through every entry that takes metadata (``heavy``: through two)."""
    cases = [
        pytest.param(
            lambda api: api.user.add({"user_id": "new", "metadata": value}),
            field,
            id=f"{name}-user.add",
        ),
        pytest.param(
            lambda api: api.user.update({"user_id": "jane", "metadata": value}),
            field,
            id=f"{name}-user.update",
        ),
        pytest.param(
            lambda api: api.memory.add_session({"session_id": "new", "metadata": value}),
            field,
            id=f"{name}-add_session",
        ),
        pytest.param(
            lambda api: api.memory.update_session({"session_id": "trip", "metadata": value}),
            field,
            id=f"{name}-update_session",
        ),
        pytest.param(
            lambda api: api.memory.add_messages("new", [_msg(metadata=value)]),
            field and f"messages[0].{field}",
            id=f"{name}-add_messages",
        ),
        pytest.param(
            lambda api: api.memory.add_messages("trip", [_msg(), _msg(metadata=value)]),
            field and f"messages[1].{field}",
            id=f"{name}-add_messages-second",
        ),
    ]
    return [c for c in cases if c.id.endswith(("user.add", "second"))] if heavy else cases


CASES = [
    # -- item 7: lone surrogates --------------------------------------------------------------
    pytest.param(
        lambda api: api.user.add({"user_id": "a" + S}), "user_id", id="surrogate-user_id-add"
    ),
    pytest.param(lambda api: api.user.get("a" + S), "user_id", id="surrogate-user_id-get"),
    pytest.param(lambda api: api.user.delete(S), "user_id", id="surrogate-user_id-delete"),
    pytest.param(lambda api: api.user.get_sessions(S), "user_id", id="surrogate-get_sessions"),
    pytest.param(
        lambda api: api.user.update({"user_id": S, "email": "x"}),
        "user_id",
        id="surrogate-user_id-update",
    ),
    pytest.param(
        lambda api: api.user.add({"user_id": "new", "email": "j" + S}),
        "email",
        id="surrogate-email",
    ),
    pytest.param(
        lambda api: api.user.add({"user_id": "new", "first_name": S}),
        "first_name",
        id="surrogate-first_name",
    ),
    pytest.param(
        lambda api: api.user.update({"user_id": "jane", "last_name": S}),
        "last_name",
        id="surrogate-last_name-update",
    ),
    pytest.param(
        lambda api: api.memory.add_session({"session_id": "s" + S}),
        "session_id",
        id="surrogate-session_id-add_session",
    ),
    pytest.param(
        lambda api: api.memory.add_session({"session_id": "new", "user_id": S}),
        "user_id",
        id="surrogate-session-user_id",
    ),
    pytest.param(lambda api: api.memory.get_session(S), "session_id", id="surrogate-get_session"),
    pytest.param(lambda api: api.memory.delete_memory(S), "session_id", id="surrogate-delete"),
    pytest.param(
        lambda api: api.memory.add_messages(S, [_msg()]),
        "session_id",
        id="surrogate-session_id-add_messages",
    ),
    pytest.param(lambda api: api.memory.get_messages(S), "session_id", id="surrogate-get_messages"),
    pytest.param(
        lambda api: api.memory.get_session_messages(S),
        "session_id",
        id="surrogate-get_session_messages",
    ),
    pytest.param(
        lambda api: api.memory.add_messages("trip", [_msg(role="J" + S)]),
        "messages[0].role",
        id="surrogate-role",
    ),
    pytest.param(
        lambda api: api.memory.add_messages("new", [_msg(content="hi " + S)]),
        "messages[0].content",
        id="surrogate-content",
    ),
    pytest.param(
        lambda api: api.memory.update_message_metadata(S, uuid.uuid4(), {"a": 1}),
        "session_id",
        id="surrogate-update_message_metadata",
    ),
    *_meta_cases("surrogate-key", {"ok": 1, S: 1}, "metadata"),
    *_meta_cases("surrogate-value", {"n": {"v": ["ok", S]}}, "metadata.n.v[1]"),
    # -- item 8: circular, deep, huge -----------------------------------------------------------
    *_meta_cases("circular", circular(), "metadata.self"),
    *_meta_cases("deep", deep(5000), None, heavy=True),
    *_meta_cases("depth-limit", deep(MAX_METADATA_DEPTH), None),
    *_meta_cases("huge-int", {"n": 10**5000}, "metadata.n"),
    *_meta_cases("int-2**63", {"n": [2**63]}, "metadata.n[0]"),
    # -- the value rule: what a Zep server would give back changed is refused everywhere ----------
    *_meta_cases("int-2**53", {"n": [1, 2**53]}, "metadata.n[1]"),
    *_meta_cases("int--2**53", {"n": {"m": -(2**53)}}, "metadata.n.m"),
    *_meta_cases("int-2**63-1", {"id": 2**63 - 1}, "metadata.id"),
    *_meta_cases("whole-float", {"t": 1.0}, "metadata.t"),
    *_meta_cases("zero-float", {"t": [0.5, 0.0]}, "metadata.t[1]"),
    *_meta_cases("minus-zero", {"t": -0.0}, "metadata.t"),
    *_meta_cases("float-1e308", {"t": 1e308}, "metadata.t"),
    *_meta_cases("nul-value", {"n": {"v": "a\x00b"}}, "metadata.n.v"),
    *_meta_cases("nul-key", {"a\x00b": 1}, "metadata"),
    pytest.param(
        lambda api: api.memory.add_messages("new", [_msg(content="a\x00b")]),
        "messages[0].content",
        id="nul-content",
    ),
    pytest.param(
        lambda api: api.memory.add_messages("trip", [_msg(), _msg(role="\x00")]),
        "messages[1].role",
        id="nul-role",
    ),
    pytest.param(
        lambda api: api.user.add({"user_id": "new", "email": "a\x00@b.c"}), "email", id="nul-email"
    ),
    pytest.param(
        lambda api: api.user.update({"user_id": "jane", "first_name": "J\x00"}),
        "first_name",
        id="nul-first_name",
    ),
    pytest.param(
        lambda api: api.user.add({"user_id": "new", "last_name": "\x00"}),
        "last_name",
        id="nul-last_name",
    ),
    pytest.param(lambda api: api.user.add({"user_id": "a\x00"}), "user_id", id="nul-user_id"),
    pytest.param(
        lambda api: api.memory.add_messages("new", [_msg(created_at="9999-12-31T23:00:00-05:00")]),
        "messages[0].created_at",
        id="created_at-past-9999",
    ),
    pytest.param(
        lambda api: api.memory.add_messages(
            "trip", [_msg(), _msg(created_at="0001-01-01T00:30:00+01:00")]
        ),
        "messages[1].created_at",
        id="created_at-before-year-1",
    ),
    pytest.param(
        lambda api: api.memory.get_messages("trip", lastn=2**63), "lastn", id="lastn-2**63"
    ),
    pytest.param(lambda api: api.user.list(limit=2**63), "limit", id="user.list-limit-2**63"),
    pytest.param(lambda api: api.user.list(cursor=2**64), "cursor", id="user.list-cursor-2**64"),
    pytest.param(
        lambda api: api.memory.list_sessions(limit=2**63), "limit", id="list_sessions-limit"
    ),
    pytest.param(
        lambda api: api.memory.list_sessions(cursor=2**63), "cursor", id="list_sessions-cursor"
    ),
    pytest.param(
        lambda api: api.memory.get_session_messages("trip", limit=2**63),
        "limit",
        id="page-limit-2**63",
    ),
    pytest.param(
        lambda api: api.memory.get_session_messages("trip", cursor=2**63),
        "cursor",
        id="page-cursor-2**63",
    ),
    pytest.param(
        lambda api: api.memory.get_session_messages("trip", limit=2**62, cursor=4),
        "cursor",
        id="page-offset-past-2**63",
    ),
    pytest.param(lambda api: api.user.list_chunked(2**63), "chunk_size", id="list_chunked"),
    pytest.param(
        lambda api: api.memory.list_all_sessions(2**70), "chunk_size", id="list_all_sessions"
    ),
    # -- item 9: sizes of every field, bytes ids ------------------------------------------------
    pytest.param(
        lambda api: api.memory.add_messages("new", [_msg(role="r" * (MAX_TEXT_LENGTH + 1))]),
        "messages[0].role",
        id="long-role",
    ),
    pytest.param(
        lambda api: api.memory.add_messages(
            "new", [_msg(content="c" * (MAX_MESSAGE_CONTENT_LENGTH + 1))]
        ),
        "messages[0].content",
        id="long-content",
    ),
    pytest.param(
        lambda api: api.user.add({"user_id": "new", "email": "e" * (MAX_TEXT_LENGTH + 1)}),
        "email",
        id="long-email",
    ),
    pytest.param(
        lambda api: api.user.update({"user_id": "jane", "first_name": "f" * 20_000_000}),
        "first_name",
        id="20MB-first_name",
    ),
    pytest.param(
        lambda api: api.user.add({"user_id": "i" * (MAX_ID_LENGTH + 1)}),
        "user_id",
        id="long-user_id",
    ),
    *_meta_cases("20MB-value", {"big": "v" * 20_000_000}, "metadata.big", heavy=True),
    *_meta_cases(
        "many-values", {"list": ["abcdefgh"] * (MAX_METADATA_LENGTH // 8 + 1)}, None, heavy=True
    ),
    pytest.param(lambda api: api.user.add({"user_id": b"new"}), "user_id", id="bytes-user.add"),
    pytest.param(lambda api: api.user.get(b"jane"), "user_id", id="bytes-user.get"),
    pytest.param(
        lambda api: api.user.update({"user_id": b"jane", "email": "x"}),
        "user_id",
        id="bytes-user.update",
    ),
    pytest.param(
        lambda api: api.memory.add_session({"session_id": b"new"}),
        "session_id",
        id="bytes-add_session",
    ),
    pytest.param(
        lambda api: api.memory.add_session({"session_id": "new", "user_id": b"jane"}),
        "user_id",
        id="bytes-session-owner",
    ),
    pytest.param(
        lambda api: api.memory.add_messages(b"trip", [_msg()]),
        "session_id",
        id="bytes-add_messages",
    ),
    pytest.param(
        lambda api: api.memory.get_messages(b"trip"), "session_id", id="bytes-get_messages"
    ),
    pytest.param(
        lambda api: api.memory.add_messages("trip", [_msg(role=b"Jane")]),
        "messages[0].role",
        id="bytes-role",
    ),
    pytest.param(
        lambda api: api.memory.add_messages("trip", [_msg(content=b"hello")]),
        "messages[0].content",
        id="bytes-content",
    ),
    pytest.param(
        lambda api: api.user.add({"user_id": "new", "email": b"a@b.c"}),
        "email",
        id="bytes-email",
    ),
]


@pytest.mark.parametrize(("call", "field"), CASES)
async def test_bad_input_is_refused_and_changes_nothing(
    client: ZepMemoryClient, call: Case, field: str | None
) -> None:
    seed(client)
    before = api_snapshot(client)
    for mode in ("sync", "async"):
        with pytest.raises(ZepMemoryError) as caught:
            await call(Api(client, mode))
        error = caught.value
        assert isinstance(error, InvalidInputError), repr(error)
        if field is not None:  # the field named, or a place inside it
            assert error.field is not None and error.field.startswith(field), str(error)
        assert len(str(error)) < 600  # a 20 MB value is not echoed back
        assert api_snapshot(client) == before, mode


async def test_bytes_ids_are_refused_the_same_way_everywhere(api: Any) -> None:
    seed(api.client)
    messages: list[str] = []
    for call in (
        lambda: api.user.get(b"jane"),
        lambda: api.user.add({"user_id": b"jane2"}),
        lambda: api.memory.add_session({"session_id": b"s"}),
        lambda: api.memory.get_session(b"trip"),
        lambda: api.memory.add_messages(b"trip", [_msg()]),
    ):
        with pytest.raises(InvalidInputError) as caught:
            await call()
        messages.append(str(caught.value))
    assert all("must be a string, not bytes" in m for m in messages), messages


async def test_limits_themselves_are_accepted(api: Any, backend_name: str) -> None:
    """The limits are inclusive: a value right at each one is stored and read back unchanged.

    Zep Cloud takes only scalars and arrays of them in message metadata (and ids of at most
    500 characters): there the deep value is checked in session metadata alone.
    """
    cloud = backend_name in ("zep-v3", "zep-v4")
    role = "r" * MAX_TEXT_LENGTH
    numbers = [MAX_METADATA_INTEGER, -MAX_METADATA_INTEGER, 5e-324, -2.5e-7, 0.1]
    metadata = {"n": numbers, "deep": deep(MAX_METADATA_DEPTH - 2)}
    user_id = "u" * (500 if cloud else MAX_ID_LENGTH)
    await api.user.add({"user_id": user_id, "email": "e" * MAX_TEXT_LENGTH})
    await api.memory.add_session({"session_id": "deep", "user_id": user_id, "metadata": metadata})
    assert (await api.memory.get_session("deep")).metadata == metadata
    message_metadata = {"n": numbers} if cloud else metadata
    stored = await api.memory.add_messages(
        "s", [Message(role=role, role_type="user", content="x", metadata=message_metadata)]
    )
    back = await api.memory.get_messages("s")
    assert back[0].role == role and back[0].metadata == message_metadata
    assert back[0].uuid == stored[0].uuid
    assert await api.memory.get_messages("s", lastn=MAX_COUNT) == back
    assert await api.user.list(limit=MAX_COUNT, cursor=MAX_COUNT) == []


def test_non_ascii_text_is_kept(client: Any) -> None:
    """Non-ASCII that UTF-8 carries (accents, CJK, emoji, a surrogate *pair*'s character)."""
    text = "Zoë 東京 \U0001f600 \u00e9\u0301"
    client.user.add({"user_id": "zoë-東京", "first_name": text, "metadata": {text: text}})
    client.memory.add_messages(
        "zoë-s", [Message(role=text, role_type="user", content=text, metadata={text: [text]})]
    )
    user = client.user.get("zoë-東京")
    assert user.first_name == text and user.metadata == {text: text}
    [message] = client.memory.get_messages("zoë-s")
    assert (message.role, message.content, message.metadata) == (text, text, {text: [text]})


def test_assigning_bad_values_to_a_model_is_refused_too() -> None:
    message = Message(role="user", content="x")
    with pytest.raises(InvalidInputError) as caught:
        message.metadata = circular()
    assert caught.value.field is not None and caught.value.field.startswith("metadata")
    with pytest.raises(InvalidInputError):
        message.role = S
    assert message.metadata is None and message.role == "user"
