"""Contract: purging soft-deleted data on request, on every backend, sync and async.

The embedded store purges and reports; on a Zep server purging is the server's job, so the call
raises :class:`UnsupportedOperationError` and sends nothing.
"""

from __future__ import annotations

import pytest

from zep_memory_plugins import (
    CreateUserRequest,
    InvalidInputError,
    Message,
    Session,
    UnsupportedOperationError,
)


async def test_purge_now_frees_the_ids_of_soft_deleted_sessions(api, backend_name):
    await api.user.add(CreateUserRequest(user_id="jane"))
    await api.memory.add_session(Session(session_id="s", user_id="jane", metadata={"a": 1}))
    await api.memory.add_messages("s", [Message(role="jane", content=f"m{i}") for i in range(3)])
    await api.memory.delete_memory("s")
    before = api.client.stats.snapshot()
    if backend_name != "embedded":
        with pytest.raises(UnsupportedOperationError) as info:
            await api.memory.purge_deleted(older_than=0)
        message = str(info.value)
        assert "job of the Zep server at http://127.0.0.1" in message
        assert "purge_every" in message and "Nothing was sent" in message
        assert api.client.stats.http_requests == before["http_requests"]
        return
    report = await api.memory.purge_deleted(older_than=0)
    assert report.session_ids == ["s"]
    assert [(p.user_id, p.messages) for p in report.sessions] == [("jane", 3)]
    assert api.client.stats.calls["purge_deleted"] == 1
    fresh = await api.memory.add_session(Session(session_id="s"))
    assert fresh.user_id is None and fresh.metadata is None
    assert await api.user.get_sessions("jane") == []


async def test_a_bad_older_than_is_refused_before_the_backend_on_every_backend(api):
    before = api.client.stats.snapshot()
    for bad in ("30", "-1d", "soon", -1, float("nan"), object()):
        with pytest.raises(InvalidInputError) as info:
            await api.memory.purge_deleted(older_than=bad)
        assert info.value.field == "older_than"
    assert api.client.stats.snapshot() == before
