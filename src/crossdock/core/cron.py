"""Five-field cron expressions: ``minute hour day-of-month month day-of-week``.

    schedule = CronSchedule.parse("*/15 8-18 * * MON-FRI")
    schedule.matches(datetime(2025, 3, 3, 9, 45, tzinfo=UTC))      # True
    schedule.next_after(datetime(2025, 3, 3, 18, 50, tzinfo=UTC))  # 2025-03-04 08:00 UTC

Each field is ``*`` or a comma-separated list of items; an item is a number, a range
``a-b``, or either of those (or ``*``) followed by a step ``/n``; ``a/n`` means ``a-max/n``.
Months and days of the week may be written as three-letter English names (``JAN``,
``MON``), in any case. Day of week 0 and 7 are both Sunday.

As in the classic (Vixie) cron, when both day-of-month and day-of-week are restricted
(neither starts with ``*``) a day matches if *either* matches; otherwise both must.
Times are read as given: the caller chooses the time zone (crossdock uses UTC).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["CronSchedule"]

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day of week", 0, 7, _DAYS),
)
# Every day that occurs at all occurs again within this: a day of month AND a weekday
# (`0 0 29 2 */7`: 29 February on a Sunday) can be 40 years apart (2088, then 2128).
_SEARCH_YEARS = 41


def _number(text: str, field: _Field) -> int:
    lowered = text.lower()
    if lowered in field.names:
        return field.low + field.names.index(lowered)
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{field.name}: {text!r} is not a number")
    value = int(text)
    if not field.low <= value <= field.high:
        raise ValueError(f"{field.name}: {value} is outside {field.low}-{field.high}")
    return value


def _item(text: str, field: _Field) -> range:
    """The values of one list item: ``*``, ``n``, ``a-b``, each optionally ``/step``."""
    base, slash, step_text = text.partition("/")
    step = 1
    if slash:
        if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
            raise ValueError(f"{field.name}: step {step_text!r} must be a positive number")
        step = int(step_text)
    if base == "*":
        return range(field.low, field.high + 1, step)
    first_text, dash, last_text = base.partition("-")
    first = _number(first_text, field)
    if dash:
        last = _number(last_text, field)
    elif slash:
        last = field.high
    else:
        last = first
    if last < first:
        raise ValueError(f"{field.name}: range {base!r} runs backwards")
    return range(first, last + 1, step)


def _parse_field(text: str, field: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"{field.name}: empty item in {text!r}")
        values.update(_item(item, field))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed cron expression: the allowed values of each field."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    days_restricted: bool
    weekdays_restricted: bool

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        """Parse five fields; ValueError (naming the field) for anything else, including a
        day/month combination that never occurs (``0 0 31 2 *``)."""
        parts = expression.split()
        if len(parts) != 5:
            raise ValueError(
                f"a cron expression has 5 fields (minute hour day month weekday), got {len(parts)}"
            )
        minutes, hours, days, months, weekdays = (
            _parse_field(text, field) for text, field in zip(parts, _FIELDS, strict=True)
        )
        schedule = cls(
            expression=" ".join(parts),
            minutes=minutes,
            hours=hours,
            days=days,
            months=months,
            weekdays=frozenset(d % 7 for d in weekdays),
            days_restricted=not parts[2].startswith("*"),
            weekdays_restricted=not parts[4].startswith("*"),
        )
        schedule._check_days_occur()
        return schedule

    def _check_days_occur(self) -> None:
        if self.weekdays_restricted and self.days_restricted:
            return  # either one matching is enough, and every weekday occurs
        longest = max(calendar.monthrange(2000, m)[1] for m in self.months)  # 2000: leap
        if min(self.days) > longest:
            raise ValueError("day of month: no chosen month has that many days")

    def day_matches(self, when: datetime) -> bool:
        if when.month not in self.months:
            return False
        by_day = when.day in self.days
        by_weekday = (when.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return by_day or by_weekday
        return by_day and by_weekday

    def matches(self, when: datetime) -> bool:
        """True if the minute containing ``when`` is one of the schedule's."""
        return when.minute in self.minutes and when.hour in self.hours and self.day_matches(when)

    def next_after(self, when: datetime) -> datetime:
        """The first matching minute strictly after ``when`` (seconds dropped), in the same
        time zone as ``when``."""
        current = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = current.replace(year=current.year + _SEARCH_YEARS, month=1, day=1)
        while current < end:
            if not self.day_matches(current):
                current = current.replace(hour=0, minute=0) + timedelta(days=1)
            elif current.hour not in self.hours:
                current = current.replace(minute=0) + timedelta(hours=1)
            elif current.minute not in self.minutes:
                current += timedelta(minutes=1)
            else:
                return current
        raise ValueError(f"cron {self.expression!r} never matches")  # unreachable once parsed
