"""What a Zep Cloud test server holds: users, threads, messages and tasks, in memory.

Cloud's objects do not fit the embedded store's user/session/message model (server-assigned
uuids on v4, a message's ``name`` beside its ``role``, v4's ``reference_time``, tasks), so
the Cloud generations (:mod:`._v3`, :mod:`._v4`) keep them here, in plain dicts behind one lock.
Every object carries ``seq``, the order it was created in, which breaks ties in listings.

Tasks are how Cloud reports work it does in the background (a v4 delete, a message ingestion;
spec §3.7, §3.2): a task is ``pending`` until ``task_delay`` seconds have passed, then
``succeeded``; its work (a delete's removal) happens at that moment, run by
:meth:`CloudData.run_due` before the next request is handled. Until then the object being
deleted is still there, as it would be on a server that deletes in the background. Chosen, not
in the spec (§7.3 leaves both open): the delay, and that the object stays visible meanwhile.
"""

from __future__ import annotations

import threading
import uuid as _uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .._models import utcnow

__all__ = ["CloudData", "CloudMessage", "CloudTask", "CloudThread", "CloudUser"]


@dataclass
class CloudUser:
    """A user: ``uuid`` is the server's address, ``user_id`` the developer's (v4: optional).

    Spec §2.4 / §3.3.
    """

    uuid: _uuid.UUID
    seq: int
    user_id: str | None
    created_at: datetime
    updated_at: datetime
    graph_uuid: _uuid.UUID
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    time_zone: str | None = None
    disable_default_ontology: bool | None = None


@dataclass
class CloudThread:
    """A thread of one user: ``thread_id`` is the developer's id (v3 threads only; spec §3.2)."""

    uuid: _uuid.UUID
    seq: int
    user_uuid: _uuid.UUID
    thread_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class CloudMessage:
    """A message of one thread.

    ``created_at`` is when it arrived (v3: or the time the client gave, spec §2.4; v4: spec
    §3.2); ``reference_time`` the time the client gave (v4, spec §3.2). ``task_uuid`` is the
    ingestion task that processes it.
    """

    uuid: _uuid.UUID
    seq: int
    thread_uuid: _uuid.UUID
    role: str
    content: str
    created_at: datetime
    name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    reference_time: datetime | None = None
    task_uuid: _uuid.UUID | None = None


@dataclass
class CloudTask:
    """Work done in the background: ``pending`` until ``due_at``, then ``succeeded``.

    Chosen: never ``processing``, ``partial`` or ``failed``, which the spec also lists (§3.2).
    """

    uuid: _uuid.UUID
    seq: int
    type: str
    created_at: datetime
    due_at: datetime
    params: dict[str, Any] = field(default_factory=dict)
    work: Callable[[], None] | None = field(default=None, repr=False)
    done: bool = False

    @property
    def status(self) -> str:
        """``pending`` or ``succeeded``."""
        return "succeeded" if self.done else "pending"


class CloudData:
    """Users, threads, messages and tasks of one Cloud test server. Thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        """Forget everything."""
        with self.lock:
            self._seq = 0
            self.users: dict[_uuid.UUID, CloudUser] = {}
            self.user_ids: dict[str, _uuid.UUID] = {}
            self.threads: dict[_uuid.UUID, CloudThread] = {}
            self.thread_ids: dict[str, _uuid.UUID] = {}
            self.messages: dict[_uuid.UUID, CloudMessage] = {}
            self.thread_messages: dict[_uuid.UUID, list[CloudMessage]] = {}
            self.tasks: dict[_uuid.UUID, CloudTask] = {}
            self._pending: list[CloudTask] = []

    def next_seq(self) -> int:
        """The next creation number."""
        with self.lock:
            self._seq += 1
            return self._seq

    # -- users -----------------------------------------------------------------------------------

    def add_user(self, user: CloudUser) -> CloudUser:
        """Store a new user (its ``user_id``, if any, must be free: the caller checks)."""
        with self.lock:
            self.users[user.uuid] = user
            if user.user_id is not None:
                self.user_ids[user.user_id] = user.uuid
            return user

    def user_by_id(self, user_id: str) -> CloudUser | None:
        """The user with this developer id, if any."""
        with self.lock:
            found = self.user_ids.get(user_id)
            return None if found is None else self.users[found]

    def user_threads(self, user_uuid: _uuid.UUID) -> list[CloudThread]:
        """A user's threads, oldest first (the order: chosen, not in the spec)."""
        with self.lock:
            return [t for t in self.threads.values() if t.user_uuid == user_uuid]

    def delete_user(self, user_uuid: _uuid.UUID) -> None:
        """Remove a user with their threads and messages (nothing if already gone).

        The cascade: spec §3.7 (v4); v3: chosen (spec §2.7 INF).
        """
        with self.lock:
            user = self.users.pop(user_uuid, None)
            if user is None:
                return
            if user.user_id is not None:
                self.user_ids.pop(user.user_id, None)
            for thread in self.user_threads(user_uuid):
                self.delete_thread(thread.uuid)

    # -- threads ---------------------------------------------------------------------------------

    def add_thread(self, thread: CloudThread) -> CloudThread:
        """Store a new thread (its ``thread_id``, if any, must be free: the caller checks)."""
        with self.lock:
            self.threads[thread.uuid] = thread
            self.thread_messages[thread.uuid] = []
            if thread.thread_id is not None:
                self.thread_ids[thread.thread_id] = thread.uuid
            return thread

    def thread_by_id(self, thread_id: str) -> CloudThread | None:
        """The thread with this developer id, if any."""
        with self.lock:
            found = self.thread_ids.get(thread_id)
            return None if found is None else self.threads[found]

    def delete_thread(self, thread_uuid: _uuid.UUID) -> None:
        """Remove a thread and its messages (nothing if already gone).

        The messages going with it: chosen (spec §2.7 / §3.7 INF).
        """
        with self.lock:
            thread = self.threads.pop(thread_uuid, None)
            if thread is None:
                return
            if thread.thread_id is not None:
                self.thread_ids.pop(thread.thread_id, None)
            for message in self.thread_messages.pop(thread_uuid, []):
                self.messages.pop(message.uuid, None)

    # -- messages --------------------------------------------------------------------------------

    def add_messages(self, thread: CloudThread, messages: list[CloudMessage]) -> None:
        """Append messages to a thread (their uuids must be new: the caller checks).

        The thread's ``updated_at`` moves to the last one's ``created_at``: chosen, not in the spec.
        """
        with self.lock:
            stored = self.thread_messages[thread.uuid]
            for message in messages:
                self.messages[message.uuid] = message
                stored.append(message)
            if messages:
                thread.updated_at = max(thread.updated_at, messages[-1].created_at)

    # -- tasks -----------------------------------------------------------------------------------

    def add_task(
        self,
        type_: str,
        delay: float,
        params: dict[str, Any] | None = None,
        work: Callable[[], None] | None = None,
    ) -> CloudTask:
        """A new task that succeeds (doing ``work``) ``delay`` seconds from now."""
        now = utcnow()
        task = CloudTask(
            uuid=_uuid.uuid4(),
            seq=self.next_seq(),
            type=type_,
            created_at=now,
            due_at=now + timedelta(seconds=delay),
            params=params or {},
            work=work,
        )
        with self.lock:
            self.tasks[task.uuid] = task
            self._pending.append(task)
        return task

    def run_due(self) -> None:
        """Finish every task whose time has come, doing its work, in creation order."""
        with self.lock:
            if not self._pending:
                return
            now = utcnow()
            due = [t for t in self._pending if t.due_at <= now]
            if not due:
                return
            self._pending = [t for t in self._pending if t.due_at > now]
            for task in due:
                if task.work is not None:
                    task.work()
                task.done = True
