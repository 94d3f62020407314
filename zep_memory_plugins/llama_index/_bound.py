"""The part both LlamaIndex chat stores share: a client, a user, and that client's guard."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import BaseModel, Field, PrivateAttr

from .._client import ZepMemoryClient
from .._models import check_id, check_metadata
from .._session_guard import SessionGuard, check_client, guard_for

__all__ = ["UserBoundStore"]


class UserBoundStore(BaseModel):
    """A store whose keys are the sessions of one user, on one client."""

    user_id: str = Field(description="The user owning every session (key) of this store.")
    session_metadata: dict[str, Any] | None = Field(
        default=None, description="Metadata given to sessions this store creates."
    )
    _client: ZepMemoryClient = PrivateAttr()
    _guard: SessionGuard = PrivateAttr()

    def __init__(
        self,
        client: ZepMemoryClient,
        user_id: str,
        session_metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Bind the store to ``client`` and ``user_id``."""
        client = check_client(client)
        super().__init__(
            user_id=check_id(user_id, "user_id"),
            session_metadata=check_metadata(session_metadata, "session_metadata"),
            **kwargs,
        )
        self._client = client
        self._guard = guard_for(client)

    @property
    def client(self) -> ZepMemoryClient:
        """The client this store talks to."""
        return self._client

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(user_id={self.user_id!r}, "
            f"backend={self._client.backend.name!r})"
        )
