"""Read a YAML file into plain data plus the position of every key and value.

PyYAML's composer gives a node tree with start marks. This module walks it once and
returns ordinary Python data (mappings with string keys, lists, scalars) together with
`entries`: for each path of keys and list indexes, where its key and its value start
(1-based line and column). Duplicate keys, non-scalar keys, unknown tags and syntax
errors become located `ConfigProblem`s instead of exceptions.

Keys are kept as the text written (``on:`` is the key "on", not True). Merge keys
(``<<: *defaults``) are honoured; explicit keys override merged ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from crossdock.config._paths import PathKey, render_path
from crossdock.core.errors import ConfigProblem

_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_NODES = 200_000  # bounds alias expansion ("billion laughs")


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a file; line and column are 1-based, None for a whole file or folder."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Entry:
    """Where a value starts, and where its key starts (None for list items and roots)."""

    value: Position
    key: Position | None = None

    @property
    def anchor(self) -> Position:
        """The key if there is one, else the value: where to point at this entry."""
        return self.key or self.value


@dataclass
class ParsedYaml:
    """The result of `parse_yaml`; `data` is None when the file could not be read at all."""

    data: Any
    entries: dict[PathKey, Entry] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)


def problem_at(path: str, message: str, position: Position) -> ConfigProblem:
    """A ConfigProblem located at `position`."""
    return ConfigProblem(path, message, position.file, position.line, position.column)


def parse_yaml(path: Path, display: str) -> ParsedYaml:
    """Read and parse one YAML file; positions name the file as `display`."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return _failed(display, "the file is not UTF-8 text")
    except OSError as exc:
        return _failed(display, f"cannot read the file: {exc.strerror}")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Position(display, mark.line + 1, mark.column + 1) if mark else Position(display)
        return ParsedYaml(None, problems=[problem_at("", _yaml_message(exc), where)])
    except yaml.YAMLError as exc:
        return _failed(display, f"invalid YAML: {exc}")
    if root is None:
        return _failed(display, "the file is empty")
    walker = _Walker(display)
    data = walker.node(root, (), None)
    if walker.unbounded:  # the data is not what the file means: validate nothing more
        return ParsedYaml(None, problems=walker.problems)
    return ParsedYaml(data, walker.entries, walker.problems)


def _failed(display: str, message: str) -> ParsedYaml:
    return ParsedYaml(None, problems=[ConfigProblem("", message, display)])


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    message = f"invalid YAML: {exc.problem or 'syntax error'}"
    if exc.context:
        message += f" ({exc.context})"
    return message


class _Walker:
    """Builds data and entries from a node tree; collects problems on the way."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.entries: dict[PathKey, Entry] = {}
        self.problems: list[ConfigProblem] = []
        self._constructor = SafeConstructor()
        self._stack: set[int] = set()
        self._count = 0
        self.unbounded = False  # a recursive alias, or too many nodes once aliases expand

    def position(self, node: Node) -> Position:
        return Position(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def problem(self, path: PathKey, message: str, node: Node) -> None:
        self.problems.append(problem_at(render_path(path), message, self.position(node)))

    def node(self, node: Node, path: PathKey, key: Position | None) -> Any:
        self.entries[path] = Entry(self.position(node), key)
        self._count += 1
        if id(node) in self._stack or self._count > _MAX_NODES:
            reason = "recursive alias" if id(node) in self._stack else "too many nodes"
            if not self.unbounded:
                self.problem(path, f"{reason}: the document cannot be expanded", node)
            self.unbounded = True
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        self._stack.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            assert isinstance(node, SequenceNode)
            return [self.node(item, (*path, i), None) for i, item in enumerate(node.value)]
        finally:
            self._stack.discard(id(node))

    def _scalar(self, node: ScalarNode, path: PathKey) -> Any:
        try:
            return self._constructor.construct_object(node)
        except ConstructorError as exc:
            self.problem(path, f"unsupported YAML value: {exc.problem}", node)
            return None

    def _mapping(self, node: MappingNode, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_text, (key_node, value_node) in self._pairs(node, path).items():
            key_path = (*path, key_text)
            result[key_text] = self.node(value_node, key_path, self.position(key_node))
        return result

    def _pairs(self, node: MappingNode, path: PathKey) -> dict[str, tuple[Node, Node]]:
        """Key text -> (key node, value node): merged pairs first, then explicit ones."""
        pairs: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                for text, pair in self._merged(value_node, path).items():
                    pairs.setdefault(text, pair)
        explicit: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(path, "a key must be plain text, not a list or mapping", key_node)
                continue
            text = str(key_node.value)
            if text in explicit:
                first = self.position(explicit[text])
                self.problem((*path, text), f"duplicate key (first at line {first.line})", key_node)
                continue
            explicit[text] = key_node
            pairs[text] = (key_node, value_node)
        return pairs

    def _merged(self, value: Node, path: PathKey) -> dict[str, tuple[Node, Node]]:
        sources = value.value if isinstance(value, SequenceNode) else [value]
        merged: dict[str, tuple[Node, Node]] = {}
        for source in sources:
            if not isinstance(source, MappingNode) or id(source) in self._stack:
                self.problem(path, "'<<' merges only mappings, and not into themselves", source)
                continue
            for text, pair in self._pairs(source, path).items():
                merged.setdefault(text, pair)
        return merged
