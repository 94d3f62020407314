"""Two processes on one embedded store file: what one deletes, the other never serves again.

Process 1 (this test) holds a session in its adapters' caches; process 2 (a real subprocess on
the same SQLite file) clears the session, deletes its user, or writes to it; then process 1
writes and reads. What process 1 reads must be what the file holds.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.llms import ChatMessage

from zep_memory_plugins import ZepMemoryClient
from zep_memory_plugins._history_cache import TAIL_SIZE
from zep_memory_plugins.langchain import ZepChatMessageHistory
from zep_memory_plugins.llama_index import ZepChatStore

OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from zep_memory_plugins import Message, ZepMemoryClient

    path, action = sys.argv[1], sys.argv[2]
    with ZepMemoryClient(path=path) as client:
        if action == "clear":
            client.memory.delete_memory("s")
        elif action == "delete-user":
            client.user.delete("ann")
        elif action == "write":
            client.memory.add_messages("s", [Message(role="user", content="from process 2")])
        else:
            raise SystemExit(f"unknown action {action}")
    """
)


def other_process(path: Path, action: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, str(path), action],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


EXPECTED = {
    "clear": ["mine"],
    "delete-user": ["mine"],
    "write": None,  # everything: the old messages, process 2's and mine
}


@pytest.mark.parametrize("action", list(EXPECTED))
@pytest.mark.parametrize("length", [3, TAIL_SIZE + 5])
def test_langchain_history_reads_what_the_file_holds(
    tmp_path: Path, action: str, length: int
) -> None:
    path = tmp_path / "memory.sqlite3"
    old = [f"old{i}" for i in range(length)]
    with ZepMemoryClient(path=path) as client:
        history = ZepChatMessageHistory(session_id="s", user_id="ann", client=client)
        history.add_messages([HumanMessage(t) for t in old])
        assert [m.content for m in history.messages] == old
        other_process(path, action)
        history.add_messages([HumanMessage("mine")])
        seen = [m.content for m in history.messages]
    with ZepMemoryClient(path=path) as fresh:
        on_file = [m.content for m in fresh.memory.get_messages("s")]
    assert seen == on_file == (EXPECTED[action] or [*old, "from process 2", "mine"])


@pytest.mark.parametrize("action", ["clear", "delete-user"])
def test_llama_index_chat_store_reads_what_the_file_holds(tmp_path: Path, action: str) -> None:
    path = tmp_path / "memory.sqlite3"
    with ZepMemoryClient(path=path) as client:
        store = ZepChatStore(client, "ann")
        for text in ("a", "b"):
            store.add_message("s", ChatMessage(role="user", content=text))
        assert [m.content for m in store.get_messages("s")] == ["a", "b"]
        other_process(path, action)
        store.add_message("s", ChatMessage(role="user", content="mine"))
        assert [m.content for m in store.get_messages("s")] == ["mine"]
