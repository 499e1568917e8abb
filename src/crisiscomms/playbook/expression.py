"""`when:` conditions: a small, safe expression language checked before anything runs.

    inputs.gravite >= haute and not inputs.exercice
    assessment.priority >= p2
    convocation.status == "recorded" or inputs.canal in ["presse", "social"]

Names are dotted references: `inputs.<input>` or `<step_id>.<field>` (a result field of an earlier
step). A bare word is a literal only where it is compared with a reference whose values form an
ordered scale (an input of type `choice`, or a result field typed as a Literal): there `>=` follows
the declared order. Anything else bare is an unknown name — reported at validation, never guessed.

Missing data reads as null, and a comparison with null is false; so is a comparison of values of different kinds
(`n.text in 5`, a list `>= 1`): the step is skipped, the run goes on. Where validation knows both kinds (a typed
input or result field against a literal), it reports the comparison instead.

Python's `ast` parses the text; only the node kinds listed in `_ALLOWED` are accepted, and the tree
is evaluated by this module, never by `eval`.
"""

from __future__ import annotations

import ast
import itertools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from crisiscomms.errors import ExpressionError

MAX_LENGTH = 500
MAX_NESTING = 32  # a condition people read is a few levels deep; the checker and evaluator recurse on it
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare, ast.Name,
    ast.Attribute, ast.Constant, ast.List, ast.Tuple, ast.Load, *_COMPARE,
)
_REFUSED = {
    ast.Call: "calling functions", ast.Subscript: "indexing ([…])", ast.BinOp: "arithmetic",
    ast.IfExp: "if/else", ast.Lambda: "lambda", ast.Dict: "a mapping ({…})", ast.Set: "a set",
    ast.NamedExpr: "assignment (:=)", ast.JoinedStr: "an f-string", ast.Starred: "unpacking (*)",
}
_WORD_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


# The kinds of value a condition compares: how the checker names a typed reference or a literal.
Kind = Literal["text", "number", "boolean", "list", "mapping"]


@dataclass(frozen=True)
class Scale:
    """What the checker knows about a reference: its ordered values when it has some, its kind when it is typed."""

    ordered: tuple[str, ...] | None = None
    kind: Kind | None = None


# A resolver answers, for a dotted reference, either its Scale or an error message.
Resolver = Callable[[tuple[str, ...]], "Scale | str"]


@dataclass(frozen=True)
class Condition:
    text: str
    tree: ast.Expression

    def references(self) -> list[tuple[str, ...]]:
        return [ref for ref in (_dotted(n) for n in ast.walk(self.tree)) if ref and len(ref) > 1]


def parse(text: str) -> Condition:
    """Parse a condition; raise ExpressionError with a reason a comms officer can act on."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"condition longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ExpressionError(f"cannot parse condition {text!r}: {exc.msg}{where}") from exc
    except ValueError as exc:  # a NUL character (YAML's "\0" escape)
        raise ExpressionError(f"cannot parse condition {text!r}: {exc}") from exc
    except (RecursionError, MemoryError) as exc:
        raise ExpressionError(f"condition nested more than {MAX_NESTING} levels deep: write it more simply") from exc
    if _depth(tree) > MAX_NESTING:
        raise ExpressionError(f"condition nested more than {MAX_NESTING} levels deep: write it more simply")
    for node in ast.walk(tree):
        _allow(node, text)
    return Condition(text, tree)


def _depth(tree: ast.AST) -> int:
    """How deep the tree goes, walked without recursion (the tree may be as deep as the parser allows)."""
    deepest, todo = 0, [(tree, 0)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        todo += [(child, depth + 1) for child in ast.iter_child_nodes(node)]
    return deepest


def _allow(node: ast.AST, text: str) -> None:
    if not isinstance(node, _ALLOWED):
        what = _REFUSED.get(type(node), type(node).__name__)
        raise ExpressionError(f"{what} is not allowed in a condition ({text!r})")
    if isinstance(node, ast.Constant) and not isinstance(node.value, str | int | float | bool | None):
        raise ExpressionError(f"literal {node.value!r} is not allowed in a condition")
    if isinstance(node, ast.Attribute) and _dotted(node) is None:
        raise ExpressionError(f"'.{node.attr}' can only follow a name like inputs.x ({text!r})")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and not (
        isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, int | float)
    ):
        raise ExpressionError(f"'-' only goes before a number ({text!r})")


def check(condition: Condition, resolve: Resolver) -> list[str]:
    """Every problem with the names of a condition (empty list: the condition is sound)."""
    return _Checker(resolve).problems(condition.tree.body)


def evaluate(condition: Condition, values: Mapping[str, Any], scales: Resolver) -> bool:
    """Evaluate against `values` (`{"inputs": {...}, step_id: {...}}`); missing data reads as null."""
    return bool(_Evaluator(values, scales).value(condition.tree.body))


def _dotted(node: ast.AST) -> tuple[str, ...] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return (node.id, *reversed(parts))
    return None


def _is_word(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id not in _WORD_CONSTANTS


class _Checker:
    def __init__(self, resolve: Resolver) -> None:
        self.resolve = resolve

    def problems(self, node: ast.AST) -> list[str]:
        if isinstance(node, ast.BoolOp):
            return [p for value in node.values for p in self.problems(value)]
        if isinstance(node, ast.UnaryOp):
            return self.problems(node.operand)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        return self._operand(node, scale=None)

    def _compare(self, node: ast.Compare) -> list[str]:
        operands = [node.left, *node.comparators]
        found = [self._scale(o) for o in operands]
        unknown = [f for f in found if isinstance(f, str)]
        if unknown:
            return unknown  # the rest of the comparison cannot be judged without that reference
        scales = {i: s for i, s in enumerate(found) if isinstance(s, Scale)}
        out: list[str] = []
        for i, operand in enumerate(operands):
            neighbours = [scales.get(i - 1), scales.get(i + 1)]
            scale = next((s for s in neighbours if s and s.ordered), None)
            out += self._operand(operand, scale)
        for op, (left, right) in zip(node.ops, itertools.pairwise(operands), strict=True):
            if isinstance(op, _ORDERING) and not _orderable(left, right, scales, operands):
                out.append(f"'{ast.unparse(left)} {_symbol(op)} {ast.unparse(right)}' compares values "
                           "that have no order (use == or a choice input)")
            else:
                out += _kinds_problem(op, _kind(left, scales, operands), _kind(right, scales, operands),
                                      f"{ast.unparse(left)} {_symbol(op)} {ast.unparse(right)}")
        return out

    def _scale(self, node: ast.AST) -> Scale | str | None:
        ref = _dotted(node)
        if ref is None or len(ref) == 1:
            return None
        return self.resolve(ref)

    def _operand(self, node: ast.AST, scale: Scale | None) -> list[str]:
        if isinstance(node, ast.List | ast.Tuple):
            return [p for element in node.elts for p in self._operand(element, scale)]
        ref = _dotted(node)
        if ref is None:
            return []
        if len(ref) == 1:
            return self._word(ref[0], scale)
        found = self.resolve(ref)
        return [found] if isinstance(found, str) else []

    @staticmethod
    def _word(word: str, scale: Scale | None) -> list[str]:
        if word in _WORD_CONSTANTS:
            return []
        if scale and scale.ordered:
            if word in scale.ordered:
                return []
            return [f"'{word}' is not one of {', '.join(scale.ordered)}"]
        return [f"unknown name '{word}' (write inputs.{word}, a step result like step_id.field, "
                "or quote a text value)"]


def _orderable(left: ast.AST, right: ast.AST, scales: dict[int, Scale], operands: list[ast.AST]) -> bool:
    def numeric(node: ast.AST) -> bool:
        if isinstance(node, ast.UnaryOp):  # -1: parse() allows '-' before a number only
            node = node.operand
        return isinstance(node, ast.Constant) and isinstance(node.value, int | float)

    def ordered(node: ast.AST) -> bool:
        scale = scales.get(operands.index(node))
        return bool(scale and scale.ordered)

    return ordered(left) or ordered(right) or numeric(left) or numeric(right) or (
        not _is_word(left) and not _is_word(right) and _dotted(left) is not None and _dotted(right) is not None
    )


def _symbol(op: ast.cmpop) -> str:
    return {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in",
            ast.NotIn: "not in"}[type(op)]


_ARTICLE = {"text": "a text", "number": "a number", "boolean": "true or false", "list": "a list",
            "mapping": "a record"}


def _kind(node: ast.AST, scales: dict[int, Scale], operands: list[ast.AST]) -> Kind | None:
    """The kind of an operand when it is known: a typed reference's, or a literal's (null and words: None)."""
    if isinstance(node, ast.List | ast.Tuple):
        return "list"
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return "number"
    if isinstance(node, ast.Constant):
        value = node.value
        return "boolean" if isinstance(value, bool) else "number" if isinstance(value, int | float) else \
            "text" if isinstance(value, str) else None
    if isinstance(node, ast.Name) and node.id in _WORD_CONSTANTS:
        value = _WORD_CONSTANTS[node.id]
        return None if value is None else "boolean"
    scale = scales.get(operands.index(node))
    return scale.kind if scale else None


def _kinds_problem(op: ast.cmpop, left: Kind | None, right: Kind | None, text: str) -> list[str]:
    """Why comparing these kinds can never hold (the run would read the condition as false), or nothing."""
    if left is None or right is None:
        return []
    if isinstance(op, ast.In | ast.NotIn):
        if right == "list" or (right == "mapping" and left == "text") or (right == left == "text"):
            return []
        return [f"'{text}' looks for {_ARTICLE[left]} in {_ARTICLE[right]}: `in` looks in a list, or for a text "
                "in a text"]
    if left == right and not (isinstance(op, _ORDERING) and left == "mapping"):
        return []
    always = "true" if isinstance(op, ast.NotEq) else "false"
    return [f"'{text}' compares {_ARTICLE[left]} with {_ARTICLE[right]}: values of different kinds never match "
            f"(the condition would always be {always})"]


class _Evaluator:
    def __init__(self, values: Mapping[str, Any], scales: Resolver) -> None:
        self.values = values
        self.scales = scales

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.BoolOp):
            results = (bool(self.value(v)) for v in node.values)
            return all(results) if isinstance(node.op, ast.And) else any(results)
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand)
            return -operand if isinstance(node.op, ast.USub) else not operand
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            return [self.value(e) for e in node.elts]
        ref = _dotted(node)
        if ref is None:
            raise ExpressionError(f"cannot evaluate {ast.unparse(node)}")
        return _WORD_CONSTANTS.get(ref[0], ref[0]) if len(ref) == 1 else self._lookup(ref)

    def _lookup(self, ref: Sequence[str]) -> Any:
        current: Any = self.values
        for part in ref:
            if not isinstance(current, Mapping) or part not in current:
                return None
            current = current[part]
        return current

    def _compare(self, node: ast.Compare) -> bool:
        operands = [node.left, *node.comparators]
        ranks = self._ranks(operands)
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            a, b = self.value(left), self.value(right)
            if isinstance(op, _ORDERING):
                a, b = ranks.get(id(left), a), ranks.get(id(right), b)
                if a is None or b is None or type(a) is str or type(b) is str:
                    return False  # missing data or no order: the step does not run
            try:
                holds = _COMPARE[type(op)](a, b)
            except TypeError:  # values of different kinds (a text `in` a number, a list `>=` a number)
                return False
            if not holds:
                return False
        return True

    def _ranks(self, operands: list[ast.AST]) -> dict[int, Any]:
        """Map each operand on an ordered scale to its rank; values off the scale get None."""
        scale = next((s for s in (self._scale(o) for o in operands) if s and s.ordered), None)
        if scale is None or scale.ordered is None:
            return {}
        order = {v: i for i, v in enumerate(scale.ordered)}
        return {id(o): order.get(self.value(o)) for o in operands if not isinstance(o, ast.List | ast.Tuple)}

    def _scale(self, node: ast.AST) -> Scale | None:
        ref = _dotted(node)
        if ref is None or len(ref) == 1:
            return None
        found = self.scales(ref)
        return found if isinstance(found, Scale) else None
