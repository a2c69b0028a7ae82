"""Plain text to and from the Atlassian Document Format (ADF): no Markdown is read.

`text_to_adf` makes paragraphs (a blank line separates them, a line break is a
``hardBreak``); `adf_to_text` gives the text of any ADF document, marks dropped, list
items as ``- `` lines. ``adf_to_text(text_to_adf(t)) == t`` for text whose paragraphs are
separated by exactly one blank line.
"""

from __future__ import annotations

from crossdock.core.adf import MAX_DEPTH, Node, children, node_of, text_to_adf

__all__ = ["adf_to_text", "text_to_adf"]


def adf_to_text(document: object) -> str:
    """The text of an ADF document: blocks separated by a blank line, marks dropped."""
    return "\n\n".join(_text_block(node, 0) for node in children(node_of(document)))


def _text_block(node: Node, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise ValueError(f"ADF nested deeper than {MAX_DEPTH} levels")
    kind = node["type"]
    if kind in ("bulletList", "orderedList"):
        lines = []
        for n, item in enumerate(children(node), start=1):
            marker = f"{n}. " if kind == "orderedList" else "- "
            body = "\n".join(_text_block(c, depth + 1) for c in children(item))
            lines.append(marker + body.replace("\n", "\n" + " " * len(marker)))
        return "\n".join(lines)
    if kind in ("paragraph", "heading", "codeBlock"):
        return "".join(_text_leaf(c) for c in children(node))
    if kind in ("text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"):
        return _text_leaf(node)
    return "\n\n".join(_text_block(c, depth + 1) for c in children(node))


def _text_leaf(node: Node) -> str:
    if node["type"] == "hardBreak":
        return "\n"
    if node["type"] == "text":
        return str(node.get("text", ""))
    attrs = node.get("attrs", {})
    return str(attrs.get("text") or attrs.get("shortName") or attrs.get("url") or "")
