"""``ZepMemoryMiddleware``: persistent per-user memory for ``langchain.agents.create_agent``.

Needs ``langchain`` (1.x) besides langchain-core.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from .._errors import InvalidInputError, MissingDependencyError

try:
    from langchain.agents.middleware.types import (
        AgentMiddleware,
        AgentState,
        ModelRequest,
        ModelResponse,
        PrivateStateAttr,
    )
    from langgraph.channels.untracked_value import UntrackedValue
    from langgraph.config import get_config
    from langgraph.graph.message import REMOVE_ALL_MESSAGES
    from langgraph.runtime import Runtime
except ImportError:  # pragma: no cover - exercised only without langchain
    raise MissingDependencyError("langchain", "langchain") from None

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
)
from langchain_core.messages.utils import count_tokens_approximately
from typing_extensions import NotRequired

from .._client import ZepMemoryClient
from .._context import (
    DEFAULT_KEEP_RATIO,
    Fold,
    Summary,
    check_budget,
    fit_start,
    fold_point,
    plan_fold,
    safe_starts,
    summary_book,
    transcript_line,
    window_start,
)
from .._duplex import Plan, arun, call, run
from .._models import Message, check_id, check_metadata
from .._session_guard import check_client, guard_for
from ._convert import from_zep_message, own_copy, to_zep_message
from ._history import Shapes, TokenCounter, check_counter, check_window, shape_of

__all__ = ["SUMMARY_HEADER", "ZepMemoryContext", "ZepMemoryMiddleware", "ZepMemoryState"]

_AGENT_KEY = "langchain-agent"
_UUID_KEY = "langchain-agent-uuid"

#: Sessions whose newest summary the middleware remembers (for the rest of a run).
_LATEST_KEPT = 256

#: The line introducing the rolling summary where it is shown to the model.
SUMMARY_HEADER = "Summary of the earlier conversation:"


def _uuid_text(message: Message) -> str:
    return str(message.uuid)


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
    #: Zep uuids of those stored messages, in order (when summarising; else empty).
    zep_memory_uuids: NotRequired[Annotated[list[str], UntrackedValue, PrivateStateAttr]]
    #: The session's rolling summary when the run started (covers what precedes the history).
    zep_memory_summary: NotRequired[Annotated[str | None, UntrackedValue, PrivateStateAttr]]


@dataclass(frozen=True)
class _Job:
    """A summary to make for a user's session before the model call."""

    session_id: str
    user_id: str
    fold: Fold


def _speaker(message: BaseMessage) -> str:
    if message.type in ("chat", "ChatMessageChunk"):
        return str(getattr(message, "role", "chat"))
    return message.name or message.type


def _line(message: BaseMessage) -> str:
    text = str(message.text)
    calls = getattr(message, "tool_calls", None) or []
    if calls:
        text += " " + " ".join(f"[calls {c.get('name')}({c.get('args')})]" for c in calls)
    return transcript_line(_speaker(message), text)


def _with_summary(
    system: SystemMessage | None, messages: list[Any], text: str | None, position: str
) -> tuple[SystemMessage | None, list[Any]]:
    """The summary at the front: in the system message, or as the first user message."""
    if not text:
        return system, messages
    block = f"{SUMMARY_HEADER}\n{text}"
    if position == "user":
        return system, [HumanMessage(content=block), *messages]
    if system is None:
        return SystemMessage(content=block), messages
    content = system.content
    if isinstance(content, str):
        merged: Any = f"{content}\n\n{block}" if content else block
    else:
        merged = [*content, {"type": "text", "text": block}]
    return system.model_copy(update={"content": merged}), messages


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

    **Budget and summary.** With ``max_tokens``, every request to the model (system prompt,
    summary, history, the new input and this run's tool calls and results, and, with the
    default counter, the tools' schemas) is kept within ``max_tokens`` by dropping the oldest
    whole turns. With ``summarize=True`` the turns that fall out are first folded into a
    rolling summary by the agent's own model (or ``summary_model``), extending the previous
    summary, and stored in the session as a marked message (see ``zep_memory_plugins.
    _context``): every later run and every process reuses it, at no extra read. The summary is
    shown at the front of the request (in the system message, or as the first user message with
    ``summary_position="user"``). A summary already in the session is shown (in place of the
    messages it covers) even when this middleware does not summarise. Summarising keeps only
    ``keep_ratio`` of the room for the unsummarised history, so it happens once per batch of
    turns, not every turn; a summarising turn costs one more write (and the model calls it
    makes).

    Args:
        client: The client to use (default: a new :class:`~zep_memory_plugins.ZepMemoryClient`).
        session_metadata: Metadata given to sessions this middleware creates.
        window: Load at most the last ``window`` messages (default: all), fewer where the
            oldest would start on an assistant message or cut a tool call from its results.
        max_tokens: Token budget of every model request (default: none).
        token_counter: Counts a list of messages (default LangChain's
            ``count_tokens_approximately``, with the tools' schemas).
        summarize: Keep a rolling summary of what falls out of the budget (needs
            ``max_tokens``).
        summary_model: The chat model that summarises (default: the agent's model).
        summary_max_tokens: Longest summary kept, in tokens (default ``max_tokens // 4``).
        summary_position: ``"system"`` (default) or ``"user"``.
        keep_ratio: Share of the history's room left after summarising (default 0.5).
    """

    state_schema = ZepMemoryState

    def __init__(
        self,
        client: ZepMemoryClient | None = None,
        *,
        session_metadata: Mapping[str, Any] | None = None,
        window: int | None = None,
        max_tokens: int | None = None,
        token_counter: TokenCounter | None = None,
        summarize: bool = False,
        summary_model: Any = None,
        summary_max_tokens: int | None = None,
        summary_position: Literal["system", "user"] = "system",
        keep_ratio: float = DEFAULT_KEEP_RATIO,
    ) -> None:
        super().__init__()
        self.client = check_client(client) if client is not None else ZepMemoryClient()
        self.session_metadata = check_metadata(session_metadata, "session_metadata")
        self.window = check_window(window)
        self.max_tokens = check_budget(max_tokens)
        self._default_counter = token_counter is None
        self.token_counter = check_counter(token_counter)
        if not isinstance(summarize, bool):
            raise InvalidInputError("summarize must be True or False", field="summarize")
        if summarize and self.max_tokens is None:
            raise InvalidInputError(
                "summarize=True needs max_tokens: the summary is made of what falls out of it",
                field="summarize",
            )
        self.summarize = summarize
        if summary_model is not None and not hasattr(summary_model, "invoke"):
            raise InvalidInputError(
                f"summary_model must be a LangChain chat model, not {type(summary_model).__name__}",
                field="summary_model",
            )
        self.summary_model = summary_model
        self.summary_max_tokens = check_budget(summary_max_tokens, "summary_max_tokens") or (
            max(self.max_tokens // 4, 1) if self.max_tokens else None
        )
        if summary_position not in ("system", "user"):
            raise InvalidInputError(
                f"summary_position must be 'system' or 'user', not {summary_position!r}",
                field="summary_position",
            )
        self.summary_position = summary_position
        if (
            isinstance(keep_ratio, bool)
            or not isinstance(keep_ratio, (int, float))
            or not 0 < keep_ratio < 1
        ):
            raise InvalidInputError(
                f"keep_ratio must be a number between 0 and 1, not {keep_ratio!r}",
                field="keep_ratio",
            )
        self.keep_ratio = float(keep_ratio)
        self._guard = guard_for(self.client)
        self._book = summary_book(self.client)
        #: summaries made by this middleware during runs: session id -> newest
        self._latest: OrderedDict[str, Summary] = OrderedDict()
        self._lock = threading.Lock()
        #: figures for benchmarks: model calls made to summarise, and summaries stored
        self.summary_calls = 0
        self.summaries_stored = 0

    def __repr__(self) -> str:
        return (
            f"ZepMemoryMiddleware(client={self.client!r}, window={self.window!r}, "
            f"max_tokens={self.max_tokens!r}, summarize={self.summarize!r})"
        )

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

    def _load(
        self, session_id: str, stored: list[Message], state: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The state update putting the session's history (after its summary) before the input."""
        summary, kept, whole = self._book.split(session_id, stored, self._read_window)
        history = self._decode(session_id, kept)
        start = window_start(Shapes(history), self.window, whole=whole)
        history, kept = history[start:], kept[start:]
        if self._read_window is not None:
            # a window's conversions are remembered from turn to turn (see HistoryCache.decode):
            # the state gets copies of its own, as it always did from a window read
            history = [own_copy(m) for m in history]
        current: Sequence[BaseMessage] = state.get("messages") or []
        known = {m.id for m in history if m.id is not None}
        fresh = [m for m in current if m.id is None or m.id not in known]
        text = summary.text if summary is not None else None
        if not history:
            return {"zep_memory_stored": 0, "zep_memory_uuids": [], "zep_memory_summary": text}
        return {
            "messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), *history, *fresh],
            "zep_memory_stored": len(history),
            # only the summary needs them (as text, converted once per message and session)
            "zep_memory_uuids": (
                self._guard.cache.decode(session_id, kept, _UUID_KEY, _uuid_text)
                if self.summarize
                else []
            ),
            "zep_memory_summary": text,
        }

    @staticmethod
    def _new(state: Mapping[str, Any]) -> list[Message]:
        messages: Sequence[BaseMessage] = state.get("messages") or []
        stored = state.get("zep_memory_stored") or 0
        return [to_zep_message(m) for m in messages[stored:]]

    # -- hooks ---------------------------------------------------------------------------------

    def _plan_before(self, state: Mapping[str, Any], runtime: Runtime[Any]) -> Plan[dict[str, Any]]:
        user_id, session_id = self._ids(runtime)
        stored = yield from self._guard.plan_read(user_id, session_id, self._read_window)
        return self._load(session_id, stored, state)

    def before_agent(self, state: ZepMemoryState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Load the session's history in front of the new input."""
        return run(self._plan_before(state, runtime))

    async def abefore_agent(
        self, state: ZepMemoryState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async :meth:`before_agent`."""
        return await arun(self._plan_before(state, runtime))

    @property
    def _read_window(self) -> int | None:
        # The summary needs the whole session (held by the history cache: one tail read).
        return None if self.summarize else self.window

    def _decode(self, session_id: str, stored: list[Message]) -> list[BaseMessage]:
        # Conversions are reused across turns. Every message gets an id (its Zep uuid if it had
        # none), so LangGraph, which assigns missing ids in place, leaves the cached ones alone.
        return self._guard.cache.decode(session_id, stored, _AGENT_KEY, _with_id)

    def _plan_after(self, state: Mapping[str, Any], runtime: Runtime[Any]) -> Plan[dict[str, Any]]:
        batch = self._new(state)
        if batch:
            user_id, session_id = self._ids(runtime)
            yield from self._guard.plan_write(user_id, session_id, batch, self.session_metadata)
        return {"zep_memory_stored": len(state.get("messages") or [])}

    def after_agent(self, state: ZepMemoryState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Store the messages this run added, in one write."""
        return run(self._plan_after(state, runtime))

    async def aafter_agent(
        self, state: ZepMemoryState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async :meth:`after_agent`."""
        return await arun(self._plan_after(state, runtime))

    # -- the model call: budget and summary ------------------------------------------------------

    def _count(self, messages: list[BaseMessage], tools: Sequence[Any] | None = None) -> int:
        if self._default_counter:
            return count_tokens_approximately(messages, tools=list(tools) if tools else None)
        return int(self.token_counter(messages))

    def _view(
        self, request: ModelRequest[Any], *, may_fold: bool
    ) -> tuple[ModelRequest[Any], _Job | None]:
        """The request cut to the budget with the summary in front, or a summary to make first."""
        state: Mapping[str, Any] = request.state or {}
        messages = list(request.messages)
        stored = min(state.get("zep_memory_stored") or 0, len(messages))
        uuids: list[str] = list(state.get("zep_memory_uuids") or [])[:stored]
        text: str | None = state.get("zep_memory_summary")
        lo = 0
        user_id = session_id = None
        if self.summarize and uuids:
            user_id, session_id = self._ids(request.runtime)
            with self._lock:
                latest = self._latest.get(session_id)
            if latest is not None and latest.through in uuids:
                text, lo = latest.text, uuids.index(latest.through) + 1

        def build(start: int) -> tuple[SystemMessage | None, list[Any]]:
            return _with_summary(
                request.system_message, messages[start:], text, self.summary_position
            )

        def total(start: int) -> int:
            system, rest = build(start)
            return self._count([*([system] if system else []), *rest], request.tools)

        def done(start: int) -> ModelRequest[Any]:
            system, rest = build(start)
            return request.override(messages=rest, system_message=system)

        if self.max_tokens is None:
            return done(0), None
        budget = self.max_tokens
        if total(lo) <= budget:
            return done(lo), None
        ok = safe_starts([shape_of(m) for m in messages])
        costs = [self._count([m]) for m in messages]
        if may_fold and self.summarize and session_id is not None and user_id is not None:
            fixed = total(stored) - sum(costs[stored:])
            keep = int(max(budget - fixed - self._summary_room(text), 0) * self.keep_ratio)
            k = fold_point(ok, costs, keep, lo=lo, hi=stored)
            if k > lo:
                lines = [_line(m) for m in messages[lo:k]]
                return request, _Job(session_id, user_id, Fold(text, lines, uuids[k - 1]))
        start = fit_start(ok, costs, budget, lo=lo, hi=stored, total=total, budget=budget)
        if start is None:
            raise InvalidInputError(
                f"the model request does not fit max_tokens={budget}: the system prompt, "
                f"summary, new input and this run's messages alone take {total(stored)} tokens",
                field="max_tokens",
            )
        return done(start), None

    def _summary_room(self, text: str | None) -> int:
        # Room reserved for the summary's growth, so the kept history still fits afterwards.
        cap = self.summary_max_tokens or 0
        now = self._count([SystemMessage(content=text)]) if text else 0
        return max(cap - now, 0)

    def _request_fits(self, system: str, user: str) -> bool:
        assert self.max_tokens is not None
        return self._count([SystemMessage(system), HumanMessage(user)]) <= self.max_tokens

    def _summary_fits(self, text: str) -> bool:
        return self._count([SystemMessage(content=text)]) <= (self.summary_max_tokens or 1)

    def _finish(self, session_id: str, summary: Summary) -> Message:
        with self._lock:
            self._latest[session_id] = summary
            self._latest.move_to_end(session_id)
            while len(self._latest) > _LATEST_KEPT:  # only the current runs need them
                self._latest.popitem(last=False)
        self.summaries_stored += 1
        return self._book.made(session_id, summary)

    def _words(self) -> int:
        return max((self.summary_max_tokens or 1) * 3 // 4, 1)

    def _plan_view(self, request: ModelRequest[Any]) -> Plan[ModelRequest[Any]]:
        """The request to send: cut to ``max_tokens``, after summarising what falls out."""
        view, job = self._view(request, may_fold=True)
        if job is None:
            return view
        model = self.summary_model or request.model

        def ask(system: str, user: str) -> Plan[str]:
            self.summary_calls += 1
            reply = yield call(model, "invoke", [SystemMessage(system), HumanMessage(user)])
            return str(getattr(reply, "text", reply))

        summary = yield from plan_fold(
            job.fold,
            ask,
            request_fits=self._request_fits,
            summary_fits=self._summary_fits,
            words=self._words(),
        )
        stored = [self._finish(job.session_id, summary)]
        yield from self._guard.plan_write(
            job.user_id, job.session_id, stored, self.session_metadata
        )
        return self._view(request, may_fold=False)[0]

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any] | AIMessage:
        """Cut the request to ``max_tokens`` (summarising what falls out, if asked)."""
        return handler(run(self._plan_view(request)))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any] | AIMessage:
        """Async :meth:`wrap_model_call`."""
        return await handler(await arun(self._plan_view(request)))
