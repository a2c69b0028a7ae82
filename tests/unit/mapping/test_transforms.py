"""Every transform: examples, errors with reasons, bounds, and Hypothesis properties."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossdock.core.transforms import (
    MAX_ITEMS,
    MAX_TEXT,
    Context,
    TransformError,
    ValidationError,
    compile_step,
    registered,
)

TABLES = {"levels": {"1": "high", "2": "low"}}


def run(step: Any, value: Any, source: Any = None) -> Any:
    return compile_step(step, TABLES)(value, Context(source, TABLES))


@pytest.mark.parametrize(
    ("step", "value", "expected"),
    [
        ("trim", "  a b \n", "a b"),
        ({"trim": "-"}, "--a-", "a"),
        ("lower", "ÄB", "äb"),
        ("upper", "straße", "STRASSE"),
        ("title", "vpn is down", "Vpn Is Down"),
        ({"truncate": 5}, "abcdef", "abcd…"),
        ({"truncate": {"max": 6, "marker": ""}}, "abcdefgh", "abcdef"),
        ({"truncate": 3}, "abc", "abc"),
        ("split", "a, b,,c", ["a", "b", "c"]),
        (
            {"split": {"separator": "|", "trim": False, "drop_empty": False}},
            "a | |b",
            ["a ", " ", "b"],
        ),
        ("join", ["a", None, 2, False], "a, 2, false"),
        ({"join": ""}, "single", "single"),
        ("to_string", 1.5, "1.5"),
        ("to_int", " -1200 ", -1200),
        ("to_int", "7.000", 7),
        ({"to_int": {"group_separator": ".", "decimal_separator": ","}}, "1.234.567", 1234567),
        ({"to_float": {"decimal_separator": ","}}, "3,25", 3.25),
        ({"to_decimal": {"group_separator": " "}}, "1 000.10", "1000.10"),
        ("to_decimal", 2, "2"),
        ("to_bool", "ON", True),
        ("to_bool", "n", False),
        ("to_bool", 1, True),
        ({"date": {"formats": ["epoch_ms"]}}, 0, "1970-01-01T00:00:00Z"),
        ({"date": {"formats": ["%Y%m%d"], "output": "date"}}, "20240229", "2024-02-29"),
        (
            {"date": {"target_tz": "Europe/Amsterdam"}},
            "2024-07-01T10:00:00Z",
            "2024-07-01T12:00:00+02:00",
        ),
        (
            {"date": {"source_tz": "America/New_York", "output": "epoch"}},
            "2024-01-01T00:00",
            1704085200,
        ),
        ({"date": {"output": "epoch"}}, "1970-01-01T00:00:00.5Z", 0.5),
        ("lookup", "1", "high"),
        ({"lookup": {"table": "levels", "unmapped": "pass"}}, "9", "9"),
        ({"lookup": {"table": "levels", "unmapped": "default", "default": "?"}}, "9", "?"),
        ({"default": "x"}, None, "x"),
        ({"default": "x"}, "", ""),
        ({"default": {"value": "x", "empty": True}}, [], "x"),
        ({"regex_replace": {"pattern": "a+", "replacement": "b", "count": 1}}, "aa-aa", "b-aa"),
        (
            {"regex_replace": {"pattern": r"(\d+)-(\d+)", "replacement": r"\2\\\1"}},
            "12-34",
            "34\\12",
        ),
        ("html_to_text", "<p>a</p><p>b</p>", "a\n\nb"),
        ("text_to_html", "<x>", "<p>&lt;x&gt;</p>"),
        ("adf_to_text", {"type": "doc", "content": []}, ""),
    ],
)
def test_examples(step: Any, value: Any, expected: Any) -> None:
    result = run(step if step != "lookup" else {"lookup": "levels"}, value)
    assert result == expected
    assert type(result) is type(expected)


def test_coalesce_reads_the_source() -> None:
    source = {"a": None, "b": {"c": "found"}}
    assert run({"coalesce": ["a", "b.c"]}, None, source) == "found"
    assert run({"coalesce": ["a", "b.c"]}, "own", source) == "own"
    assert run({"coalesce": ["a"]}, None, source) is None


def test_null_passes_through_and_lists_go_item_by_item() -> None:
    for name in registered():
        if name not in ("default", "coalesce", "lookup", "regex_replace", "truncate"):
            assert run(name, None) is None, name
    assert run("trim", [" a", None, "b "]) == ["a", None, "b"]


@pytest.mark.parametrize(
    ("step", "value", "reason"),
    [
        ("trim", 5, "expected text, got a number"),
        ("to_int", "12abc", "not a number"),
        ("to_int", "1.5", "not a whole number"),
        ("to_int", True, "a boolean is not a number"),
        ("to_float", "1e400", "not a number"),
        ("to_float", "9" * 101, "longer than 100"),
        ("to_decimal", "1.2.3", "more than one decimal separator"),
        ({"to_int": {"group_separator": ","}}, "1,23", "every three digits"),
        ("to_bool", "maybe", "not a boolean"),
        ("date", "yesterday", "not a date in any of the formats iso"),
        ({"date": {"formats": ["epoch"]}}, 10**20, "not a date"),
        ("to_string", {"a": 1}, "expected a scalar, got an object"),
        ("join", [[1]], "expected a scalar, got a list"),
        ({"lookup": "levels"}, "3", "no entry in the table levels"),
        ({"lookup": "levels"}, {"a": 1}, "needs a scalar"),
        ("adf_to_markdown", "text", "expected an ADF node"),
        ("trim", "x" * (MAX_TEXT + 1), f"text longer than {MAX_TEXT}"),
        ("trim", ["x"] * (MAX_ITEMS + 1), f"list longer than {MAX_ITEMS}"),
        ({"split": ""}, "a", None),
    ],
)
def test_errors_say_why(step: Any, value: Any, reason: str | None) -> None:
    if reason is None:
        with pytest.raises(ValidationError):
            run(step, value)
        return
    with pytest.raises(TransformError) as info:
        run(step, value)
    assert reason in info.value.reason


def test_outputs_are_bounded() -> None:
    with pytest.raises(TransformError, match="more than 10000 items"):
        run("split", "," * MAX_ITEMS)
    with pytest.raises(TransformError, match="text longer"):
        run({"join": "x" * 100}, ["a" * 100] * 9000)
    with pytest.raises(TransformError, match="text longer"):
        run({"regex_replace": {"pattern": "a", "replacement": "b" * 1000}}, "a" * 2000)
    with pytest.raises(TransformError, match="text longer"):
        run("markdown_to_adf", "x" * (MAX_TEXT + 1))


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("nope", "unknown transform 'nope'"),
        ({"trim": 1, "lower": {}}, "a mapping of one name"),
        ({"truncate": {"max": 0}}, "greater than or equal to 1"),
        ({"truncate": {"max": 2, "marker": "..."}}, "marker is longer than max"),
        ({"date": {"source_tz": "Mars/Olympus"}}, "unknown time zone"),
        ({"date": {"formats": ["dd-mm"]}}, "is not iso, epoch, epoch_ms or a strptime pattern"),
        ({"date": {"output": "yyyy"}}, "is not iso, date, epoch"),
        ({"to_int": {"decimal_separator": ",", "group_separator": ","}}, "must differ"),
        ({"to_bool": {"true_words": ["x"], "false_words": ["X"]}}, "both true and false"),
        ({"regex_replace": {"pattern": "(a"}}, "not an RE2 pattern"),
        ({"regex_replace": {"pattern": r"(a)\1"}}, "not an RE2 pattern"),
        ({"regex_replace": {"pattern": "a", "replacement": r"\2"}}, "refers to group 2"),
        ({"lookup": "missing"}, "unknown table 'missing'"),
        ({"trim": {"bogus": 1}}, "Extra inputs"),
    ],
)
def test_bad_configuration_is_refused(step: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        compile_step(step, TABLES)


# -- properties -----------------------------------------------------------------------

texts = st.text(max_size=300)


@given(texts, st.integers(1, 50), st.text(max_size=3))
def test_truncate_never_exceeds_max(text: str, limit: int, marker: str) -> None:
    if len(marker) > limit:
        return
    out = run({"truncate": {"max": limit, "marker": marker}}, text)
    assert len(out) <= limit
    assert out == text if len(text) <= limit else out.endswith(marker)


@given(st.lists(st.text(alphabet="abc xyz", min_size=1).map(str.strip).filter(bool), max_size=8))
def test_join_then_split_gives_the_items_back(items: list[str]) -> None:
    assert run("split", run({"join": ","}, items)) == items


@given(st.integers(-(10**30), 10**30), st.sampled_from(["", ",", "_", " ", "'"]))
def test_integers_read_back_with_group_separators(number: int, group: str) -> None:
    digits = f"{abs(number):,}".replace(",", group)
    text = ("-" if number < 0 else "") + digits
    assert run({"to_int": {"group_separator": group}}, text) == number


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=3, min_value=-(10**9), max_value=10**9
    )
)
def test_decimals_read_exactly_with_a_comma(number: Decimal) -> None:
    text = f"{number:f}".replace(".", ",")
    assert Decimal(run({"to_decimal": {"decimal_separator": ","}}, text)) == number


@given(st.booleans(), st.sampled_from(["", " ", "\t"]), st.booleans())
def test_booleans_read_in_any_case(value: bool, pad: str, upper: bool) -> None:
    word = "yes" if value else "off"
    assert run("to_bool", pad + (word.upper() if upper else word) + pad) is value


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones()
    ),
    st.sampled_from(["UTC", "Europe/Amsterdam", "Asia/Kolkata", "America/St_Johns"]),
)
def test_dates_keep_their_instant_across_zones(moment: datetime, zone: str) -> None:
    text = run({"date": {"target_tz": zone}}, moment.isoformat())
    back = datetime.fromisoformat(run("date", text))
    assert back == moment.astimezone(UTC)
    millis = run({"date": {"output": "epoch_ms"}}, text)
    from_millis = datetime.fromisoformat(run({"date": {"formats": ["epoch_ms"]}}, millis))
    assert abs(from_millis - back).total_seconds() < 0.001


@given(st.text(max_size=100))
def test_regex_replace_of_a_literal_equals_str_replace(text: str) -> None:
    assert run({"regex_replace": {"pattern": r"\.", "replacement": "!"}}, text) == text.replace(
        ".", "!"
    )
