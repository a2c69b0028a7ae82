"""HTML to plain text and plain text to HTML, with the standard library only.

`html_to_text` reads with `html.parser` (no network, no DTD, so no custom entities and
no entity expansion bombs: only the fixed HTML5 character references are decoded) and
keeps the reading structure: blocks become paragraphs separated by a blank line, ``<br>``
a line break, list items lines starting with ``- ``; ``script``, ``style`` and ``head``
are dropped. Runs of white space collapse as a browser would (not inside ``<pre>``). The
output is never longer than the input: every mark it adds replaces a longer tag.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_SPACES = re.compile(r"[ \t\n\r\f\v]+")
_RUNS = re.compile(r" {2,}")

_BLOCKS = frozenset(
    (
        *("address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption"),
        *("figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr"),
        *("li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot"),
        *("th", "thead", "tr", "ul"),
    )
)
_HIDDEN = frozenset(("script", "style", "head", "template", "title"))


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[tuple[str, bool]] = []  # finished paragraphs: (text, is list item)
        self._current: list[str] = []
        self._hidden = 0
        self._pre = 0
        self._gap = False  # a paragraph break is pending

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "br":
            self._current.append("\n")
        elif tag in _BLOCKS:
            self._break()
            if tag == "pre":
                self._pre += 1
            if tag == "li":
                self._current.append("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._current.append("\n")
        elif tag in _BLOCKS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self._break()
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        self._current.append(data if self._pre else _SPACES.sub(" ", data))

    def _break(self) -> None:
        text = "".join(self._current)
        self._current = []
        if not self._pre:
            text = "\n".join(_RUNS.sub(" ", line).strip(" ") for line in text.split("\n"))
        paragraph = text.strip("\n")
        if paragraph.strip():
            self._lines.append((paragraph, paragraph.startswith("- ")))

    def text(self) -> str:
        self._break()
        parts: list[str] = []
        previous_item = False
        for paragraph, item in self._lines:
            if parts:
                parts.append("\n" if item and previous_item else "\n\n")
            parts.append(paragraph)
            previous_item = item
        return "".join(parts)


def html_to_text(source: str) -> str:
    """The readable text of an HTML fragment or document."""
    parser = _TextParser()
    parser.feed(source)
    parser.close()
    return parser.text()


def text_to_html(text: str) -> str:
    """Escaped text in paragraphs: a blank line starts a ``<p>``, a line break is ``<br>``."""
    paragraphs = [p.strip("\n") for p in text.replace("\r\n", "\n").split("\n\n")]
    return "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p.strip()
    )
