"""``/api/v2``: Zep Community Edition 1.x, through zep-python 2.x.

The SDK client is zep-python's ``BaseClient`` / ``AsyncBaseClient`` (what ``Zep`` and ``AsyncZep``
extend) on an httpx client of ours: unlike ``Zep(...)`` they take ``base_url`` literally instead
of letting ``ZEP_API_URL`` override it, and ours carries the timeout and counts requests. Three
routes the SDK lacks or cannot read are spoken raw: the ``id > cursor`` listings of users and
sessions (the SDK has only page numbers, and ``/sessions-ordered`` refuses ordering by id), and
a user's sessions (zep-python 2.0.2 cannot parse that flat list).

The server's limits, measured on CE 1.0.2: at most 30 messages per add request (more are
refused *and stored*), at most 2,500 characters of content per message, ``role_type`` required.
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ..._models import CreateUserRequest, Message, Session
from ._convert import fields_of, listing
from ._wire import Call, Wire, session_body, user_body

__all__ = ["V2Wire"]

_API = "/api/v2"


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
        return cls(base_url=base_url + _API, api_key=api_key or "", timeout=timeout,
                   httpx_client=http)

    # users
    def add_user(self, request: CreateUserRequest) -> Call:
        """``POST /users``."""
        return Call("POST /users", sdk="user.add", kwargs=user_body(request),
                    what=f"user {request.user_id}")

    def get_user(self, user_id: str) -> Call:
        """``GET /users/{id}``."""
        return Call("GET /users/{id}", sdk="user.get", args=(user_id,), what=f"user {user_id}")

    def update_user(self, user_id: str, fields: Mapping[str, Any]) -> Call:
        """``PATCH /users/{id}``."""
        return Call("PATCH /users/{id}", sdk="user.update", args=(user_id,), kwargs=dict(fields),
                    what=f"user {user_id}", resend_if_unknown=False)

    def delete_user(self, user_id: str) -> Call:
        """``DELETE /users/{id}``."""
        return Call("DELETE /users/{id}", sdk="user.delete", args=(user_id,),
                    what=f"user {user_id}", resend_if_unknown=False)

    # sessions
    def add_session(self, session: Session) -> Call:
        """``POST /sessions``."""
        return Call("POST /sessions", sdk="memory.add_session", kwargs=session_body(session),
                    what=f"session {session.session_id}")

    def get_session(self, session_id: str) -> Call:
        """``GET /sessions/{id}``."""
        return Call("GET /sessions/{id}", sdk="memory.get_session", args=(session_id,),
                    what=f"session {session_id}")

    def update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Call:
        """``PATCH /sessions/{id}`` (never without metadata: that would wipe it)."""
        assert metadata, "an empty update would replace the session's metadata with {}"
        return Call("PATCH /sessions/{id}", sdk="memory.update_session", args=(session_id,),
                    kwargs={"metadata": dict(metadata)}, what=f"session {session_id}",
                    resend_if_unknown=False)

    def delete_session(self, session_id: str) -> Call:
        """``DELETE /sessions/{id}/memory``."""
        return Call("DELETE /sessions/{id}/memory", sdk="memory.delete", args=(session_id,),
                    what=f"session {session_id}", resend_if_unknown=False)

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
                "metadata": m.metadata,
                "uuid_": str(m.uuid),
            }
            if m.created_at is not None:
                fields["created_at"] = m.created_at.isoformat()
            # Already validated: skip the SDK's second validation (serialised the same way).
            sdk.append(SdkMessage.construct(**fields))
        return Call("POST /sessions/{id}/memory", sdk="memory.add", args=(session_id,),
                    kwargs={"messages": sdk}, what=f"session {session_id}")

    def last_messages(self, session_id: str, lastn: int) -> Call:
        """``GET /sessions/{id}/memory?lastn=``."""
        return Call("GET /sessions/{id}/memory", sdk="memory.get", args=(session_id,),
                    kwargs={"lastn": lastn}, parse=_messages, what=f"session {session_id}")

    def messages_page(self, session_id: str, limit: int, page: int) -> Call:
        """``GET /sessions/{id}/messages?limit=&cursor=`` (cursor: a page number)."""
        return Call("GET /sessions/{id}/messages", sdk="memory.get_session_messages",
                    args=(session_id,), kwargs={"limit": limit, "cursor": page}, parse=_page,
                    what=f"session {session_id}")

    def update_message(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Call:
        """``PATCH /sessions/{id}/messages/{uuid}``."""
        return Call("PATCH /sessions/{id}/messages/{uuid}",
                    sdk="memory.update_message_metadata", args=(session_id, str(message_uuid)),
                    kwargs={"metadata": dict(metadata)}, what=f"message {message_uuid}",
                    resend_if_unknown=False)

