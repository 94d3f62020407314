"""Helpers of the LangChain adapter tests (a module name unique in the test tree)."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from pydantic import Field

# RunnableWithMessageHistory warns when built (langchain-core >= 1.3.3); we support it anyway.
RWMH_DEPRECATION = (
    "ignore:RunnableWithMessageHistory is deprecated"
    ":langchain_core._api.deprecation.LangChainDeprecationWarning"
)


class ToolCallingFakeModel(FakeMessagesListChatModel):
    """LangChain's FakeMessagesListChatModel plus ``bind_tools`` (for create_agent) and a log
    of the messages each call was given."""

    seen: list[list[Any]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
        self.seen.append(list(messages))
        return super()._generate(messages, *args, **kwargs)
