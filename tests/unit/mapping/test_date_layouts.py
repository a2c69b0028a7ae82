"""Fixed date layouts (`crossdock.core.values.Layout`) read and write exactly as
`strptime` and `strftime` do: same datetime, same refusals, same text."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from crossdock.core import values

DIRECTIVES = ["%Y", "%m", "%d", "%H", "%M", "%S"]
LITERALS = ["-", "/", ":", " ", "T", ".", "{", "x", "Z", "%%", "%j", "  "]

# strptime fails with re.error, not ValueError, on a repeated directive: not tried here
patterns = (
    st.lists(st.sampled_from(DIRECTIVES + LITERALS), min_size=1, max_size=9)
    .filter(lambda parts: all(parts.count(d) <= 1 for d in [*DIRECTIVES, "%j"]))
    .map("".join)
)


@st.composite
def pattern_and_text(draw: st.DrawFn) -> tuple[str, str]:
    """A pattern, and text written for it with fields of any width and value and the
    literals sometimes changed, so that both shapes and near misses are tried."""
    pattern = draw(st.one_of(st.sampled_from(COMMON), patterns))
    text: list[str] = []
    i = 0
    while i < len(pattern):
        piece = pattern[i : i + 2]
        if piece in DIRECTIVES:
            width = 4 if piece == "%Y" else 2
            number = draw(st.integers(0, 10**width - 1))
            text.append(f"{number:0{width}d}" if draw(st.booleans()) else str(number))
            i += 2
        else:
            char = pattern[i]
            text.append(char if draw(st.integers(0, 5)) else draw(st.sampled_from("x -T9")))
            i += 1
    return pattern, "".join(text)


COMMON = ["%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%Y%m%d", "%m/%d/%Y", "%Y-%m-%dT%H:%M:%S"]


def strptime_or_none(text: str, pattern: str) -> datetime | None:
    try:
        return datetime.strptime(text, pattern)
    except ValueError:
        return None


@given(pattern_and_text())
@example(("%Y-%m-%d %H:%M:%S", "2024-02-30 10:00:00"))
@example(("%Y-%m-%d %H:%M:%S", "2024-02-29 23:59:60"))
@example(("%Y-%m-%d %H:%M:%S", "2024-13-01 24:00:00"))
@example(("%Y-%m-%d %H:%M:%S", "0000-01-01 00:00:00"))
@example(("%Y%m%d%H", "2024010124"))
@example(("%d/%m/%Y", "1/2/2024"))
def test_reading_a_layout_equals_strptime(case: tuple[str, str]) -> None:
    pattern, text = case
    assert values._parse_one(text, pattern) == strptime_or_none(text.strip(), pattern)


@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.one_of(st.sampled_from(COMMON), patterns),
)
@example(datetime(999, 1, 2, 3, 4, 5), "%Y-%m-%d")
def test_writing_a_layout_equals_strftime(moment: datetime, pattern: str) -> None:
    aware = moment.replace(tzinfo=UTC)
    assert values.format_datetime(aware, pattern, UTC) == aware.strftime(pattern)


def test_only_fixed_layouts_skip_strptime() -> None:
    assert values.fixed_layout("%Y-%m-%d %H:%M:%S") is not None
    assert values.fixed_layout("%d/%m/%Y") is not None
    assert values.fixed_layout("%H:%M:%S %d.%m.%Y") is not None
    unfit = ["%H:%M", "%Y-%m", "%Y-%m-%d %M", "%Y-%m-%d %%", "%Y-%m-%d %b", "%Y-%m-%d %Y"]
    for pattern in [*unfit, "%Y%m%dé"]:
        assert values.fixed_layout(pattern) is None, pattern
