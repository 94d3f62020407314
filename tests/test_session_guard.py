"""SessionGuard: ownership is checked before anything is written, on every backend."""

from __future__ import annotations

import pytest

from zep_memory_plugins import Message, NotFoundError, SessionOwnershipError
from zep_memory_plugins._session_guard import SessionGuard


def msg(text: str) -> list[Message]:
    return [Message(role="user", content=text)]


def test_an_intruder_on_a_cleared_session_changes_nothing(open_client):
    owner_client, intruder_client = open_client(), open_client()
    owner = SessionGuard(owner_client)
    owner.ensure_write("ann", "s", {"topic": "private"})
    owner.append("s", msg("ann's secret"))
    owner.delete("s")  # cleared: soft-deleted, its owner no longer visible to anyone

    intruder = SessionGuard(intruder_client)
    with pytest.raises(SessionOwnershipError) as info:
        intruder.ensure_write("carl", "s", None)
    assert "ann" not in str(info.value)
    with pytest.raises(NotFoundError):
        intruder_client.memory.get_session("s")  # still deleted
    with pytest.raises(NotFoundError):
        intruder_client.user.get("carl")  # the refused write created no user
    assert intruder_client.memory.get_messages("s") == []

    # The owner, from a fresh process, writes again: the session comes back as theirs.
    again = SessionGuard(open_client())
    again.ensure_write("ann", "s", None)
    again.append("s", msg("back"))
    session = owner_client.memory.get_session("s")
    assert session.user_id == "ann" and session.metadata["topic"] == "private"
    assert [m.content for m in owner_client.memory.get_messages("s")] == ["back"]


async def test_async_intruder_on_a_cleared_session_changes_nothing(open_client):
    owner_client, intruder_client = open_client(), open_client()
    owner = SessionGuard(owner_client)
    await owner.aensure_write("ann", "s", None)
    await owner.aappend("s", msg("secret"))
    await owner.adelete("s")
    with pytest.raises(SessionOwnershipError):
        await SessionGuard(intruder_client).aensure_write("carl", "s", None)
    with pytest.raises(NotFoundError):
        await intruder_client.memory.aget_session("s")
    with pytest.raises(NotFoundError):
        await intruder_client.user.aget("carl")


def test_a_live_session_of_another_user_is_refused_before_any_write(client):
    SessionGuard(client).ensure_write("ann", "s", None)
    client.stats.reset()
    with pytest.raises(SessionOwnershipError):
        SessionGuard(client).ensure_write("carl", "s", None)
    assert client.stats.writes == 0
