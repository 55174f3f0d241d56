"""Metadata filter expressions (`--where`): one small grammar, parsed once, translated per engine.

    category = 'billing' AND created_at >= '2025-01-01'
    (app IN ('PayFlow', 'Nimbus ID') OR width > 1000) AND NOT language = 'zh'
    resolution IS NOT NULL AND error_code LIKE 'PF-%'

Fields are metadata columns or built-in record fields; values are quoted strings ('it''s'),
numbers, TRUE or FALSE. Parsing to an engine-neutral tree lets every engine accept exactly
the same expressions and lets bad input fail before it reaches a database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Union

from pipeline.errors import BadInput

Value = Union[str, int, float, bool]
COMPARISONS = ("=", "!=", "<>", "<=", ">=", "<", ">")
MAX_EXPRESSION_CHARS = 2000
# Parentheses and NOT nested deeper than this are refused: the parser recurses once per level, and
# LanceDB's SQL parser refuses expressions nested much deeper than what this lets through.
MAX_FILTER_DEPTH = 8
INT32_RANGE = (-(2**31), 2**31 - 1)
_NUMBER_TEXT = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_ONLY_SPACE_LEFT = re.compile(r"\s*\Z")


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str
    value: Value


@dataclass(frozen=True)
class InList:
    field: str
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    field: str
    negated: bool = False


@dataclass(frozen=True)
class Like:
    field: str
    pattern: str
    negated: bool = False


@dataclass(frozen=True)
class BoolOp:
    op: str  # "AND" | "OR"
    operands: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    operand: Filter


Filter = Union[Comparison, InList, IsNull, Like, BoolOp, Not]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "TRUE", "FALSE"}


def parse_filter(expression: str, fields: Collection[str]) -> Filter:
    """Parse and validate an expression; BadInput names the expression and what is wrong."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise BadInput("filter", f"expression is {len(expression)} characters, limit {MAX_EXPRESSION_CHARS}")
    # Parsing is one pass over the tokens with recursion bounded by MAX_FILTER_DEPTH: linear time.
    parser = _Parser(expression, set(fields))
    return parser.parse()


class _Parser:
    def __init__(self, text: str, fields: set[str]) -> None:
        self.text = text
        self.fields = fields
        self.tokens = self._tokenize(text)
        self.position = 0
        self.depth = 0

    def fail(self, reason: str) -> BadInput:
        return BadInput(f"filter {self.text!r}", reason)

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        index = 0
        while not _ONLY_SPACE_LEFT.match(text, index):
            match = _TOKEN.match(text, index)
            if match is None:
                raise self.fail(f"unexpected character {text[index:].lstrip()[:1]!r} at position {index}")
            kind = match.lastgroup or ""
            value = match.group(kind)
            if kind == "word" and value.upper() in KEYWORDS:
                kind, value = "keyword", value.upper()
            tokens.append((kind, value))
            index = match.end()
        if not tokens:
            raise self.fail("empty expression")
        return tokens

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.position += 1
        return token

    def accept(self, kind: str, value: str) -> bool:
        if self.peek() == (kind, value):
            self.position += 1
            return True
        return False

    def expect(self, kind: str, value: str) -> None:
        if not self.accept(kind, value):
            raise self.fail(f"expected {value!r} but found {self._describe(self.peek())}")

    def _describe(self, token: tuple[str, str]) -> str:
        return "the end of the expression" if token[0] == "end" else repr(token[1])

    def parse(self) -> Filter:
        node = self.parse_or()
        if self.peek()[0] != "end":
            raise self.fail(f"unexpected {self._describe(self.peek())}; join conditions with AND or OR")
        return node

    def parse_or(self) -> Filter:
        operands = [self.parse_and()]
        while self.accept("keyword", "OR"):
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else BoolOp("OR", tuple(operands))

    def parse_and(self) -> Filter:
        operands = [self.parse_not()]
        while self.accept("keyword", "AND"):
            operands.append(self.parse_not())
        return operands[0] if len(operands) == 1 else BoolOp("AND", tuple(operands))

    def parse_not(self) -> Filter:
        if self.accept("keyword", "NOT"):
            self.enter_level()
            node: Filter = Not(self.parse_not())
        elif self.accept("punct", "("):
            self.enter_level()
            node = self.parse_or()
            self.expect("punct", ")")
        else:
            return self.parse_condition()
        self.depth -= 1
        return node

    def enter_level(self) -> None:
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise self.fail(
                f"parentheses and NOT nested more than {MAX_FILTER_DEPTH} levels deep; the limit is {MAX_FILTER_DEPTH}"
            )

    def parse_condition(self) -> Filter:
        kind, name = self.take()
        if kind != "word":
            raise self.fail(f"expected a field name but found {self._describe((kind, name))}")
        if name not in self.fields:
            known = ", ".join(sorted(self.fields)) or "none"
            raise self.fail(f"unknown field {name!r} (known fields: {known})")
        if self.accept("keyword", "IS"):
            negated = self.accept("keyword", "NOT")
            self.expect("keyword", "NULL")
            return IsNull(name, negated)
        negated = self.accept("keyword", "NOT")
        if self.accept("keyword", "IN"):
            self.expect("punct", "(")
            values = [self.parse_value()]
            while self.accept("punct", ","):
                values.append(self.parse_value())
            self.expect("punct", ")")
            return InList(name, tuple(values), negated)
        if self.accept("keyword", "LIKE"):
            pattern = self.parse_value()
            if not isinstance(pattern, str):
                raise self.fail(f"LIKE needs a quoted pattern after {name!r}")
            return Like(name, pattern, negated)
        if negated:
            raise self.fail(f"expected IN or LIKE after '{name} NOT'")
        kind, op = self.take()
        if kind != "op":
            raise self.fail(f"expected a comparison (=, !=, <, <=, >, >=, IN, LIKE, IS NULL) after {name!r}")
        return Comparison(name, "!=" if op == "<>" else op, self.parse_value())

    def parse_value(self) -> Value:
        kind, value = self.take()
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "number":
            if not math.isfinite(float(value)):
                shown = value if len(value) <= 24 else f"{value[:20]}...({len(value)} characters)"
                raise self.fail(f"number {shown} is too large (numbers must be finite, up to about 1.8e308)")
            return float(value) if "." in value else int(value)
        if (kind, value) == ("keyword", "TRUE"):
            return True
        if (kind, value) == ("keyword", "FALSE"):
            return False
        raise self.fail(f"expected a value ('text', a number, TRUE or FALSE) but found {self._describe((kind, value))}")


def numeric_value(text: str) -> float | None:
    """The number a metadata value reads as (what SQL's TRY_CAST to DOUBLE would give), else None."""
    if not _NUMBER_TEXT.match(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def to_sql(node: Filter, column: Callable[[str], str], text_fields: Collection[str], *, source: str = "filter") -> str:
    """Render for SQL engines with the values Weaviate's translation gives: numeric literals compare
    text fields as numbers, TRUE / FALSE on a text field are 'true' / 'false', a quoted number on a
    number field is that number; anything else on a number field is BadInput.
    """

    def typed(field: str, value: Value) -> Value:
        if field in text_fields:
            return ("true" if value else "false") if isinstance(value, bool) else value
        if isinstance(value, bool):
            raise BadInput(source, f"{field} is a number; TRUE and FALSE do not compare with it")
        if isinstance(value, str):
            number = numeric_value(value.strip())
            if number is None:
                raise BadInput(source, f"{field} is a number; {value!r} is not")
            return number
        return value

    def literal(value: Value) -> str:
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, (int, float)):
            return repr(value)
        return "'" + value.replace("'", "''") + "'"

    def operand(field: str, values: tuple[Value, ...]) -> str:
        name = column(field)
        numbers = [value for value in values if isinstance(value, (int, float)) and not isinstance(value, bool)]
        if numbers and field in text_fields:
            return f"TRY_CAST({name} AS DOUBLE)"
        if any(isinstance(value, float) or not INT32_RANGE[0] <= value <= INT32_RANGE[1] for value in numbers):
            # A 32-bit integer column (width, page) refuses 1.5 or 2**40 as a literal of its own type.
            return f"CAST({name} AS DOUBLE)"
        return name

    def leaf(node: Filter) -> str:
        match node:
            case Comparison(field, op, value):
                value = typed(field, value)
                return f"{operand(field, (value,))} {op} {literal(value)}"
            case InList(field, values, negated):
                values = tuple(typed(field, value) for value in values)
                if len({isinstance(value, str) for value in values}) > 1:
                    raise BadInput(source, f"IN list for {field} mixes numbers and text; quote every value or none")
                items = ", ".join(literal(value) for value in values)
                return f"{operand(field, values)} {'NOT IN' if negated else 'IN'} ({items})"
            case IsNull(field, negated):
                return f"{column(field)} IS {'NOT NULL' if negated else 'NULL'}"
            case Like(field, pattern, negated):
                if field not in text_fields:
                    raise BadInput(source, f"LIKE needs a text field; {field} is a number")
                return f"{column(field)} {'NOT LIKE' if negated else 'LIKE'} {literal(pattern)}"
        raise TypeError(f"not a filter node: {node!r}")

    def render(node: Filter, negate: bool) -> str:
        # NOT is pushed down to the conditions (De Morgan holds in SQL's three-valued logic), so the SQL
        # never nests NOT (...): LanceDB's SQL parser takes exponential time and then fails on that.
        match node:
            case Not(inner):
                return render(inner, not negate)
            case BoolOp(op, _):
                joined = op if not negate else ("OR" if op == "AND" else "AND")
                parts = [render(child, negate) for child in _same_op_operands(node)]
                return "(" + f" {joined} ".join(parts) + ")"
        return f"NOT ({leaf(node)})" if negate else leaf(node)

    return render(node, False)


def _same_op_operands(node: BoolOp) -> list[Filter]:
    """The operands of `node`, with nested groups that render to the same operator lifted into it.

    A group under an odd number of NOTs renders with the other operator (De Morgan), so it joins
    when its operator is the other one, and its operands carry the NOT.
    """
    operands: list[Filter] = []
    for child in node.operands:
        group, flipped = child, False
        while isinstance(group, Not):
            group, flipped = group.operand, not flipped
        if isinstance(group, BoolOp) and (group.op == node.op) != flipped:
            operands.extend(Not(item) if flipped else item for item in _same_op_operands(group))
        else:
            operands.append(child)
    return operands
