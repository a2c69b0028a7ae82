"""Durations: text with units or seconds, always positive, written back the same way."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossdock.config import format_duration, load_config, parse_duration
from crossdock.core.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5s", timedelta(milliseconds=1500)),
        (" 2m ", timedelta(minutes=2)),
        ("45", timedelta(seconds=45)),
        (45, timedelta(seconds=45)),
        (0.25, timedelta(milliseconds=250)),
        (timedelta(seconds=3), timedelta(seconds=3)),
    ],
)
def test_parse_duration(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", 'invalid duration "abc"'),
        ("10 minutes", 'invalid duration "10 minutes"'),
        ("-5s", 'invalid duration "-5s"'),
        ("", 'invalid duration ""'),
        ("0s", "must be a positive duration"),
        (0, "must be a positive duration"),
        (-3, "must be a positive duration"),
        ("-3", "must be a positive duration"),
        (True, "expected a duration"),
        (None, "expected a duration"),
        (float("inf"), "duration is too large"),
        ("99999999999d", "duration is too large"),
    ],
)
def test_invalid_durations(value: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(days=7), "7d"),
        (timedelta(hours=24), "1d"),
        (timedelta(hours=3), "3h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(seconds=1), "1s"),
        (timedelta(milliseconds=1500), "1500ms"),
        (timedelta(microseconds=10), "0.00001s"),
        (timedelta(seconds=1, microseconds=500), "1.0005s"),
    ],
)
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@given(st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=10**6)))
def test_format_then_parse_gives_back_the_duration(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


def test_duration_errors_in_a_file_are_located(tmp_path: Path) -> None:
    path = tmp_path / "crossdock.yaml"
    path.write_text("version: 1\njournal:\n  retention: 3 weeks\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    [problem] = caught.value.problems
    assert (problem.path, problem.line, problem.column) == ("journal.retention", 3, 14)
    assert problem.message.startswith('invalid duration "3 weeks": use seconds or a number')


def test_durations_serialise_as_written(tmp_path: Path) -> None:
    path = tmp_path / "crossdock.yaml"
    path.write_text("version: 1\njournal: {retention: 36h}\n", encoding="utf-8")
    dumped = load_config(path, env={}).model_dump(mode="json")
    assert dumped["journal"]["retention"] == "36h"
