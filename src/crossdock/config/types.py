"""Field types shared by every configuration model: names, durations, secrets, URLs.

Each type carries its own validation and its own JSON Schema, so a model (including a
connector's settings model) only declares fields:

    class MySettings(ConnectorSettings):
        token: Secret = Field(description="API token.")
        timeout: Duration = Field(default=timedelta(seconds=10), description="...")

Durations are `datetime.timedelta` values, always positive. Secrets are
`pydantic.SecretStr` values that can only be written as a reference.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    SecretStr,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from crossdock.config._references import (
    WHOLE_REFERENCE_PATTERN,
    is_whole_reference,
    source_text,
)

__all__ = [
    "KEY_PATH_PATTERN",
    "NAME_PATTERN",
    "PATTERN_HINTS",
    "ConfigModel",
    "Duration",
    "HttpUrlStr",
    "KeyPath",
    "LoadContext",
    "Name",
    "Secret",
    "format_duration",
    "load_context",
    "parse_duration",
]


class ConfigModel(BaseModel):
    """Base of every configuration model: unknown keys are refused, instances are frozen,
    and a ValidationError's text never shows inputs (one may be a misplaced secret)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


@dataclass(slots=True)
class LoadContext:
    """Validation context passed by the loader.

    `base_dir` anchors relative paths. When `secret_inputs` is a set, `Secret` fields
    record there the id of each input they consume (the loader uses it to tell secret
    references from ordinary ones without reading them).
    """

    base_dir: Path
    secret_inputs: set[int] | None = None


def load_context(info: ValidationInfo) -> LoadContext | None:
    """The loader's context, or None when a model is validated directly."""
    return info.context if isinstance(info.context, LoadContext) else None


# -- names ----------------------------------------------------------------------------

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
KEY_PATH_PATTERN = r"^[^.\s]+(\.[^.\s]+)*$"

#: Human explanations of the patterns above, used in error messages.
PATTERN_HINTS: dict[str, str] = {
    NAME_PATTERN: "must be a name: a lowercase letter, then up to 62 lowercase letters, "
    "digits, '_' or '-'",
    KEY_PATH_PATTERN: "must be a dotted path such as order.id",
}

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
KeyPath = Annotated[str, StringConstraints(pattern=KEY_PATH_PATTERN)]


# -- durations ------------------------------------------------------------------------

_UNIT_MICROS = {  # largest first: format_duration picks the first that divides exactly
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "m": 60_000_000,
    "s": 1_000_000,
    "ms": 1_000,
}
_MAX_MICROS = timedelta.max // timedelta(microseconds=1)
_NUMBER = r"\d+(?:\.\d+)?"
_DURATION_TEXT = re.compile(rf"(?:{_NUMBER}(?:ms|s|m|h|d))+")
_DURATION_PART = re.compile(rf"({_NUMBER})(ms|s|m|h|d)")
_DURATION_HINT = "use seconds or a number with a unit: 500ms, 30s, 10m, 24h, 7d, 1h30m"


def parse_duration(value: object) -> timedelta:
    """Parse a positive duration: ``"500ms"``, ``"30s"``, ``"10m"``, ``"24h"``, ``"7d"``,
    combinations such as ``"1h30m"``, or a number (or numeric string) of seconds.

    Exact to the microsecond (text is not read through floats). Raises ValueError with a
    message fit for the user otherwise, zero and negative durations included.
    """
    if isinstance(value, timedelta):
        micros = Fraction(value // timedelta(microseconds=1))
    elif isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a duration; {_DURATION_HINT}")
    elif isinstance(value, str):
        micros = _micros_of_text(value)
    elif not math.isfinite(value):
        raise ValueError("duration is too large")
    else:
        micros = Fraction(value) * _UNIT_MICROS["s"]
    if micros > _MAX_MICROS:
        raise ValueError("duration is too large")
    if round(micros) <= 0:
        raise ValueError("must be a positive duration")
    return value if isinstance(value, timedelta) else timedelta(microseconds=round(micros))


def _micros_of_text(value: str) -> Fraction:
    text = value.strip()  # for a Resolved string: its resolved text
    if re.fullmatch(r"-?" + _NUMBER, text):
        return Fraction(text) * _UNIT_MICROS["s"]
    if _DURATION_TEXT.fullmatch(text):
        parts = _DURATION_PART.findall(text)
        return sum((Fraction(n) * _UNIT_MICROS[unit] for n, unit in parts), Fraction(0))
    raise ValueError(f'invalid duration "{source_text(value)}": {_DURATION_HINT}')


def format_duration(value: timedelta) -> str:
    """The shortest exact text for `value` in the syntax `parse_duration` reads."""
    micros = value // timedelta(microseconds=1)
    for unit, unit_micros in _UNIT_MICROS.items():
        if micros % unit_micros == 0:
            return f"{micros // unit_micros}{unit}"
    whole, fraction = divmod(micros, 1_000_000)
    return f"{whole}.{fraction:06d}".rstrip("0") + "s"


def _validate_duration(value: object) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\d+(\.\d+)?|(\d+(\.\d+)?(ms|s|m|h|d))+)$"},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "examples": ["500ms", "30s", "10m", "24h", "7d"],
        }
    ),
]


# -- secrets --------------------------------------------------------------------------

_LITERAL_SECRET = "literal secret refused: use ${env:NAME} or ${file:PATH}"
_PARTIAL_SECRET = "a secret must be exactly one reference: ${env:NAME} or ${file:PATH}"


def _validate_secret(value: object, info: ValidationInfo) -> SecretStr:
    """Accept only a reference; never put the input in an error (it may be a secret)."""
    if isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("secret_literal", _LITERAL_SECRET)
    template = source_text(value)
    if not is_whole_reference(template):
        kind = "secret_partial" if "${" in template else "secret_literal"
        raise PydanticCustomError(kind, _PARTIAL_SECRET if "${" in template else _LITERAL_SECRET)
    context = load_context(info)
    if context is not None and context.secret_inputs is not None:
        context.secret_inputs.add(id(value))
    return SecretStr(str(value))


Secret = Annotated[
    SecretStr,
    BeforeValidator(_validate_secret),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": WHOLE_REFERENCE_PATTERN,
            "examples": ["${env:API_TOKEN}", "${file:/run/secrets/api_token}"],
        }
    ),
]
"""A secret: written only as ``${env:NAME}`` or ``${file:PATH}``, held as SecretStr."""


# -- URLs -----------------------------------------------------------------------------


# Characters no host name may hold (RFC 3986 reg-name); the URL parser lets them through
# and the request fails only when it is sent.
_NOT_IN_HOST = frozenset(' "<>\\^`{|}')


def _validate_http_url(value: str) -> str:
    """An http(s) URL a request can use: caught here, a bad port or host is a located
    configuration error, not a crash when the hub starts or a failure at the first send."""
    if not value.isprintable():  # urlsplit silently drops tabs and newlines
        raise PydanticCustomError(
            "http_url_control", "the URL must not hold control characters (tab, newline)"
        )
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("http_url", "must be an http:// or https:// URL")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise PydanticCustomError(
            "http_url_port", "the URL has an invalid port: must be a number from 1 to 65535"
        )
    if any(c in _NOT_IN_HOST for c in parts.hostname):
        raise PydanticCustomError(
            "http_url_host", 'the URL has an invalid host: it holds a space or one of "<>\\^`{|}'
        )
    return value


HttpUrlStr = Annotated[
    str,
    AfterValidator(_validate_http_url),
    WithJsonSchema({"type": "string", "format": "uri", "pattern": "^https?://"}),
]
"""An absolute http or https URL, kept as the string written."""
