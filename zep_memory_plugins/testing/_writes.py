"""Writes the real servers make that the embedded store has no call for.

The store keeps Zep's semantics as the library needs them; a real server also touches a
session's ``updated_at`` on every write to it, revives a deleted session on any update (v0.27),
and replaces a user's metadata with ``{}`` when sent ``{}`` (CE). These few statements go
straight to the store's tables, inside its write transaction.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..store import SQLiteStore

__all__ = ["KEEP", "Keep", "replace_user_metadata", "touch_session"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def touch_session(store: SQLiteStore, session_id: str, *, revive: bool = False) -> bool:
    """Set a live session's ``updated_at`` to now (``revive``: a deleted one too, undeleted).

    Whether there was such a session.
    """
    live = "" if revive else " AND deleted_at IS NULL"
    with store._write() as cur:
        cur.execute(
            f"UPDATE sessions SET updated_at = ?, deleted_at = NULL WHERE session_id = ?{live}",
            (_now(), session_id),
        )
        return cur.rowcount > 0


class Keep:
    """The type of :data:`KEEP`."""


#: Leave a column as it is.
KEEP = Keep()


def replace_user_metadata(store: SQLiteStore, user_id: str, metadata: str | Keep | None) -> bool:
    """Set a user's ``updated_at`` to now, and its metadata column (JSON text) unless ``KEEP``.

    Whether there was such a user.
    """
    columns = "updated_at = ?" if isinstance(metadata, Keep) else "updated_at = ?, metadata = ?"
    values = (_now(),) if isinstance(metadata, Keep) else (_now(), metadata)
    with store._write() as cur:
        cur.execute(f"UPDATE users SET {columns} WHERE user_id = ?", (*values, user_id))
        return cur.rowcount > 0
