"""Markdown to and from the Atlassian Document Format (ADF); pure, bounded.

Supported both ways: paragraphs (a line break inside one is an ADF ``hardBreak``),
headings ``#``..``######``, bullet lists (``-``, ``*`` or ``+``), ordered lists (``1.``),
nested lists (indented under their item), fenced code blocks with a language, and the
marks bold (``**``), italic (``_`` or ``*``), inline code and links ``[text](url)``.
Markdown written by `adf_to_markdown` reads back to the same document (see
docs/mapping.md for the few shapes that cannot be written). Other ADF nodes (mentions,
emoji, panels, tables, quotes) become their text. Plain text: see `adf_text`.

Bounds: nesting deeper than `MAX_DEPTH` is refused; scanning for closing delimiters is
budgeted to a fixed multiple of the input length, past which delimiters are plain text,
so the time is linear in the input; text longer than `MAX_MARKDOWN` is converted as plain
text (`text_to_adf`, defined here and exported by `adf_text`).
"""

from __future__ import annotations

import re
from typing import Any

Node = dict[str, Any]

MAX_DEPTH = 20
"""Deepest nesting of lists, marks or ADF nodes converted."""
MAX_MARKDOWN = 65_536
"""Longest text read as Markdown (twice Jira's 32,767-character field limit); longer text
is converted as plain text, whole."""

_HEADING = re.compile(r"(#{1,6}) (.*)")
_ITEM = re.compile(r"([-*+]|\d{1,9}\.) ")
_BLOCK_START = re.compile(r"#{1,6}(?: |$)|[-+] |\d{1,9}\. ")
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_ESCAPED = frozenset("\\*_`[]")
_MARK_ORDER = ("link", "strong", "em", "code")

# -- Markdown -> ADF ------------------------------------------------------------------


def markdown_to_adf(text: str) -> Node:
    """An ADF document from Markdown; text longer than `MAX_MARKDOWN` characters is taken
    as plain text (`text_to_adf`), so no input costs more than a fraction of a second."""
    if len(text) > MAX_MARKDOWN:
        return text_to_adf(text)
    lines = text.replace("\r\n", "\n").split("\n")
    return {"type": "doc", "version": 1, "content": _blocks(lines, 0)}


def text_to_adf(text: str) -> Node:
    """An ADF document of paragraphs: a blank line separates them, a line break is kept."""
    paragraphs: list[list[str]] = [[]]
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    content = []
    for lines in paragraphs:
        if lines:
            nodes: list[Node] = []
            for n, line in enumerate(lines):
                if n:
                    nodes.append({"type": "hardBreak"})
                nodes.append({"type": "text", "text": line})
            content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


def _blocks(lines: list[str], depth: int) -> list[Node]:
    if depth > MAX_DEPTH:
        raise ValueError(f"lists nested deeper than {MAX_DEPTH} levels")
    out: list[Node] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        heading = _HEADING.fullmatch(line)
        if line.startswith("```"):
            node, i = _code_block(lines, i)
        elif heading:
            content = _Inline(heading.group(2)).nodes()
            node, i = {"type": "heading", "attrs": {"level": len(heading.group(1))}}, i + 1
            node["content"] = content
        elif _ITEM.match(line):
            node, i = _list(lines, i, depth)
        else:
            node, i = _paragraph(lines, i)
        out.append(node)
    return out


def _code_block(lines: list[str], i: int) -> tuple[Node, int]:
    language = lines[i][3:].strip()
    end = i + 1
    while end < len(lines) and lines[end].rstrip() != "```":
        end += 1
    code = "\n".join(lines[i + 1 : end])
    node: Node = {"type": "codeBlock"}
    if language:
        node["attrs"] = {"language": language}
    node["content"] = [{"type": "text", "text": code}] if code else []
    return node, end + 1


def _paragraph(lines: list[str], i: int) -> tuple[Node, int]:
    end = i + 1
    while end < len(lines) and lines[end].strip() and not _starts_block(lines[end]):
        end += 1
    content = _Inline("\n".join(lines[i:end])).nodes()
    return {"type": "paragraph", "content": content}, end


def _starts_block(line: str) -> bool:
    return line.startswith("```") or bool(_BLOCK_START.match(line)) or line.startswith("* ")


def _list(lines: list[str], i: int, depth: int) -> tuple[Node, int]:
    first = _ITEM.match(lines[i])
    assert first is not None
    ordered = first.group(1)[0].isdigit()
    node: Node = {"type": "orderedList" if ordered else "bulletList"}
    if ordered:
        node["attrs"] = {"order": int(first.group(1)[:-1])}
    items: list[Node] = []
    while i < len(lines):
        j = i
        while j < len(lines) - 1 and not lines[j].strip():
            j += 1  # blank lines between items of one list
        marker = _ITEM.match(lines[j])
        if marker is None or marker.group(1)[0].isdigit() != ordered:
            break
        i = j
        width = marker.end()
        body = [lines[i][width:]]
        i += 1
        while i < len(lines) and _continues(lines, i, width):
            body.append(lines[i][width:])
            i += 1
        items.append({"type": "listItem", "content": _blocks(body, depth + 1)})
    node["content"] = items
    return node, i


def _continues(lines: list[str], i: int, width: int) -> bool:
    """An item goes on over lines indented by its marker's width, and blank lines
    followed by such a line."""
    j = i
    while j < len(lines) and not lines[j].strip():
        j += 1
    return j < len(lines) and lines[j].startswith(" " * width)


class _Inline:
    """Inline Markdown to ADF text nodes, with a budget on delimiter scanning."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[Node] = []
        self.budget = 8 * len(text) + 64

    def nodes(self) -> list[Node]:
        self.parse(0, len(self.text), (), 0)
        return self.out

    def parse(self, start: int, end: int, marks: tuple[Node, ...], depth: int) -> None:
        text, buffer, i = self.text, [], start
        while i < end:
            char = text[i]
            if char == "\\" and i + 1 < end and text[i + 1] in _PUNCTUATION:
                buffer.append(text[i + 1])
                i += 2
                continue
            after = self._span(i, end, marks, depth, buffer) if char in "`[*_" else None
            if after is None:
                buffer.append(char)
                i += 1
            else:
                i = after
        self._emit("".join(buffer), marks)

    def _span(
        self, i: int, end: int, marks: tuple[Node, ...], depth: int, buffer: list[str]
    ) -> int | None:
        """Parse the marked span opening at i (emitting `buffer` first); its end, or None."""
        if depth >= MAX_DEPTH:
            return None
        found = self._find_span(i, end)
        if found is None:
            return None
        inner_start, inner_end, after, mark = found
        self._emit("".join(buffer), marks)
        buffer.clear()
        inner = _with_mark(marks, mark)
        if mark["type"] == "code":
            self._emit(self.text[inner_start:inner_end], inner)
        else:
            self.parse(inner_start, inner_end, inner, depth + 1)
        return after

    def _find_span(self, i: int, end: int) -> tuple[int, int, int, Node] | None:
        text = self.text
        if text[i] == "`":  # no escapes inside code
            close = text.find("`", i + 1, end)
            return None if close <= i + 1 else (i + 1, close, close + 1, {"type": "code"})
        if text[i] == "[":
            return self._find_link(i, end)
        delimiter = "**" if text.startswith("**", i) else text[i]
        opens = i + len(delimiter) < end and not text[i + len(delimiter)].isspace()
        if not opens or (delimiter == "_" and i > 0 and text[i - 1].isalnum()):
            return None
        close = self._find_closer(delimiter, i + len(delimiter), end)
        if close < 0:
            return None
        mark = {"type": "strong" if delimiter == "**" else "em"}
        return i + len(delimiter), close, close + len(delimiter), mark

    def _find_link(self, i: int, end: int) -> tuple[int, int, int, Node] | None:
        middle = self._find("](", i + 1, end)
        if middle < 0:
            return None
        close = self.text.find(")", middle + 2, end)
        href = self.text[middle + 2 : close]
        if close < 0 or not href or any(c.isspace() for c in href):
            return None
        return i + 1, middle, close + 1, {"type": "link", "attrs": {"href": href}}

    def _find(self, delimiter: str, start: int, end: int) -> int:
        """The first unescaped `delimiter` in [start, end), or -1 (also when out of budget)."""
        text, i = self.text, start
        while i < end:
            self.budget -= 1
            if self.budget < 0:
                return -1
            if text[i] == "\\":
                i += 2
                continue
            if text.startswith(delimiter, i) and i + len(delimiter) <= end:
                return i
            i += 1
        return -1

    def _find_closer(self, delimiter: str, start: int, end: int) -> int:
        """A closing delimiter after a non-space: for ``*`` not half of ``**``, for ``_``
        not followed by a letter or digit."""
        text, i = self.text, start
        while True:
            i = self._find(delimiter, i, end)
            if i < 0:
                return -1
            after = i + len(delimiter)
            if delimiter == "*" and text.startswith("**", i):
                i += 2
            elif text[i - 1].isspace() or i == start or _intraword(delimiter, text, after, end):
                i = after
            else:
                return i

    def _emit(self, text: str, marks: tuple[Node, ...]) -> None:
        for n, line in enumerate(text.split("\n")):
            if n:
                self.out.append({"type": "hardBreak"})
            if not line:
                continue
            last = self.out[-1] if self.out else None
            if last is not None and last["type"] == "text" and last.get("marks", []) == [*marks]:
                last["text"] += line
                continue
            node: Node = {"type": "text", "text": line}
            if marks:
                node["marks"] = [*marks]
            self.out.append(node)


def _intraword(delimiter: str, text: str, after: int, end: int) -> bool:
    return delimiter == "_" and after < end and text[after].isalnum()


def _with_mark(marks: tuple[Node, ...], mark: Node) -> tuple[Node, ...]:
    kept = tuple(m for m in marks if m["type"] != mark["type"])
    return tuple(sorted((*kept, mark), key=lambda m: _MARK_ORDER.index(m["type"])))


# -- ADF -> Markdown ------------------------------------------------------------------


def adf_to_markdown(document: object) -> str:
    """Markdown from an ADF document (or a single ADF node)."""
    return "\n\n".join(_render_block(node, 0) for node in children(node_of(document)))


def node_of(value: object) -> Node:
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise ValueError("expected an ADF node (an object with a type)")
    return value


def children(node: Node) -> list[Node]:
    content = node.get("content", [])
    if not isinstance(content, list):
        raise ValueError("ADF content must be a list")
    return [node_of(child) for child in content]


def _render_block(node: Node, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise ValueError(f"ADF nested deeper than {MAX_DEPTH} levels")
    kind = node["type"]
    if kind == "paragraph":
        return _escape_lines(_render_inline(children(node), depth))
    if kind == "heading":
        level = node.get("attrs", {}).get("level", 1)
        level = level if isinstance(level, int) and 1 <= level <= 6 else 1
        return "#" * level + " " + _render_inline(children(node), depth)
    if kind in ("bulletList", "orderedList"):
        return _render_list(node, depth)
    if kind == "codeBlock":
        language = node.get("attrs", {}).get("language") or ""
        code = "".join(str(c.get("text", "")) for c in children(node))
        return f"```{language}\n{code}\n```" if code else f"```{language}\n```"
    if kind == "rule":
        return ""
    if kind == "blockquote":
        inner = "\n\n".join(_render_block(c, depth + 1) for c in children(node))
        return "\n".join("> " + line for line in inner.split("\n"))
    if "text" in node:  # an inline node where a block was expected
        return _escape_lines(_render_inline([node], depth))
    return "\n\n".join(_render_block(c, depth + 1) for c in children(node))


def _render_list(node: Node, depth: int) -> str:
    ordered = node["type"] == "orderedList"
    number = node.get("attrs", {}).get("order", 1) if ordered else 0
    number = number if isinstance(number, int) else 1
    items = []
    for item in children(node):
        marker = f"{number}. " if ordered else "- "
        number += 1
        blocks = [(c["type"], _render_block(c, depth + 1)) for c in children(item)]
        body = ""
        for n, (kind, text) in enumerate(blocks):
            separator = "" if n == 0 else ("\n" if kind.endswith("List") else "\n\n")
            body += separator + text
        indent = " " * len(marker)
        lines = body.split("\n")
        items.append(
            marker + "\n".join([lines[0]] + [indent + ln if ln else ln for ln in lines[1:]])
        )
    return "\n".join(items)


def _render_inline(nodes: list[Node], depth: int, level: int = 0) -> str:
    """Render runs of nodes sharing a link, then bold, then italic, as one marked span."""
    if level == 3:
        return "".join(_render_leaf(node) for node in nodes)
    kind = _MARK_ORDER[level]
    out: list[str] = []
    run: list[Node] = []
    key: str | None = None
    for node in [*nodes, None]:
        node_key = _mark_key(node, kind) if node is not None else None
        if run and (node is None or node_key != key):
            inner = _render_inline(run, depth, level + 1)
            out.append(_wrap(inner, kind, key))
            run = []
        if node is not None:
            run.append(node)
            key = node_key
    return "".join(out)


def _mark_key(node: Node, kind: str) -> str | None:
    for mark in node.get("marks", []) or []:
        if isinstance(mark, dict) and mark.get("type") == kind:
            return str(mark.get("attrs", {}).get("href", "")) if kind == "link" else kind
    return None


def _wrap(inner: str, kind: str, key: str | None) -> str:
    """Mark `inner`; spaces at its ends go outside the mark (Markdown needs it so)."""
    core = inner.strip(" ")
    if key is None or not core:
        return inner
    before, after = inner[: len(inner) - len(inner.lstrip(" "))], inner[len(inner.rstrip(" ")) :]
    if kind == "link":
        core = f"[{core}]({key.replace(' ', '%20').replace(')', '%29')})"
    else:
        core = f"**{core}**" if kind == "strong" else f"_{core}_"
    return before + core + after


def _render_leaf(node: Node) -> str:
    kind = node["type"]
    if kind == "hardBreak":
        return "\n"
    if kind == "text":
        text = str(node.get("text", ""))
        if _mark_key(node, "code"):
            return f"`{text}`"
        return "".join("\\" + c if c in _ESCAPED else c for c in text)
    attrs = node.get("attrs", {})
    text = attrs.get("text") or attrs.get("shortName") or attrs.get("url") or ""
    return "".join("\\" + c if c in _ESCAPED else c for c in str(text))


def _escape_lines(text: str) -> str:
    """Escape a line start that would otherwise open a block (heading, list item)."""
    lines = text.split("\n")
    for n, line in enumerate(lines):
        found = _BLOCK_START.match(line)
        if found:
            at = found.end() - 2 if line[0].isdigit() else 0
            lines[n] = line[:at] + "\\" + line[at:]
    return "\n".join(lines)
