"""``/api/v1``: open-source Zep up to v0.27, spoken over httpx by the library itself.

zep-python 1.x is the SDK of this generation, but it pins ``httpx<0.25`` and ``packaging<24``,
which no environment holding current LangChain can satisfy; so the library speaks this wire
itself (the routes and bodies are those of ``shared/zep-api.md``). The wire has no
``role_type``: a role type that does not follow from the role (``role="Jane"``,
``role_type="user"``) travels in the message metadata under :data:`ROLE_TYPE_KEY`, removed
again on read.
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ..._errors import InvalidInputError
from ..._models import CreateUserRequest, Message, Session
from ._convert import default_role_type, fields_of, listing
from ._wire import Call, Wire, session_body, user_body

__all__ = ["ROLE_TYPE_KEY", "V1Wire"]

#: Reserved message-metadata key carrying the role type on ``/api/v1`` (stripped on read).
ROLE_TYPE_KEY = "_zep_memory_role_type"

_API = "/api/v1"


def _page(raw: Any) -> tuple[list[Any], int]:
    total = fields_of(raw).get("total_count") or 0
    return listing(raw, "messages"), int(total)


def _reserved(metadata: Mapping[str, Any] | None) -> None:
    if metadata is not None and ROLE_TYPE_KEY in metadata:
        raise InvalidInputError(
            f"message metadata key {ROLE_TYPE_KEY!r} is reserved", field="metadata"
        )


class V1Wire(Wire):
    """Open-source Zep (``/api/v1``, v0.27 and earlier)."""

    version = "v1"
    name = "zep-v1"
    server = "open-source Zep (/api/v1)"
    api_path = _API
    users = "user"
    revives_deleted_sessions = True

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """``Authorization: Bearer <key>`` when a key is set."""
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    # users
    def add_user(self, request: CreateUserRequest) -> Call:
        """``POST /user``."""
        return Call("POST /user", "POST", f"{_API}/user", json=user_body(request),
                    what=f"user {request.user_id}")

    def get_user(self, user_id: str) -> Call:
        """``GET /user/{id}``."""
        return Call("GET /user/{id}", "GET", f"{_API}/user/{user_id}", what=f"user {user_id}")

    def update_user(self, user_id: str, fields: Mapping[str, Any]) -> Call:
        """``PATCH /user/{id}``."""
        return Call(
            "PATCH /user/{id}",
            "PATCH",
            f"{_API}/user/{user_id}",
            json={"user_id": user_id, **fields},
            what=f"user {user_id}",
            resend_if_unknown=False,
        )

    def delete_user(self, user_id: str) -> Call:
        """``DELETE /user/{id}``."""
        return Call("DELETE /user/{id}", "DELETE", f"{_API}/user/{user_id}",
                    what=f"user {user_id}", resend_if_unknown=False)

    # sessions
    def add_session(self, session: Session) -> Call:
        """``POST /sessions``."""
        return Call("POST /sessions", "POST", f"{_API}/sessions", json=session_body(session),
                    what=f"session {session.session_id}")

    def get_session(self, session_id: str) -> Call:
        """``GET /sessions/{id}``."""
        return Call("GET /sessions/{id}", "GET", f"{_API}/sessions/{session_id}",
                    what=f"session {session_id}")

    def update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Call:
        """``PATCH /sessions/{id}``."""
        return Call(
            "PATCH /sessions/{id}",
            "PATCH",
            f"{_API}/sessions/{session_id}",
            json={"session_id": session_id, "metadata": dict(metadata)},
            what=f"session {session_id}",
            resend_if_unknown=False,
        )

    def delete_session(self, session_id: str) -> Call:
        """``DELETE /sessions/{id}/memory``."""
        return Call("DELETE /sessions/{id}/memory", "DELETE",
                    f"{_API}/sessions/{session_id}/memory", what=f"session {session_id}",
                    resend_if_unknown=False)

    # messages
    def add_messages(self, session_id: str, messages: Sequence[Message]) -> Call:
        """``POST /sessions/{id}/memory``."""
        wire = []
        for m in messages:
            _reserved(m.metadata)
            metadata = m.metadata
            if m.role_type != default_role_type(m.role):
                metadata = {**(metadata or {}), ROLE_TYPE_KEY: m.role_type}
            item: dict[str, Any] = {"uuid": str(m.uuid), "role": m.role, "content": m.content}
            if metadata is not None:
                item["metadata"] = metadata
            if m.created_at is not None:
                item["created_at"] = m.created_at.isoformat()
            wire.append(item)
        return Call("POST /sessions/{id}/memory", "POST", f"{_API}/sessions/{session_id}/memory",
                    json={"messages": wire}, what=f"session {session_id}")

    def last_messages(self, session_id: str, lastn: int) -> Call:
        """``GET /sessions/{id}/memory?lastn=``."""
        return Call("GET /sessions/{id}/memory", "GET", f"{_API}/sessions/{session_id}/memory",
                    params={"lastn": lastn}, parse=lambda r: listing(r, "messages"),
                    what=f"session {session_id}")

    def messages_page(self, session_id: str, limit: int, page: int) -> Call:
        """``GET /sessions/{id}/messages?limit=&cursor=`` (cursor: a page number)."""
        return Call("GET /sessions/{id}/messages", "GET",
                    f"{_API}/sessions/{session_id}/messages",
                    params={"limit": limit, "cursor": page}, parse=_page,
                    what=f"session {session_id}")

    def update_message(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Call:
        """``PATCH /sessions/{id}/messages/{uuid}``."""
        _reserved(metadata)
        return Call(
            "PATCH /sessions/{id}/messages/{uuid}",
            "PATCH",
            f"{_API}/sessions/{session_id}/messages/{message_uuid}",
            json={"metadata": dict(metadata)},
            what=f"message {message_uuid}",
            resend_if_unknown=False,
        )

    def unpack_metadata(self, metadata: Any) -> tuple[Any, str | None]:
        """Remove the role type carried in the metadata (see :data:`ROLE_TYPE_KEY`)."""
        if not metadata or ROLE_TYPE_KEY not in metadata:
            return metadata, None
        rest = dict(metadata)
        role_type = rest.pop(ROLE_TYPE_KEY)
        return (rest or None), (role_type if isinstance(role_type, str) else None)
