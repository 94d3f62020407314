"""zep-python 2.x (``/api/v2``): which SDK method each call is, and how its arguments are spelled.

The SDK client is built from zep-python's ``BaseClient`` / ``AsyncBaseClient`` (what ``Zep`` and
``AsyncZep`` extend) on an httpx client of ours: unlike ``Zep(...)``, they take ``base_url``
literally instead of letting the ``ZEP_API_URL`` environment variable override it, and our
httpx client carries the timeout and counts requests. Without an API key the ``Authorization``
header the SDK insists on is removed before the request leaves.
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ..._models import CreateUserRequest, Message, Session, User
from ._common import Call, Plan, ZepBackend

__all__ = ["ZepV2Backend"]

_API_PATH = "/api/v2"


class ZepV2Backend(ZepBackend):
    """The Zep backend on zep-python 2.x (Zep Community Edition 1.x, ``/api/v2``)."""

    name = "zep-v2"

    def _new_sync_client(self, http: httpx.Client) -> Any:
        from zep_python.base_client import BaseClient

        return BaseClient(
            base_url=self.base_url + _API_PATH,
            api_key=self._api_key or "",
            timeout=self.timeout,
            httpx_client=http,
        )

    def _new_async_client(self, http: httpx.AsyncClient) -> Any:
        from zep_python.base_client import AsyncBaseClient

        return AsyncBaseClient(
            base_url=self.base_url + _API_PATH,
            api_key=self._api_key or "",
            timeout=self.timeout,
            httpx_client=http,
        )

    # users
    def _call_add_user(self, request: CreateUserRequest) -> Call:
        fields = {k: v for k, v in request.__dict__.items() if v is not None}
        return Call("user.add", kwargs=fields, what=f"user {request.user_id}")

    def _call_get_user(self, user_id: str) -> Call:
        return Call("user.get", (user_id,), what=f"user {user_id}")

    def _call_update_user(self, user_id: str, fields: dict[str, Any]) -> Call:
        return Call("user.update", (user_id,), fields, what=f"user {user_id}")

    def _call_delete_user(self, user_id: str) -> Call:
        return Call("user.delete", (user_id,), what=f"user {user_id}")

    def _call_user_sessions(self, user_id: str) -> Call:
        # zep-python 2.0.2 parses this answer as a list of LISTS of sessions and fails on
        # any user who has a session; the answer itself is a plain JSON list of sessions.
        return Call(
            "user.get_sessions",
            (user_id,),
            recover=lambda response: response.json(),
            what=f"user {user_id}",
        )

    def _plan_list_users(self, limit: int | None, cursor: int) -> Plan[list[User]]:
        def page(number: int, size: int) -> Call:
            return Call(
                "user.list_ordered",
                kwargs={"page_number": number, "page_size": size},
                post=lambda r: (r.users, r.total_count),
            )

        return self._plan_ordered("users", limit, cursor, page, self._user)

    # sessions
    def _call_add_session(self, session: Session) -> Call:
        fields: dict[str, Any] = {"session_id": session.session_id}
        if session.user_id is not None:
            fields["user_id"] = session.user_id
        if session.metadata is not None:
            fields["metadata"] = session.metadata
        return Call("memory.add_session", kwargs=fields, what=f"session {session.session_id}")

    def _call_get_session(self, session_id: str) -> Call:
        return Call("memory.get_session", (session_id,), what=f"session {session_id}")

    def _call_update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Call:
        return Call(
            "memory.update_session",
            (session_id,),
            {"metadata": dict(metadata)},
            what=f"session {session_id}",
        )

    def _call_delete_session(self, session_id: str) -> Call:
        return Call("memory.delete", (session_id,), what=f"session {session_id}")

    def _plan_list_sessions(self, limit: int | None, cursor: int) -> Plan[list[Session]]:
        def page(number: int, size: int) -> Call:
            return Call(
                "memory.list_sessions",
                kwargs={"page_number": number, "page_size": size, "order_by": "id", "asc": True},
                post=lambda r: (r.sessions, r.total_count),
            )

        return self._plan_ordered("sessions", limit, cursor, page, self._session)

    # messages
    def _call_add_messages(self, session_id: str, messages: Sequence[Message]) -> Call:
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
            # Our messages are validated already: skip the SDK's second validation (pydantic
            # v1 ``construct``); the SDK serialises them the same way.
            sdk.append(SdkMessage.construct(**fields))
        return Call("memory.add", (session_id,), {"messages": sdk}, what=f"session {session_id}")

    def _call_last_messages(self, session_id: str, lastn: int) -> Call:
        return Call(
            "memory.get",
            (session_id,),
            {"lastn": lastn},
            post=lambda r: r.messages,
            what=f"session {session_id}",
        )

    def _call_messages_page(self, session_id: str, limit: int, page: int) -> Call:
        return Call(
            "memory.get_session_messages",
            (session_id,),
            {"limit": limit, "cursor": page},
            post=lambda r: (r.messages, r.total_count),
            what=f"session {session_id}",
        )

    def _call_update_message(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Call:
        return Call(
            "memory.update_message_metadata",
            (session_id, str(message_uuid)),
            {"metadata": dict(metadata)},
            what=f"message {message_uuid}",
        )
