"""Filter expressions (`--where`) for Weaviate: the tree from filters.parse_filter -> `Filter`.

The Lance engine evaluates filters in SQL, so this translation keeps SQL's meaning:
- NULL never matches a comparison, negated or not. Weaviate's NotEqual (and Not) do
  match objects where the property is null, so negations are pushed down to the leaves
  (De Morgan) and `!=`, NOT IN and NOT LIKE carry an explicit "is not null".
- A numeric literal compares a text metadata column as a number (SQL: TRY_CAST), using
  the column's numeric shadow `n_<name>`, which holds the value when it reads as a number.
  Built-in text fields (uri, mime, ...) have no numeric reading: a number there is BadInput.
- A quoted number on a number field is read as that number; other text there is BadInput.
- LIKE's % and _ become Weaviate's * and ?; a pattern containing * or ? is BadInput,
  since Weaviate has no way to match those characters literally.

Caveat (Weaviate's null-state index): an empty text value counts as NULL there, so
`x IS NULL` also matches x = '' and `x != 'a'` does not. vlsearch never stores empty
metadata it was not given, and manifests rarely carry empty cells.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

from weaviate.classes.query import Filter as WFilter
from weaviate.collections.classes.filters import _Filters

from pipeline.errors import BadInput
from pipeline.store.base import FILTERABLE_FIELDS
from pipeline.store.filters import (
    BoolOp,
    Comparison,
    Filter,
    InList,
    IsNull,
    Like,
    Not,
    Value,
    numeric_value,
    parse_filter,
)

INT_FIELDS = frozenset({"width", "height", "page"})
INT64_RANGE = (-(2**63), 2**63 - 1)
META_PREFIX = "m_"
NUMBER_PREFIX = "n_"
NEGATED = {"=": "!=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}


def parse_weaviate_filter(expression: str, metadata_columns: Collection[str]) -> _Filters:
    """Parse with the shared grammar and translate; BadInput names the expression and the reason."""
    fields = {**FILTERABLE_FIELDS, **{name: "text" for name in metadata_columns}}
    node = parse_filter(expression, fields)
    return to_weaviate(node, metadata_columns=metadata_columns, source=f"filter {expression!r}")


def to_weaviate(node: Filter, *, metadata_columns: Collection[str], source: str = "filter") -> _Filters:
    """Translate a parsed filter tree into the client's Filter objects."""
    return _Translator(set(metadata_columns), source).translate(node, negate=False)


class _Translator:
    def __init__(self, metadata: set[str], source: str) -> None:
        self.metadata = metadata
        self.source = source

    def fail(self, reason: str) -> BadInput:
        return BadInput(self.source, reason)

    def translate(self, node: Filter, *, negate: bool) -> _Filters:
        match node:
            case BoolOp(op, operands):
                parts = [self.translate(child, negate=negate) for child in operands]
                return WFilter.all_of(parts) if (op == "AND") != negate else WFilter.any_of(parts)
            case Not(operand):
                return self.translate(operand, negate=not negate)
            case IsNull(field, negated):
                return WFilter.by_property(self.text_property(field)).is_none(negated == negate)
            case Comparison(field, op, value):
                return self.compare(field, NEGATED[op] if negate else op, value)
            case InList(field, values, negated):
                return self.in_list(field, values, negated != negate)
            case Like(field, pattern, negated):
                return self.like(field, pattern, negated != negate)
        raise TypeError(f"not a filter node: {node!r}")

    # property names and typed values ---------------------------------------------------------

    def kind(self, field: str) -> str:
        return "text" if field in self.metadata else FILTERABLE_FIELDS[field]

    def text_property(self, field: str) -> str:
        return META_PREFIX + field if field in self.metadata else field

    def operand(self, field: str, value: Value) -> tuple[str, str | int | float]:
        """The property to compare and the value in the type Weaviate expects for it."""
        if self.kind(field) == "text":
            if isinstance(value, bool):
                return self.text_property(field), "true" if value else "false"
            if isinstance(value, (int, float)):
                if field not in self.metadata:
                    raise self.fail(f"{field} is text: compare it with a quoted value, e.g. {field} = '{value}'")
                return NUMBER_PREFIX + field, float(value)
            return self.text_property(field), value
        if isinstance(value, bool):
            raise self.fail(f"{field} is a number; TRUE and FALSE do not compare with it")
        if isinstance(value, str):
            number = numeric_value(value.strip())
            if number is None:
                raise self.fail(f"{field} is a number; {value!r} is not")
            value = number
        if field in INT_FIELDS:
            if not float(value).is_integer():
                return field, float(value)
            # An int property holds 64-bit values: a bound beyond them compares like the nearest one.
            return field, min(max(int(value), INT64_RANGE[0]), INT64_RANGE[1])
        return field, float(value)

    # leaves ----------------------------------------------------------------------------------

    def compare(self, field: str, op: str, value: Value) -> _Filters:
        name, typed = self.operand(field, value)
        target = WFilter.by_property(name)
        if isinstance(typed, float) and field in INT_FIELDS:
            return self.compare_whole_numbers(name, op, typed)
        match op:
            case "=":
                return target.equal(typed)
            case "!=":
                return WFilter.all_of([target.not_equal(typed), WFilter.by_property(name).is_none(False)])
            case "<":
                return target.less_than(typed)
            case "<=":
                return target.less_or_equal(typed)
            case ">":
                return target.greater_than(typed)
            case ">=":
                return target.greater_or_equal(typed)
        raise self.fail(f"unknown comparison {op!r}")

    def compare_whole_numbers(self, name: str, op: str, value: float) -> _Filters:
        # Weaviate refuses a fractional value on an int property; rewrite to the equivalent whole-number test.
        target = WFilter.by_property(name)
        low, high = math.floor(value), math.ceil(value)
        match op:
            case ">" | ">=":
                return target.greater_or_equal(high)
            case "<" | "<=":
                return target.less_or_equal(low)
            case "=":
                return self.nothing(name)
            case "!=":
                return target.is_none(False)
        raise self.fail(f"unknown comparison {op!r}")

    def nothing(self, name: str) -> _Filters:
        """A filter no object passes (no whole number lies strictly between n and n + 1)."""
        return WFilter.all_of([WFilter.by_property(name).greater_than(0), WFilter.by_property(name).less_than(1)])

    def in_list(self, field: str, values: Sequence[Value], negated: bool) -> _Filters:
        typed = [self.operand(field, value) for value in values]
        names = {name for name, _ in typed}
        if len(names) > 1:
            raise self.fail(f"IN list for {field} mixes numbers and text; quote every value or none")
        name = names.pop()
        # One kind of value: a mixed list was refused above.
        items: list[Any] = list(dict.fromkeys(value for _, value in typed))
        if field in INT_FIELDS:
            # Fractional values can never equal a whole-number field.
            items = [value for value in items if not isinstance(value, float)]
        if not items:
            return WFilter.by_property(name).is_none(False) if negated else self.nothing(name)
        target = WFilter.by_property(name)
        if negated:
            return WFilter.all_of([target.contains_none(items), WFilter.by_property(name).is_none(False)])
        return target.contains_any(items)

    def like(self, field: str, pattern: str, negated: bool) -> _Filters:
        if self.kind(field) != "text":
            raise self.fail(f"LIKE needs a text field; {field} is a number")
        if "*" in pattern or "?" in pattern:
            raise self.fail(f"LIKE pattern {pattern!r} contains * or ?, which Weaviate cannot match literally")
        name = self.text_property(field)
        match = WFilter.by_property(name).like(pattern.replace("%", "*").replace("_", "?"))
        if negated:
            return WFilter.all_of([WFilter.not_(match), WFilter.by_property(name).is_none(False)])
        return match
