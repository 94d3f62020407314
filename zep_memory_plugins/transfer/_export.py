"""Export: everything live in a client's store (or one user's), as records or as JSON Lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from .._models import Message, Session, User, check_id, utcnow
from .._version import __version__
from ._format import FORMAT, FORMAT_VERSION, ProgressCallback, TransferStats

if TYPE_CHECKING:
    from .._client import ZepMemoryClient

__all__ = ["export_jsonl", "export_records"]

logger = logging.getLogger("zep_memory_plugins.transfer")

_PAGE = 100
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _sorted(value: Any) -> Any:
    """``value`` with every object's keys in code-point order, at every depth.

    Zep servers answer metadata with sorted keys (Go sorts a map's keys when it encodes it),
    the embedded store in the order given: sorted, the file is the same from every backend.
    """
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _user_record(user: User) -> dict[str, Any]:
    data = user.model_dump(mode="json", exclude={"id"})
    data["metadata"] = _sorted(data["metadata"])
    return {"type": "user", **data}


def _session_record(session: Session) -> dict[str, Any]:
    data = session.model_dump(mode="json", exclude={"id", "deleted_at"})
    data["metadata"] = _sorted(data["metadata"])
    return {"type": "session", **data}


def _message_record(session_id: str, message: Message) -> dict[str, Any]:
    data = message.model_dump(mode="json")
    data["metadata"] = _sorted(data["metadata"])
    return {"type": "message", "session_id": session_id, **data}


def export_records(
    client: ZepMemoryClient,
    *,
    user_id: str | None = None,
    stats: TransferStats | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the records of everything live in ``client``'s store (see the module docstring).

    Users come first, then each session followed by its messages, oldest first. Sessions are
    listed up front (so ``stats.sessions_total`` is known); messages are read one session at a
    time.

    With ``user_id``, only that user's records: the header (naming the user), the user, their
    live sessions and those sessions' messages: what a request for one's own data asks for.
    An unknown user raises :class:`~zep_memory_plugins.NotFoundError` (a bad id
    :class:`~zep_memory_plugins.InvalidInputError`) before any record is yielded.
    """
    stats = stats if stats is not None else TransferStats()
    header: dict[str, Any] = {
        "type": "header",
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "exported_at": utcnow().isoformat(),
        "source": client.backend.name,
        "generator": f"zep-memory-plugins {__version__}",
    }
    if user_id is not None:
        user_id = check_id(user_id, "user_id")
        owner = client.user.get(user_id)  # NotFoundError before anything is written
        sessions = client.user.get_sessions(user_id)
        yield {**header, "user_id": user_id}
        stats.users += 1
        yield _user_record(owner)
    else:
        yield header
        for users in client.user.list_chunked(_PAGE):
            for user in users:
                stats.users += 1
                yield _user_record(user)
        sessions = [s for chunk in client.memory.list_all_sessions(_PAGE) for s in chunk]
    stats.sessions_total = len(sessions)
    if progress is not None:
        progress(stats)
    for session in sessions:
        assert session.session_id is not None
        stats.sessions += 1
        yield _session_record(session)
        for message in client.memory.get_messages(session.session_id):
            stats.messages += 1
            yield _message_record(session.session_id, message)
        if progress is not None:
            progress(stats)
    logger.info(
        "exported %d users, %d sessions, %d messages", stats.users, stats.sessions, stats.messages
    )


def export_jsonl(
    client: ZepMemoryClient,
    fp: IO[str],
    *,
    user_id: str | None = None,
    progress: ProgressCallback | None = None,
) -> TransferStats:
    """Write everything live in ``client``'s store to ``fp`` as JSON Lines; return the counts.

    With ``user_id``, only that user's records (see :func:`export_records`).
    """
    stats = TransferStats()
    for record in export_records(client, user_id=user_id, stats=stats, progress=progress):
        fp.write(_encode(record))
        fp.write("\n")
    fp.flush()
    return stats
