"""Parsing numbers, booleans and dates written by other systems; pure, bounded, no locale.

Numbers are read with explicit rules instead of the process locale: an optional sign,
digits, an optional group separator (only between groups of three digits) and one
decimal separator, both named by the caller. No exponent, no currency, no spaces inside.
Dates are read with `datetime.fromisoformat`, `strptime` patterns or epoch numbers, and
converted between IANA time zones with the standard library's `zoneinfo`.

Every function raises `ValueError` with a reason fit for a user; callers turn it into a
mapping error that names the field.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from operator import attrgetter
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_NUMBER_TEXT = 100
"""Longest number text read (characters, after trimming)."""
MAX_DATE_TEXT = 100
"""Longest date text read (characters, after trimming)."""

GROUP_SEPARATORS = ("", ",", ".", " ", "'", "_", "\u00a0", "\u202f")
DECIMAL_SEPARATORS = (".", ",")

TRUE_WORDS = ("true", "yes", "y", "on", "1")
FALSE_WORDS = ("false", "no", "n", "off", "0")

# -- numbers --------------------------------------------------------------------------


def number_text(value: str, decimal_separator: str = ".", group_separator: str = "") -> str:
    """Normalise a written number to ``[-]digits[.digits]``, or raise ValueError."""
    text = value.strip()
    if not text:
        raise ValueError("empty text is not a number")
    if len(text) > MAX_NUMBER_TEXT:
        raise ValueError(f"number text longer than {MAX_NUMBER_TEXT} characters")
    sign = ""
    if text[0] in "+-":
        sign, text = ("-" if text[0] == "-" else ""), text[1:]
    whole, _, fraction = text.partition(decimal_separator)
    if decimal_separator in fraction:
        raise ValueError(f"more than one decimal separator {decimal_separator!r}")
    whole = _ungroup(whole, group_separator)
    if not whole.isascii() or not whole.isdigit():
        raise ValueError("not a number")
    if fraction and (not fraction.isascii() or not fraction.isdigit()):
        raise ValueError("not a number")
    if not fraction and decimal_separator in text:
        raise ValueError("no digits after the decimal separator")
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def _ungroup(whole: str, separator: str) -> str:
    if not separator or separator not in whole:
        return whole
    groups = whole.split(separator)
    first, rest = groups[0], groups[1:]
    if not 1 <= len(first) <= 3 or any(len(group) != 3 for group in rest):
        raise ValueError(f"digit groups must be separated by {separator!r} every three digits")
    return "".join(groups)


def parse_int(value: object, decimal_separator: str = ".", group_separator: str = "") -> int:
    """An integer from an int, an integral float, or text (``"1,234"``, ``"12.00"``)."""
    text = value if value.__class__ is str else ""
    if text.isascii() and text.isdigit() and len(text) <= MAX_NUMBER_TEXT:
        return int(text)  # plain digits, which number_text keeps as they are
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not a whole number")
        return int(value)
    if not isinstance(value, str):
        raise ValueError("expected text or a number")
    whole, _, fraction = number_text(value, decimal_separator, group_separator).partition(".")
    if fraction.strip("0"):
        raise ValueError("not a whole number")
    return int(whole)


def parse_float(value: object, decimal_separator: str = ".", group_separator: str = "") -> float:
    """A finite float from a number or text."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        result = float(number_text(value, decimal_separator, group_separator))
    else:
        raise ValueError("expected text or a number")
    if not math.isfinite(result):
        raise ValueError("number out of range")
    return result


def parse_decimal(value: object, decimal_separator: str = ".", group_separator: str = "") -> str:
    """An exact decimal, written as text (JSON numbers lose precision): ``"1234.50"``."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("number out of range")
        return repr(value)
    if not isinstance(value, str):
        raise ValueError("expected text or a number")
    text = number_text(value, decimal_separator, group_separator)
    try:
        return str(Decimal(text))
    except InvalidOperation:  # pragma: no cover - number_text admits only digits
        raise ValueError("not a number") from None


# -- booleans -------------------------------------------------------------------------


def parse_bool(
    value: object,
    true_words: tuple[str, ...] = TRUE_WORDS,
    false_words: tuple[str, ...] = FALSE_WORDS,
) -> bool:
    """A boolean from a boolean, 1/0, or one of the words (case and spaces ignored)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in true_words:
            return True
        if word in false_words:
            return False
    shown = ", ".join(true_words + false_words)
    raise ValueError(f"not a boolean (expected one of {shown})")


# -- dates ----------------------------------------------------------------------------

ISO = "iso"
EPOCH = "epoch"
EPOCH_MS = "epoch_ms"
DATE = "date"
NAMED_INPUT_FORMATS = (ISO, EPOCH, EPOCH_MS)
NAMED_OUTPUT_FORMATS = (ISO, EPOCH, EPOCH_MS, DATE)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=256)
def zone(name: str) -> tzinfo:
    """An IANA time zone by name (``Europe/Amsterdam``, ``UTC``); ValueError if unknown."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def parse_datetime(value: object, formats: tuple[str, ...], source_tz: tzinfo) -> datetime:
    """An aware datetime from the first format that reads `value`.

    Naive results are taken to be in `source_tz`; an ambiguous local time (the hour
    repeated when clocks go back) is the first of the two.
    """
    if isinstance(value, str) and len(value.strip()) > MAX_DATE_TEXT:
        raise ValueError(f"date text longer than {MAX_DATE_TEXT} characters")
    for fmt in formats:
        parsed = _parse_one(value, fmt, source_tz)
        if parsed is not None:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=source_tz)
    raise ValueError(f"not a date in any of the formats {', '.join(formats)}")


def _parse_one(value: object, fmt: str, source_tz: tzinfo | None = None) -> datetime | None:
    """`value` read as `fmt`, or None; a fixed layout's result is already in `source_tz`."""
    try:
        if fmt in (EPOCH, EPOCH_MS):
            return _from_epoch(value, 1000 if fmt == EPOCH_MS else 1)
        if not isinstance(value, str):
            return None
        if fmt == ISO:
            return datetime.fromisoformat(value.strip())
        text = value.strip()
        layout = fixed_layout(fmt)
        if layout is not None:
            read = layout.read(text, source_tz)
            if read is not None:
                return read
        return datetime.strptime(text, fmt)
    except (ValueError, OverflowError, OSError):
        return None


def _from_epoch(value: object, per_second: int) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = parse_decimal(value)
    if not isinstance(value, int | float | str):
        return None
    micros = round(Decimal(str(value)) * 1_000_000 / per_second)
    return _EPOCH + timedelta(microseconds=micros)


def format_datetime(moment: datetime, output: str, target_tz: tzinfo) -> str | int | float:
    """`moment` in `target_tz`, written as `output`: a named format or a strftime pattern."""
    local = moment.astimezone(target_tz)
    if output == ISO:
        text = local.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if output == DATE:
        return local.date().isoformat()
    if output in (EPOCH, EPOCH_MS):
        since = moment - _EPOCH
        if output == EPOCH_MS:
            return since // timedelta(milliseconds=1)
        whole, rest = divmod(since, timedelta(seconds=1))
        return whole if not rest else since.total_seconds()
    layout = fixed_layout(output)
    if layout is not None and local.year >= 1000:
        return layout.write(local)
    return local.strftime(output)


# -- fixed layouts: strptime and strftime without their general machinery ----------------

_FIELDS = {"Y": ("year", 4), "m": ("month", 2), "d": ("day", 2), "H": ("hour", 2)}
_FIELDS |= {"M": ("minute", 2), "S": ("second", 2)}
_LAYOUT_SETS = [{f"%{code}" for code in "YmdHMS"[:size]} for size in range(3, 7)]


class Layout:
    """A pattern made only of printable ASCII and, once each, ``%Y %m %d`` and optionally
    ``%H``, ``%H %M`` or ``%H %M %S``, such as ``%Y-%m-%d %H:%M:%S`` or ``%d/%m/%Y``:
    read and written without `strptime` and `strftime`, which cost several times more.

    `read` takes only text with every field at its full width and every literal exactly
    as in the pattern (``2024-03-31 04:05:06``). `strptime` reads such text as the same
    fields and fails where `datetime` refuses them (month 13, February 30th, second 60),
    so the result is the same; other text is left to `strptime`. `write` gives what
    `strftime` gives, for years 1000 to 9999."""

    def __init__(self, parts: tuple[str, ...]) -> None:
        regex: list[str] = []
        template: list[str] = []  # for the % operator: the layout has no literal %
        written: list[str] = []
        for part in parts:
            if part.startswith("%"):
                name, width = _FIELDS[part[1]]
                regex.append(f"(?P<{name}>[0-9]{{{width}}})")
                template.append(f"%0{width}d")
                written.append(name)
            else:
                regex.append(re.escape(part))
                template.append(part)
        self._regex = re.compile("".join(regex))
        self._names = tuple(name for code, (name, _) in _FIELDS.items() if f"%{code}" in parts)
        self._template = "".join(template)
        self._fields = attrgetter(*written)

    def read(self, text: str, zone: tzinfo | None = None) -> datetime | None:
        """The date and time in `zone` (naive without); None when the text does not have
        this exact shape. ValueError, as from `strptime`, for fields out of range."""
        match = self._regex.fullmatch(text)
        if match is None:
            return None
        year, month, day, *clock = map(int, match.group(*self._names))
        hour, minute, second = (*clock, 0, 0, 0)[:3]
        return datetime(year, month, day, hour, minute, second, 0, zone)

    def write(self, moment: datetime) -> str:
        return self._template % self._fields(moment)


@lru_cache(maxsize=256)
def fixed_layout(pattern: str) -> Layout | None:
    """The pattern as a `Layout`, or None when it is not one (strptime then does the work)."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "%":
            directive = pattern[i : i + 2]
            if directive[1:] not in _FIELDS or directive in parts:
                return None
            parts.append(directive)
            i += 2
        elif " " <= pattern[i] <= "~":
            parts.append(pattern[i])
            i += 1
        else:
            return None
    directives = {part for part in parts if part.startswith("%")}
    return Layout(tuple(parts)) if directives in _LAYOUT_SETS else None
