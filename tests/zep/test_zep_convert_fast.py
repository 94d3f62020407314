"""A page of messages from a Zep answer is converted at once: exactly as one at a time.

``to_messages`` (a whole page, built through the message slots with one fields set, times
parsed once) must give what ``to_message`` gives for each wire message, and refuse with the
same :class:`UnreadableAnswerError` what it refuses.
"""

from __future__ import annotations

import copy
import pickle
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zep_memory_plugins import Message
from zep_memory_plugins._models import CREATED_AT_KEY, ROLE_TYPE_KEY
from zep_memory_plugins.backends.zep._convert import (
    UnreadableAnswerError,
    to_message,
    to_messages,
)
from zep_memory_plugins.backends.zep._v1 import V1Wire
from zep_memory_plugins.backends.zep._v2 import V2Wire

_uuids = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: "{" + str(u) + "}"),
    st.uuids(),
    st.text(max_size=40),
    st.just(""),
    st.none(),
    st.integers(),
)
_times = st.one_of(
    st.none(),
    st.just("0001-01-01T00:00:00Z"),
    st.sampled_from(["2024-05-01T10:00:00.123456Z", "2024-05-01T10:00:00+02:00"]),
    st.datetimes().map(lambda d: d.isoformat()),
    st.text(max_size=12),
    st.integers(),
)
_metadata = st.one_of(
    st.none(),
    st.just({}),
    st.dictionaries(st.text(max_size=6), st.integers() | st.text(max_size=6), max_size=3),
    st.just({ROLE_TYPE_KEY: "user", "a": 1}),
    st.just({CREATED_AT_KEY: "2020-01-01T00:00:00+00:00"}),
    st.just({CREATED_AT_KEY: "not a time"}),
    st.just([1, 2]),
)
_wire_messages = st.fixed_dictionaries(
    {},
    optional={
        "uuid": _uuids,
        "role": st.sampled_from(["user", "assistant", "Jane", ""]) | st.none() | st.integers(),
        "role_type": st.sampled_from(["user", "norole", "martian", ""]) | st.none(),
        "content": st.text(max_size=10) | st.none() | st.integers(),
        "metadata": _metadata,
        "created_at": _times,
        "token_count": st.integers(0, 5),
    },
)


def _one_at_a_time(raws: list[Any], unpack: Any) -> list[Message] | type[Exception]:
    try:
        return [to_message(raw, unpack) for raw in raws]
    except UnreadableAnswerError as exc:
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(raws=st.lists(_wire_messages, max_size=6), v1=st.booleans())
def test_a_page_converts_as_its_messages_one_at_a_time(raws, v1):
    unpack = (V1Wire() if v1 else V2Wire()).unpack_metadata
    expected = _one_at_a_time(copy.deepcopy(raws), unpack)
    if expected is UnreadableAnswerError:
        with pytest.raises(UnreadableAnswerError):
            to_messages(raws, unpack)
        return
    got = to_messages(raws, unpack)
    assert got == expected
    for fast, slow in zip(got, expected, strict=True):
        assert fast.model_dump() == slow.model_dump()
        assert fast.model_fields_set == slow.model_fields_set
        assert type(fast.uuid) is uuid.UUID and hash(fast.uuid) == hash(slow.uuid)
        assert pickle.loads(pickle.dumps(fast)) == slow


def test_messages_of_one_batch_share_a_parsed_time_and_keep_their_own_fields():
    stamp = "2024-05-01T10:00:00.123456Z"
    raws = [
        {"uuid": str(uuid.uuid4()), "role": "user", "content": str(i), "created_at": stamp}
        for i in range(3)
    ]
    first, second, _ = to_messages(raws, V1Wire().unpack_metadata)
    assert first.created_at == second.created_at and first.created_at.tzinfo is not None
    first.content = "changed"
    assert second.content == "1"
    assert first.model_fields_set == second.model_fields_set == set(Message.model_fields)


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        (
            "text/plain; charset=utf-8",
            '{"messages": [{"content": "é"}]}'.encode(),
            {"messages": [{"content": "é"}]},
        ),
        ("text/plain; charset=utf-8", b"  \n[1, 2]", [1, 2]),
        ("text/plain; charset=latin-1", '{"a": "é"}'.encode("latin-1"), {"a": "é"}),
        ("text/plain; charset=utf-8", b"OK", "OK"),
        ("application/json", b'{"a": 1}', {"a": 1}),
        ("text/plain", b"", None),
    ],
)
def test_answers_decode_as_their_headers_say(content_type, body, expected):
    """Plain-text JSON (how Zep sends message lists) decodes from its bytes; other charsets and
    plain text as before."""
    import httpx

    from zep_memory_plugins.backends.zep._transport import _decode

    response = httpx.Response(200, headers={"content-type": content_type}, content=body)
    assert _decode(response) == expected


def test_a_plain_text_answer_that_is_not_json_after_all_is_refused():
    import httpx

    from zep_memory_plugins.backends.zep._transport import _decode

    response = httpx.Response(200, headers={"content-type": "text/plain"}, content=b"{not json")
    with pytest.raises(ValueError):
        _decode(response)
