"""``/api/v2``: Zep Community Edition 1.x, through zep-python 2.x.

The SDK client is zep-python's ``BaseClient`` / ``AsyncBaseClient`` (what ``Zep`` and ``AsyncZep``
extend) on an httpx client of ours: unlike ``Zep(...)`` they take ``base_url`` literally instead
of letting ``ZEP_API_URL`` override it, and ours carries the timeout and counts requests. Three
routes the SDK lacks or cannot read are spoken raw: the ``id > cursor`` listings of users and
sessions (the SDK has only page numbers, and ``/sessions-ordered`` refuses ordering by id), and
a user's sessions (zep-python 2.0.2 cannot parse that flat list).

Message reads are raw too: what the SDK would build of each message (its own models) is not
needed, and costs more than the rest of the read.

The server's limits, measured on CE 1.0.2: at most 30 messages per add request (more are
refused *and stored*), at most 2,500 characters of content per message, ``role_type`` required.
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..._models import CreateUserRequest, Message, Session
from ._convert import fields_of, listing, outgoing_metadata
from ._wire import Call, Wire, session_body, user_body

__all__ = ["V2Wire"]

_API = "/api/v2"


def _sdk(
    route: str,
    method: str,
    /,
    *args: Any,
    what: str,
    parse: Callable[[Any], Any] | None = None,
    **kwargs: Any,
) -> Call:
    """``route`` as the SDK's ``method`` (``"memory.get"``) called with ``args`` and ``kwargs``."""
    return Call(route, sdk=method, args=args, kwargs=kwargs, parse=parse, what=what)


def _messages(raw: Any) -> list[Any]:
    return listing(raw, "messages")


def _page(raw: Any) -> tuple[list[Any], int]:
    return listing(raw, "messages"), int(fields_of(raw).get("total_count") or 0)


class V2Wire(Wire):
    """Zep Community Edition (``/api/v2``) through zep-python 2.x."""

    version = "v2"
    name = "zep-v2"
    server = "Zep Community Edition (/api/v2)"
    api_path = _API
    max_batch = 30
    max_content = 2500
    revives_deleted_sessions = False
    requires_key = True
    uses_sdk = True

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """``Authorization: Api-Key <key>``."""
        return {"Authorization": f"Api-Key {api_key}"} if api_key else {}

    def new_sdk(self, base_url: str, api_key: str | None, http: Any, timeout: float) -> Any:
        """zep-python 2.x's base client (sync or async after ``http``) on our httpx client."""
        import httpx
        from zep_python.base_client import AsyncBaseClient, BaseClient

        cls = AsyncBaseClient if isinstance(http, httpx.AsyncClient) else BaseClient
        key = api_key or ""
        return cls(base_url=base_url + _API, api_key=key, timeout=timeout, httpx_client=http)

    # users
    def add_user(self, request: CreateUserRequest) -> Call:
        """``POST /users``."""
        return _sdk("POST /users", "user.add", what=f"user {request.user_id}", **user_body(request))

    def get_user(self, user_id: str) -> Call:
        """``GET /users/{id}``."""
        return _sdk("GET /users/{id}", "user.get", user_id, what=f"user {user_id}")

    def update_user(self, user_id: str, fields: Mapping[str, Any]) -> Call:
        """``PATCH /users/{id}``."""
        return _sdk("PATCH /users/{id}", "user.update", user_id, what=f"user {user_id}", **fields)

    def delete_user(self, user_id: str) -> Call:
        """``DELETE /users/{id}``."""
        return _sdk("DELETE /users/{id}", "user.delete", user_id, what=f"user {user_id}")

    # sessions
    def add_session(self, session: Session) -> Call:
        """``POST /sessions``."""
        what = f"session {session.session_id}"
        return _sdk("POST /sessions", "memory.add_session", what=what, **session_body(session))

    def get_session(self, session_id: str) -> Call:
        """``GET /sessions/{id}``."""
        return _sdk(
            "GET /sessions/{id}", "memory.get_session", session_id, what=f"session {session_id}"
        )

    def update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Call:
        """``PATCH /sessions/{id}`` (never without metadata: that would wipe it)."""
        assert metadata, "an empty update would replace the session's metadata with {}"
        what = f"session {session_id}"
        return _sdk(
            "PATCH /sessions/{id}",
            "memory.update_session",
            session_id,
            what=what,
            metadata=dict(metadata),
        )

    def delete_session(self, session_id: str) -> Call:
        """``DELETE /sessions/{id}/memory``."""
        return _sdk(
            "DELETE /sessions/{id}/memory",
            "memory.delete",
            session_id,
            what=f"session {session_id}",
        )

    # messages
    def add_messages(self, session_id: str, messages: Sequence[Message]) -> Call:
        """``POST /sessions/{id}/memory`` with at most :attr:`max_batch` messages."""
        from zep_python.types import Message as SdkMessage

        sdk = []
        for m in messages:
            fields: dict[str, Any] = {
                "content": m.content,
                "role": m.role,
                "role_type": m.role_type,
                "metadata": outgoing_metadata(m),
                "uuid_": str(m.uuid),
            }
            # Already validated: skip the SDK's second validation (serialised the same way).
            sdk.append(SdkMessage.construct(**fields))
        what = f"session {session_id}"
        return _sdk("POST /sessions/{id}/memory", "memory.add", session_id, what=what, messages=sdk)

    def last_messages(self, session_id: str, lastn: int) -> Call:
        """``GET /sessions/{id}/memory?lastn=`` (raw: see :meth:`messages_page`)."""
        return Call(
            "GET /sessions/{id}/memory",
            f"{_API}/sessions/{session_id}/memory",
            params={"lastn": lastn},
            parse=_messages,
            what=f"session {session_id}",
        )

    def messages_page(self, session_id: str, limit: int, page: int) -> Call:
        """``GET /sessions/{id}/messages?limit=&cursor=`` (cursor: a page number).

        Raw, as the SDK's ``memory.get_session_messages`` would send it: the SDK would build
        its own models of every message (about 15 µs each) only for the library to turn them
        into its own; read raw, a message costs what the JSON costs, plus the library's model.
        """
        return Call(
            "GET /sessions/{id}/messages",
            f"{_API}/sessions/{session_id}/messages",
            params={"limit": limit, "cursor": page},
            parse=_page,
            what=f"session {session_id}",
        )

    def update_message(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Call:
        """``PATCH /sessions/{id}/messages/{uuid}``."""
        return _sdk(
            "PATCH /sessions/{id}/messages/{uuid}",
            "memory.update_message_metadata",
            session_id,
            str(message_uuid),
            what=f"message {message_uuid}",
            metadata=dict(metadata),
        )
