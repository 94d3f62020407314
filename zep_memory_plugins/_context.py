"""What goes to the model: turn-safe cuts, token budgets and the rolling summary.

One framework-neutral implementation used by every adapter (LangChain and LlamaIndex). The
adapters describe each message by its :class:`Shape` (who speaks, which tool calls it makes or
answers) and its cost in tokens; this module decides where a history may be cut and where it
must be.

**Turn-safe cuts.** A cut keeps a suffix of the conversation. It may start at index ``i`` only
if message ``i`` is neither an assistant message nor a tool result, and no tool result at or
after ``i`` answers a call made before ``i`` (parallel calls included: an assistant message
with tool calls keeps all of its results). Index 0 (no cut) is always allowed. A tool result
that names no call id belongs to the nearest assistant message before it.

**The rolling summary.** A summary is a Zep message in the session itself, marked by
:data:`SUMMARY_KEY` in its metadata (``{"through": <uuid of the last message it covers>,
"version": 1}``, packed as one JSON string so that it is a scalar even where Zep Cloud wants
scalar metadata; earlier releases stored the object, and both are read), role type
``system``, role :data:`SUMMARY_ROLE`, its text as content. The newest such message is the
session's summary; the messages after ``through`` are the ones it does not cover. Because it
is a message of the session it is removed by a session clear and by a user delete, travels
with export/import, survives restarts and arrives with the history read each turn (no extra
read). Adapters never show it as a conversation message.
"""

from __future__ import annotations

import bisect
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from ._duplex import Plan
from ._errors import InvalidInputError
from ._models import Message, pack_json, unpack_json
from ._per_client import PerClient

__all__ = [
    "DEFAULT_KEEP_RATIO",
    "SUMMARY_KEY",
    "SUMMARY_INSTRUCTIONS",
    "SUMMARY_ROLE",
    "Kind",
    "Shape",
    "Sized",
    "Tail",
    "Ask",
    "Fold",
    "ARCHIVED_THROUGH_KEY",
    "History",
    "STATUS_KEY",
    "Summary",
    "SummaryBook",
    "check_budget",
    "fit_start",
    "fold_point",
    "is_marked",
    "is_summary",
    "marked_positions",
    "safe_starts",
    "plan_fold",
    "plan_summarise",
    "position_of",
    "split_summary",
    "summary_book",
    "summary_message",
    "summary_request",
    "transcript_line",
    "truncate_to",
    "window_start",
    "zep_shape",
]

logger = logging.getLogger("zep_memory_plugins")

#: Reserved message metadata key marking a rolling-summary message (see the module doc).
SUMMARY_KEY = "zep_memory_summary"
#: ``role`` of a rolling-summary message.
SUMMARY_ROLE = "zep_memory_summary"
#: After summarising, the unsummarised history is cut to this share of the room left for it,
#: so the next summary is due only after that much new conversation (hysteresis).
DEFAULT_KEEP_RATIO = 0.5

#: What a message is, for cutting: see :class:`Shape`.
Kind = Literal["user", "assistant", "system", "tool", "other"]


@dataclass(frozen=True)
class Shape:
    """What cutting needs to know of a message.

    ``kind``: ``"assistant"`` for model turns, ``"tool"`` for tool or function results,
    ``"user"``, ``"system"``, or ``"other"`` (custom roles). ``calls``: the tool call ids an
    assistant message makes. ``answers``: the call id a tool result answers (``None``: unknown,
    it answers the nearest assistant message before it).
    """

    kind: Kind
    calls: tuple[str, ...] = ()
    answers: str | None = None


class Sized(NamedTuple):
    """A stored message's shape and cost, and the counter that counted it.

    The adapters remember one per message while the history cache holds its session, so that
    a long history is counted once; one counted by another counter is stale.
    """

    shape: Shape
    cost: int
    counter: object


def safe_starts(shapes: Sequence[Shape], *, whole: bool = True) -> list[bool]:
    """``ok[i]``: the conversation may be cut to start at index ``i`` (``len(ok) == n + 1``).

    Index ``n`` (everything cut) is always allowed, and so is index 0 (nothing cut) when
    ``shapes`` is the whole conversation; pass ``whole=False`` for the newest messages only (a
    window read), whose first message may itself be a cut.
    """
    n = len(shapes)
    # blocked[i] > 0: some tool result at >= i answers a call made before i
    delta = [0] * (n + 2)
    issued: dict[str, int] = {}
    last_assistant = -1
    for j, shape in enumerate(shapes):
        if shape.kind == "assistant":
            last_assistant = j
            for call in shape.calls:
                issued[call] = j
        elif shape.kind == "tool":
            k = issued.get(shape.answers, -1) if shape.answers is not None else last_assistant
            # starts k+1 .. j would separate this result from its call (k = -1: call not here)
            delta[k + 1] += 1
            delta[j + 1] -= 1
    ok = [True] * (n + 1)
    running = 0
    for i in range(n):
        running += delta[i]
        ok[i] = running == 0 and shapes[i].kind not in ("assistant", "tool")
    if whole:
        ok[0] = True
    ok[n] = True
    return ok


def window_start(shapes: Sequence[Shape], window: int | None, *, whole: bool = True) -> int:
    """Where a window of the last ``window`` messages starts, moved forward to a safe start.

    The result keeps at most ``window`` messages, fewer only to stay whole. ``whole``: as in
    :func:`safe_starts`.
    """
    n = len(shapes)
    if (window is None or window >= n) and whole:
        return 0
    ok = safe_starts(shapes, whole=whole)
    start = max(n - (n if window is None else window), 0)
    while not ok[start]:
        start += 1
    return start


def fit_start(
    ok: Sequence[bool],
    costs: Sequence[int],
    room: int,
    *,
    lo: int = 0,
    hi: int | None = None,
    total: Callable[[int], int] | None = None,
    budget: int | None = None,
) -> int | None:
    """The earliest allowed start in ``[lo, hi]`` whose suffix of ``costs`` fits ``room``.

    ``ok`` comes from :func:`safe_starts` (``lo`` itself is allowed too: it is the start of what
    is eligible). When ``total`` (the exact cost of the whole request for a start) and
    ``budget`` are given, the start found is checked with it and moved on until it fits, so a
    counter that is not additive is honoured exactly. ``None``: no allowed start fits.
    """
    n = len(costs)
    hi = n if hi is None else hi
    suffix = 0
    best: int | None = None
    # walk from the newest allowed start backwards while the suffix fits
    sums = [0] * (n + 1)
    for i in range(n - 1, -1, -1):
        suffix += costs[i]
        sums[i] = suffix
    for i in range(lo, hi + 1):
        if (ok[i] or i == lo) and sums[i] <= room:
            best = i
            break
    if best is None:
        return None
    if total is not None and budget is not None:
        i = best
        while i <= hi:
            if (ok[i] or i == lo) and total(i) <= budget:
                return i
            i += 1
        return None
    return best


class Tail:
    """A conversation's shapes and costs, measured from the newest message back, as far as asked.

    ``measure(a, b)`` gives the ``(shape, cost)`` of messages ``a`` to ``b - 1`` (oldest first);
    the tail asks for each message at most once, in runs growing towards the oldest, and only
    as far back as a question needs: where the newest messages fitting a budget start, say,
    looks at those messages and one more. Every answer is the one :func:`safe_starts`,
    :func:`window_start`, :func:`fit_start` and :func:`fold_point` give over the whole
    conversation, so a turn on a long history costs what its cut costs, not what the history
    holds. ``whole``: as in :func:`safe_starts`.

    Why a suffix suffices: whether a cut may start at ``i`` depends on message ``i`` and on the
    tool results at or after ``i`` whose call was made before ``i``; seen from a suffix that
    starts at ``b <= i``, a call made before ``b`` is simply not there, which blocks the same
    starts ``b..j`` that it blocks in the whole conversation.
    """

    #: Messages measured by the first run (each later run doubles).
    FIRST_RUN = 32

    def __init__(
        self,
        n: int,
        measure: Callable[[int, int], Sequence[tuple[Shape, int]]],
        *,
        whole: bool = True,
    ) -> None:
        self.n = n
        self.whole = whole
        self._measure = measure
        #: the oldest measured index: ``shapes``/``costs`` hold messages ``base`` to ``n - 1``
        self.base = n
        self.shapes: list[Shape] = []
        self.costs: list[int] = []
        self._run = self.FIRST_RUN

    def reach(self, index: int) -> None:
        """Measure back to message ``index`` (0: the whole conversation)."""
        index = max(index, 0)
        if index < self.base:
            sized = self._measure(index, self.base)
            if len(sized) != self.base - index:
                raise ValueError(f"measured {len(sized)} messages, not {self.base - index}")
            self.shapes[:0] = [shape for shape, _ in sized]
            self.costs[:0] = [cost for _, cost in sized]
            self.base = index

    def starts_from(self, index: int) -> list[bool]:
        """``ok[index:]`` of :func:`safe_starts` over the whole conversation."""
        self.reach(index)
        return safe_starts(self.shapes[index - self.base :], whole=self.whole and index == 0)

    def window_start(self, window: int | None) -> int:
        """:func:`window_start` over the whole conversation."""
        n = self.n
        if (window is None or window >= n) and self.whole:
            return 0
        first = max(n - (n if window is None else window), 0)
        ok = self.starts_from(first)
        start = first
        while not ok[start - first]:
            start += 1
        return start

    def fitting_from(self, room: int, lo: int = 0) -> int | None:
        """The earliest index ``>= lo`` whose suffix costs at most ``room``.

        ``None`` when not even the empty suffix does (``room < 0``).
        """
        if room < 0:
            return None
        suffix, i = 0, self.n
        while i > lo:
            if i <= self.base:
                self.reach(max(lo, i - self._run))
                self._run *= 2
            costs, base, stop = self.costs, self.base, max(self.base, lo)
            while i > stop:
                cost = costs[i - 1 - base]
                if suffix + cost > room:
                    return i
                suffix += cost
                i -= 1
        return lo

    def fit(
        self,
        room: int,
        *,
        lo: int = 0,
        hi: int | None = None,
        total: Callable[[int], int] | None = None,
        budget: int | None = None,
    ) -> int | None:
        """:func:`fit_start` with :func:`safe_starts` over the whole conversation."""
        hi = self.n if hi is None else hi
        fits = None if lo > hi else self.fitting_from(room, lo)
        if fits is None:
            return None
        best: int | None = lo
        if fits > lo:
            ok = self.starts_from(fits)
            best = next((i for i in range(fits, hi + 1) if ok[i - fits]), None)
        if best is None or total is None or budget is None:
            return best
        allowed: list[bool] | None = None
        for i in range(best, hi + 1):
            if i != lo:
                if allowed is None:
                    allowed = self.starts_from(best)
                if not allowed[i - best]:
                    continue
            if total(i) <= budget:
                return i
        return None

    def fold_point(self, keep: int, *, lo: int, hi: int) -> int:
        """:func:`fold_point` over the whole conversation (measures back to ``lo``)."""
        ok = self.starts_from(lo)
        return lo + fold_point(ok, self.costs[lo - self.base :], keep, lo=0, hi=hi - lo)


def fold_point(ok: Sequence[bool], costs: Sequence[int], keep: int, *, lo: int, hi: int) -> int:
    """Where a summary should end, so that what is left costs at most ``keep``.

    The earliest allowed ``k`` in ``(lo, hi]`` whose suffix costs at most ``keep`` (``hi`` if
    none does). Messages ``[lo:k]`` are folded into the summary.
    """
    suffix = sum(costs[lo + 1 :]) if lo < len(costs) else 0
    for k in range(lo + 1, hi + 1):
        if ok[k] and suffix <= keep:
            return k
        if k < len(costs):
            suffix -= costs[k]
    return hi


def check_budget(value: object, field: str = "max_tokens") -> int | None:
    """Validate a token budget: ``None`` (no budget) or a positive int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(
            f"{field} must be a positive int or None, not {value!r}", field=field
        )
    return value


# -- the rolling summary ------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """A session's rolling summary: its text and the uuid of the last message it covers."""

    text: str
    through: str


def _marker(message: Message) -> dict[str, object] | None:
    """The summary marker of a stored message (``None`` for a conversation message)."""
    metadata = message.metadata
    if not metadata or SUMMARY_KEY not in metadata:
        return None
    try:
        marker = unpack_json(metadata[SUMMARY_KEY])
    except ValueError:
        return None
    return marker if isinstance(marker, dict) else None


def is_summary(message: Message) -> bool:
    """Whether a stored message is a rolling-summary message."""
    return _marker(message) is not None


def summary_message(summary: Summary) -> Message:
    """The Zep message that stores ``summary`` in its session."""
    return Message(
        role=SUMMARY_ROLE,
        role_type="system",
        content=summary.text,
        metadata={SUMMARY_KEY: pack_json({"through": summary.through, "version": 1})},
    )


#: The metadata keys under which ``ZepDBChatStore`` keeps a message's status: a status, and the
#: mark of the newest message of an archived batch (its ``LLAMA_INDEX_STATUS_KEY`` and
#: ``LLAMA_INDEX_ARCHIVED_THROUGH_KEY``).
STATUS_KEY, ARCHIVED_THROUGH_KEY = "llama_index_status", "llama_index_archived_through"


def is_marked(message: Message) -> bool:
    """Whether a stored message may be a rolling summary or marks messages archived.

    That is: its metadata holds :data:`SUMMARY_KEY` (:func:`is_summary` tells), a true
    :data:`ARCHIVED_THROUGH_KEY`, or the status ``"archived"``. A :class:`History` keeps the
    positions of these, which are few: finding them does not look at every message.
    """
    metadata = message.metadata
    if not metadata:
        return False
    return (
        SUMMARY_KEY in metadata
        or bool(metadata.get(ARCHIVED_THROUGH_KEY))
        or metadata.get(STATUS_KEY) == "archived"
    )


class History(list[Message]):
    """A session's stored messages, with the positions of the marked ones (see :func:`is_marked`).

    The history cache hands its histories out as these, keeping ``marked`` up to date as
    messages arrive, so that finding the rolling summary or the messages' statuses does not look
    at every message of a long history each turn. ``marked``: the indices ``i`` for which
    ``is_marked(self[i])``, ascending. The positions are not kept up to date if the list is
    changed in place: change a copy (``list(history)``), as every caller in the library does.
    """

    __slots__ = ("marked",)

    def __init__(self, messages: Sequence[Message], marked: Sequence[int]) -> None:
        super().__init__(messages)
        self.marked = tuple(marked)


def marked_positions(messages: Sequence[Message]) -> Sequence[int]:
    """The indices of the marked messages: kept by a :class:`History`, else looked for."""
    if isinstance(messages, History):
        return messages.marked
    return [i for i, m in enumerate(messages) if is_marked(m)]


def split_summary(messages: Sequence[Message]) -> tuple[Summary | None, History, int]:
    """Separate a stored history into its summary, its conversation and the summary boundary.

    Returns ``(summary, conversation, lo)``: the newest summary (``None`` if there is none),
    every other message in order (a :class:`History`), and the index in ``conversation`` of the
    first message the summary does not cover (0 without a summary, or if the message it ends at
    is gone).
    """
    marked = marked_positions(messages)
    marks = [i for i in marked if is_summary(messages[i])]
    if not marks:  # the usual case: one copy of the list
        return None, History(messages, marked), 0
    newest = messages[marks[-1]]
    marker = _marker(newest) or {}
    summary = Summary(newest.content, str(marker.get("through", "")))
    conversation: list[Message] = []
    after = 0
    for i in marks:
        conversation += messages[after:i]
        after = i + 1
    conversation += messages[after:]
    skipped = set(marks)
    kept = [i - bisect.bisect_left(marks, i) for i in marked if i not in skipped]
    at = position_of(conversation, summary.through)
    return summary, History(conversation, kept), 0 if at is None else at + 1


def position_of(messages: Sequence[Message], message_uuid: str) -> int | None:
    """The index of the message whose uuid is ``message_uuid`` (a uuid's text), if any.

    A history holds each uuid once; it is looked for from the newest message back (what a
    summary ends at is recent), and compared as a number: the text of every uuid of a long
    history would cost more than the rest of a turn.
    """
    try:
        wanted = uuid.UUID(message_uuid).int
    except ValueError:
        return None
    for i in range(len(messages) - 1, -1, -1):
        uid = messages[i].uuid
        if uid is not None and uid.int == wanted:
            return i
    return None


#: Instruction of a summarising request (system message).
SUMMARY_INSTRUCTIONS = (
    "You maintain the running summary of a conversation. Rewrite the current summary extended "
    "with the new part of the conversation: keep every fact of the current summary (names, "
    "numbers, dates, preferences, decisions, open questions) and add the new ones. Reply with "
    "the summary only, in at most {words} words."
)


def transcript_line(speaker: str, text: str) -> str:
    """One line of the conversation shown to the summarising model."""
    return f"{speaker}: {' '.join(text.split())}"


def summary_request(previous: str | None, lines: Sequence[str]) -> str:
    """The user part of a summarising request: the current summary and the new lines."""
    current = previous if previous else "(none yet)"
    return f"Current summary:\n{current}\n\nNew part of the conversation:\n" + "\n".join(lines)


def truncate_to(text: str, fits: Callable[[str], bool]) -> str:
    """The longest prefix of ``text`` (at a word boundary when possible) for which ``fits``."""
    if fits(text):
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix length that fits
        mid = (lo + hi + 1) // 2
        if fits(text[:mid]):
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo]
    space = cut.rfind(" ")
    return cut[:space] if space > lo // 2 else cut


def _batches(
    previous: str | None, lines: Sequence[str], fits: Callable[[str | None, list[str]], bool]
) -> tuple[list[str], list[str]]:
    """The longest head of ``lines`` that fits one request (a too long line is shortened)."""
    batch: list[str] = []
    rest = list(lines)
    while rest and fits(previous, [*batch, rest[0]]):
        batch.append(rest.pop(0))
    if not batch and rest:
        line = truncate_to(rest.pop(0), lambda t: fits(previous, [t]))
        batch = [line]
    return batch, rest


def _merged(previous: str | None, reply: str, batch: list[str]) -> str:
    reply = reply.strip()
    if reply:
        return reply
    # The model gave nothing back: extend the summary with the lines themselves, never lose them.
    logger.warning("summarising model returned an empty summary; keeping the lines verbatim")
    return "\n".join([*([previous] if previous else []), *batch])


#: Asks the app's model once: ``ask(system, user)`` is the plan of that call, giving its text.
Ask = Callable[[str, str], Plan[str]]


def plan_summarise(
    previous: str | None,
    lines: Sequence[str],
    ask: Ask,
    fits: Callable[[str | None, list[str]], bool],
    words: int,
) -> Plan[str]:
    """Fold ``lines`` into ``previous`` with the app's model, one request per batch that fits.

    ``ask(system, user)`` is the plan calling the model (see ``zep_memory_plugins._duplex``);
    ``fits(previous, batch)`` says whether a request with that summary and those lines stays
    within the budget.
    """
    instructions = SUMMARY_INSTRUCTIONS.format(words=words)
    summary, rest = previous, list(lines)
    while rest:
        batch, rest = _batches(summary, rest, fits)
        reply = yield from ask(instructions, summary_request(summary, batch))
        summary = _merged(summary, reply, batch)
    return summary or ""


@dataclass(frozen=True)
class Fold:
    """A summarising job: fold ``lines`` into ``previous``; the result covers ``through``."""

    previous: str | None
    lines: list[str]
    through: str


def plan_fold(
    fold: Fold,
    ask: Ask,
    *,
    request_fits: Callable[[str, str], bool],
    summary_fits: Callable[[str], bool],
    words: int,
) -> Plan[Summary]:
    """The summary extending ``fold.previous`` with ``fold.lines``, cut to ``summary_fits``.

    ``request_fits(system, user)`` says whether one summarising request stays within the
    budget; ``ask`` is the plan of a model call (see :func:`plan_summarise`).
    """
    instructions = SUMMARY_INSTRUCTIONS.format(words=words)

    def fits(previous: str | None, lines: list[str]) -> bool:
        return request_fits(instructions, summary_request(previous, lines))

    text = yield from plan_summarise(fold.previous, fold.lines, ask, fits, words)
    return Summary(truncate_to(text, summary_fits), fold.through)


class SummaryBook:
    """The summaries this process knows, per session (``None``: known to have none)."""

    def __init__(self) -> None:
        self._known: dict[str, Summary | None] = {}
        self._lock = threading.Lock()

    def seen(self, session_id: str, summary: Summary | None) -> None:
        """Record what a read of the session showed."""
        with self._lock:
            self._known[session_id] = summary

    def split(
        self, session_id: str, stored: Sequence[Message], window: int | None
    ) -> tuple[Summary | None, list[Message], bool]:
        """``(summary, conversation, whole)`` of a read of the session (last ``window`` or all).

        A whole read (no window, or fewer messages than asked) records the summary it shows
        and leaves out the messages it covers; a window read may have missed the summary, so it
        records nothing and keeps every conversation message.
        """
        summary, conversation, lo = split_summary(stored)
        whole = window is None or len(stored) < window
        if not whole:
            return summary, conversation, False
        self.seen(session_id, summary)
        return summary, conversation[lo:], True

    def made(self, session_id: str, summary: Summary) -> Message:
        """Record a summary this process made for the session; the message that stores it."""
        self.seen(session_id, summary)
        return summary_message(summary)

    def lookup(self, session_id: str) -> tuple[bool, Summary | None]:
        """``(known, summary)`` for the session."""
        with self._lock:
            return session_id in self._known, self._known.get(session_id)

    def forget(self, session_id: str) -> None:
        """Drop what is known (the session was cleared)."""
        with self._lock:
            self._known.pop(session_id, None)


_BOOKS: PerClient[SummaryBook] = PerClient(lambda client: SummaryBook())


def summary_book(client: object) -> SummaryBook:
    """The :class:`SummaryBook` shared by every adapter on ``client``."""
    return _BOOKS.get(client)


_ZEP_KINDS: dict[str, Kind] = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
}


def zep_shape(message: Message) -> Shape:
    """The shape of a stored message from its role type alone.

    Tool results answer the nearest assistant message; for views that show text rather than
    framework messages.
    """
    return Shape(_ZEP_KINDS.get(message.role_type, "other"))
