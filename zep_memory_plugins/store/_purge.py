"""Hard-deleting soft-deleted data once the retention has run out (SQL and log line)."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta, timezone

from .._retention import PurgedSession, PurgeReport

logger = logging.getLogger("zep_memory_plugins.store")


def log_purge(why: str, report: PurgeReport) -> None:
    """One log line: counts only (session ids may be personal; content never is logged)."""
    logger.info(
        "embedded store: purged %s soft-deleted data: %d sessions, %d messages",
        why,
        len(report.session_ids),
        report.message_count,
    )


def cutoff(older_than: timedelta) -> str:
    """The deleted_at (as stored) at or before which data soft-deleted ``older_than`` ago is."""
    return (datetime.now(timezone.utc) - older_than).isoformat()


def purge(cur: sqlite3.Cursor, older_than: timedelta) -> PurgeReport:
    """Within ``cur``'s transaction: hard-delete data soft-deleted ``older_than`` ago.

    A damaged stored time raises ``ValueError`` (the store reports the file as damaged).
    """
    before = cutoff(older_than)
    sessions = cur.execute(
        "SELECT s.id, s.session_id, s.user_id, s.deleted_at,"
        " (SELECT count(*) FROM messages m WHERE m.session = s.id)"
        " FROM sessions s WHERE s.deleted_at IS NOT NULL AND s.deleted_at <= ?",
        (before,),
    ).fetchall()
    # Messages a delete left in sessions revived since (or deleted again later).
    leftovers = cur.execute(
        "SELECT s.id, s.session_id, s.user_id, max(m.deleted_at), count(*)"
        " FROM messages m JOIN sessions s ON s.id = m.session"
        " WHERE m.deleted_at IS NOT NULL AND m.deleted_at <= ?"
        " AND (s.deleted_at IS NULL OR s.deleted_at > ?) GROUP BY s.id",
        (before, before),
    ).fetchall()
    if sessions:
        cur.execute(
            "DELETE FROM sessions WHERE deleted_at IS NOT NULL AND deleted_at <= ?", (before,)
        )
    if leftovers:
        cur.execute(
            "DELETE FROM messages WHERE deleted_at IS NOT NULL AND deleted_at <= ?", (before,)
        )
    touched = [(row, True) for row in sessions] + [(row, False) for row in leftovers]
    touched.sort(key=lambda item: (item[0][3], item[0][0]))
    purged = tuple(
        PurgedSession(
            session_id=row[1],
            user_id=row[2],
            deleted_at=datetime.fromisoformat(row[3]),
            messages=row[4],
            removed=removed,
        )
        for row, removed in touched
    )
    return PurgeReport(older_than=older_than, sessions=purged)
