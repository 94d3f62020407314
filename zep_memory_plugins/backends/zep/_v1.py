"""``/api/v1``: open-source Zep up to v0.27, spoken over httpx by the library itself.

zep-python 1.x is the SDK of this generation, but it pins ``httpx<0.25`` and ``packaging<24``,
which no environment holding current LangChain can satisfy; so the library speaks this wire
itself (the routes and bodies are those of ``shared/zep-api.md``). The wire has no
``role_type``: a role type that does not follow from the role (``role="Jane"``,
``role_type="user"``) travels in the message metadata under
:data:`~zep_memory_plugins._models.ROLE_TYPE_KEY`, removed again on read.
"""

from __future__ import annotations

import re
import uuid as _uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..._models import ROLE_TYPE_KEY, CreateUserRequest, Message, Session
from ._convert import default_role_type, fields_of, listing, outgoing_metadata
from ._wire import Call, Wire, session_body, user_body

__all__ = ["ROLE_TYPE_KEY", "V1Wire"]


_API = "/api/v1"
_ID = re.compile(r"\{\w+\}")


def _request(
    route: str,
    *ids: object,
    what: str,
    json: Any = None,
    params: dict[str, Any] | None = None,
    parse: Callable[[Any], Any] | None = None,
) -> Call:
    """The request of ``route`` (``"VERB /path/{id}"``) under ``/api/v1``, ids filled in order."""
    filled = iter(ids)
    path = _ID.sub(lambda _: str(next(filled)), route.split(" ", 1)[1])
    return Call(route, _API + path, json=json, params=params, parse=parse, what=what)


def _messages(raw: Any) -> list[Any]:
    return listing(raw, "messages")


def _page(raw: Any) -> tuple[list[Any], int]:
    total = fields_of(raw).get("total_count") or 0
    return listing(raw, "messages"), int(total)


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
        return _request("POST /user", json=user_body(request), what=f"user {request.user_id}")

    def get_user(self, user_id: str) -> Call:
        """``GET /user/{id}``."""
        return _request("GET /user/{id}", user_id, what=f"user {user_id}")

    def update_user(self, user_id: str, fields: Mapping[str, Any]) -> Call:
        """``PATCH /user/{id}``."""
        body = {"user_id": user_id, **fields}
        return _request("PATCH /user/{id}", user_id, json=body, what=f"user {user_id}")

    def delete_user(self, user_id: str) -> Call:
        """``DELETE /user/{id}``."""
        return _request("DELETE /user/{id}", user_id, what=f"user {user_id}")

    # sessions
    def add_session(self, session: Session) -> Call:
        """``POST /sessions``."""
        what = f"session {session.session_id}"
        return _request("POST /sessions", json=session_body(session), what=what)

    def get_session(self, session_id: str) -> Call:
        """``GET /sessions/{id}``."""
        return _request("GET /sessions/{id}", session_id, what=f"session {session_id}")

    def update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Call:
        """``PATCH /sessions/{id}``."""
        body = {"session_id": session_id, "metadata": dict(metadata)}
        return _request("PATCH /sessions/{id}", session_id, json=body, what=f"session {session_id}")

    def delete_session(self, session_id: str) -> Call:
        """``DELETE /sessions/{id}/memory``."""
        return _request("DELETE /sessions/{id}/memory", session_id, what=f"session {session_id}")

    # messages
    def add_messages(self, session_id: str, messages: Sequence[Message]) -> Call:
        """``POST /sessions/{id}/memory``."""
        wire = []
        for m in messages:
            carried = (
                {ROLE_TYPE_KEY: m.role_type} if m.role_type != default_role_type(m.role) else None
            )
            metadata = outgoing_metadata(m, carried)
            item: dict[str, Any] = {"uuid": str(m.uuid), "role": m.role, "content": m.content}
            if metadata is not None:
                item["metadata"] = metadata
            wire.append(item)
        body = {"messages": wire}
        return _request(
            "POST /sessions/{id}/memory", session_id, json=body, what=f"session {session_id}"
        )

    def last_messages(self, session_id: str, lastn: int) -> Call:
        """``GET /sessions/{id}/memory?lastn=``."""
        return _request(
            "GET /sessions/{id}/memory",
            session_id,
            params={"lastn": lastn},
            parse=_messages,
            what=f"session {session_id}",
        )

    def messages_page(self, session_id: str, limit: int, page: int) -> Call:
        """``GET /sessions/{id}/messages?limit=&cursor=`` (cursor: a page number)."""
        params = {"limit": limit, "cursor": page}
        what = f"session {session_id}"
        return _request(
            "GET /sessions/{id}/messages", session_id, params=params, parse=_page, what=what
        )

    def update_message(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Call:
        """``PATCH /sessions/{id}/messages/{uuid}``."""
        route = "PATCH /sessions/{id}/messages/{uuid}"
        body = {"metadata": dict(metadata)}
        return _request(route, session_id, message_uuid, json=body, what=f"message {message_uuid}")

    def unpack_metadata(self, metadata: Any) -> tuple[Any, str | None]:
        """Remove the role type carried in the metadata (see :data:`ROLE_TYPE_KEY`)."""
        if not metadata or ROLE_TYPE_KEY not in metadata:
            return metadata, None
        rest = dict(metadata)
        role_type = rest.pop(ROLE_TYPE_KEY)
        return (rest or None), (role_type if isinstance(role_type, str) else None)
