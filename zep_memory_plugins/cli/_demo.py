"""``zep-memory demo``: the README's main job, step by step, on the embedded store."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from .._client import ZepMemoryClient
from .._errors import NotFoundError
from .._models import CreateUserRequest, Message, Session, UpdateUserRequest
from ..backends import EmbeddedBackend

__all__ = ["run_demo"]

_CONVERSATION = [
    Message(role="Jane", role_type="user", content="Find me a hotel in Lisbon for May."),
    Message(
        role="assistant",
        role_type="assistant",
        content="Three options in Alfama: Memmo, Solar, Palacio Belmonte.",
    ),
    Message(role="Jane", role_type="user", content="Which one has a pool?"),
    Message(role="assistant", role_type="assistant", content="Memmo Alfama has a rooftop pool."),
]


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def run_demo(path: str | None = None, out: IO[str] | None = None) -> None:
    """Run the demo on the embedded store at ``path`` (default: in memory, nothing kept)."""
    out = out or sys.stdout

    def say(text: str = "") -> None:
        out.write(text + "\n")

    where = path or ":memory:"
    kept = "" if path else " (in memory: nothing is kept)"
    with ZepMemoryClient(backend=EmbeddedBackend(where)) as client:
        say(f"zep-memory demo: the embedded store at {where}{kept}")

        user = client.user.add(
            CreateUserRequest(
                user_id="jane",
                email="jane@example.com",
                first_name="Jane",
                metadata={"plan": "free", "prefs": {"lang": "en"}},
            )
        )
        say(f"1. added user {user.user_id} <{user.email}> metadata {_j(user.metadata)}")

        trip = client.memory.add_session(
            Session(session_id="jane-trip", user_id="jane", metadata={"topic": "travel"})
        )
        support = client.memory.add_session(Session(session_id="jane-support", user_id="jane"))
        say(f"2. added sessions {trip.session_id} and {support.session_id}")

        assert trip.session_id is not None and support.session_id is not None
        client.memory.add_messages(trip.session_id, _CONVERSATION)
        messages = client.memory.get_messages(trip.session_id)
        say(f"3. wrote {len(_CONVERSATION)} messages to {trip.session_id}; read back:")
        for m in messages:
            say(f"     {m.role} ({m.role_type}): {m.content}")
        last = client.memory.get_messages(trip.session_id, lastn=1)
        say(f"   the last one only (lastn=1): {last[0].content}")

        sessions = client.user.get_sessions("jane")
        say(f"4. jane's sessions: {', '.join(str(s.session_id) for s in sessions)}")

        update = {"plan": "pro", "prefs": {"units": "metric"}}
        merged = client.user.update(UpdateUserRequest(user_id="jane", metadata=update))
        say(f"5. metadata update {_j(update)}")
        say(f"   merged into      {_j(merged.metadata)}")

        client.memory.delete_memory(support.session_id)
        try:
            client.memory.get_session(support.session_id)
            gone = "still there (unexpected)"
        except NotFoundError:
            gone = "get_session -> NotFoundError"
        left = [s.session_id for s in client.user.get_sessions("jane")]
        say(f"6. soft-deleted {support.session_id}: {gone}; jane's sessions now: {left}")

        client.user.delete("jane")
        remaining = client.memory.get_messages(trip.session_id)
        try:
            client.user.get("jane")
            user_state = "still there (unexpected)"
        except NotFoundError:
            user_state = "gone"
        say(
            f"7. deleted user jane: user {user_state}, {trip.session_id} now has "
            f"{len(remaining)} messages (the delete cascades)"
        )
        say("done.")
