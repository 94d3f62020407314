"""The retention setting and the duration syntax: ``retention=`` / ``ZEP_MEMORY_RETENTION`` and
``purge_deleted(older_than=...)``; every bad duration is a typed error naming what was wrong.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from zep_memory_plugins import (
    DEFAULT_RETENTION,
    ConfigurationError,
    EmbeddedBackend,
    InvalidInputError,
    Settings,
    ZepMemoryClient,
)
from zep_memory_plugins._retention import (
    MAX_RETENTION,
    check_duration,
    format_duration,
    parse_duration,
)
from zep_memory_plugins.store import SQLiteStore


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for name in ("ZEP_API_URL", "ZEP_API_KEY", "ZEP_MEMORY_PATH", "ZEP_MEMORY_RETENTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("000", timedelta(0)),
        ("0s", timedelta(0)),
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("45m", timedelta(minutes=45)),
        ("90s", timedelta(seconds=90)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("1.5s", timedelta(seconds=1.5)),
        ("0.000001s", timedelta(microseconds=1)),
        (" 7D ", timedelta(days=7)),
        ("36500d", MAX_RETENTION),
    ],
)
def test_durations_read(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "a duration such as 30d"),
        ("30", "needs a unit"),
        ("-1d", "a duration such as"),
        ("1.5h", "a duration such as"),
        ("1h1h", "a duration such as"),
        ("30m1h", "a duration such as"),  # largest unit first
        ("1 h", "a duration such as"),
        ("\u0663d", "a duration such as"),  # an Arabic-Indic three: ASCII digits only
        ("1.1234567s", "a duration such as"),
        ("forever", "a duration such as"),
        ("36501d", "at most 36500d"),
        ("9" * 13 + "s", "a duration such as"),
        ("9" * 5000, "needs a unit"),
        (-1, "negative"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (10**400, "at most"),
        (1e300, "at most"),
        (True, "bool"),
        (None, "NoneType"),
        ([1], "list"),
        (timedelta(days=-1), "negative"),
        (MAX_RETENTION + timedelta(microseconds=1), "at most"),
    ],
)
def test_bad_durations_are_refused_saying_why(value, says):
    with pytest.raises(ValueError, match=says):
        parse_duration(value)
    with pytest.raises(InvalidInputError) as info:
        check_duration(value, "older_than")
    assert info.value.field == "older_than"
    assert str(info.value).startswith("older_than ")


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(0), "0"),
        (timedelta(hours=1), "1h"),
        (timedelta(days=30), "30d"),
        (timedelta(days=14), "14d"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(seconds=1.25), "1.25s"),
        (timedelta(minutes=1, microseconds=5), "1m0.000005s"),
    ],
)
def test_durations_are_written_back(duration, text):
    assert format_duration(duration) == text


DURATIONS = st.timedeltas(min_value=timedelta(0), max_value=MAX_RETENTION)


@hypothesis_settings(max_examples=300, deadline=None)
@given(DURATIONS)
def test_a_written_duration_reads_back_the_same(duration):
    assert parse_duration(format_duration(duration)) == duration


ANYTHING = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789wdhms.-+ eE", max_size=30),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.timedeltas(),
    st.none(),
    st.booleans(),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
)


@hypothesis_settings(max_examples=500, deadline=None)
@given(ANYTHING)
def test_any_value_is_a_duration_in_range_or_an_invalid_input_error(value):
    try:
        duration = check_duration(value, "older_than")
    except InvalidInputError as error:
        assert error.field == "older_than"
        return
    assert timedelta(0) <= duration <= MAX_RETENTION
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        assert math.isclose(duration.total_seconds(), value, abs_tol=1e-6)


@hypothesis_settings(max_examples=200, deadline=None)
@given(ANYTHING)
def test_any_older_than_is_purged_by_or_refused_naming_it(value):
    with ZepMemoryClient(path=":memory:") as client:
        before = client.stats.snapshot()
        try:
            report = client.memory.purge_deleted(older_than=value)
        except InvalidInputError as error:
            assert error.field == "older_than"
            assert client.stats.snapshot() == before  # refused before the backend
            return
        assert report.sessions == ()


# -- the setting -------------------------------------------------------------------------------


def test_the_default_retention_is_one_hour(tmp_path):
    assert Settings().store_retention() == DEFAULT_RETENTION == timedelta(hours=1)
    with ZepMemoryClient(path=tmp_path / "m.db") as client:
        assert client.backend.revivable_for == timedelta(hours=1)
    store = SQLiteStore(tmp_path / "n.db")
    assert store.retention == timedelta(hours=1)
    store.close()


def test_retention_from_the_argument_and_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEP_MEMORY_RETENTION", "30d")
    assert Settings().memory_retention == timedelta(days=30)
    # an explicit path reads no Zep variable, but the store's own retention still
    assert Settings(memory_path=tmp_path / "a.db").store_retention() == timedelta(days=30)
    with ZepMemoryClient(path=tmp_path / "a.db") as client:
        assert client.backend.revivable_for == timedelta(days=30)
    with ZepMemoryClient(path=tmp_path / "b.db", retention="12h") as client:  # argument wins
        assert client.backend.revivable_for == timedelta(hours=12)
    with ZepMemoryClient(path=tmp_path / "c.db", retention=timedelta(minutes=5)) as client:
        assert client.backend.revivable_for == timedelta(minutes=5)
    store = SQLiteStore(tmp_path / "d.db")  # a store built alone reads it too
    assert store.retention == timedelta(days=30)
    store.close()
    assert Settings(memory_retention=0).arguments == {"memory_retention"}


def test_a_bad_retention_is_a_configuration_error_naming_where_it_came_from(monkeypatch, tmp_path):
    with pytest.raises(ConfigurationError, match=r"^retention needs a unit"):
        ZepMemoryClient(path=tmp_path / "m.db", retention="30")
    with pytest.raises(ConfigurationError, match=r"^retention must not be negative"):
        Settings(memory_retention=-5)
    monkeypatch.setenv("ZEP_MEMORY_RETENTION", "a month")
    with pytest.raises(ConfigurationError, match=r"^ZEP_MEMORY_RETENTION must be a duration"):
        ZepMemoryClient(path=tmp_path / "m.db")
    with pytest.raises(ConfigurationError, match="ZEP_MEMORY_RETENTION"):
        SQLiteStore(tmp_path / "m.db")


def test_retention_is_for_the_embedded_store(monkeypatch):
    with pytest.raises(ConfigurationError, match="retention= applies to the embedded store"):
        ZepMemoryClient(base_url="http://127.0.0.1:9", retention="1d")
    # The variable does not matter to a Zep client (as ZEP_API_VERSION does not to the store).
    monkeypatch.setenv("ZEP_MEMORY_RETENTION", "1d")
    with ZepMemoryClient(base_url="http://127.0.0.1:9") as client:
        assert client.backend.revivable_for is None
    with pytest.raises(ConfigurationError, match="not to the backend"):
        EmbeddedBackend(store=SQLiteStore(":memory:"), retention="1d")


def test_settings_with_retention_take_no_other_argument(tmp_path):
    with pytest.raises(ConfigurationError, match="pass settings= or retention="):
        ZepMemoryClient(settings=Settings(memory_path=tmp_path / "m.db"), retention="1d")
