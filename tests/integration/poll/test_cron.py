"""The cron matcher, against a brute-force reference written independently of it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.core.cron import CronSchedule

RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

# -- the reference: evaluates the text for one value at a time, no sets, no jumps ----------


def _value(text: str, index: int) -> int:
    names = MONTHS if index == 3 else DAYS if index == 4 else []
    if text.lower() in names:
        return names.index(text.lower()) + (1 if index == 3 else 0)
    return int(text)


def _allows(text: str, index: int, value: int) -> bool:
    low, high = RANGES[index]
    for item in text.split(","):
        base, has_step, step_text = item.partition("/")
        step = int(step_text) if has_step else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-")
            first, last = _value(a, index), _value(b, index)
        else:
            first = _value(base, index)
            last = high if has_step else first
        if first <= value <= last and (value - first) % step == 0:
            return True
    return False


def reference_day(fields: list[str], when: datetime) -> bool:
    if not _allows(fields[3], 3, when.month):
        return False
    weekday = when.isoweekday() % 7
    by_day = _allows(fields[2], 2, when.day)
    by_weekday = _allows(fields[4], 4, weekday) or (weekday == 0 and _allows(fields[4], 4, 7))
    if fields[2][0] != "*" and fields[4][0] != "*":
        return by_day or by_weekday
    return by_day and by_weekday


def reference_matches(fields: list[str], when: datetime) -> bool:
    return (
        _allows(fields[0], 0, when.minute)
        and _allows(fields[1], 1, when.hour)
        and reference_day(fields, when)
    )


def reference_next(fields: list[str], after: datetime) -> datetime | None:
    """Day by day for 41 years, then minute by minute through the first matching day."""
    start = after.replace(second=0, microsecond=0)
    midnight = start.replace(hour=0, minute=0)
    for days in range(41 * 366 + 1):
        day = midnight + timedelta(days=days)
        if not reference_day(fields, day):
            continue
        for minute in range(1440):
            candidate = day + timedelta(minutes=minute)
            if candidate > start and reference_matches(fields, candidate):
                return candidate
    return None


# -- expressions to try ----------------------------------------------------------------------


@st.composite
def items(draw: st.DrawFn, index: int) -> str:
    low, high = RANGES[index]
    names = MONTHS if index == 3 else DAYS if index == 4 else None

    def number() -> str:
        value = draw(st.integers(low, high))
        if names and value - (1 if index == 3 else 0) < len(names) and draw(st.booleans()):
            return names[value - (1 if index == 3 else 0)].upper()
        return str(value)

    step = f"/{draw(st.integers(1, high - low + 2))}"
    kind = draw(st.sampled_from(["*", "*/", "n", "n/", "a-b", "a-b/"]))
    if kind.startswith("*"):
        return "*" + (step if kind.endswith("/") else "")
    if kind.startswith("n"):
        return number() + (step if kind.endswith("/") else "")
    a, b = sorted([draw(st.integers(low, high)), draw(st.integers(low, high))])
    text = f"{a}-{b}"
    return text + (step if kind.endswith("/") else "")


@st.composite
def expressions(draw: st.DrawFn) -> list[str]:
    return [",".join(draw(st.lists(items(i), min_size=1, max_size=3))) for i in range(5)]


moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))


@settings(max_examples=200, deadline=None)
@given(expressions(), moments)
def test_matches_agrees_with_the_reference(fields: list[str], when: datetime) -> None:
    schedule = CronSchedule.parse(" ".join(fields)) if _occurs(fields) else None
    if schedule is not None:
        assert schedule.matches(when) == reference_matches(fields, when)


@settings(max_examples=100, deadline=None)
@given(expressions(), moments)
def test_next_after_agrees_with_the_reference(fields: list[str], when: datetime) -> None:
    expected = reference_next(fields, when)
    if expected is None:  # never matches: refused when parsed
        with pytest.raises(ValueError, match="day of month"):
            CronSchedule.parse(" ".join(fields))
        return
    assert CronSchedule.parse(" ".join(fields)).next_after(when) == expected


def _occurs(fields: list[str]) -> bool:
    try:
        CronSchedule.parse(" ".join(fields))
    except ValueError:
        return False
    return True


# -- examples ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 8-18 * * MON-FRI", datetime(2025, 3, 3, 9, 40), datetime(2025, 3, 3, 9, 45)),
        ("*/15 8-18 * * MON-FRI", datetime(2025, 3, 7, 18, 50), datetime(2025, 3, 10, 8, 0)),
        ("0 0 29 2 *", datetime(2025, 3, 1), datetime(2028, 2, 29)),
        ("0 12 1 * 1", datetime(2025, 3, 1, 12, 0), datetime(2025, 3, 3, 12, 0)),  # or: Monday
        ("0 12 1 * 1", datetime(2025, 3, 31, 13, 0), datetime(2025, 4, 1, 12, 0)),  # or: the 1st
        ("30 6 * jan,Jul 7", datetime(2025, 1, 1), datetime(2025, 1, 5, 6, 30)),  # 7: Sunday
        ("5/20 * * * *", datetime(2025, 1, 1, 0, 46), datetime(2025, 1, 1, 1, 5)),
        ("59 23 31 12 *", datetime(2025, 12, 31, 23, 59, 30), datetime(2026, 12, 31, 23, 59)),
        # a day AND a weekday (a field starting with "*" is not a restriction): rare days
        ("* * */7 3 0", datetime(2026, 4, 1), datetime(2037, 3, 1)),  # March 1 on a Sunday
        ("0 0 29 2 */7", datetime(2088, 3, 1), datetime(2128, 2, 29)),  # 29 Feb, a Sunday
    ],
)
def test_next_after_examples(expression: str, after: datetime, expected: datetime) -> None:
    assert CronSchedule.parse(expression).next_after(after) == expected


def test_next_after_keeps_the_time_zone() -> None:
    after = datetime(2025, 6, 1, 10, 7, 12, tzinfo=UTC)
    assert CronSchedule.parse("*/5 * * * *").next_after(after) == datetime(
        2025, 6, 1, 10, 10, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("* * * *", "5 fields"),
        ("@hourly", "5 fields"),
        ("60 * * * *", "minute: 60 is outside 0-59"),
        ("* 24 * * *", "hour: 24 is outside 0-23"),
        ("* * 0 * *", "day of month: 0 is outside 1-31"),
        ("* * * 13 *", "month: 13 is outside 1-12"),
        ("* * * * 8", "day of week: 8 is outside 0-7"),
        ("*/0 * * * *", "minute: step '0' must be a positive number"),
        ("10-5 * * * *", "minute: range '10-5' runs backwards"),
        ("1,,2 * * * *", "minute: empty item"),
        ("x * * * *", "minute: 'x' is not a number"),
        ("* * * * MONDAY", "day of week: 'MONDAY' is not a number"),
        ("0 0 30 2 *", "day of month: no chosen month has that many days"),
        ("0 0 31 4,6,9,11 *", "day of month: no chosen month"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expression: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        CronSchedule.parse(expression)


def test_day_30_of_february_with_a_weekday_still_matches_on_that_weekday() -> None:
    schedule = CronSchedule.parse("0 0 30 2 MON")
    assert schedule.next_after(datetime(2025, 1, 1)) == datetime(2025, 2, 3)
