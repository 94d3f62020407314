"""``Tail`` gives the whole conversation's answers from its newest messages only.

Each of its answers is compared with the reference functions run over every message
(``safe_starts``, ``window_start``, ``fit_start``, ``fold_point``), on generated conversations
whose tool results answer calls made anywhere (before the suffix looked at, inside it, nowhere,
or the nearest assistant message when they name no call), with any costs, budgets and bounds;
and the messages it measured are counted: each at most once, and only as far back as the
answer needs.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zep_memory_plugins._context import (
    Shape,
    Tail,
    fit_start,
    fold_point,
    safe_starts,
    window_start,
)

_IDS = st.sampled_from(["a", "b", "c", "d"])
_SHAPES = st.one_of(
    st.builds(Shape, st.just("user")),
    st.builds(Shape, st.just("system")),
    st.builds(Shape, st.just("other")),
    st.builds(Shape, st.just("assistant")),
    st.builds(Shape, st.just("assistant"), st.lists(_IDS, min_size=1, max_size=3).map(tuple)),
    st.builds(Shape, st.just("tool"), st.just(()), st.one_of(st.none(), _IDS)),
)
_CONVERSATIONS = st.lists(st.tuples(_SHAPES, st.integers(0, 40)), max_size=90)


class Recorder:
    """``measure`` for a :class:`Tail`, remembering what it was asked."""

    def __init__(self, sized: list[tuple[Shape, int]]) -> None:
        self.sized = sized
        self.asked: list[int] = []

    def __call__(self, a: int, b: int) -> list[tuple[Shape, int]]:
        self.asked.extend(range(a, b))
        return self.sized[a:b]

    def tail(self, whole: bool) -> Tail:
        return Tail(len(self.sized), self, whole=whole)

    def check_once(self) -> None:
        assert len(self.asked) == len(set(self.asked)), "a message was measured twice"


def _bounds(data: st.DataObject, n: int) -> tuple[int, int, int]:
    """A room (negative ones included) and the bounds of a cut (mostly ``lo <= hi``)."""
    room = data.draw(st.integers(-5, 40 * max(n, 1)), label="room")
    lo = data.draw(st.integers(0, n), label="lo")
    return room, lo, data.draw(st.integers(max(lo - 2, 0), n), label="hi")


@settings(max_examples=1500, deadline=None)
@given(_CONVERSATIONS, st.booleans(), st.data())
def test_fit_is_fit_start_over_everything(
    sized: list[tuple[Shape, int]], whole: bool, data: st.DataObject
) -> None:
    n = len(sized)
    shapes, costs = [s for s, _ in sized], [c for _, c in sized]
    room, lo, hi = _bounds(data, n)
    ok = safe_starts(shapes, whole=whole)
    recorder = Recorder(sized)
    tail = recorder.tail(whole)
    assert tail.fit(room, lo=lo, hi=hi) == fit_start(ok, costs, room, lo=lo, hi=hi)
    recorder.check_once()
    # only as far back as the budget reaches: the first message past it, and at most one run
    # (which doubles each time) more
    fits = next((i for i in range(lo, n + 1) if sum(costs[i:]) <= room), None)
    needed = 0 if lo > hi else n - (lo if fits is None or fits == lo else fits - 1)
    assert len(recorder.asked) <= max(2 * needed, Tail.FIRST_RUN)
    assert tail.base >= lo


@settings(max_examples=1500, deadline=None)
@given(_CONVERSATIONS, st.booleans(), st.data())
def test_an_exact_total_is_honoured_as_fit_start_does(
    sized: list[tuple[Shape, int]], whole: bool, data: st.DataObject
) -> None:
    """A counter that is not additive: ``total(i)`` is the exact cost from ``i`` on."""
    n = len(sized)
    shapes, costs = [s for s, _ in sized], [c for _, c in sized]
    room, lo, hi = _bounds(data, n)
    extra = data.draw(st.lists(st.integers(0, 30), min_size=n + 1, max_size=n + 1))

    def total(i: int) -> int:  # costs more than the sum, by a different amount per start
        return sum(costs[i:]) + extra[i]

    ok = safe_starts(shapes, whole=whole)
    expected = fit_start(ok, costs, room, lo=lo, hi=hi, total=total, budget=room)
    recorder = Recorder(sized)
    assert recorder.tail(whole).fit(room, lo=lo, hi=hi, total=total, budget=room) == expected
    recorder.check_once()


@settings(max_examples=1500, deadline=None)
@given(_CONVERSATIONS, st.booleans(), st.one_of(st.none(), st.integers(1, 100)))
def test_window_start_and_safe_starts_from_a_suffix(
    sized: list[tuple[Shape, int]], whole: bool, window: int | None
) -> None:
    n = len(sized)
    shapes = [s for s, _ in sized]
    recorder = Recorder(sized)
    tail = recorder.tail(whole)
    assert tail.window_start(window) == window_start(shapes, window, whole=whole)
    if window is not None and (window < n or not whole):
        assert min(recorder.asked, default=n) >= n - window  # nothing older than the window
    ok = safe_starts(shapes, whole=whole)
    for index in range(n, -1, -1):
        assert tail.starts_from(index) == ok[index:]
    recorder.check_once()


@settings(max_examples=1000, deadline=None)
@given(_CONVERSATIONS, st.booleans(), st.data())
def test_fold_point_from_the_summary_boundary(
    sized: list[tuple[Shape, int]], whole: bool, data: st.DataObject
) -> None:
    n = len(sized)
    shapes, costs = [s for s, _ in sized], [c for _, c in sized]
    lo = data.draw(st.integers(0, n), label="lo")
    hi = data.draw(st.integers(lo, n), label="hi")
    keep = data.draw(st.integers(0, 40 * max(n, 1)), label="keep")
    ok = safe_starts(shapes, whole=whole)
    recorder = Recorder(sized)
    got = recorder.tail(whole).fold_point(keep, lo=lo, hi=hi)
    assert got == fold_point(ok, costs, keep, lo=lo, hi=hi)
    assert min(recorder.asked, default=n) >= lo


def test_a_measure_that_answers_the_wrong_count_is_refused() -> None:
    tail = Tail(5, lambda a, b: [(Shape("user"), 1)])
    with pytest.raises(ValueError, match="measured 1 messages, not 5"):
        tail.fit(0)


def test_a_long_conversation_is_measured_only_near_its_end() -> None:
    """100,000 messages of 10 tokens, a room of 100: the newest 10 fit, 32 are measured."""
    sized = [(Shape("user"), 10)] * 100_000
    recorder = Recorder(sized)
    tail = recorder.tail(whole=True)
    assert tail.fit(100) == 99_990
    assert len(recorder.asked) == Tail.FIRST_RUN


@settings(max_examples=1500, deadline=None)
@given(_CONVERSATIONS, st.booleans(), st.data())
def test_one_tail_answers_one_question_after_another(
    sized: list[tuple[Shape, int]], whole: bool, data: st.DataObject
) -> None:
    """As the adapters ask: a window, whether the rest fits, where to fold, where to cut, and
    how far back to reach, all of one tail (what one answer measured serves the next)."""
    n = len(sized)
    shapes, costs = [s for s, _ in sized], [c for _, c in sized]
    ok = safe_starts(shapes, whole=whole)
    recorder = Recorder(sized)
    tail = recorder.tail(whole)
    window = data.draw(st.one_of(st.none(), st.integers(1, n + 2)), label="window")
    start = tail.window_start(window)
    assert start == window_start(shapes, window, whole=whole)
    room = data.draw(st.integers(-5, 40 * max(n, 1)), label="room")
    fits = tail.fitting_from(room, start)
    assert fits == next((i for i in range(start, n + 1) if sum(costs[i:]) <= room), None)
    keep = data.draw(st.integers(0, 40 * max(n, 1)), label="keep")
    hi = data.draw(st.integers(start, n), label="hi")
    assert tail.fold_point(keep, lo=start, hi=hi) == fold_point(ok, costs, keep, lo=start, hi=hi)
    assert tail.fit(room, lo=start, hi=hi) == fit_start(ok, costs, room, lo=start, hi=hi)
    reach = data.draw(st.integers(0, n), label="reach")
    tail.reach(reach)
    assert tail.shapes == shapes[tail.base :] and tail.costs == costs[tail.base :]
    assert tail.base <= min(reach, start)
    recorder.check_once()
