"""``zep-memory``: the command line (argparse).

Every command that touches a store picks its backend like the client does: ``--url`` (with the
API key read from the environment variable named by ``--api-key-env``, default ``ZEP_API_KEY``)
for a Zep server, ``--path`` for an embedded store file, otherwise ``ZEP_API_URL`` /
``ZEP_MEMORY_PATH`` / the default embedded store, all read through the library's
:class:`~zep_memory_plugins.Settings`. An API key is never taken as an argument value (it would
show in ``ps``) and never printed. ``serve`` is also ``python -m zep_memory_plugins.testing``.

Exit codes: 0 success, 1 a library error (one line on stderr), 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

from .._client import ZepMemoryClient
from .._errors import (
    ConfigurationError,
    InvalidInputError,
    MissingDependencyError,
    ZepMemoryError,
)
from .._models import MAX_COUNT, check_text
from .._retention import format_duration, parse_duration
from .._settings import API_KEY_ENV, Settings
from .._version import __version__
from ..transfer import TransferStats, copy, export_jsonl, import_jsonl
from ._output import plural, print_json, print_table, progress_bar, short_json

__all__ = ["build_parser", "main"]


_MAX_URL_LENGTH = 8192


class _UsageError(Exception):
    """Bad usage found after parsing (exit code 2)."""


# -- backends ----------------------------------------------------------------------------------


def make_client(url: str | None, path: str | None, key_env: str | None) -> ZepMemoryClient:
    """Build a client from the backend options of one command.

    The options become a :class:`~zep_memory_plugins.Settings` (``--url``, ``--path``, and the
    key read from the variable ``--api-key-env`` names, which must then be set); what they do
    not say comes from the environment, as for the client.
    """
    if url and path:
        raise _UsageError("--url and --path choose different backends: give one")
    if url:
        # A command-line argument that is not UTF-8 reaches Python with lone surrogates.
        check_text(url, "--url", max_length=_MAX_URL_LENGTH)
    if path is not None and key_env is not None:
        raise _UsageError("--api-key-env is for a Zep server (--url), not --path")
    return ZepMemoryClient(settings=Settings(api_url=url, memory_path=path, api_key_env=key_env))


def _backend_options(parser: argparse.ArgumentParser, prefix: str = "", what: str = "") -> None:
    group = parser.add_argument_group(f"{what or 'backend'} (default: ZEP_API_URL, else embedded)")
    group.add_argument(
        f"--{prefix}url", metavar="URL", help=f"Zep server URL{what and ' of the ' + what}"
    )
    group.add_argument(
        f"--{prefix}path", metavar="FILE", help="embedded store file (':memory:' for a scratch one)"
    )
    group.add_argument(
        f"--{prefix}api-key-env",
        metavar="VAR",
        help=f"environment variable holding the Zep API key (default {API_KEY_ENV})",
    )


def _client(args: argparse.Namespace) -> ZepMemoryClient:
    return make_client(args.url, args.path, args.api_key_env)


# -- commands ----------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    run_demo(args.path)
    return 0


class _ServedGenerations:
    """The ``--api`` choices of ``serve``: the test server's generations, read on first use.

    The table lives with the test server (:data:`zep_memory_plugins.testing.API_VERSIONS`),
    which needs the server extra: it is imported only when ``serve`` checks or shows its
    choices. Without the extra every value passes here and ``serve`` reports the missing extra.
    """

    def _names(self) -> tuple[str, ...]:
        try:
            from ..testing import API_VERSIONS
        except ImportError:  # MissingDependencyError included
            return ()
        return API_VERSIONS

    def __contains__(self, value: object) -> bool:
        names = self._names()
        return value in names or not names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from ..testing import generation_class, serve
    except MissingDependencyError:
        raise
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "starlette", "server") from None
    generation = generation_class(args.api)
    given = {"--task-delay": args.task_delay, "--rate-limit": args.rate_limit}
    for flag, value in given.items():
        if value is not None and flag[2:].replace("-", "_") not in generation.options:
            raise _UsageError(f"{flag} is for the Zep Cloud generations (v3, v4), not {args.api}")
    if not generation.uses_store and args.path:
        raise _UsageError(f"a {args.api} server keeps its data in memory: no --path")
    if not generation.default_window and args.window is not None:
        raise _UsageError(f"a {args.api} server has no memory reads: no --window")
    # A server that always requires a key (v2, v3, v4): ZEP_API_KEY unless --api-key-env says.
    key_env = args.api_key_env or (API_KEY_ENV if generation.requires_key else None)
    path = Settings(memory_path=args.path or ":memory:").store_path()
    try:
        settings = Settings(memory_path=path, api_key_env=key_env)
    except ConfigurationError as exc:  # the path passed above: this one is about the key
        always = generation.requires_key
        hint = f" (a {args.api} server always requires an API key)" if always else ""
        raise ConfigurationError(f"{exc}{hint}") from None
    with contextlib.suppress(KeyboardInterrupt):
        serve(
            host=args.host,
            port=args.port,
            path=settings.store_path(),
            api_key=settings.api_key_value(),
            window=args.window,
            api=args.api,
            task_delay=args.task_delay,
            rate_limit=args.rate_limit,
        )
    return 0


def _dt(value: datetime | None) -> str:
    """A timestamp in UTC, to the second."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _cmd_users_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        users = []
        for chunk in client.user.list_chunked(100):
            users.extend(chunk)
            if args.limit and len(users) >= args.limit:
                users = users[: args.limit]
                break
        if args.json:
            print_json([u.model_dump(mode="json") for u in users])
            return 0
        rows = [
            [
                u.user_id,
                u.email or "",
                " ".join(p for p in (u.first_name, u.last_name) if p),
                short_json(u.metadata, 40),
                _dt(u.created_at),
            ]
            for u in users
        ]
        print_table(
            f"{plural(len(rows), 'user')} ({client.backend.describe()})",
            ["user_id", "email", "name", "metadata", "created"],
            rows,
        )
    return 0


def _cmd_users_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        user = client.user.get(args.user_id)
        sessions = client.user.get_sessions(args.user_id)
        if args.json:
            print_json(
                {
                    "user": user.model_dump(mode="json"),
                    "sessions": [s.model_dump(mode="json") for s in sessions],
                }
            )
            return 0
        fields = [
            ["user_id", user.user_id],
            ["email", user.email or ""],
            ["first_name", user.first_name or ""],
            ["last_name", user.last_name or ""],
            ["metadata", short_json(user.metadata, 200)],
            ["created", _dt(user.created_at)],
            ["updated", _dt(user.updated_at)],
        ]
        print_table(f"user {user.user_id}", ["field", "value"], fields)
        print_table(
            plural(len(sessions), "session"),
            ["session_id", "metadata", "created"],
            [[str(s.session_id), short_json(s.metadata, 50), _dt(s.created_at)] for s in sessions],
        )
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise _UsageError(f"{question} Not a terminal: pass --yes to confirm")
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _cmd_users_delete(args: argparse.Namespace) -> int:
    with _client(args) as client:
        sessions = client.user.get_sessions(args.user_id)  # also: NotFoundError if unknown user
        question = (
            f"Delete user {args.user_id} and, for good, their {len(sessions)} sessions "
            "and all of their messages?"
        )
        if not args.yes and not _confirm(question):
            sys.stderr.write("not deleted\n")
            return 1
        client.user.delete(args.user_id)
        if args.json:
            print_json({"deleted": args.user_id, "sessions": len(sessions)})
        else:
            print(f"deleted user {args.user_id} and {len(sessions)} sessions")
    return 0


def _cmd_sessions_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.user:
            sessions = client.user.get_sessions(args.user)
        else:
            sessions = []
            for chunk in client.memory.list_all_sessions(100):
                sessions.extend(chunk)
                if args.limit and len(sessions) >= args.limit:
                    break
        if args.limit:
            sessions = sessions[: args.limit]
        if args.json:
            print_json([s.model_dump(mode="json") for s in sessions])
            return 0
        rows = [
            [str(s.session_id), s.user_id or "", short_json(s.metadata, 40), _dt(s.created_at)]
            for s in sessions
        ]
        print_table(
            f"{plural(len(rows), 'session')} ({client.backend.describe()})",
            ["session_id", "user_id", "metadata", "created"],
            rows,
        )
    return 0


def _cmd_sessions_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        session = client.memory.get_session(args.session_id)
        messages = client.memory.get_messages(args.session_id, lastn=args.last)
        if args.json:
            print_json(
                {
                    "session": session.model_dump(mode="json"),
                    "messages": [m.model_dump(mode="json") for m in messages],
                }
            )
            return 0
        print_table(
            f"session {session.session_id}",
            ["field", "value"],
            [
                ["session_id", str(session.session_id)],
                ["user_id", session.user_id or ""],
                ["metadata", short_json(session.metadata, 200)],
                ["created", _dt(session.created_at)],
                ["updated", _dt(session.updated_at)],
            ],
        )
        print_table(
            plural(len(messages), "message") + (f" (the last {args.last})" if args.last else ""),
            ["time (UTC)", "role", "role_type", "content", "metadata"],
            [
                [_dt(m.created_at), m.role, m.role_type, m.content, short_json(m.metadata, 30)]
                for m in messages
            ],
        )
    return 0


def _cmd_sessions_delete(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.memory.delete_memory(args.session_id)
        if args.json:
            print_json({"deleted": args.session_id})
        else:
            print(f"soft-deleted session {args.session_id}")
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    with _client(args) as client:
        report = client.memory.purge_deleted(older_than=args.older_than)
        where = client.backend.describe()
    if args.json:
        print_json({"store": where, **report.as_dict()})
        return 0
    age = format_duration(report.older_than)
    if not report.sessions:
        print(f"nothing to purge: no data soft-deleted more than {age} ago ({where})")
        return 0
    removed = len(report.session_ids)
    print_table(
        f"purged {plural(removed, 'session')} and {plural(report.message_count, 'message')} "
        f"soft-deleted more than {age} ago ({where})",
        ["session_id", "user_id", "deleted (UTC)", "messages", "what went"],
        [
            [
                s.session_id,
                s.user_id or "",
                _dt(s.deleted_at),
                str(s.messages),
                "the session" if s.removed else "old messages (revived since)",
            ]
            for s in report.sessions
        ],
    )
    return 0


def _summary(verb: str, stats: TransferStats) -> str:
    users = plural(stats.users, "user")
    sessions = plural(stats.sessions, "session")
    messages = plural(stats.messages, "message")
    if verb == "exported":
        return f"exported {users}, {sessions}, {messages}"
    text = (
        f"{verb} {users} ({stats.users_created} created, {stats.users_updated} updated, "
        f"{stats.users_unchanged} unchanged), {sessions} ({stats.sessions_created} created, "
        f"{stats.sessions_updated} updated, {stats.sessions_unchanged} unchanged), {messages} "
        f"({stats.messages_added} added, {stats.messages_skipped} already there)"
    )
    if stats.messages_conflicting:
        text += (
            f"; {plural(stats.messages_conflicting, 'message')} NOT imported: their uuids are "
            "taken in the target by another or a deleted session"
        )
    return text


def _cmd_export(args: argparse.Namespace) -> int:
    with _client(args) as client:
        to_stdout = args.output in (None, "-")
        with progress_bar("exporting", enabled=not args.quiet) as progress:
            if to_stdout:
                stats = export_jsonl(client, sys.stdout, user_id=args.user, progress=progress)
            else:
                target = Path(args.output)
                partial = target.with_name(target.name + ".partial")
                try:
                    with open(partial, "w", encoding="utf-8") as fp:
                        stats = export_jsonl(client, fp, user_id=args.user, progress=progress)
                    partial.replace(target)
                except BaseException:
                    partial.unlink(missing_ok=True)
                    raise
    if args.json:
        print_json(stats.as_dict(), sys.stderr)
    elif not args.quiet:
        where = "" if to_stdout else f" to {args.output}"
        sys.stderr.write(_summary("exported", stats) + where + "\n")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.input in (None, "-"):
            if sys.stdin.isatty():
                raise _UsageError("import reads JSON Lines: pass --input FILE or pipe it in")
            with progress_bar("importing", enabled=not args.quiet) as progress:
                stats = import_jsonl(
                    client, sys.stdin.buffer, batch_size=args.batch_size, progress=progress
                )
        else:
            try:
                fp = open(args.input, "rb")  # noqa: SIM115
            except OSError as exc:
                raise InvalidInputError(f"cannot read {args.input}: {exc.strerror}") from None
            with fp:
                size = os.fstat(fp.fileno()).st_size
                with progress_bar(
                    "importing", total_bytes=size, enabled=not args.quiet
                ) as progress:
                    stats = import_jsonl(client, fp, batch_size=args.batch_size, progress=progress)
    _print_import(args, stats, "imported")
    return 0


def _print_import(args: argparse.Namespace, stats: TransferStats, verb: str) -> None:
    if args.json:
        print_json(stats.as_dict())
    elif not args.quiet:
        print(_summary(verb, stats))


def _cmd_copy(args: argparse.Namespace) -> int:
    with (
        make_client(args.from_url, args.from_path, args.from_api_key_env) as source,
        make_client(args.to_url, args.to_path, args.to_api_key_env) as target,
        progress_bar("copying", enabled=not args.quiet) as progress,
    ):
        stats = copy(source, target, batch_size=args.batch_size, progress=progress)
    _print_import(args, stats, "copied")
    return 0


# -- parser ------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # not digits, or too many of them to convert
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise argparse.ArgumentTypeError(f"not an integer: {shown!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_COUNT} (2**63 - 1)")
    return value


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text[:40]!r}") from None
    if not (value >= 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text[:40]!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text[:40]!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 0 to 65535, not {value}")
    return value


def _store_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    func: Callable[[argparse.Namespace], int],
    *,
    json_help: str = "print JSON for scripts",
    backends: Sequence[tuple[str, str]] = (("", ""),),
) -> argparse.ArgumentParser:
    """A command that works on a store: its ``--json`` flag and backend options."""
    parser = commands.add_parser(name, help=help)
    parser.add_argument("--json", action="store_true", help=json_help)
    for prefix, what in backends:
        _backend_options(parser, prefix, what)
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``zep-memory`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="zep-memory",
        description="Per-user conversation memory (Zep's user/session API) from the shell: "
        "a demo, a Zep-compatible test server, browsing, deleting, export and import.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser("demo", help="the README's main job, step by step")
    demo.add_argument("--path", metavar="FILE", help="embedded store file (default: in memory)")
    demo.set_defaults(func=_cmd_demo)

    serve = commands.add_parser(
        "serve",
        help="run the Zep-compatible test server",
        description="Serve a Zep-compatible API until Ctrl-C: /api/v2 like Zep CE 1.0.2 "
        "(default; an API key is always required), /api/v1 like Zep 0.27.2 (both on the "
        "embedded store), or Zep Cloud (data in memory, key required): v3 (threads on "
        "/api/v2, zep-cloud 3.x) or v4 (/api/v4, zep-cloud 4.x). Also run as: "
        "python -m zep_memory_plugins.testing [OPTIONS].",
    )
    serve.add_argument(
        "--api",
        choices=_ServedGenerations(),
        default="v2",
        metavar="API",
        help="wire generation, one of %(choices)s: v2 /api/v2 like Zep CE 1.0.2 (default, key "
        "required), v1 /api/v1 like Zep 0.27.2, v3 Zep Cloud threads on /api/v2, v4 Zep "
        "Cloud /api/v4",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0: any free)")
    serve.add_argument("--path", metavar="FILE", help="store file (default: in memory)")
    serve.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="require the API key held in this environment variable (never on the command "
        f"line); v2 always requires one and reads {API_KEY_ENV} by default",
    )
    serve.add_argument(
        "--window",
        type=_positive,
        default=None,
        help="messages returned by get_memory without lastn (real servers: 12 on v1, 6 on v2)",
    )
    serve.add_argument(
        "--task-delay",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="v3/v4: seconds until a task (a v4 delete, an ingestion) succeeds (default 0)",
    )
    serve.add_argument(
        "--rate-limit",
        type=_positive,
        default=None,
        metavar="N",
        help="v3/v4: requests a minute before a 429 (default 100000)",
    )
    serve.set_defaults(func=_cmd_serve)

    users = commands.add_parser("users", help="list, show and delete users")
    users_cmds = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    p = _store_command(users_cmds, "list", "list users in creation order", _cmd_users_list)
    p.add_argument("--limit", type=_positive, help="at most this many")
    p = _store_command(users_cmds, "show", "a user and their sessions", _cmd_users_show)
    p.add_argument("user_id")
    p = _store_command(
        users_cmds, "delete", "delete a user with all sessions and messages", _cmd_users_delete
    )
    p.add_argument("user_id")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    sessions = commands.add_parser("sessions", help="list, show and delete sessions")
    sessions_cmds = sessions.add_subparsers(
        dest="sessions_command", metavar="ACTION", required=True
    )
    p = _store_command(
        sessions_cmds, "list", "list live sessions in creation order", _cmd_sessions_list
    )
    p.add_argument("--user", metavar="USER_ID", help="only this user's sessions")
    p.add_argument("--limit", type=_positive, help="at most this many")
    p = _store_command(sessions_cmds, "show", "a session and its messages", _cmd_sessions_show)
    p.add_argument("session_id")
    p.add_argument("--last", type=_positive, metavar="N", help="only the last N messages")
    p = _store_command(
        sessions_cmds, "delete", "soft-delete a session and its messages", _cmd_sessions_delete
    )
    p.add_argument("session_id")

    p = _store_command(
        commands,
        "purge",
        "hard-delete soft-deleted sessions and what is left of their messages",
        _cmd_purge,
    )
    p.description = (
        "Hard-delete what was soft-deleted (sessions cleared with 'sessions delete' or "
        "delete_memory) more than DURATION ago, and list what went. Their ids are free again. "
        "The embedded store does this by itself once the retention (ZEP_MEMORY_RETENTION, "
        "default 1h) has passed; a Zep server purges on its own schedule and refuses this."
    )
    p.add_argument(
        "--older-than",
        type=_duration,
        metavar="DURATION",
        help="e.g. 30d, 12h, 45m, 1h30m; 0: everything soft-deleted, now (default: the "
        "store's retention)",
    )

    p = _store_command(
        commands,
        "export",
        "write users, sessions and messages as JSON Lines",
        _cmd_export,
        json_help="print the counts as JSON on stderr",
    )
    p.add_argument("--output", "-o", metavar="FILE", help="output file (default: stdout)")
    p.add_argument(
        "--user",
        metavar="USER_ID",
        help="only this user: the user, their sessions and their messages",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")

    p = _store_command(commands, "import", "read a JSON Lines export (idempotent)", _cmd_import)
    p.add_argument("--input", "-i", metavar="FILE", help="input file (default: stdin)")
    p.add_argument("--batch-size", type=_positive, default=100, help="messages per write")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")

    p = _store_command(
        commands,
        "copy",
        "export from one backend and import into another",
        _cmd_copy,
        backends=(("from-", "source"), ("to-", "target")),
    )
    p.add_argument("--batch-size", type=_positive, default=100, help="messages per write")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``zep-memory`` with ``argv`` (default: the command line); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code) if isinstance(exc.code, int) else 2
    err: IO[str] = sys.stderr
    try:
        code: int = args.func(args)
        return code
    except _UsageError as exc:
        err.write(f"zep-memory: {exc}\n")
        return 2
    except ZepMemoryError as exc:
        err.write(f"zep-memory: error: {type(exc).__name__}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        err.write("zep-memory: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`zep-memory export | head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file that cannot be written or read
        err.write(f"zep-memory: error: {exc}\n")
        return 1
