"""``ZepMemoryMiddleware``: persistent per-user memory for ``langchain.agents.create_agent``.

Needs ``langchain`` (1.x) besides langchain-core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from .._errors import InvalidInputError, MissingDependencyError

try:
    from langchain.agents.middleware.types import (
        AgentMiddleware,
        AgentState,
        PrivateStateAttr,
    )
    from langgraph.channels.untracked_value import UntrackedValue
    from langgraph.config import get_config
    from langgraph.graph.message import REMOVE_ALL_MESSAGES
    from langgraph.runtime import Runtime
except ImportError:  # pragma: no cover - exercised only without langchain
    raise MissingDependencyError("langchain", "langchain") from None

from langchain_core.messages import BaseMessage, RemoveMessage
from typing_extensions import NotRequired

from .._client import ZepMemoryClient
from .._history_cache import history_cache
from .._models import Message, check_id, check_metadata
from .._session_guard import check_client, guard_for
from ._convert import from_zep_message, to_zep_message
from ._history import check_window

__all__ = ["ZepMemoryContext", "ZepMemoryMiddleware", "ZepMemoryState"]

_AGENT_KEY = "langchain-agent"


def _with_id(message: Message) -> BaseMessage:
    """The LangChain message, with the Zep uuid as its id when it was stored without one."""
    decoded = from_zep_message(message)
    if decoded.id is None and message.uuid is not None:
        decoded.id = str(message.uuid)
    return decoded


@dataclass(frozen=True)
class ZepMemoryContext:
    """Runtime context naming a run's user and conversation, for :class:`ZepMemoryMiddleware`.

    ``create_agent(..., context_schema=ZepMemoryContext)``, then
    ``agent.invoke(input, context=ZepMemoryContext(user_id=..., session_id=...))``.

    Any context object with ``user_id`` and ``session_id`` attributes (or a dict with those
    keys) works too, as does ``config={"configurable": {"user_id": ..., "session_id": ...}}``.
    """

    user_id: str
    session_id: str

    def __post_init__(self) -> None:
        check_id(self.user_id, "user_id")
        check_id(self.session_id, "session_id")


class ZepMemoryState(AgentState[Any]):
    """Agent state with the middleware's private, run-scoped bookkeeping."""

    #: How many leading messages of ``messages`` are already stored in Zep during this run.
    zep_memory_stored: NotRequired[Annotated[int, UntrackedValue, PrivateStateAttr]]


def _lookup(source: object, key: str) -> object:
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(key)
    return getattr(source, key, None)


class ZepMemoryMiddleware(AgentMiddleware[ZepMemoryState, Any, Any]):
    """Loads a user's conversation before the agent runs and stores the new turn afterwards.

    The user id and session id of a run come from the runtime context (see
    :class:`ZepMemoryContext`) or, failing that, from ``config["configurable"]``. Before the
    agent starts, the session's history (the last ``window`` messages, or all) is put in front
    of the new input; when the agent finishes, every message the run added — the user's input,
    tool calls, tool results and answers — is stored in one write. A run costs one read and one
    write once the session is known; the first run of a session also checks its owner (a
    session of another user raises :class:`~zep_memory_plugins.SessionOwnershipError`) and
    creates the user and the session.

    Use the middleware without a LangGraph checkpointer: Zep is the memory. (With one and no
    ``window``, history messages already in the state are recognised by id and not duplicated;
    with a ``window``, checkpointed messages older than the window would be stored again.)

    Args:
        client: The client to use (default: a new :class:`~zep_memory_plugins.ZepMemoryClient`).
        window: Load only the last ``window`` messages (default: all).
        session_metadata: Metadata given to sessions this middleware creates.
    """

    state_schema = ZepMemoryState

    def __init__(
        self,
        client: ZepMemoryClient | None = None,
        *,
        window: int | None = None,
        session_metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.client = check_client(client) if client is not None else ZepMemoryClient()
        self.window = check_window(window)
        self.session_metadata = check_metadata(session_metadata, "session_metadata")
        self._guard = guard_for(self.client)
        self._history = history_cache(self.client)

    def __repr__(self) -> str:
        return f"ZepMemoryMiddleware(client={self.client!r}, window={self.window!r})"

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _ids(runtime: Runtime[Any]) -> tuple[str, str]:
        context = getattr(runtime, "context", None)
        user_id, session_id = _lookup(context, "user_id"), _lookup(context, "session_id")
        if user_id is None or session_id is None:
            try:
                configurable = get_config().get("configurable") or {}
            except RuntimeError:
                configurable = {}
            user_id = user_id if user_id is not None else configurable.get("user_id")
            session_id = session_id if session_id is not None else configurable.get("session_id")
        if user_id is None or session_id is None:
            missing = "user_id" if user_id is None else "session_id"
            raise InvalidInputError(
                f"ZepMemoryMiddleware needs a {missing} for the run: invoke the agent with "
                "context=ZepMemoryContext(user_id=..., session_id=...) (and "
                "context_schema=ZepMemoryContext) or config={'configurable': {'user_id': ..., "
                "'session_id': ...}}",
                field=missing,
            )
        return check_id(user_id, "user_id"), check_id(session_id, "session_id")

    @staticmethod
    def _merge(history: list[BaseMessage], state: Mapping[str, Any]) -> dict[str, Any]:
        current: Sequence[BaseMessage] = state.get("messages") or []
        known = {m.id for m in history if m.id is not None}
        fresh = [m for m in current if m.id is None or m.id not in known]
        if not history:
            return {"zep_memory_stored": 0}
        return {
            "messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), *history, *fresh],
            "zep_memory_stored": len(history),
        }

    @staticmethod
    def _new(state: Mapping[str, Any]) -> list[Message]:
        messages: Sequence[BaseMessage] = state.get("messages") or []
        stored = state.get("zep_memory_stored") or 0
        return [to_zep_message(m) for m in messages[stored:]]

    # -- hooks ---------------------------------------------------------------------------------

    def before_agent(self, state: ZepMemoryState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Load the session's history in front of the new input."""
        user_id, session_id = self._ids(runtime)
        stored: list[Message] = []
        if self._guard.check_read(user_id, session_id):
            stored = self._history.read(session_id, self.window)
        return self._merge(self._decode(session_id, stored), state)

    async def abefore_agent(
        self, state: ZepMemoryState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async :meth:`before_agent`."""
        user_id, session_id = self._ids(runtime)
        stored: list[Message] = []
        if await self._guard.acheck_read(user_id, session_id):
            stored = await self._history.aread(session_id, self.window)
        return self._merge(self._decode(session_id, stored), state)

    def _decode(self, session_id: str, stored: list[Message]) -> list[BaseMessage]:
        # Conversions are reused across turns. Every message gets an id (its Zep uuid if it had
        # none), so LangGraph, which assigns missing ids in place, leaves the cached ones alone.
        return self._history.decode(session_id, stored, _AGENT_KEY, _with_id)

    def after_agent(self, state: ZepMemoryState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Store the messages this run added, in one write."""
        batch = self._new(state)
        if batch:
            user_id, session_id = self._ids(runtime)
            self._guard.ensure_write(user_id, session_id, self.session_metadata)
            self._history.add(session_id, batch)
        return {"zep_memory_stored": len(state.get("messages") or [])}

    async def aafter_agent(
        self, state: ZepMemoryState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async :meth:`after_agent`."""
        batch = self._new(state)
        if batch:
            user_id, session_id = self._ids(runtime)
            await self._guard.aensure_write(user_id, session_id, self.session_metadata)
            await self._history.aadd(session_id, batch)
        return {"zep_memory_stored": len(state.get("messages") or [])}
