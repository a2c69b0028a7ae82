"""Expressions in JMESPath, evaluated with bounded work and bounded output.

JMESPath reads JSON only: a field is a dictionary key, an index a list position; there
are no variables, no user functions, no loops beyond projections over the data, and no
way to reach a Python attribute. Two things in it can still blow up — values built
from themselves (``[@, @] | [@, @] | ...`` doubles at each stage) and comparisons or
functions over such values — so crossdock evaluates with its own interpreter, which:

- refuses expressions longer than `MAX_LENGTH` characters or nested deeper than
  `MAX_DEPTH` (checked when the configuration is loaded);
- counts work: every AST node visited, every item of every list or object built,
  compared or passed to a function; past `MAX_WORK` units the evaluation stops;
- measures every value it builds or passes to a function (characters plus items, shared
  parts counted each time they appear, as they would be written); past `MAX_SIZE` the
  evaluation stops, before anything larger is built;
- refuses results that are not JSON (an expression reference ``&x`` is not a value).

No thread, no timer: the bounds are counts, so they cost a few percent, hold on any
machine, and stop hostile expressions in milliseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath.functions import Functions
from jmespath.parser import ParsedResult
from jmespath.visitor import Options, TreeInterpreter, _Expression

if TYPE_CHECKING:
    from jmespath.visitor import _TreeNode

from crossdock.core.envelope import JSON

MAX_LENGTH: Final = 1000
"""Longest expression text (characters)."""
MAX_DEPTH: Final = 40
"""Deepest nesting of the parsed expression."""
MAX_WORK: Final = 250_000
"""Work units one evaluation may spend (about 0.1 s of CPU at worst)."""
MAX_SIZE: Final = 1_000_000
"""Largest value an evaluation may build or pass on: characters plus items."""

_EXPREF_FUNCTIONS = frozenset(("map", "sort_by", "max_by", "min_by"))
_SCALARS = (str, int, float, bool, type(None))


class ExpressionError(ValueError):
    """An expression could not be evaluated; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled expression; `search` evaluates it against one JSON body."""

    text: str
    _parsed: ParsedResult

    def search(self, body: JSON) -> JSON:
        interpreter = _interpreter()
        try:
            result = interpreter.visit(self._parsed.parsed, body)
            interpreter.size(result)
        except RecursionError:
            raise ExpressionError("the data is nested too deeply") from None
        except jmespath_errors.JMESPathError as exc:
            raise ExpressionError(str(exc).replace("\n", " ")) from None
        finally:
            interpreter.reset()
        return result

    def holds(self, body: JSON) -> bool:
        """JMESPath truth: false, null, "", [] and {} are false, anything else true."""
        result = self.search(body)
        return not (result is None or result is False or result in ("", [], {}))


def compile_expression(text: str) -> Expression:
    """Parse and check an expression; ValueError with the reason when it is refused."""
    if len(text) > MAX_LENGTH:
        raise ValueError(f"expression longer than {MAX_LENGTH} characters")
    try:
        parsed = jmespath.compile(text)
    except RecursionError:
        raise ValueError("expression nested too deeply") from None
    except jmespath_errors.JMESPathError as exc:
        raise ValueError(f"not a JMESPath expression: {_first_line(exc)}") from None
    if _depth(parsed.parsed) > MAX_DEPTH:
        raise ValueError(f"expression nested deeper than {MAX_DEPTH} levels")
    return Expression(text, parsed)


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split("\n")[:1])


def _depth(root: _TreeNode) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend(
            (child, depth + 1) for child in node.get("children", []) if isinstance(child, dict)
        )
    return deepest


_local = threading.local()


def _interpreter() -> _BoundedInterpreter:
    """This thread's interpreter (building one per evaluation would double the cost)."""
    interpreter: _BoundedInterpreter | None = getattr(_local, "interpreter", None)
    if interpreter is None:
        interpreter = _local.interpreter = _BoundedInterpreter()
    return interpreter


class _BoundedInterpreter(TreeInterpreter):
    """JMESPath's tree interpreter, counting work and measuring the values it builds."""

    def __init__(self) -> None:
        super().__init__(Options(custom_functions=_BoundedFunctions(self)))
        self.work = 0
        self._sizes: dict[int, tuple[object, int]] = {}  # id -> (value kept alive, size)

    def reset(self) -> None:
        self.work = 0
        self._sizes.clear()

    def spend(self, units: int) -> None:
        self.work += units
        if self.work > MAX_WORK:
            raise ExpressionError(f"evaluation stopped after {MAX_WORK} steps")

    def visit(self, node: _TreeNode, *args: Any, **kwargs: Any) -> Any:
        self.spend(1)
        return super().visit(node, *args, **kwargs)

    def built(self, value: Any) -> Any:
        if isinstance(value, list | dict):
            self.spend(len(value))
            self.size(value)
        return value

    def size(self, value: object) -> int:
        """Characters plus items of `value` as written out; ExpressionError past MAX_SIZE."""
        if isinstance(value, list | dict):
            return self._container_size(value)
        if isinstance(value, str):
            return len(value) + 1
        if isinstance(value, _SCALARS):
            return 1
        raise ExpressionError("an expression reference (&...) is not a value")

    def _container_size(self, root: list[Any] | dict[str, Any]) -> int:
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if id(node) in self._sizes:
                continue
            items = list(node.items()) if isinstance(node, dict) else [(None, v) for v in node]
            self.spend(len(items))
            if not ready:
                stack.append((node, True))
                stack.extend((v, False) for _, v in items if isinstance(v, list | dict))
                continue
            total = 1 + sum(len(k or "") + self._known(v) for k, v in items)
            if total > MAX_SIZE:
                raise ExpressionError(f"a value grew past {MAX_SIZE} characters and items")
            self._sizes[id(node)] = (node, total)
        return self._sizes[id(root)][1]

    def cost(self, value: object) -> int:
        """Work to pass `value` through a function or a comparison: items, and characters
        at 64 a unit (copied and compared in C)."""
        size = self.size(value)
        return size // 64 + (len(value) if isinstance(value, list | dict) else 0)

    def _known(self, value: object) -> int:
        if isinstance(value, list | dict):
            return self._sizes[id(value)][1]
        return self.size(value)

    def visit_comparator(self, node: _TreeNode, value: Any) -> Any:
        left = self.visit(node["children"][0], value)
        right = self.visit(node["children"][1], value)
        if isinstance(left, list | dict | str) and isinstance(right, list | dict | str):
            self.spend(min(self.cost(left), self.cost(right)))
        op = node["value"]
        if op in ("eq", "ne"):
            return _equals(left, right) == (op == "eq")
        both_numbers = _is_number(left) and _is_number(right)
        if not (both_numbers or (isinstance(left, str) and isinstance(right, str))):
            return None
        return self.COMPARATOR_FUNC[op](left, right)

    def visit_multi_select_list(self, node: _TreeNode, value: Any) -> Any:
        return self.built(super().visit_multi_select_list(node, value))

    def visit_multi_select_dict(self, node: _TreeNode, value: Any) -> Any:
        return self.built(super().visit_multi_select_dict(node, value))

    def visit_flatten(self, node: _TreeNode, value: Any) -> Any:
        base = self.visit(node["children"][0], value)
        if not isinstance(base, list):
            return None
        self.spend(sum(len(e) if isinstance(e, list) else 1 for e in base))
        merged: list[Any] = []
        for element in base:
            if isinstance(element, list):
                merged.extend(element)
            else:
                merged.append(element)
        return self.built(merged)

    def visit_projection(self, node: _TreeNode, value: Any) -> Any:
        return self.built(super().visit_projection(node, value))

    def visit_filter_projection(self, node: _TreeNode, value: Any) -> Any:
        return self.built(super().visit_filter_projection(node, value))

    def visit_value_projection(self, node: _TreeNode, value: Any) -> Any:
        return self.built(super().visit_value_projection(node, value))

    def visit_slice(self, node: _TreeNode, value: Any) -> Any:
        return self.built(super().visit_slice(node, value))


def _equals(left: object, right: object) -> bool:
    """JSON equality: true and 1 differ (Python has them equal)."""
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    return left == right


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _BoundedFunctions(Functions):
    """JMESPath's functions, with arguments and results measured and joins pre-checked."""

    def __init__(self, interpreter: _BoundedInterpreter) -> None:
        self._interpreter = interpreter

    def call_function(self, function_name: str, resolved_args: Iterable[Any]) -> Any:
        args = list(resolved_args)
        meter = self._interpreter
        for arg in args:
            if not (isinstance(arg, _Expression) and function_name in _EXPREF_FUNCTIONS):
                meter.spend(meter.cost(arg))
        if function_name == "join" and len(args) == 2 and isinstance(args[1], list):
            parts = [a for a in args[1] if isinstance(a, str)]
            total = sum(map(len, parts)) + len(str(args[0])) * len(parts)
            if total > MAX_SIZE:
                raise ExpressionError(f"join would make a text of {total} characters")
        result = super().call_function(function_name, args)
        meter.spend(meter.cost(result))
        return meter.built(result)
