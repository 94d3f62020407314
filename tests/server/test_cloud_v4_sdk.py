"""The v4 (Zep Cloud ``/api/v4``) test server, checked by Zep's own SDK, zep-cloud 4.x.

Every route a library uses is called the way Zep documents it (``Zep(api_key=...,
base_url=server.url + "/api/v4")``, a few through ``AsyncZep``), over real HTTP. Each test
asserts what the SDK parsed and what the server saw (its request log).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest

from zep_memory_plugins.testing import ZepTestServer

zep_cloud = pytest.importorskip("zep_cloud", reason="zep-cloud (4.x) is not installed")

from zep_cloud.client import AsyncZep, Zep  # noqa: E402
from zep_cloud.errors import (  # noqa: E402
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnauthorizedError,
)
from zep_cloud.types import AddMessage  # noqa: E402

from zep_memory_plugins.testing._v4 import V4  # noqa: E402

TASK_DELAY = 0.3
NO_RETRY: Any = {"max_retries": 0}


@pytest.fixture(scope="module")
def running() -> Iterator[ZepTestServer]:
    with ZepTestServer(api="v4", task_delay=TASK_DELAY) as server:
        yield server


@pytest.fixture
def server(running: ZepTestServer) -> ZepTestServer:
    running.reset()
    return running


@pytest.fixture
def zep(server: ZepTestServer) -> Iterator[Zep]:
    client = Zep(api_key=server.api_key, base_url=server.url + "/api/v4")
    yield client
    client._client_wrapper.httpx_client.httpx_client.close()


def generation(server: ZepTestServer) -> V4:
    return cast(V4, server.app.generation)


def wait_for(zep: Zep, task_uuid: str) -> str:
    """Poll a task until it is no longer pending; its final status."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = zep.task.get(task_uuid).status
        if status != "pending":
            return str(status)
        time.sleep(0.05)
    raise AssertionError("the task never finished")


def msg(content: str, **extra: Any) -> AddMessage:
    return AddMessage(role=extra.pop("role", "user"), content=content, **extra)


# -- users ------------------------------------------------------------------------------------


def test_users_create_lookup_get_update(server: ZepTestServer, zep: Zep) -> None:
    user = zep.user.create(
        user_id="dev-1",
        email="a@b.c",
        first_name="Ada",
        last_name="L",
        metadata={"plan": "pro", "n": {"deep": 1}, "drop": True},
        time_zone="Europe/Paris",
    )
    assert user.uuid_ and uuid.UUID(user.uuid_).version == 4
    assert (user.user_id, user.email, user.first_name, user.last_name, user.time_zone) == (
        "dev-1",
        "a@b.c",
        "Ada",
        "L",
        "Europe/Paris",
    )
    assert user.metadata == {"plan": "pro", "n": {"deep": 1}, "drop": True}
    assert user.graph_uuid and user.created_at
    assert zep.user.lookup(user_id="dev-1") == user
    assert zep.user.get(user.uuid_) == user
    # Merged onto the user, one level deep; a key set to null is removed.
    updated = zep.user.update(user.uuid_, metadata={"drop": None, "n": {"other": 2}, "k": 1})
    assert updated.metadata == {"plan": "pro", "n": {"other": 2}, "k": 1}
    assert updated.email == "a@b.c" and updated.user_id == "dev-1"
    assert zep.user.update(user.uuid_) == updated  # no fields: "{}", nothing changes
    assert server.requests == [
        ("POST", "/api/v4/users"),
        ("POST", "/api/v4/users/lookup"),
        ("GET", f"/api/v4/users/{user.uuid_}"),
        ("PATCH", f"/api/v4/users/{user.uuid_}"),
        ("PATCH", f"/api/v4/users/{user.uuid_}"),
    ]
    # Every write carried an Idempotency-Key (the SDK makes one per call): three kept.
    assert len(generation(server).idempotency) == 3


def test_user_errors(zep: Zep) -> None:
    zep.user.create(user_id="dup")
    with pytest.raises(ConflictError) as conflict:
        zep.user.create(user_id="dup", request_options=NO_RETRY)
    assert conflict.value.status_code == 409
    with pytest.raises(NotFoundError):
        zep.user.lookup(user_id="nobody")
    with pytest.raises(NotFoundError):
        zep.user.get(str(uuid.uuid4()))
    with pytest.raises(BadRequestError) as bad:
        zep.user.get("dup")  # a v3 id where v4 wants a UUID
    assert bad.value.body.error.code == "invalid_identifier"
    assert bad.value.body.error.param == "user_uuid"
    with pytest.raises(BadRequestError):
        zep.user.create(user_id="x" * 501)


def test_users_list_with_the_pager(server: ZepTestServer, zep: Zep) -> None:
    made = [zep.user.create(user_id=f"u{i}", email=f"u{i}@example.com") for i in range(5)]
    pager = zep.user.list(page_size=2, order_by="created_at", order="asc")
    assert [u.uuid_ for u in pager.items] == [u.uuid_ for u in made[:2]]
    assert [u.uuid_ for u in pager] == [u.uuid_ for u in made]  # every page
    assert server.count("POST", "/api/v4/users/list") == 3  # one request per page
    newest = zep.user.list(page_size=200, order_by="created_at", order="desc")
    assert [u.user_id for u in newest] == ["u4", "u3", "u2", "u1", "u0"]
    found = list(zep.user.list(search="U3@EXAMPLE"))
    assert [u.user_id for u in found] == ["u3"]
    with pytest.raises(BadRequestError):
        zep.user.list(page_size=201)


# -- threads ----------------------------------------------------------------------------------


def test_threads_create_get_list(server: ZepTestServer, zep: Zep) -> None:
    ada = zep.user.create(user_id="ada")
    bob = zep.user.create(user_id="bob")
    mine = [zep.thread.create(user_uuid=ada.uuid_) for _ in range(3)]
    theirs = zep.thread.create(user_uuid=bob.uuid_)
    first = mine[0]
    assert first.uuid_ and first.user_uuid == ada.uuid_ and first.graph_uuid == ada.graph_uuid
    assert first.thread_id is None and first.created_at and first.updated_at
    assert zep.thread.get(first.uuid_) == first
    listed = zep.thread.list(user_uuid=ada.uuid_, page_size=2, order_by="created_at", order="asc")
    assert [t.uuid_ for t in listed] == [t.uuid_ for t in mine]
    everyone = [t.uuid_ for t in zep.thread.list(order="desc")]
    assert everyone == [theirs.uuid_] + [t.uuid_ for t in reversed(mine)]
    assert server.count("GET", "/api/v4/threads") == 3
    with pytest.raises(NotFoundError):
        zep.thread.create(user_uuid=str(uuid.uuid4()), request_options=NO_RETRY)
    with pytest.raises(BadRequestError) as bad:
        zep.thread.create(user_uuid="ada", request_options=NO_RETRY)
    assert bad.value.body.error.code == "invalid_identifier"
    with pytest.raises(NotFoundError):
        zep.thread.get(str(uuid.uuid4()))
    assert zep.thread.get_context(first.uuid_).context == ""


# -- messages ---------------------------------------------------------------------------------


def test_messages_add_list_get_update(server: ZepTestServer, zep: Zep) -> None:
    user = zep.user.create()
    thread = zep.thread.create(user_uuid=user.uuid_)
    added = zep.thread.add_messages(
        thread.uuid_,
        messages=[
            msg("hi", name="Ada", metadata={"a": 1, "tags": ["x", 2, True]}),
            msg("hello", role="assistant", reference_time="2025-01-01T12:00:00+02:00"),
            msg("tool says", role="tool"),
        ],
        return_context=True,
    )
    assert added.context == ""
    assert added.task is not None and added.task.type == "thread.add_messages"
    assert [m.content for m in added.messages or []] == ["hi", "hello", "tool says"]
    first, second, _ = added.messages or []
    assert first.uuid_ and first.thread_uuid == thread.uuid_ and first.name == "Ada"
    assert first.metadata == {"a": 1, "tags": ["x", 2, True]}
    assert first.reference_time == first.created_at  # none given: the ingestion time
    assert second.reference_time == "2025-01-01T10:00:00Z"  # kept, in UTC
    assert second.created_at != second.reference_time  # when the server received it
    listed = zep.thread.list_messages(thread.uuid_, page_size=2, order_by="created_at")
    assert [m.uuid_ for m in listed] == [m.uuid_ for m in added.messages or []]
    newest = zep.thread.list_messages(thread.uuid_, page_size=1, order="desc")
    assert newest.items and newest.items[0].content == "tool says"
    got = zep.thread.message.get(thread.uuid_, first.uuid_)
    # the message as the add answered it, every field (but "processed": the task may be done)
    assert got.dict(exclude={"processed"}) == first.dict(exclude={"processed"})
    assert (got.content, got.role, got.name) == ("hi", "user", "Ada")
    updated = zep.thread.message.update(thread.uuid_, first.uuid_, metadata={"a": None, "b": "new"})
    assert updated.metadata == {"tags": ["x", 2, True], "b": "new"}
    with pytest.raises(BadRequestError):  # 11 keys after the merge
        zep.thread.message.update(
            thread.uuid_,
            first.uuid_,
            metadata={f"k{i}": i for i in range(9)},
            request_options=NO_RETRY,
        )
    assert zep.thread.message.get(thread.uuid_, first.uuid_).metadata == updated.metadata
    with pytest.raises(NotFoundError):
        zep.thread.message.get(thread.uuid_, str(uuid.uuid4()))
    assert server.count("POST", "/api/v4/threads/*/messages") == 1
    assert server.count("GET", "/api/v4/threads/*/messages") == 3  # 2 pages, then 1


def test_ingestion_task_and_processed(server: ZepTestServer, zep: Zep) -> None:
    thread = zep.thread.create(user_uuid=zep.user.create().uuid_)
    added = zep.thread.add_messages(thread.uuid_, messages=[msg("hi")])
    assert added.task is not None and added.task.status == "pending"
    assert (added.messages or [])[0].processed is False
    assert wait_for(zep, added.task.uuid_ or "") == "succeeded"
    assert [m.processed for m in zep.thread.list_messages(thread.uuid_)] == [True]


@pytest.mark.parametrize(
    ("messages", "what"),
    [
        ([msg(f"m{i}") for i in range(31)], "31 messages"),
        ([msg("x" * 4097)], "4,097 characters"),
        ([msg("ok"), msg("x", metadata={f"k{i}": i for i in range(11)})], "11 keys"),
        ([msg("x", metadata={"nested": {"a": 1}})], "a nested object"),
        ([msg("x", metadata={"a": [[1]]})], "an array of arrays"),
        ([msg("x", role="norole")], "norole"),
        ([AddMessage(role="user", content="x", uuid=str(uuid.uuid4()))], "a client uuid"),
    ],
)
def test_limits(server: ZepTestServer, zep: Zep, messages: list[AddMessage], what: str) -> None:
    thread = zep.thread.create(user_uuid=zep.user.create().uuid_)
    with pytest.raises(BadRequestError) as refused:
        zep.thread.add_messages(thread.uuid_, messages=messages, request_options=NO_RETRY)
    assert refused.value.status_code == 400, what
    assert list(zep.thread.list_messages(thread.uuid_)) == []  # nothing stored
    # The limits themselves pass.
    zep.thread.add_messages(
        thread.uuid_,
        messages=[msg("y" * 4096, metadata={f"k{i}": i for i in range(10)})] * 30,
    )
    assert len(list(zep.thread.list_messages(thread.uuid_, page_size=200))) == 30


# -- deletes ----------------------------------------------------------------------------------


def test_thread_delete_is_a_task(server: ZepTestServer, zep: Zep) -> None:
    user = zep.user.create()
    keep, gone = (zep.thread.create(user_uuid=user.uuid_) for _ in range(2))
    added = zep.thread.add_messages(gone.uuid_, messages=[msg("bye")])
    result = zep.thread.delete(gone.uuid_)
    assert result.task is not None and result.task.type == "thread.delete"
    assert result.task.status == "pending" and result.task.completed_at is None
    # Still there until the task succeeds.
    assert zep.thread.get(gone.uuid_).uuid_ == gone.uuid_
    assert zep.thread.delete(gone.uuid_).task == result.task  # the same pending task
    assert wait_for(zep, result.task.uuid_ or "") == "succeeded"
    done = zep.task.get(result.task.uuid_ or "")
    assert done.completed_at and done.started_at
    with pytest.raises(NotFoundError):
        zep.thread.get(gone.uuid_)
    with pytest.raises(NotFoundError):
        zep.thread.message.get(gone.uuid_, (added.messages or [])[0].uuid_ or "")
    with pytest.raises(NotFoundError):
        zep.thread.delete(gone.uuid_, request_options=NO_RETRY)
    assert [t.uuid_ for t in zep.thread.list(user_uuid=user.uuid_)] == [keep.uuid_]
    assert server.count("DELETE", "/api/v4/threads/*") == 3
    assert server.count("GET", "/api/v4/tasks/*") >= 2


def test_user_delete_cascades(server: ZepTestServer, zep: Zep) -> None:
    user = zep.user.create(user_id="leaving")
    other = zep.user.create(user_id="staying")
    thread = zep.thread.create(user_uuid=user.uuid_)
    kept = zep.thread.create(user_uuid=other.uuid_)
    zep.thread.add_messages(thread.uuid_, messages=[msg("a"), msg("b")])
    result = zep.user.delete(user.uuid_)
    assert result.task is not None and result.task.type == "user.delete"
    # Until the task succeeds the user_id is still taken.
    with pytest.raises(ConflictError):
        zep.user.create(user_id="leaving", request_options=NO_RETRY)
    assert wait_for(zep, result.task.uuid_ or "") == "succeeded"
    with pytest.raises(NotFoundError):
        zep.user.get(user.uuid_)
    with pytest.raises(NotFoundError):
        zep.thread.get(thread.uuid_)
    with pytest.raises(NotFoundError):
        zep.user.lookup(user_id="leaving")
    assert [t.uuid_ for t in zep.thread.list()] == [kept.uuid_]
    assert zep.user.create(user_id="leaving").uuid_ != user.uuid_
    tasks = list(zep.task.list(type="user.delete"))
    assert [t.uuid_ for t in tasks] == [result.task.uuid_]


# -- auth, retries ----------------------------------------------------------------------------


def test_a_wrong_key(server: ZepTestServer) -> None:
    wrong = Zep(api_key="not-the-key", base_url=server.url + "/api/v4")
    with pytest.raises(UnauthorizedError) as refused:
        wrong.user.get(str(uuid.uuid4()))
    assert refused.value.status_code == 401
    assert refused.value.body.error.code == "unauthorized"
    assert server.count("GET", "/api/v4/users/*") == 1


def test_a_429_is_retried_with_the_same_key_and_lands_once(server: ZepTestServer, zep: Zep) -> None:
    thread = zep.thread.create(user_uuid=zep.user.create().uuid_)
    path = f"/api/v4/threads/{thread.uuid_}/messages"
    server.faults.add("POST", path, status=429)
    added = zep.thread.add_messages(thread.uuid_, messages=[msg("once")])
    assert server.count("POST", path) == 2  # the 429, then the retry
    assert [m.uuid_ for m in zep.thread.list_messages(thread.uuid_)] == [
        m.uuid_ for m in added.messages or []
    ]


def test_a_write_that_landed_before_a_429_is_replayed_not_repeated(
    server: ZepTestServer, zep: Zep
) -> None:
    thread = zep.thread.create(user_uuid=zep.user.create().uuid_)
    path = f"/api/v4/threads/{thread.uuid_}/messages"
    server.faults.add("POST", path, status=429, after=True)  # handled, then answered 429
    added = zep.thread.add_messages(thread.uuid_, messages=[msg("exactly once")])
    assert server.count("POST", path) == 2
    stored = list(zep.thread.list_messages(thread.uuid_))
    assert [m.content for m in stored] == ["exactly once"]
    assert [m.uuid_ for m in stored] == [m.uuid_ for m in added.messages or []]


# -- async ------------------------------------------------------------------------------------


async def test_async_client(server: ZepTestServer) -> None:
    zep = AsyncZep(api_key=server.api_key, base_url=server.url + "/api/v4")
    try:
        user = await zep.user.create(user_id="async")
        assert (await zep.user.lookup(user_id="async")).uuid_ == user.uuid_
        thread = await zep.thread.create(user_uuid=user.uuid_)
        await zep.thread.add_messages(thread.uuid_, messages=[msg(f"m{i}") for i in range(5)])
        pager = await zep.thread.list_messages(thread.uuid_, page_size=2)
        assert [m.content async for m in pager] == [f"m{i}" for i in range(5)]
        deleted = await zep.thread.delete(thread.uuid_)
        assert deleted.task is not None
        for _ in range(500):
            task = await zep.task.get(deleted.task.uuid_ or "")
            if task.status != "pending":
                break
            await asyncio.sleep(0.02)
        assert task.status == "succeeded"
        with pytest.raises(NotFoundError):
            await zep.thread.get(thread.uuid_)
        assert server.count("GET", f"/api/v4/threads/{thread.uuid_}/messages") == 3
    finally:
        await zep._client_wrapper.httpx_client.httpx_client.aclose()
