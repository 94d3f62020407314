"""Property tests of the Cloud generations: what they refuse (ids that are not UUIDs, batches
over 30 messages, content over 4,096 characters, metadata beyond the 10-key scalar rule) and
what they keep (every accepted value, read back as a Go + PostgreSQL server stores it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from zep_memory_plugins.testing import ZepTestServer
from zep_memory_plugins.testing._go import stored_json, stored_text

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PREFIX = {"v3": "/api/v2", "v4": "/api/v4"}
UUID_TEXT = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
scalar = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_value = st.recursive(
    st.one_of(st.none(), scalar),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)
metadata = st.dictionaries(text, json_value, max_size=13)
allowed_metadata = st.dictionaries(
    text, st.one_of(scalar, st.lists(scalar, max_size=3)), max_size=10
)


def scalars(value: dict[str, Any]) -> bool:
    """Every value a scalar or an array of scalars."""

    def is_scalar(v: Any) -> bool:
        return isinstance(v, (str, bool, int, float))

    return all(
        is_scalar(v) or (isinstance(v, list) and all(is_scalar(x) for x in v))
        for v in value.values()
    )


def allowed(value: dict[str, Any]) -> bool:
    """The documented rule: at most 10 keys, each a scalar or an array of scalars."""
    return len(value) <= 10 and scalars(value)


class Cloud:
    """A Cloud server, a client on it and one thread to write to."""

    def __init__(self, server: ZepTestServer) -> None:
        self.server, self.api = server, server.api
        headers = {"Authorization": f"Api-Key {server.api_key}"}
        self.http = httpx.Client(base_url=server.url + PREFIX[server.api], headers=headers)

    def fresh_thread(self) -> str:
        self.server.reset()
        user = self.http.post("/users", json={"user_id": "u"}).json()
        if self.api == "v3":
            self.http.post("/threads", json={"thread_id": "t", "user_id": "u"})
            return "t"
        return str(self.http.post("/threads", json={"user_uuid": user["uuid"]}).json()["uuid"])

    def add(self, thread: str, messages: list[dict[str, Any]]) -> httpx.Response:
        return self.http.post(f"/threads/{thread}/messages", json={"messages": messages})

    def stored(self, thread: str) -> list[dict[str, Any]]:
        if self.api == "v3":
            return list(self.http.get(f"/threads/{thread}/messages").json()["messages"])
        page = self.http.get(f"/threads/{thread}/messages", params={"page_size": 200}).json()
        return list(page["items"])


@pytest.fixture(scope="module", params=["v3", "v4"])
def cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    with ZepTestServer(api=request.param) as server:
        cloud = Cloud(server)
        yield cloud
        cloud.http.close()


@SETTINGS
@given(count=st.integers(min_value=0, max_value=40))
def test_batches_over_30_are_refused_whole(cloud: Cloud, count: int) -> None:
    thread = cloud.fresh_thread()
    answer = cloud.add(thread, [{"role": "user", "content": f"m{i}"} for i in range(count)])
    if 1 <= count <= 30:
        assert answer.status_code in (200, 202)
        assert [m["content"] for m in cloud.stored(thread)] == [f"m{i}" for i in range(count)]
    else:
        assert answer.status_code == 400
        assert cloud.stored(thread) == []


@SETTINGS
@given(
    length=st.integers(min_value=4090, max_value=4100),
    filler=st.characters(exclude_categories=("Cs",)),
)
def test_content_over_4096_characters_is_refused(cloud: Cloud, length: int, filler: str) -> None:
    thread = cloud.fresh_thread()
    content = filler * length
    answer = cloud.add(
        thread, [{"role": "user", "content": "first"}, {"role": "user", "content": content}]
    )
    if length <= 4096:
        assert answer.status_code in (200, 202)
        assert [m["content"] for m in cloud.stored(thread)] == ["first", stored_text(content)]
    else:
        assert answer.status_code == 400
        assert cloud.stored(thread) == []


@SETTINGS
@given(value=metadata)
def test_message_metadata_is_kept_or_refused_whole(cloud: Cloud, value: dict[str, Any]) -> None:
    thread = cloud.fresh_thread()
    answer = cloud.add(thread, [{"role": "user", "content": "x", "metadata": value}])
    if allowed(value):
        assert answer.status_code in (200, 202), answer.text
        (message,) = cloud.stored(thread)
        assert message.get("metadata", {}) == stored_json(value)
    else:
        assert answer.status_code == 400
        assert cloud.stored(thread) == []


@SETTINGS
@given(first=allowed_metadata, update=metadata)
def test_metadata_updates_merge_with_null_removal(
    cloud: Cloud, first: dict[str, Any], update: dict[str, Any]
) -> None:
    thread = cloud.fresh_thread()
    cloud.add(thread, [{"role": "user", "content": "x", "metadata": first}])
    (message,) = cloud.stored(thread)
    path = f"/messages/{message['uuid']}"
    if cloud.api == "v4":
        path = f"/threads/{thread}{path}"
    merged = {**stored_json(first)}
    for key, item in update.items():
        if item is None:
            merged.pop(stored_json(key), None)
        else:
            merged[stored_json(key)] = stored_json(item)
    answer = cloud.http.patch(path, json={"metadata": update})
    if len(merged) <= 10 and scalars({k: v for k, v in update.items() if v is not None}):
        assert answer.status_code == 200, answer.text
        assert answer.json().get("metadata", {}) == merged
    else:
        assert answer.status_code == 400
        assert cloud.stored(thread)[0].get("metadata", {}) == stored_json(first)


ANY_ID = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/"), min_size=1)


@pytest.mark.parametrize("cloud", ["v4"], indirect=True)
@SETTINGS
@given(ident=st.uuids().map(str) | ANY_ID)
@example(ident="5f0c6f3e-2b1d-4c8e-9a7b-0d1e2f3a4b5c")
@example(ident="not-a-uuid")
def test_v4_wants_uuids_where_uuids_go(cloud: Cloud, ident: str) -> None:
    assume(ident not in (".", ".."))
    is_uuid = bool(UUID_TEXT.fullmatch(ident))
    for route in ("users", "threads", "tasks"):
        answer = cloud.http.get(f"/{route}/{quote(ident, safe='')}")
        if is_uuid:
            assert answer.status_code == 404
        else:
            assert answer.status_code == 400
            assert answer.json()["error"]["code"] == "invalid_identifier"
    made = cloud.http.post("/threads", json={"user_uuid": ident})
    assert made.status_code == (404 if is_uuid else 400)


@pytest.mark.parametrize("cloud", ["v3"], indirect=True)
@SETTINGS
@given(
    ident=st.integers(495, 510).map(lambda n: "é" * n)
    | st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/"), max_size=520)
)
@example(ident="x" * 500)
@example(ident="x" * 501)
def test_v3_developer_ids_are_kept_up_to_500_characters(cloud: Cloud, ident: str) -> None:
    assume(ident not in (".", ".."))
    cloud.server.reset()
    made = cloud.http.post("/users", json={"user_id": ident})
    if stored_text(ident).strip() and len(ident) <= 500:
        assert made.status_code == 201, made.text
        assert made.json()["user_id"] == stored_text(ident)
        read = cloud.http.get(f"/users/{quote(ident, safe='')}")
        assert read.status_code == 200 and read.json() == made.json()
    else:
        assert made.status_code == 400
        assert cloud.http.get("/users-ordered").json()["users"] == []
