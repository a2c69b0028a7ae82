"""The built-in transforms: text, lists, numbers, booleans, dates, markup, RE2 replace.

Registered on import by `crossdock.core.transforms`; docs/mapping.md shows an executed
example of each.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import re2  # type: ignore[import-untyped]
from pydantic import Field, PrivateAttr, field_validator, model_validator

from crossdock.core import adf, adf_text, html_text, values
from crossdock.core.envelope import JSON
from crossdock.core.transforms import (
    MAX_ITEMS,
    MAX_TEXT,
    Args,
    Context,
    NoArgs,
    TransformError,
    kind_of,
    register_transform,
    text_of,
)

# -- text -----------------------------------------------------------------------------


class TrimArgs(Args):
    chars: str | None = Field(
        default=None, max_length=100, description="Characters to strip (default: white space)."
    )


@register_transform("trim", TrimArgs, shorthand="chars")
def _trim(value: JSON, args: TrimArgs, _: Context) -> JSON:
    """Strip white space (or the given characters) from both ends."""
    return (value if value.__class__ is str else text_of(value)).strip(args.chars)


def _case(name: str, convert: Callable[[str], str], summary: str) -> None:
    def function(value: JSON, _args: NoArgs, _: Context) -> JSON:
        return convert(value if value.__class__ is str else text_of(value))

    function.__doc__ = summary
    register_transform(name, NoArgs)(function)


_case("lower", str.lower, "Lower case.")
_case("upper", str.upper, "Upper case.")
_case("title", str.title, "Title Case: the first letter of every word upper case.")


class TruncateArgs(Args):
    max: int = Field(ge=1, le=MAX_TEXT, description="Longest result, the marker included.")
    marker: str = Field(default="…", max_length=100, description="Appended when cut.")

    @model_validator(mode="after")
    def _room_for_marker(self) -> TruncateArgs:
        if len(self.marker) > self.max:
            raise ValueError("the marker is longer than max")
        return self


@register_transform("truncate", TruncateArgs, shorthand="max")
def _truncate(value: JSON, args: TruncateArgs, _: Context) -> JSON:
    """Cut text to at most max characters, ending with the marker when cut."""
    text = text_of(value)
    if len(text) <= args.max:
        return text
    return text[: args.max - len(args.marker)] + args.marker


class SplitArgs(Args):
    separator: str = Field(default=",", min_length=1, max_length=100, description="Between items.")
    trim: bool = Field(default=True, description="Strip white space around each item.")
    drop_empty: bool = Field(default=True, description="Leave out empty items.")


@register_transform("split", SplitArgs, shorthand="separator")
def _split(value: JSON, args: SplitArgs, _: Context) -> JSON:
    """Text to a list of texts at each separator."""
    text = text_of(value)
    if text.count(args.separator) >= MAX_ITEMS:
        raise TransformError(f"more than {MAX_ITEMS} items")
    items = text.split(args.separator)
    if args.trim:
        items = [item.strip() for item in items]
    return [item for item in items if item or not args.drop_empty]


class JoinArgs(Args):
    separator: str = Field(default=", ", max_length=100, description="Put between items.")


@register_transform("join", JoinArgs, shorthand="separator", per_item=False)
def _join(value: JSON, args: JoinArgs, _: Context) -> JSON:
    """A list of scalars to one text; null items are left out."""
    if not isinstance(value, list):
        return _to_string(value, NoArgs(), Context())
    parts = [_to_string(item, NoArgs(), Context()) for item in value if item is not None]
    if sum(map(len, parts)) + len(args.separator) * len(parts) > MAX_TEXT:
        raise TransformError(f"text longer than {MAX_TEXT} characters")
    return args.separator.join(parts)


@register_transform("to_string", NoArgs)
def _to_string(value: JSON, _args: NoArgs, _: Context) -> JSON:
    """A scalar as text: numbers as written, true/false for booleans."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise TransformError(f"expected a scalar, got {kind_of(value)}")


# -- numbers and booleans -------------------------------------------------------------


class NumberArgs(Args):
    decimal_separator: Literal[".", ","] = Field(default=".", description="'.' or ','.")
    group_separator: Literal["", ",", ".", " ", "'", "_"] = Field(
        default="", description="Between groups of three digits (default: none allowed)."
    )

    @model_validator(mode="after")
    def _distinct(self) -> NumberArgs:
        if self.decimal_separator == self.group_separator:
            raise ValueError("decimal_separator and group_separator must differ")
        return self


def _number(name: str, parse: Callable[[object, str, str], JSON], summary: str) -> None:
    def function(value: JSON, args: NumberArgs, _: Context) -> JSON:
        try:
            return parse(value, args.decimal_separator, args.group_separator)
        except ValueError as exc:
            raise TransformError(str(exc)) from None

    function.__doc__ = summary
    register_transform(name, NumberArgs)(function)


_number("to_int", values.parse_int, "A whole number from text or a number.")
_number("to_float", values.parse_float, "A floating-point number from text or a number.")
_number("to_decimal", values.parse_decimal, "An exact decimal, as text, from text or a number.")


class BoolArgs(Args):
    true_words: tuple[str, ...] = Field(
        default=values.TRUE_WORDS, description="Words read as true."
    )
    false_words: tuple[str, ...] = Field(
        default=values.FALSE_WORDS, description="Words read as false."
    )

    @field_validator("true_words", "false_words")
    @classmethod
    def _lower(cls, words: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(word.strip().lower() for word in words)

    @model_validator(mode="after")
    def _disjoint(self) -> BoolArgs:
        both = set(self.true_words) & set(self.false_words)
        if both:
            raise ValueError(f"words both true and false: {', '.join(sorted(both))}")
        return self


@register_transform("to_bool", BoolArgs)
def _to_bool(value: JSON, args: BoolArgs, _: Context) -> JSON:
    """A boolean from yes/no, true/false, on/off, 1/0 (or the words given)."""
    try:
        return values.parse_bool(value, args.true_words, args.false_words)
    except ValueError as exc:
        raise TransformError(str(exc)) from None


# -- dates ----------------------------------------------------------------------------


class DateArgs(Args):
    formats: tuple[str, ...] = Field(
        default=(values.ISO,),
        min_length=1,
        max_length=20,
        description="Input formats tried in order: iso, epoch, epoch_ms or a strptime pattern.",
    )
    source_tz: str = Field(default="UTC", description="Time zone of inputs without one.")
    target_tz: str = Field(default="UTC", description="Time zone of the output.")
    output: str = Field(
        default=values.ISO,
        max_length=100,
        description="iso, date, epoch, epoch_ms or a strftime pattern.",
    )

    @field_validator("formats")
    @classmethod
    def _formats(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        for fmt in formats:
            if fmt not in values.NAMED_INPUT_FORMATS and ("%" not in fmt or len(fmt) > 100):
                raise ValueError(f"{fmt!r} is not iso, epoch, epoch_ms or a strptime pattern")
        return formats

    @field_validator("output")
    @classmethod
    def _output(cls, output: str) -> str:
        if output not in values.NAMED_OUTPUT_FORMATS and "%" not in output:
            raise ValueError(f"{output!r} is not iso, date, epoch, epoch_ms or a strftime pattern")
        return output

    @field_validator("source_tz", "target_tz")
    @classmethod
    def _zone(cls, name: str) -> str:
        values.zone(name)  # raises ValueError for an unknown zone
        return name


@register_transform("date", DateArgs)
def _date(value: JSON, args: DateArgs, _: Context) -> JSON:
    """Read a date and time in one of the formats, write it in another time zone."""
    try:
        moment = values.parse_datetime(value, args.formats, values.zone(args.source_tz))
        return values.format_datetime(moment, args.output, values.zone(args.target_tz))
    except (ValueError, OverflowError) as exc:
        raise TransformError(str(exc)) from None


# -- markup ---------------------------------------------------------------------------


def _markup(name: str, convert: Callable[[Any], JSON], *, text_input: bool = True) -> None:
    def function(value: JSON, _args: NoArgs, _: Context) -> JSON:
        try:
            return convert(text_of(value) if text_input else value)
        except ValueError as exc:
            raise TransformError(str(exc)) from None

    function.__doc__ = convert.__doc__
    register_transform(name, NoArgs, per_item=text_input)(function)


_markup("html_to_text", html_text.html_to_text)
_markup("text_to_html", html_text.text_to_html)
_markup("markdown_to_adf", adf.markdown_to_adf)
_markup("adf_to_markdown", adf.adf_to_markdown, text_input=False)
_markup("text_to_adf", adf_text.text_to_adf)
_markup("adf_to_text", adf_text.adf_to_text, text_input=False)


# -- RE2 ------------------------------------------------------------------------------

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = 8 << 20


class RegexReplaceArgs(Args):
    pattern: str = Field(min_length=1, max_length=1000, description="An RE2 pattern.")
    replacement: str = Field(
        default="", max_length=1000, description=r"Replacement; \1..\9 insert groups."
    )
    count: int = Field(default=0, ge=0, description="Most replacements (0: all).")
    _regexp: Any = PrivateAttr(default=None)
    _parts: tuple[str | int, ...] = PrivateAttr(default=())

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re2.compile(pattern, _RE2_OPTIONS)
        except re2.error as exc:
            raise ValueError(f"not an RE2 pattern: {_decoded(exc)}") from None
        return pattern

    @model_validator(mode="after")
    def _compile(self) -> RegexReplaceArgs:
        self._regexp = re2.compile(self.pattern, _RE2_OPTIONS)
        self._parts = _replacement_parts(self.replacement)
        groups = int(self._regexp.groups)
        for part in self._parts:
            if isinstance(part, int) and part > groups:
                raise ValueError(f"replacement refers to group {part}; the pattern has {groups}")
        return self


def _decoded(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    return detail.decode() if isinstance(detail, bytes) else str(detail)


def _replacement_parts(replacement: str) -> tuple[str | int, ...]:
    """Literal text and group numbers: ``\\1``..``\\9`` is a group, ``\\\\`` a backslash."""
    parts: list[str | int] = []
    text, i = "", 0
    while i < len(replacement):
        char, following = replacement[i], replacement[i + 1 : i + 2]
        if char == "\\" and following.isdigit():
            parts.extend([text, int(following)] if text else [int(following)])
            text, i = "", i + 2
        elif char == "\\" and following == "\\":
            text, i = text + "\\", i + 2
        else:
            text, i = text + char, i + 1
    return (*parts, text) if text else tuple(parts)


@register_transform("regex_replace", RegexReplaceArgs)
def _regex_replace(value: JSON, args: RegexReplaceArgs, _: Context) -> JSON:
    """Replace matches of an RE2 pattern (linear time: no backtracking)."""
    text = text_of(value)
    out: list[str] = []
    size, end, done = 0, 0, 0
    for match in args._regexp.finditer(text):
        if args.count and done == args.count:
            break
        pieces = [text[end : match.start()]]
        pieces += [p if isinstance(p, str) else (match.group(p) or "") for p in args._parts]
        size += sum(map(len, pieces))
        if size > MAX_TEXT:
            raise TransformError(f"text longer than {MAX_TEXT} characters")
        out += pieces
        end, done = match.end(), done + 1
    out.append(text[end:])
    if size + len(text) - end > MAX_TEXT:
        raise TransformError(f"text longer than {MAX_TEXT} characters")
    return "".join(out)
