"""Hypothesis strategies: canonical tickets and ADF documents in their normal form.

The normal form is what the converters promise to keep: marked runs of text start and
end on a word, paragraphs have no blank lines, no two lists of one kind are adjacent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from crossdock.core.adf import adf_to_markdown
from crossdock.core.canonical import (
    Attachment,
    Comment,
    ExternalRef,
    Level,
    Party,
    PartyKind,
    Priority,
    Status,
    Ticket,
)

Node = dict[str, Any]

# Words mix letters with every character Markdown gives a meaning to.
WORD_CHARS = "abcxyzABC0189éß*_`[]#-+.!()\\<>&|"
words = st.text(alphabet=WORD_CHARS, min_size=1, max_size=8)
plain_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
phrases = st.lists(words, min_size=1, max_size=4).map(" ".join)
code_phrases = st.lists(
    st.text(alphabet="abcxyz019_*[]#\\(){}", min_size=1, max_size=6), min_size=1, max_size=3
).map(" ".join)
URLS = ("https://example.com", "https://example.com/a/b?c=1", "http://x.test/path_(1")

MARKS = st.sampled_from(
    [(), ("strong",), ("em",), ("strong", "em"), ("code",), ("link",), ("link", "strong")]
)


def _mark(kind: str, href: str) -> Node:
    return {"type": "link", "attrs": {"href": href}} if kind == "link" else {"type": kind}


@st.composite
def segments(draw: st.DrawFn) -> list[Node]:
    """One run of words with one set of marks."""
    marks = draw(MARKS)
    text = draw(code_phrases if "code" in marks else phrases)
    href = draw(st.sampled_from(URLS[:2]))
    node: Node = {"type": "text", "text": text}
    if marks:
        node["marks"] = [_mark(kind, href) for kind in marks]
    return [node]


def _normalise(nodes: list[Node]) -> list[Node]:
    out: list[Node] = []
    for node in nodes:
        last = out[-1] if out else None
        same = last is not None and last["type"] == node["type"] == "text"
        if same and last.get("marks") == node.get("marks"):  # type: ignore[union-attr]
            last["text"] += node["text"]  # type: ignore[index]
        else:
            out.append(dict(node))
    return out


@st.composite
def inline(draw: st.DrawFn, breaks: bool = True) -> list[Node]:
    nodes: list[Node] = []
    for n in range(draw(st.integers(1, 4))):
        if n:
            brk = breaks and draw(st.booleans())
            nodes.append({"type": "hardBreak"} if brk else {"type": "text", "text": " "})
        nodes.extend(draw(segments()))
    return _normalise(nodes)


@st.composite
def list_node(draw: st.DrawFn, depth: int) -> Node:
    ordered = draw(st.booleans())
    items = []
    for _ in range(draw(st.integers(1, 3))):
        content: list[Node] = [{"type": "paragraph", "content": draw(inline())}]
        if depth < 2 and draw(st.integers(0, 3)) == 0:
            content.append(draw(list_node(depth + 1)))
        items.append({"type": "listItem", "content": content})
    node: Node = {"type": "orderedList" if ordered else "bulletList"}
    if ordered:
        node["attrs"] = {"order": draw(st.integers(1, 12))}
    node["content"] = items
    return node


@st.composite
def block(draw: st.DrawFn) -> Node:
    kind = draw(st.sampled_from(["paragraph", "paragraph", "heading", "list", "code"]))
    if kind == "paragraph":
        return {"type": "paragraph", "content": draw(inline())}
    if kind == "heading":
        level = draw(st.integers(1, 6))
        return {"type": "heading", "attrs": {"level": level}, "content": draw(inline(False))}
    if kind == "list":
        return draw(list_node(0))
    lines = draw(st.lists(code_phrases, min_size=1, max_size=3))
    node: Node = {"type": "codeBlock"}
    language = draw(st.sampled_from(["", "python", "sql"]))
    if language:
        node["attrs"] = {"language": language}
    node["content"] = [{"type": "text", "text": "\n".join(lines)}]
    return node


@st.composite
def adf_documents(draw: st.DrawFn) -> Node:
    blocks: list[Node] = []
    for node in draw(st.lists(block(), max_size=5)):
        if blocks and node["type"].endswith("List") and blocks[-1]["type"] == node["type"]:
            continue  # two adjacent lists of one kind read back as one list
        blocks.append(node)
    return {"type": "doc", "version": 1, "content": blocks}


# -- canonical tickets ----------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
paragraph_texts = st.lists(
    st.lists(phrases, min_size=1, max_size=3).map("\n".join), min_size=1, max_size=3
).map("\n\n".join)
ids = st.integers(1, 10**12).map(str)
emails = st.builds(lambda a, b: f"{a}@{b}.example", plain_words, plain_words)
moments = st.datetimes(
    min_value=datetime(1972, 1, 1),  # far enough from year 1 and 9999 that no zone's offset
    max_value=datetime(9997, 12, 31),  # overflows astimezone
    timezones=st.sampled_from([UTC]) | st.timezones(),
).filter(lambda d: 1971 <= d.astimezone(UTC).year <= 9998)


def parties(kind: PartyKind = PartyKind.PERSON) -> st.SearchStrategy[Party]:
    return st.builds(
        Party,
        kind=st.just(kind),
        name=texts,
        emails=st.lists(emails, max_size=1).map(tuple),
        external_ids=st.fixed_dictionaries({"zendesk": ids, "jira": plain_words}),
    )


attachments = st.builds(
    Attachment,
    name=texts.filter(bool),
    media_type=st.sampled_from(["image/png", "application/pdf", "text/plain"]),
    size=st.integers(0, 10**9),
    sha256=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
    content_ref=st.sampled_from(URLS),
)


@st.composite
def comments(draw: st.DrawFn) -> Comment:
    document = draw(adf_documents())
    return Comment(
        external_ids=draw(st.fixed_dictionaries({"zendesk": ids, "jira": ids})),
        author=draw(st.none() | parties()),
        body_text=draw(texts),
        body_html=draw(st.none() | texts),
        body_markdown=adf_to_markdown(document),
        public=draw(st.booleans()),
        created=draw(moments),
        attachments=tuple(draw(st.lists(attachments, max_size=2))),
    )


json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts


@st.composite
def tickets(draw: st.DrawFn) -> Ticket:
    maybe = st.none
    return Ticket(
        external={
            "zendesk": ExternalRef(id=draw(ids), url=draw(maybe() | st.sampled_from(URLS))),
            "jira": ExternalRef(
                id=draw(ids),
                key=draw(maybe() | ids.map("SUP-".__add__)),
                url=draw(maybe() | st.sampled_from(URLS)),
            ),
        },
        title=draw(maybe() | texts),
        description=draw(maybe() | paragraph_texts),
        type=draw(
            maybe() | st.sampled_from(["incident", "service_request", "problem", "change", "task"])
        ),
        status=draw(maybe() | st.sampled_from(Status)),
        priority=draw(maybe() | st.sampled_from(Priority)),
        impact=draw(maybe() | st.sampled_from(Level)),
        urgency=draw(maybe() | st.sampled_from(Level)),
        category=draw(maybe() | texts),
        service=draw(maybe() | texts),
        assignee=draw(maybe() | parties()),
        group=draw(maybe() | parties(PartyKind.GROUP)),
        requester=draw(maybe() | parties()),
        created=draw(maybe() | moments),
        updated=draw(maybe() | moments),
        resolved=draw(maybe() | moments),
        due=draw(maybe() | moments),
        labels=tuple(draw(st.lists(plain_words, max_size=3))),
        custom=draw(st.dictionaries(plain_words, json_scalars, max_size=3)),
        comments=tuple(draw(st.lists(comments(), max_size=3))),
        attachments=tuple(draw(st.lists(attachments, max_size=2))),
    )
