"""Zep Cloud v3: threads with ids the client chooses, under ``/api/v2`` (zep-cloud 3.x).

Spoken over httpx by the library itself, not through the SDK: zep-cloud 3.x and 4.x are one
module (only one can be installed), neither percent-encodes ids in paths, and 3.x lets
``ZEP_API_URL`` override its ``base_url`` and gives ``max_retries=n`` as n - 2 retries
(``shared/zep-cloud/spec.md`` §1). The routes and bodies are those of spec §2.1; how the
library's sessions live on them is :mod:`._cloud`'s.

On this generation a session's thread has the session's id (``thread_id``), a message keeps
the uuid the client gave it (also packed in its metadata, in case the server assigns its own),
and a message's ``created_at`` is sent as given (Zep's importer does the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..._models import Message
from ._cloud import CloudWire
from ._convert import fields_of, listing
from ._wire import Call

__all__ = ["V3Wire"]

_API = "/api/v2"
#: Users per page of ``GET /users-ordered`` (a listing walks them all in creation order).
_USERS_PAGE = 100


def _at(*parts: str) -> str:
    """A path under ``/api/v2`` with each id percent-encoded (an id may hold any character)."""
    return _API + "".join(f"/{quote(p, safe='')}" if i % 2 else p for i, p in enumerate(parts))


def _users(raw: Any, page: int) -> tuple[list[Any], Any]:
    users = listing(raw, "users")
    return users, (page + 1 if len(users) >= _USERS_PAGE else None)


def _uuids(raw: Any) -> list[Any] | None:
    uuids = fields_of(raw).get("message_uuids") if raw is not None else None
    return list(uuids) if isinstance(uuids, list) else None


class V3Wire(CloudWire):
    """Zep Cloud's threads API as zep-cloud 3.x speaks it (``/api/v2``)."""

    version = "v3"
    name = "zep-v3"
    server = "Zep Cloud (v3 threads, /api/v2)"
    api_path = _API
    server_ids = False
    merges_user_metadata = False

    # users
    def create_user(self, fields: Mapping[str, Any]) -> Call:
        """``POST /users``."""
        return Call("POST /users", _API + "/users", json=dict(fields), what="the user")

    def find_user(self, user_id: str) -> Call:
        """``GET /users/{user_id}``."""
        return Call("GET /users/{id}", _at("/users", user_id), what="the user")

    def update_user(self, address: str, fields: Mapping[str, Any]) -> Call:
        """``PATCH /users/{user_id}``."""
        return Call("PATCH /users/{id}", _at("/users", address), json=dict(fields), what="the user")

    def delete_user(self, address: str) -> Call:
        """``DELETE /users/{user_id}`` (synchronous: 200)."""
        return Call("DELETE /users/{id}", _at("/users", address), what="the user")

    def users_page(self, token: Any) -> Call:
        """``GET /users-ordered``, oldest first, page ``token`` (1-based)."""
        page = int(token or 1)
        params = {"pageNumber": page, "pageSize": _USERS_PAGE, "order_by": "created_at"}
        return Call(
            "GET /users-ordered",
            _API + "/users-ordered",
            params={**params, "asc": "true"},
            parse=lambda raw: _users(raw, page),
            what="the users",
        )

    # threads
    def create_thread(self, session_id: str, address: str, zep_user: str, key: str) -> Call:
        """``POST /threads`` with the session's id as ``thread_id``."""
        body = {"thread_id": session_id, "user_id": zep_user}
        return Call("POST /threads", _API + "/threads", json=body, what=f"session {session_id}")

    def delete_thread(self, thread: str) -> Call:
        """``DELETE /threads/{thread_id}`` (synchronous: 200)."""
        return Call("DELETE /threads/{id}", _at("/threads", thread), what=f"session {thread}")

    # messages
    def wire_message(self, message: Message) -> dict[str, Any]:
        """A message as v3 takes it.

        ``role`` is the role type, ``name`` the library's role, ``uuid`` and ``created_at`` as
        given.
        """
        item: dict[str, Any] = {
            "content": message.content,
            "role": message.role_type,
            "metadata": self.outgoing_metadata(message, role_type_sent=True),
            "uuid": str(message.uuid),
        }
        if message.role:
            item["name"] = message.role
        if message.created_at is not None:
            item["created_at"] = message.created_at.isoformat()
        return item

    def add_thread_messages(self, thread: str, items: list[dict[str, Any]], key: str) -> Call:
        """``POST /threads/{thread_id}/messages``; the answer's ``message_uuids``."""
        return Call(
            "POST /threads/{id}/messages",
            _at("/threads", thread, "/messages"),
            json={"messages": items},
            parse=_uuids,
            what=f"session {thread}",
        )

    def newest_messages(self, thread: str, count: int, token: Any) -> Call:
        """``GET /threads/{id}/messages?lastn=``: the last ``count``, in one request."""
        return Call(
            "GET /threads/{id}/messages",
            _at("/threads", thread, "/messages"),
            params={"lastn": count},
            parse=lambda raw: (listing(raw, "messages")[::-1], None),
            what=f"session {thread}",
        )

    def oldest_messages(self, thread: str, limit: int, token: Any) -> Call:
        """``GET /threads/{id}/messages?limit=&cursor=`` (cursor: a 1-based page number)."""
        page = int(token or 1)

        def parse(raw: Any) -> tuple[list[Any], Any, int | None]:
            messages = listing(raw, "messages")
            total = fields_of(raw).get("total_count") if raw is not None else None
            total = total if type(total) is int else None
            more = len(messages) >= limit and (total is None or page * limit < total)
            return messages, (page + 1 if more else None), total

        return Call(
            "GET /threads/{id}/messages",
            _at("/threads", thread, "/messages"),
            params={"limit": limit, "cursor": page},
            parse=parse,
            what=f"session {thread}",
        )

    def update_thread_message(
        self, thread: str, server_uuid: str, metadata: Mapping[str, Any]
    ) -> Call:
        """``PATCH /messages/{uuid}`` (no thread in the path on v3)."""
        return Call(
            "PATCH /messages/{uuid}",
            _at("/messages", server_uuid),
            json={"metadata": dict(metadata)},
            what=f"message {server_uuid}",
        )

    def get_task(self, task: str) -> Call:
        """``GET /tasks/{task_id}``."""
        return Call("GET /tasks/{id}", _at("/tasks", task), what="the task")
