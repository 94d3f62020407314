"""``/api/v1``: answers like open-source Zep v0.27.2 (zep-python 1.x, or any client of it).

Errors are Go's ``http.Error``: the text and a newline, ``text/plain``. Every response carries
``X-Zep-Version`` (``/healthz`` included). Auth is off unless the server is given a key, then
``Authorization: Bearer <key>``. No limit on a batch or on a message's content. A deleted
session can be revived by a write or an update; its id stays taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.responses import Response

from .._errors import AlreadyExistsError
from .._models import ROLE_TYPES, Message, Session
from ._http import GO_ZERO_TIME, NIL_UUID, TEXT_TYPE, HTTPError, MessageIn, not_found
from ._sessions import SessionApi
from ._writes import touch_session

__all__ = ["V1"]

# The page an open-source Zep v0.27 server shows for a route it does not have (its web UI's
# 404 page; zep-python 2.x turns it into a NotFoundError carrying the whole page).
_NOT_FOUND_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Zep - Page not found</title></head>
<body><main><h1>404</h1><p>The page you requested could not be found.</p></main></body>
</html>
"""


class V1(SessionApi):
    """Open-source Zep 0.27.2 on ``/api/v1``."""

    version = "v1"
    server = "Zep 0.27.2"
    api_path = "/api/v1"
    default_window = 12  # v0.27's default message window
    auth_scheme = "Bearer"
    users = "/user"

    # -- responses ---------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        """v0.27 sends ``X-Zep-Version`` on every response."""
        return {"X-Zep-Version": self.server_version}

    def error_body(self, texts: Sequence[str]) -> tuple[str, str]:
        """Go's ``http.Error``: each text and a newline, ``text/plain``."""
        return "".join(text + "\n" for text in texts), TEXT_TYPE

    def not_found_route(self) -> Response:
        """v0.27's web UI 404 page."""
        return Response(
            _NOT_FOUND_PAGE, 404, headers=self.headers(), media_type="text/html; charset=utf-8"
        )

    def ok(self, status: int = 200) -> Response:
        """``OK`` as plain text."""
        return Response("OK", status, headers=self.headers(), media_type=TEXT_TYPE)

    def memory_json(self, messages: list[Message]) -> dict[str, Any]:
        """``{messages, summary}``: v0.27 always answers a summary, all zero values if none."""
        return {
            "messages": [self.message_json(m) for m in messages],
            "summary": {
                "uuid": NIL_UUID,
                "created_at": GO_ZERO_TIME,
                "content": "",
                "recent_message_uuid": NIL_UUID,
                "token_count": 0,
            },
        }

    def negative_lastn(self) -> HTTPError:
        """v0.27: 500."""
        return HTTPError(500, "cannot specify negative lastNMessages")

    # -- checks and writes -------------------------------------------------------------------

    def check_user_update(self, metadata: dict[str, Any] | None) -> None:
        """v0.27 merges any non-null metadata, and refuses ``{}`` (before the user lookup)."""
        if metadata == {}:
            raise HTTPError(500, "failed to merge metadata: metadata cannot be empty")

    def check_new_session(self, session_id: str, user_id: str | None) -> None:
        """A session without an id is a 500 on v0.27."""
        if not session_id:
            raise HTTPError(500, "sessionID cannot be empty")

    def update_without_metadata(self, session_id: str) -> Session:
        """Only ``updated_at`` moves; a deleted session is revived."""
        if not touch_session(self.store, session_id, revive=True):
            raise not_found()
        return self.store.get_session(session_id)

    def update_with_empty_metadata(self, session_id: str) -> Session:
        """v0.27 refuses to merge nothing."""
        raise HTTPError(500, "failed to merge session metadata: metadata cannot be empty")

    # v0.27 reports a bad uuid in the path, then goes on with the nil uuid: a PATCH adds why
    # that fails; a GET of no message (that one or an unknown one) crashes the handler, which
    # an unwritten response turns into an empty 500.
    uuid_error_prefix = "unable to parse document UUID: "
    bad_uuid_patch = ("message UUID cannot be nil",)

    def unknown_message(self) -> Response:
        """An empty 500 (the handler indexes an empty list; the recoverer answers)."""
        return Response(b"", 500, headers=self.headers())

    def add_batch(self, session_id: str, parsed: list[MessageIn], absent: bool) -> Response:
        """No role type on the wire: derived from the role. A duplicate uuid is a 500."""
        messages = [m.model(m.role if m.role in ROLE_TYPES else "norole") for m in parsed]
        self.ensure_session(session_id)
        try:
            # Any write revives a deleted session, an empty one too.
            self.store_messages(session_id, messages, revive=True)
        except AlreadyExistsError:
            # Postgres' unique constraint: 500, nothing of the batch stored.
            raise HTTPError(
                500,
                "failed to put messages: failed to create messages ERROR: duplicate key value "
                'violates unique constraint "message_pkey" (SQLSTATE=23505)',
            ) from None
        return self.ok()
