"""LlamaIndex: ZepMemory's token budget and rolling summary; ZepSummaryBlock under Memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from li_ctx_fakes import scripted_llm
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import ChatMessage
from llama_index.core.memory import Memory
from llama_index.core.utils import get_tokenizer

from zep_memory_plugins import InvalidInputError, ZepMemoryClient
from zep_memory_plugins._context import SUMMARY_KEY
from zep_memory_plugins.llama_index import (
    ZepChatStore,
    ZepDBChatStore,
    ZepMemory,
    ZepSummaryBlock,
)
from zep_memory_plugins.llama_index._memory import SUMMARY_HEADER, chat_text

BUDGET = 600
SYSTEM = "You are a helpful assistant."
FACT = "my name is Zed-Quartz and my locker code is 4471 FACT"


def say(n: int) -> str:
    return FACT if n == 1 else f"turn {n}: tell me something about topic {n}, be thorough"


def tokens(messages: list[ChatMessage]) -> int:
    tokenize = get_tokenizer()
    return sum(len(tokenize(chat_text(m))) for m in messages)


def test_chat_engine_stays_within_budget_and_keeps_turn_1(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    client = open_client()
    llm, seen = scripted_llm()
    memory = ZepMemory(client, "jane", "long", token_limit=BUDGET, llm=llm)
    chat = SimpleChatEngine.from_defaults(llm=llm, memory=memory, system_prompt=SYSTEM)
    plain: list[tuple[int, int]] = []
    for n in range(1, 151):
        before = len(seen.summaries)
        client.stats.reset()
        chat.chat(say(n))
        if len(seen.summaries) == before and n > 1:
            plain.append((client.stats.reads, client.stats.writes))
    assert max(tokens(r) for r in seen.seen) <= BUDGET  # the tokenizer LlamaIndex uses, offline
    assert all(r <= 1 and w <= 1 for r, w in plain) and len(plain) > 130
    assert 2 <= len(seen.summaries) <= 40  # in batches, not every turn
    last = seen.seen[-1]
    assert last[0].content == SYSTEM  # the engine's prompt, then our summary: both at the front
    assert str(last[1].content).startswith(SUMMARY_HEADER) and "4471" in str(last[1].content)
    assert all(m.role != "system" for m in last[2:])  # never in the middle
    assert last[2].role == "user"

    # a new process reads the same context; the summary is not a chat message of the session
    again = ZepMemory(open_client(), "jane", "long", token_limit=BUDGET, llm=llm)
    assert again.get() == memory.get()
    assert all(SUMMARY_HEADER not in str(m.content) for m in again.get_all())
    store = ZepChatStore(client, "jane")
    assert len(store.get_messages("long")) == len(again.get_all())


def test_async_get_summarises_too(client: ZepMemoryClient) -> None:
    llm, seen = scripted_llm()
    memory = ZepMemory(client, "jane", "a", token_limit=200, llm=llm)

    async def run() -> list[ChatMessage]:
        for n in range(1, 40):
            await memory.aput(ChatMessage(role="user", content=say(n)))
            await memory.aput(ChatMessage(role="assistant", content="fine " * 10))
        return await memory.aget()

    got = asyncio.run(run())
    assert seen.summaries and "4471" in str(got[0].content)
    assert tokens(got) <= 200
    stored = client.memory.get_messages("a")
    assert any(SUMMARY_KEY in (m.metadata or {}) for m in stored)
    memory.reset()  # a clear takes the summary with it
    memory.put_messages([ChatMessage(role="user", content="hello")])
    assert [m.content for m in memory.get()] == ["hello"]


def test_new_input_that_cannot_fit_is_refused(client: ZepMemoryClient) -> None:
    memory = ZepMemory(client, "jane", "b", token_limit=5)
    memory.put(ChatMessage(role="user", content="word " * 50))
    with pytest.raises(InvalidInputError, match="token_limit"):
        memory.get()
    assert memory.pending  # nothing lost


def test_summary_block_under_memory(open_client: Callable[[], ZepMemoryClient]) -> None:
    client = open_client()
    llm, seen = scripted_llm()

    def memory_on(c: ZepMemoryClient) -> Memory:
        return Memory.from_defaults(
            session_id="m",
            chat_store=ZepDBChatStore(c, "jane"),
            memory_blocks=[ZepSummaryBlock(c, "jane", llm=llm, max_tokens=200)],
            token_limit=800,
            chat_history_token_ratio=0.5,
            token_flush_size=150,
        )

    memory = memory_on(client)
    for n in range(1, 41):
        memory.put(ChatMessage(role="user", content=say(n)))
        memory.put(ChatMessage(role="assistant", content="fine, " * 20))
    assert seen.summaries
    got = memory.get()
    assert got[0].role == "system" and "4471" in str(got[0].content)
    assert all(m.role != "system" for m in got[1:])
    assert got[1].role == "user"  # Memory keeps whole turns
    stored = client.memory.get_messages("m")
    assert sum(SUMMARY_KEY in (m.metadata or {}) for m in stored) == len(seen.summaries)
    # another process: the block finds the summary in the session
    other = memory_on(open_client())
    assert "4471" in str(other.get()[0].content)
    # a cleared session has no summary
    memory.reset()
    assert all("4471" not in str(m.content) for m in memory_on(open_client()).get())


def test_bad_arguments_are_refused(client: ZepMemoryClient) -> None:
    llm, _ = scripted_llm()
    for kwargs in ({"keep_ratio": 2}, {"summary_max_tokens": 0}, {"token_limit": -5}):
        with pytest.raises(InvalidInputError):
            ZepMemory(client, "u", "s", llm=llm, **kwargs)
    with pytest.raises(InvalidInputError, match="llm"):
        ZepSummaryBlock(client, "u", llm="gpt")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        ZepSummaryBlock(client, "u", llm=llm, max_tokens=0)
    with pytest.raises(InvalidInputError):
        ZepSummaryBlock(client, "", llm=llm)
