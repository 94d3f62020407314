"""The adapters import without langchain (only the middleware needs it) and fail clearly
without langchain-core. Each case runs in a fresh interpreter with the package hidden."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_history_works_without_langchain() -> None:
    result = run(
        """
        import sys
        sys.modules["langchain"] = None  # hide langchain, keep langchain-core
        from langchain_core.messages import HumanMessage
        from zep_memory_plugins import MissingDependencyError, ZepMemoryClient
        from zep_memory_plugins.langchain import ZepChatMessageHistory, with_zep_history

        h = ZepChatMessageHistory(
            session_id="s", user_id="u", client=ZepMemoryClient(path=":memory:")
        )
        h.add_messages([HumanMessage("hi")])
        assert h.messages == [HumanMessage("hi")]
        try:
            from zep_memory_plugins.langchain import ZepMemoryMiddleware
        except MissingDependencyError as exc:
            assert exc.package == "langchain" and exc.extra == "langchain", exc
            print("OK")
        """
    )
    assert result.stdout.strip() == "OK", result.stderr


def test_clear_error_without_langchain_core() -> None:
    result = run(
        """
        import sys
        sys.modules["langchain_core"] = None
        import zep_memory_plugins  # the core library does not need it
        from zep_memory_plugins import MissingDependencyError
        try:
            import zep_memory_plugins.langchain
        except MissingDependencyError as exc:
            assert exc.package == "langchain-core" and exc.extra == "langchain", exc
            assert "pip install" in str(exc)
            print("OK")
        """
    )
    assert result.stdout.strip() == "OK", result.stderr


def test_adapters_refuse_a_client_that_is_not_a_client() -> None:
    from zep_memory_plugins import InvalidInputError
    from zep_memory_plugins.langchain import (
        ZepChatMessageHistory,
        ZepHistoryFactory,
        ZepMemoryContext,
        ZepMemoryMiddleware,
    )

    for build in (
        lambda: ZepChatMessageHistory(session_id="s", user_id="u", client="http://x"),
        lambda: ZepHistoryFactory("http://x"),
        lambda: ZepMemoryMiddleware("http://x"),
    ):
        try:
            build()
        except InvalidInputError as exc:
            assert exc.field == "client"
        else:
            raise AssertionError("a str was accepted as a client")
    try:
        ZepMemoryContext(user_id="", session_id="s")
    except InvalidInputError as exc:
        assert exc.field == "user_id"
    else:
        raise AssertionError("an empty user id was accepted")
