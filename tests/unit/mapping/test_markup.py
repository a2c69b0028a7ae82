"""Markdown <-> ADF, text <-> ADF, HTML <-> text: examples and round-trip properties."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mapping_strategies import adf_documents, paragraph_texts

from crossdock.core.adf import MAX_DEPTH, MAX_MARKDOWN, adf_to_markdown, markdown_to_adf
from crossdock.core.adf_text import adf_to_text, text_to_adf
from crossdock.core.html_text import html_to_text, text_to_html

slow = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@slow
@given(adf_documents())
def test_adf_to_markdown_and_back_is_the_same_document(document: dict[str, object]) -> None:
    assert markdown_to_adf(adf_to_markdown(document)) == document


@slow
@given(adf_documents())
def test_markdown_written_by_the_converter_is_stable(document: dict[str, object]) -> None:
    markdown = adf_to_markdown(document)
    assert adf_to_markdown(markdown_to_adf(markdown)) == markdown


@given(paragraph_texts)
def test_text_to_adf_and_back_keeps_the_text(text: str) -> None:
    assert adf_to_text(text_to_adf(text)) == text


@pytest.mark.parametrize(
    ("markdown", "marks"),
    [
        ("2 * 3 * 4", [("2 * 3 * 4", [])]),
        ("snake_case_name", [("snake_case_name", [])]),
        ("a *b* c", [("a ", []), ("b", ["em"]), (" c", [])]),
        ("**x** `y`", [("x", ["strong"]), (" ", []), ("y", ["code"])]),
        (r"\*not\* bold", [("*not* bold", [])]),
        ("**unclosed", [("**unclosed", [])]),
    ],
)
def test_inline_marks(markdown: str, marks: list[tuple[str, list[str]]]) -> None:
    [paragraph] = markdown_to_adf(markdown)["content"]
    got = [(n["text"], [m["type"] for m in n.get("marks", [])]) for n in paragraph["content"]]
    assert got == marks


TEXT_NOTE = {"type": "text", "text": "note"}


def test_unknown_adf_nodes_become_their_text() -> None:
    document = {
        "type": "doc",
        "content": [
            {"type": "paragraph", "content": [{"type": "mention", "attrs": {"text": "@ann"}}]},
            {"type": "panel", "content": [{"type": "paragraph", "content": [TEXT_NOTE]}]},
        ],
    }
    assert adf_to_markdown(document) == "@ann\n\nnote"
    assert adf_to_text(document) == "@ann\n\nnote"


def test_too_deep_adf_is_refused() -> None:
    node: dict[str, object] = {"type": "paragraph", "content": [{"type": "text", "text": "x"}]}
    for _ in range(MAX_DEPTH + 2):
        node = {"type": "blockquote", "content": [node]}
    with pytest.raises(ValueError, match="nested deeper"):
        adf_to_markdown({"type": "doc", "content": [node]})


@pytest.mark.parametrize(
    "markdown",
    [
        "**" * 100_000,
        "[" * 100_000,
        "*a " * (MAX_MARKDOWN // 3),  # the costliest shape, just within the limit
        "*a " * 333_333,  # past the limit: plain text
        "`" * 100_000,
        "- " * 50_000,
    ],
)
def test_hostile_markdown_is_bounded(markdown: str) -> None:
    """CPU time of this process, so that other work on a shared machine cannot fail it."""
    started = time.process_time()
    with contextlib.suppress(ValueError):
        markdown_to_adf(markdown)
    assert time.process_time() - started < 1.0


def test_markdown_past_the_limit_is_kept_whole_as_plain_text() -> None:
    text = "**bold** " * (MAX_MARKDOWN // 9 + 1)
    document = markdown_to_adf(text)
    assert document == text_to_adf(text)
    assert adf_to_text(document) == text


def test_html_to_text_keeps_structure_and_drops_scripts() -> None:
    html = "<h1>T</h1><p>a&nbsp;&lt;b&gt;<br>c</p><ol><li>x</li><li>y</li></ol><style>p{}</style>"
    assert html_to_text(html) == "T\n\na\u00a0<b>\nc\n\n- x\n- y"


def test_html_entities_do_not_expand() -> None:
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]><p>&b;&b;</p>'
    assert len(html_to_text(bomb)) <= len(bomb)


@given(st.text(max_size=200))
def test_html_to_text_is_never_longer_than_its_input(html: str) -> None:
    assert len(html_to_text(html)) <= len(html)


@given(paragraph_texts)
def test_text_to_html_and_back_keeps_the_text(text: str) -> None:
    assert html_to_text(text_to_html(text)) == text
