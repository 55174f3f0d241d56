"""Filter expressions built from picked values, so no page ever pastes user text into a `--where`.

The output is the grammar of filters.py, which every engine parses and validates again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pipeline.errors import BadInput
from pipeline.store.filters import KEYWORDS

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote(value: str) -> str:
    """A filter string literal: single quotes, with embedded quotes doubled ('it''s')."""
    return "'" + value.replace("'", "''") + "'"


def build_where(selections: Mapping[str, Sequence[str]], *, base: str | None = None) -> str | None:
    """`column IN (...)` for every column with picked values, ANDed together and with `base`.

    Values within one column are alternatives (OR), columns narrow each other (AND), which is
    how faceted filters read. None when nothing is picked and there is no base condition.
    """
    conditions = [f"({base})"] if base else []
    for column, values in selections.items():
        if not values:
            continue
        if not _FIELD.match(column) or column.upper() in KEYWORDS:
            raise BadInput(f"filter column {column!r}", "not usable as a field name in a filter")
        conditions.append(f"{column} IN ({', '.join(quote(value) for value in dict.fromkeys(values))})")
    return " AND ".join(conditions) or None
