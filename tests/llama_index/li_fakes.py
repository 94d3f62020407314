"""A scripted function-calling LLM built on LlamaIndex's own MockFunctionCallingLLM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import ToolCallBlock
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


MULTIPLY = FunctionTool.from_defaults(fn=multiply)


def _script(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
    """User asks "a*b" -> call multiply(a, b); after the tool answered -> state the result."""
    last = messages[-1]
    if last.role == MessageRole.TOOL:
        return ChatMessage(role="assistant", content=f"The product is {last.content}.")
    a, b = (int(x) for x in str(last.content).split("*"))
    n = sum(1 for m in messages if m.role == MessageRole.USER)
    return ChatMessage(
        role="assistant",
        blocks=[
            ToolCallBlock(
                tool_call_id=f"call-{n}", tool_name="multiply", tool_kwargs={"a": a, "b": b}
            )
        ],
    )


def scripted_llm() -> MockFunctionCallingLLM:
    """An LLM that answers "a*b" with a multiply tool call, then with the tool's result."""
    return MockFunctionCallingLLM(response_generator=_script, is_chat_model=True)
