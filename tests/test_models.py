"""Model helpers that the contract suite does not reach directly."""

from __future__ import annotations

import time
import uuid

from zep_memory_plugins import Message, ZepMemoryClient
from zep_memory_plugins._models import deep_merge, new_message_uuid


def test_message_uuids_are_version_7_and_grow_with_time():
    first = new_message_uuid()
    time.sleep(0.002)
    second = new_message_uuid()
    assert first.version == 7 and first.variant == uuid.RFC_4122
    assert first < second
    assert len({new_message_uuid() for _ in range(10_000)}) == 10_000


def test_the_store_gives_new_messages_time_ordered_uuids():
    with ZepMemoryClient(path=":memory:") as client:
        stored = client.memory.add_messages("s", [Message(role="user", content="x")])
        assert stored[0].uuid.version == 7


def test_deep_merge_never_mutates_its_inputs():
    base = {"n": {"x": 1}}
    update = {"n": {"y": 2}}
    assert deep_merge(base, update) == {"n": {"x": 1, "y": 2}}
    assert base == {"n": {"x": 1}} and update == {"n": {"y": 2}}


def test_a_naive_created_at_is_taken_as_utc():
    from datetime import datetime, timezone

    message = Message(role="user", content="x", created_at=datetime(2020, 1, 1, 12, 0))
    assert message.created_at == datetime(2020, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_the_limits_are_exported_with_the_models():
    import zep_memory_plugins as zmp

    assert zmp.MAX_COUNT == 2**63 - 1
    assert zmp.MAX_TEXT_LENGTH >= 1024 and zmp.MAX_METADATA_DEPTH >= 32
    assert zmp.MAX_METADATA_LENGTH >= 2 * zmp.MAX_MESSAGE_CONTENT_LENGTH


def test_check_json_value_exact_mode_refuses_what_json_gives_back_changed():
    import enum

    import pytest

    from zep_memory_plugins import InvalidInputError
    from zep_memory_plugins._models import check_json_value

    class Size(enum.IntEnum):
        BIG = 2

    ok = {"a": [1, 2.5, "x", None, True, {"b": []}]}
    check_json_value(ok, "v", exact=True)
    check_json_value({"t": (1, 2)}, "v")  # tuples are lists to plain metadata
    for bad, field in [
        ({"t": (1, 2)}, "v.t"),
        ({"e": Size.BIG}, "v.e"),
        ({"s": [{"x": {1}}]}, "v.s[0].x"),
    ]:
        with pytest.raises(InvalidInputError) as caught:
            check_json_value(bad, "v", exact=True)
        assert caught.value.field == field


def test_a_shared_but_not_circular_value_is_fine():
    shared = {"x": 1}
    message = Message(role="user", content="x", metadata={"a": shared, "b": [shared, shared]})
    assert message.metadata == {"a": {"x": 1}, "b": [{"x": 1}, {"x": 1}]}


def test_the_kept_json_encoder_writes_what_json_dumps_writes():
    import json

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from zep_memory_plugins._models import dumps_metadata, pack_json

    values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=10,
    )

    @settings(max_examples=200, deadline=None)
    @given(st.dictionaries(st.text(), values, max_size=4))
    def check(value):
        expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        assert pack_json(value) == expected
        assert dumps_metadata(value) == expected

    check()


def test_a_failed_encoding_leaves_no_trace_in_the_next():
    import pytest

    from zep_memory_plugins._models import pack_json

    shared: list[object] = [1, {1, 2}]
    with pytest.raises(TypeError):
        pack_json({"a": shared})  # fails inside ``shared``, while the encoder marks it
    shared.pop()
    assert pack_json({"a": shared, "b": shared}) == '{"a":[1],"b":[1]}'
    with pytest.raises(ValueError, match="Circular"):
        circular: dict[str, object] = {}
        circular["self"] = circular
        pack_json(circular)
    assert pack_json({"c": shared}) == '{"c":[1]}'
