"""One body for an operation that is both sync and async: a *plan*, run by one of two drivers.

A plan is a generator that yields the calls it needs and receives their results (or has their
exceptions thrown into it, to catch like any other). :func:`run` carries the calls out with
blocking methods, :func:`arun` with their awaited ``a``-prefixed twins; a yielded list runs its
calls in turn, or together on the event loop. So each operation's logic is written once, and its
sync and async entry points are one line each::

    def _plan_check(self, session_id):              # the logic, once
        try:
            session = yield call(self.client.memory, "get_session", session_id)
        except NotFoundError:
            return False
        return session.user_id == self.user_id

    def check(self, session_id):                    # sync: client.memory.get_session
        return run(self._plan_check(session_id))

    async def acheck(self, session_id):             # async: client.memory.aget_session
        return await arun(self._plan_check(session_id))

The Zep backend's transport drives its plans of HTTP requests with the same two functions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Plan", "Step", "arun", "call", "run"]

_T = TypeVar("_T")
#: An operation written once: yields steps (or lists of them), receives their results.
Plan = Generator[Any, Any, _T]


@dataclass(frozen=True)
class Step:
    """One call of a plan: ``sync(*args, **kwargs)``, or awaited ``asynchronous(...)``."""

    sync: Callable[..., Any]
    asynchronous: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def call(target: object, name: str, *args: Any, **kwargs: Any) -> Step:
    """The step calling ``target.name(...)``, or ``target.aname(...)`` when run async."""
    return Step(getattr(target, name), getattr(target, "a" + name), args, kwargs)


def _sync_step(step: Step) -> Any:
    return step.sync(*step.args, **step.kwargs)


async def _async_step(step: Step) -> Any:
    return await step.asynchronous(*step.args, **step.kwargs)


class _Driving:
    """A plan being carried out: its current step, and its value once it is done."""

    def __init__(self, plan: Plan[Any]) -> None:
        self._plan = plan
        self.done = False
        self.value: Any = None
        self.step: Any = self._advance(plan.__next__)

    def _advance(self, move: Callable[[], Any]) -> Any:
        try:
            return move()
        except StopIteration as stop:
            self.done, self.value = True, stop.value
            return None

    def resume(self, ok: bool, outcome: Any) -> None:
        """Hand the step's result (or throw its exception) into the plan."""
        plan = self._plan
        self.step = self._advance(
            (lambda: plan.send(outcome)) if ok else (lambda: plan.throw(outcome))
        )


def _attempt(execute: Callable[[Any], Any], step: Any) -> tuple[bool, Any]:
    try:
        return True, [execute(s) for s in step] if isinstance(step, list) else execute(step)
    except Exception as error:
        return False, error


async def _aattempt(execute: Callable[[Any], Awaitable[Any]], step: Any) -> tuple[bool, Any]:
    try:
        return True, await (
            asyncio.gather(*map(execute, step)) if isinstance(step, list) else execute(step)
        )
    except Exception as error:
        return False, error


def run(plan: Plan[_T], execute: Callable[[Any], Any] = _sync_step) -> _T:
    """Carry out ``plan`` with blocking calls (``execute`` runs one step)."""
    driving = _Driving(plan)
    while not driving.done:
        driving.resume(*_attempt(execute, driving.step))
    return driving.value  # type: ignore[no-any-return]


async def arun(plan: Plan[_T], execute: Callable[[Any], Awaitable[Any]] = _async_step) -> _T:
    """Carry out ``plan`` on the running event loop; a list of steps runs together."""
    driving = _Driving(plan)
    while not driving.done:
        driving.resume(*await _aattempt(execute, driving.step))
    return driving.value  # type: ignore[no-any-return]
