"""Zep Cloud v4: ``/api/v4``, where the server assigns every id (zep-cloud 4.x).

Spoken over httpx by the library itself, like v3 (see :mod:`._v3` for why not the SDK). The
routes and bodies are those of ``shared/zep-cloud/spec.md`` §3.1; how the library's sessions
live on them is :mod:`._cloud`'s. Differences from v3 that shape the plans:

- users are addressed by uuid, found by their ``user_id`` through ``POST /users/lookup``
  (once per client); threads and messages by server uuids only;
- a user metadata update merges per key on the server (``null`` removes a key);
- deletes of users and threads are tasks (202): a user delete is awaited;
- every write but a user create carries an ``Idempotency-Key``, the same on every retry:
  deterministic for thread creates and message adds (a call repeated after a lost answer is
  carried out once), random for updates and deletes (which may then be resent safely);
- lists are cursor pages (``page_size`` at most 200, ``next_cursor``), and there is no
  ``lastn``: the newest messages are a page in descending order;
- a message's ``created_at`` is the time Zep received it: the time given is sent as
  ``reference_time`` and packed in the message's metadata, and read back from there.
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..._models import Message
from ._cloud import CloudWire, page_result
from ._convert import fields_of
from ._wire import Call

__all__ = ["V4Wire"]

_API = "/api/v4"
#: Largest page Zep Cloud v4 serves.
_MAX_PAGE = 200


def _fresh() -> dict[str, str]:
    """A new ``Idempotency-Key`` (kept by the call for its retries)."""
    return {"Idempotency-Key": f"zmp-{_uuid.uuid4()}"}


def _added(raw: Any) -> list[Any] | None:
    messages = fields_of(raw).get("messages") if raw is not None else None
    if not isinstance(messages, list):
        return None
    return [fields_of(m).get("uuid") for m in messages]


def _oldest(raw: Any) -> tuple[list[Any], Any, int | None]:
    items, token = page_result(raw, "items", "next_cursor")
    total = fields_of(raw).get("total_size") if raw is not None else None
    return items, token, (total if type(total) is int else None)


def _messages_page(
    thread: str, size: int, token: Any, order: str, parse: Callable[[Any], Any]
) -> Call:
    """``GET /threads/{uuid}/messages``: a page of ``size`` (at most 200) in ``order``."""
    params: dict[str, Any] = {
        "page_size": min(max(size, 1), _MAX_PAGE),
        "order_by": "created_at",
        "order": order,
    }
    if token:
        params["cursor"] = token
    return Call(
        "GET /threads/{uuid}/messages",
        f"{_API}/threads/{thread}/messages",
        params=params,
        parse=parse,
        what="session",
    )


class V4Wire(CloudWire):
    """Zep Cloud's current API as zep-cloud 4.x speaks it (``/api/v4``)."""

    version = "v4"
    name = "zep-v4"
    server = "Zep Cloud (v4, /api/v4)"
    api_path = _API
    server_ids = True
    merges_user_metadata = True

    # users
    def create_user(self, fields: Mapping[str, Any]) -> Call:
        """``POST /users`` (``user_id`` set: the library's id; unique in the project)."""
        return Call("POST /users", _API + "/users", json=dict(fields), what="the user")

    def find_user(self, user_id: str) -> Call:
        """``POST /users/lookup {"user_id"}``."""
        return Call(
            "POST /users/lookup", _API + "/users/lookup", json={"user_id": user_id}, what="the user"
        )

    def update_user(self, address: str, fields: Mapping[str, Any]) -> Call:
        """``PATCH /users/{uuid}`` (metadata merged per key on the server)."""
        return Call(
            "PATCH /users/{uuid}",
            f"{_API}/users/{address}",
            json=dict(fields),
            headers=_fresh(),
            what="the user",
        )

    def delete_user(self, address: str) -> Call:
        """``DELETE /users/{uuid}``: 202 and a task."""
        return Call(
            "DELETE /users/{uuid}", f"{_API}/users/{address}", headers=_fresh(), what="the user"
        )

    def users_page(self, token: Any) -> Call:
        """``POST /users/list``, oldest first, from cursor ``token``."""
        params: dict[str, Any] = {"page_size": _MAX_PAGE, "order_by": "created_at", "order": "asc"}
        if token:
            params["cursor"] = token
        return Call(
            "POST /users/list",
            _API + "/users/list",
            params=params,
            json={},
            parse=lambda raw: page_result(raw, "items", "next_cursor"),
            what="the users",
        )

    # threads
    def create_thread(self, session_id: str, address: str, zep_user: str, key: str) -> Call:
        """``POST /threads {"user_uuid"}`` with a deterministic ``Idempotency-Key``."""
        return Call(
            "POST /threads",
            _API + "/threads",
            json={"user_uuid": address},
            headers={"Idempotency-Key": key},
            what=f"session {session_id}",
        )

    def delete_thread(self, thread: str) -> Call:
        """``DELETE /threads/{uuid}``: 202 and a task (not awaited)."""
        return Call(
            "DELETE /threads/{uuid}", f"{_API}/threads/{thread}", headers=_fresh(), what="session"
        )

    # messages
    def wire_message(self, message: Message) -> dict[str, Any]:
        """A message as v4 takes it.

        ``role`` is the role type (``user`` for ``norole``: v4 has no such role), ``name`` the
        library's role, ``reference_time`` the time given.
        """
        sent = message.role_type != "norole"
        item: dict[str, Any] = {
            "content": message.content,
            # No "norole" on v4: such a message goes as the user's, as Zep's own integrations
            # send a role they cannot map; its role type travels in the packed data.
            "role": message.role_type if sent else "user",
            "metadata": self.outgoing_metadata(message, role_type_sent=sent),
        }
        if message.role:
            item["name"] = message.role
        if message.created_at is not None:
            item["reference_time"] = message.created_at.isoformat()
        return item

    def add_thread_messages(self, thread: str, items: list[dict[str, Any]], key: str) -> Call:
        """``POST /threads/{uuid}/messages`` (202); the stored messages' uuids, in order."""
        return Call(
            "POST /threads/{uuid}/messages",
            f"{_API}/threads/{thread}/messages",
            json={"messages": items},
            headers={"Idempotency-Key": key},
            parse=_added,
            what="session",
        )

    def newest_messages(self, thread: str, count: int, token: Any) -> Call:
        """A page of the newest messages, newest first (v4 has no ``lastn``)."""
        return _messages_page(
            thread, count, token, "desc", lambda raw: page_result(raw, "items", "next_cursor")
        )

    def oldest_messages(self, thread: str, limit: int, token: Any) -> Call:
        """A page of messages, oldest first, from cursor ``token``."""
        return _messages_page(thread, limit, token, "asc", _oldest)

    def get_thread_message(self, thread: str, server_uuid: str) -> Call | None:
        """``GET /threads/{uuid}/messages/{uuid}``."""
        return Call(
            "GET /threads/{uuid}/messages/{uuid}",
            f"{_API}/threads/{thread}/messages/{server_uuid}",
            what=f"message {server_uuid}",
        )

    def update_thread_message(
        self, thread: str, server_uuid: str, metadata: Mapping[str, Any]
    ) -> Call:
        """``PATCH /threads/{uuid}/messages/{uuid}``."""
        return Call(
            "PATCH /threads/{uuid}/messages/{uuid}",
            f"{_API}/threads/{thread}/messages/{server_uuid}",
            json={"metadata": dict(metadata)},
            headers=_fresh(),
            what=f"message {server_uuid}",
        )

    # tasks
    def get_task(self, task: str) -> Call:
        """``GET /tasks/{uuid}``."""
        return Call("GET /tasks/{uuid}", f"{_API}/tasks/{task}", what="the task")

    def task_of(self, answer: Any) -> str | None:
        """The uuid of the task in a delete's answer (``{"task": {"uuid": ...}}``)."""
        if answer is None:
            return None
        task = fields_of(answer).get("task")
        uid = fields_of(task).get("uuid") if isinstance(task, dict) else None
        return uid if isinstance(uid, str) and uid else None
