"""Helpers that reach into an embedded store's file, shared by the store and CLI tests."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path


def backdate(path: str | Path, session_id: str, by: timedelta) -> None:
    """Move a soft-deleted session's delete (and its messages') ``by`` into the past."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        (sid, deleted) = conn.execute(
            "SELECT id, deleted_at FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        earlier = (datetime.fromisoformat(deleted) - by).isoformat()
        conn.execute("UPDATE sessions SET deleted_at = ? WHERE id = ?", (earlier, sid))
        conn.execute(
            "UPDATE messages SET deleted_at = ?, created_at = ? WHERE session = ? AND"
            " deleted_at = ?",
            (earlier, earlier, sid, deleted),
        )
    finally:
        conn.close()
