"""Per-user, per-conversation memory for ``RunnableWithMessageHistory``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import Runnable
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_core.runnables.utils import ConfigurableFieldSpec

from .._client import ZepMemoryClient
from .._context import check_budget
from .._models import check_metadata
from .._session_guard import check_client, guard_for
from ._history import TokenCounter, ZepChatMessageHistory, check_counter, check_window

__all__ = ["HISTORY_FACTORY_CONFIG", "ZepHistoryFactory", "with_zep_history"]

#: The ``history_factory_config`` matching :class:`ZepHistoryFactory`: the runnable reads
#: ``user_id`` and ``session_id`` from ``config["configurable"]``.
HISTORY_FACTORY_CONFIG: list[ConfigurableFieldSpec] = [
    ConfigurableFieldSpec(
        id=key,
        annotation=str,
        name=name,
        description=description,
        default="",
        is_shared=True,
    )
    for key, name, description in (
        ("user_id", "User ID", "The user who owns the conversation."),
        ("session_id", "Session ID", "The conversation (a Zep session of that user)."),
    )
]


class ZepHistoryFactory:
    """``get_session_history`` for ``RunnableWithMessageHistory``, keyed by user and session.

    Each call returns a fresh :class:`ZepChatMessageHistory` on one shared client, so a chat turn
    costs one read and one write once the session is known (ownership checks and creation are
    remembered across turns). Pass :data:`HISTORY_FACTORY_CONFIG` (also :attr:`config`) as
    ``history_factory_config``, or use :func:`with_zep_history`.

    Args:
        client: The client to use (default: a new :class:`~zep_memory_plugins.ZepMemoryClient`).
        window: Load at most the last ``window`` messages into the prompt, in whole turns
            (default: all).
        session_metadata: Metadata given to sessions this factory creates.
        max_tokens: Load only the newest whole turns within this many tokens.
        token_counter: Counts a list of messages (default ``count_tokens_approximately``).
    """

    def __init__(
        self,
        client: ZepMemoryClient | None = None,
        *,
        window: int | None = None,
        session_metadata: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        token_counter: TokenCounter | None = None,
    ) -> None:
        self.client = check_client(client) if client is not None else ZepMemoryClient()
        self.window = check_window(window)
        self.session_metadata = check_metadata(session_metadata, "session_metadata")
        self.max_tokens = check_budget(max_tokens)
        self.token_counter = check_counter(token_counter)
        self._guard = guard_for(self.client)

    def __call__(self, user_id: str, session_id: str) -> ZepChatMessageHistory:
        """The history of ``session_id``, owned by ``user_id``."""
        return ZepChatMessageHistory(
            session_id=session_id,
            user_id=user_id,
            client=self.client,
            window=self.window,
            session_metadata=self.session_metadata,
            max_tokens=self.max_tokens,
            token_counter=self.token_counter,
            _guard=self._guard,
        )

    @property
    def config(self) -> list[ConfigurableFieldSpec]:
        """The matching ``history_factory_config`` (:data:`HISTORY_FACTORY_CONFIG`)."""
        return list(HISTORY_FACTORY_CONFIG)

    def __repr__(self) -> str:
        return (
            f"ZepHistoryFactory(client={self.client!r}, window={self.window!r}, "
            f"max_tokens={self.max_tokens!r})"
        )


def with_zep_history(
    runnable: Runnable[Any, Any],
    client: ZepMemoryClient | ZepHistoryFactory | None = None,
    *,
    input_messages_key: str | None = None,
    output_messages_key: str | None = None,
    history_messages_key: str | None = None,
    window: int | None = None,
    session_metadata: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
) -> RunnableWithMessageHistory:
    """Wrap ``runnable`` in a ``RunnableWithMessageHistory`` backed by Zep.

    Invoke it with ``config={"configurable": {"user_id": ..., "session_id": ...}}``. ``client``
    may be a client or a ready :class:`ZepHistoryFactory` (then ``window``,
    ``session_metadata`` and ``max_tokens`` must be left out). ``max_tokens`` bounds the
    history put in the prompt (whole turns; the prompt's own messages are not counted). The
    ``*_messages_key`` arguments are those of ``RunnableWithMessageHistory``.

    Note: langchain-core ≥ 1.3.3 marks ``RunnableWithMessageHistory`` deprecated and warns
    when it is built.
    """
    if isinstance(client, ZepHistoryFactory):
        given = [
            name
            for name, value in (
                ("window", window),
                ("session_metadata", session_metadata),
                ("max_tokens", max_tokens),
            )
            if value is not None
        ]
        if given:
            from .._errors import InvalidInputError

            raise InvalidInputError(
                "pass window, session_metadata and max_tokens to the ZepHistoryFactory, not here",
                field=given[0],
            )
        factory = client
    else:
        factory = ZepHistoryFactory(
            client, window=window, session_metadata=session_metadata, max_tokens=max_tokens
        )
    return RunnableWithMessageHistory(
        runnable,
        factory,
        input_messages_key=input_messages_key,
        output_messages_key=output_messages_key,
        history_messages_key=history_messages_key,
        history_factory_config=factory.config,
    )
