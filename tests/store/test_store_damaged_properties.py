"""Property: whatever the bytes of the file, the store answers or raises the library's errors.

Never a ``sqlite3`` exception, and a file the store refuses is left exactly as it was.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zep_memory_plugins import (
    CreateUserRequest,
    Message,
    StoreFileError,
    ZepMemoryClient,
    ZepMemoryError,
)

PAGE = 4096


def _good_store() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "good.db"
        with ZepMemoryClient(path=path) as client:
            client.user.add(CreateUserRequest(user_id="jane", metadata={"plan": "pro"}))
            for i in range(10):
                client.memory.add_messages(
                    f"s{i % 3}",
                    [Message(role="user", content=f"{i}:{j} " * 40) for j in range(30)],
                )
        return path.read_bytes()


GOOD = _good_store()


def check(content: bytes) -> None:
    """Open a store of these bytes and use every kind of call: only the library's errors."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.db"
        path.write_bytes(content)
        try:
            client = ZepMemoryClient(path=path)
        except StoreFileError as error:  # refused when opening: not one byte changed
            assert error.path == str(path)
            assert path.read_bytes() == content
            return
        except ZepMemoryError:
            return  # typed: for example a migration that failed on a damaged file
        except sqlite3.Error as error:  # pragma: no cover - the failure this test exists for
            raise AssertionError(f"a raw sqlite3 error escaped: {error!r}") from error
        with client:
            for call in (
                lambda: client.memory.get_messages("s1"),
                lambda: client.memory.get_messages("s2", lastn=5),
                lambda: client.memory.get_session_messages("s0"),
                lambda: client.user.get("jane"),
                lambda: client.user.get_sessions("jane"),
                lambda: list(client.user.list()),
                lambda: client.memory.add_messages("s0", [Message(role="user", content="new")]),
            ):
                try:
                    call()
                except ZepMemoryError:
                    pass  # a typed error is an acceptable answer to a damaged file
                except sqlite3.Error as error:  # pragma: no cover
                    raise AssertionError(f"a raw sqlite3 error escaped: {error!r}") from error


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=1, max_size=3 * PAGE))
def test_random_bytes(content):
    check(content)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.integers(min_value=0, max_value=len(GOOD) - 1),
    length=st.integers(min_value=1, max_value=2 * PAGE),
    fill=st.binary(min_size=1, max_size=64),
)
def test_a_real_store_with_a_damaged_range(start, length, fill):
    bad = bytearray(GOOD)
    patch = (fill * (length // len(fill) + 1))[:length]
    bad[start : start + length] = patch
    check(bytes(bad[: len(GOOD)]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=1, max_value=len(GOOD) - 1))
def test_a_real_store_cut_short(keep):
    check(GOOD[:keep])
