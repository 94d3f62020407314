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
