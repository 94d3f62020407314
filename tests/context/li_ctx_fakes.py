"""A scripted LlamaIndex LLM for the context tests: answers, and faithful small summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.llms import ChatMessage
from llama_index.core.llms.mock import MockFunctionCallingLLM

from zep_memory_plugins._context import SUMMARY_INSTRUCTIONS

SUMMARY_MARK = SUMMARY_INSTRUCTIONS.split(".")[0]


def summarise_request(request: str) -> str:
    """Keep the previous summary and add every new line holding ``FACT``."""
    current, _, new = request.partition("\n\nNew part of the conversation:\n")
    previous = current.removeprefix("Current summary:\n").strip()
    facts = [previous] if previous and previous != "(none yet)" else []
    facts += [line.split(": ", 1)[1] for line in new.splitlines() if "FACT" in line]
    return " | ".join(facts)


class Recorder:
    """The LLM's script, keeping every request it was given."""

    def __init__(self) -> None:
        self.seen: list[list[ChatMessage]] = []
        self.summaries: list[list[ChatMessage]] = []

    def __call__(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        if messages and SUMMARY_MARK in str(messages[0].content):
            self.summaries.append(list(messages))
            return ChatMessage(
                role="assistant", content=summarise_request(str(messages[-1].content))
            )
        self.seen.append(list(messages))
        return ChatMessage(role="assistant", content="Noted, that is a fine thing to say.")


def scripted_llm() -> tuple[MockFunctionCallingLLM, Recorder]:
    """An LLM answering every chat, summarising summary requests, and what it was asked."""
    recorder = Recorder()
    return MockFunctionCallingLLM(response_generator=recorder, is_chat_model=True), recorder
