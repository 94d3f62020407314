"""zep-python 1.x (``/api/v1``): which SDK method each call is, and how its arguments are spelled.

``ZepClient`` is a thin shell around the SDK's ``UserClient``, ``MemoryClient`` and
``MessageClient``, each taking an async and a sync httpx client. We build those same SDK
clients on httpx clients of ours instead of calling ``ZepClient(...)``: its constructor makes a
blocking ``GET /healthz`` (bad inside an event loop, and outside our timeout and request
counting) and binds its one async httpx client to the first event loop that uses it, whereas
we keep one per loop. The wire traffic is otherwise the SDK's own.

1.x has no ``role_type``: a role type that does not follow from the role (``role="Jane"``,
``role_type="user"``) travels in the message metadata under :data:`ROLE_TYPE_KEY`, removed
again on read.
"""

from __future__ import annotations

import importlib
import uuid as _uuid
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import httpx

from ..._errors import InvalidInputError
from ..._models import CreateUserRequest, Message, Session, User
from ._common import _LAST_RESPONSE, Call, Plan, ZepBackend, _default_role_type

__all__ = ["ROLE_TYPE_KEY", "ZepV1Backend"]

_API_PATH = "/api/v1"
#: Reserved message-metadata key carrying the role type on 1.x servers (stripped on read).
ROLE_TYPE_KEY = "_zep_memory_role_type"


def _sdk_module(name: str) -> Any:
    """A zep-python 1.x module (typed ``Any``: type checkers may see the 2.x package)."""
    return importlib.import_module(f"zep_python.{name}")


def _page_total(messages: Any) -> tuple[Any, int]:
    """The SDK returns only the page's messages; the total is in the same response."""
    response = _LAST_RESPONSE.get()
    total = 0
    if response is not None:
        total = int(response.json().get("total_count") or 0)
    return messages, total


class ZepV1Backend(ZepBackend):
    """The Zep backend on zep-python 1.x (open-source Zep server up to 0.27, ``/api/v1``)."""

    name = "zep-v1"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _sdk(self, aclient: httpx.AsyncClient | None, client: httpx.Client | None) -> Any:
        return SimpleNamespace(
            user=_sdk_module("user.client").UserClient(aclient, client),
            memory=_sdk_module("memory.client").MemoryClient(aclient, client),
            message=_sdk_module("message.client").MessageClient(aclient, client),
        )

    def _new_sync_client(self, http: httpx.Client) -> Any:
        http.base_url = httpx.URL(self.base_url + _API_PATH)
        return self._sdk(None, http)

    def _new_async_client(self, http: httpx.AsyncClient) -> Any:
        http.base_url = httpx.URL(self.base_url + _API_PATH)
        return self._sdk(http, None)

    def _async_path(self, path: str) -> str:
        namespace, method = path.split(".")
        return f"{namespace}.a{method}"

    # users
    def _call_add_user(self, request: CreateUserRequest) -> Call:
        sdk = _sdk_module("user").CreateUserRequest(**request.__dict__)
        return Call("user.add", (sdk,), what=f"user {request.user_id}")

    def _call_get_user(self, user_id: str) -> Call:
        return Call("user.get", (user_id,), what=f"user {user_id}")

    def _call_update_user(self, user_id: str, fields: dict[str, Any]) -> Call:
        sdk = _sdk_module("user").UpdateUserRequest(user_id=user_id, **fields)
        return Call("user.update", (sdk,), what=f"user {user_id}")

    def _call_delete_user(self, user_id: str) -> Call:
        return Call("user.delete", (user_id,), what=f"user {user_id}")

    def _call_user_sessions(self, user_id: str) -> Call:
        return Call("user.get_sessions", (user_id,), what=f"user {user_id}")

    def _plan_list_users(self, limit: int | None, cursor: int) -> Plan[list[User]]:
        raw = yield Call("user.list", (limit, cursor))
        return [self._user(u) for u in raw or []]

    # sessions
    def _call_add_session(self, session: Session) -> Call:
        sdk = _sdk_module("memory").Session(
            session_id=session.session_id, user_id=session.user_id, metadata=session.metadata
        )
        return Call("memory.add_session", (sdk,), what=f"session {session.session_id}")

    def _call_get_session(self, session_id: str) -> Call:
        return Call("memory.get_session", (session_id,), what=f"session {session_id}")

    def _call_update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Call:
        sdk = _sdk_module("memory").Session(session_id=session_id, metadata=dict(metadata))
        return Call("memory.update_session", (sdk,), what=f"session {session_id}")

    def _call_delete_session(self, session_id: str) -> Call:
        return Call("memory.delete_memory", (session_id,), what=f"session {session_id}")

    def _plan_list_sessions(self, limit: int | None, cursor: int) -> Plan[list[Session]]:
        raw = yield Call("memory.list_sessions", (limit, cursor))
        sessions = [self._session(s) for s in raw or []]
        return [s for s in sessions if s.deleted_at is None]

    # messages
    def _call_add_messages(self, session_id: str, messages: Sequence[Message]) -> Call:
        sdk_message = _sdk_module("message").Message
        sdk = []
        for m in messages:
            metadata = m.metadata
            if metadata is not None and ROLE_TYPE_KEY in metadata:
                raise InvalidInputError(
                    f"message metadata key {ROLE_TYPE_KEY!r} is reserved", field="metadata"
                )
            if m.role_type != _default_role_type(m.role):
                metadata = {**(metadata or {}), ROLE_TYPE_KEY: m.role_type}
            sdk.append(
                sdk_message(
                    role=m.role,  # always a real string: 1.x would send "A role is required"
                    content=m.content,
                    uuid=str(m.uuid),
                    metadata=metadata,
                    created_at=m.created_at.isoformat() if m.created_at else None,
                )
            )
        memory = _sdk_module("memory").Memory(messages=sdk)
        return Call("memory.add_memory", (session_id, memory), what=f"session {session_id}")

    def _call_last_messages(self, session_id: str, lastn: int) -> Call:
        return Call(
            "memory.get_memory",
            (session_id, lastn),
            post=lambda r: r.messages,
            what=f"session {session_id}",
        )

    def _call_messages_page(self, session_id: str, limit: int, page: int) -> Call:
        return Call(
            "message.get_session_messages",
            (session_id, limit, page),
            post=_page_total,
            what=f"session {session_id}",
        )

    def _call_update_message(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Call:
        if ROLE_TYPE_KEY in metadata:
            raise InvalidInputError(
                f"message metadata key {ROLE_TYPE_KEY!r} is reserved", field="metadata"
            )
        return Call(
            "message.update_message_metadata",
            (session_id, str(message_uuid), {"metadata": dict(metadata)}),
            what=f"message {message_uuid}",
        )

    def _unpack_metadata(self, metadata: Any) -> tuple[dict[str, Any] | None, str | None]:
        if not metadata or ROLE_TYPE_KEY not in metadata:
            return metadata, None
        rest = dict(metadata)
        role_type = rest.pop(ROLE_TYPE_KEY)
        return (rest or None), (role_type if isinstance(role_type, str) else None)
