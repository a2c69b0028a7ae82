"""Request bodies to JSON values: JSON, HTML forms and XML, with depth and number limits.

`parse_body` raises `UnsupportedMediaType` (answer 415) for a content type the endpoint
does not accept, and `MalformedBody` (answer 400) for a body its parser refuses, with the
parser's located message. Nothing here recurses on input nesting before the depth is
checked, so a deeply nested body cannot exhaust the stack.

XML becomes a dict by this convention (see docs/intake.md)::

    <order id="7"><item>a</item><item>b</item><note/></order>
    -> {"order": {"@id": "7", "item": ["a", "b"], "note": None}}

Namespaces are dropped (local names only), every value is a string, an element with
neither attributes nor children is its text (None when empty), otherwise its text (if
not blank) is under ``"#text"``. Any DTD is refused, so no entity is ever expanded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Literal
from urllib.parse import parse_qsl
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
import orjson
from defusedxml import DefusedXmlException

from crossdock.core.envelope import JSON

__all__ = ["MalformedBody", "UnsupportedMediaType", "media_kind", "parse_body"]

ContentKind = Literal["json", "form", "xml"]

MAX_FORM_FIELDS = 1000
_I64_MIN = -(2**63)
_U64_MAX = 2**64 - 1
# The shortest integers orjson may not hold: 19 digits in a row. Found by turning every
# digit into 0 and looking for nineteen zeros, ten times faster than a regex [0-9]{19}.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19
_ABSENT = object()
_UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


class UnsupportedMediaType(Exception):
    """The body's content type is not one the endpoint accepts."""


class MalformedBody(Exception):
    """The body cannot be read as its content type says; the message locates the fault."""


def media_kind(content_type: str | None) -> tuple[ContentKind | None, str | None]:
    """The kind of a Content-Type header (None if unsupported) and its charset, if any."""
    if not content_type:
        return None, None
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset":
            charset = value.strip().strip('"')
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return "json", charset
    if media == "application/x-www-form-urlencoded":
        return "form", charset
    if media in ("application/xml", "text/xml") or media.endswith("+xml"):
        return "xml", charset
    return None, charset


def parse_body(
    body: bytes, content_type: str | None, accepted: Iterable[str], max_depth: int
) -> JSON:
    """The body as a JSON value, if its kind is ``accepted`` and it nests at most
    ``max_depth`` objects / arrays / elements deep."""
    kind, charset = media_kind(content_type)
    if kind is None or kind not in accepted:
        raise UnsupportedMediaType(f"content type {_shown(content_type)} is not accepted here")
    if kind != "xml" and charset is not None and charset not in _UTF8:
        raise UnsupportedMediaType(f"charset {_shown(charset)} is not accepted: use utf-8")
    if kind == "json":
        return parse_json(body, max_depth)
    if kind == "form":
        return parse_form(body)
    return parse_xml(body, max_depth)


def _shown(text: str | None) -> str:
    """A header value for an error message: quoted, printable, short."""
    if text is None:
        return "(none)"
    cleaned = "".join(c if c.isprintable() else "?" for c in text[:80])
    return f'"{cleaned}"'


# -- JSON -----------------------------------------------------------------------------


def parse_json(body: bytes, max_depth: int) -> JSON:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"invalid JSON: {exc}") from None
    if body.count(b"[") + body.count(b"{") > max_depth and _too_deep(value, max_depth):
        raise MalformedBody(f"JSON nested deeper than {max_depth} levels")
    if _LONG_DIGITS in body.translate(_DIGITS_AS_ZERO):
        _check_integers(body)
    return value


def _too_deep(value: JSON, limit: int) -> bool:
    """True if containers nest more than ``limit`` deep; iterative, so any depth is safe."""
    stack: list[tuple[JSON, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _exact_int(text: str) -> int:
    number = int(text) if len(text) <= 21 else None  # int() refuses > 4300 digits anyway
    if number is None or not _I64_MIN <= number <= _U64_MAX:
        raise MalformedBody(f"integer {text[:30]}{'...' if len(text) > 30 else ''} out of range")
    return number


def _check_integers(body: bytes) -> None:
    """orjson reads integers beyond 64 bits as floats, losing digits: refuse them.

    Only run when the body has a run of 19+ digits; the depth is already checked, so the
    standard library's recursive parser is safe here.
    """
    try:
        json.loads(body, parse_int=_exact_int)
    except ValueError as exc:  # orjson accepted it; the standard library should too
        raise MalformedBody(f"invalid JSON: {exc}") from None


# -- forms ----------------------------------------------------------------------------


def parse_form(body: bytes) -> dict[str, JSON]:
    """Fields of an urlencoded form; a repeated field becomes a list of its values."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"invalid form: byte {exc.start} is not ASCII") from None
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise MalformedBody("invalid form: a percent-encoded value is not UTF-8") from None
    except ValueError:
        raise MalformedBody(f"invalid form: more than {MAX_FORM_FIELDS} fields") from None
    fields: dict[str, JSON] = {}
    for name, value in pairs:
        if name not in fields:
            fields[name] = value
        elif isinstance(fields[name], list):
            fields[name].append(value)
        else:
            fields[name] = [fields[name], value]
    return fields


# -- XML ------------------------------------------------------------------------------


def parse_xml(body: bytes, max_depth: int) -> dict[str, JSON]:
    try:
        root = SafeElementTree.fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise MalformedBody("invalid XML: DTDs and entities are not accepted") from None
    except ParseError as exc:
        raise MalformedBody(f"invalid XML: {exc}") from None
    if _xml_depth(root) > max_depth:
        raise MalformedBody(f"XML nested deeper than {max_depth} levels")
    return {_local(root.tag): _element_value(root)}


def _xml_depth(root: Element) -> int:
    deepest = 0
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in element)
    return deepest


def _local(name: str) -> str:
    return name.rpartition("}")[2]


def _element_value(element: Element) -> JSON:
    text = "".join([element.text or "", *(child.tail or "" for child in element)]).strip()
    if not element.attrib and len(element) == 0:
        return text or None
    value: dict[str, JSON] = {f"@{_local(k)}": v for k, v in element.attrib.items()}
    if len(value) < len(element.attrib):
        raise MalformedBody(
            f"element {_local(element.tag)!r} has two attributes of the same name in"
            " different namespaces (namespaces are dropped)"
        )
    for child in element:
        name, child_value = _local(child.tag), _element_value(child)
        earlier = value.get(name, _ABSENT)
        if earlier is _ABSENT:
            value[name] = child_value
        elif isinstance(earlier, list):  # an element's value is never a list itself
            earlier.append(child_value)
        else:
            value[name] = [earlier, child_value]
    if text:
        value["#text"] = text
    return value
