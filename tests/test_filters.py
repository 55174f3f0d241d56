import pytest

from pipeline.errors import BadInput
from pipeline.store.filters import BoolOp, Comparison, InList, IsNull, Like, Not, parse_filter, to_sql

FIELDS = {"category", "created_at", "priority", "app", "width"}


def sql(expression: str) -> str:
    return to_sql(
        parse_filter(expression, FIELDS), lambda name: f"m_{name}", {"category", "created_at", "priority", "app"}
    )


def test_the_documented_example_parses():
    node = parse_filter("category = 'billing' AND created_at >= '2025-01-01'", FIELDS)
    assert node == BoolOp("AND", (Comparison("category", "=", "billing"), Comparison("created_at", ">=", "2025-01-01")))


def test_precedence_and_parentheses():
    node = parse_filter("app = 'a' OR app = 'b' AND NOT (width > 3)", FIELDS)
    assert node == BoolOp(
        "OR",
        (Comparison("app", "=", "a"), BoolOp("AND", (Comparison("app", "=", "b"), Not(Comparison("width", ">", 3))))),
    )


def test_in_like_is_null_and_quotes():
    assert parse_filter("app NOT IN ('x', 'it''s')", FIELDS) == InList("app", ("x", "it's"), negated=True)
    assert parse_filter("app LIKE 'Pay%'", FIELDS) == Like("app", "Pay%")
    assert parse_filter("category IS NOT NULL", FIELDS) == IsNull("category", negated=True)
    assert parse_filter("priority <> 2.5", FIELDS) == Comparison("priority", "!=", 2.5)


def test_sql_rendering_escapes_and_casts_numbers_on_text_fields():
    assert sql("app = 'it''s'") == "m_app = 'it''s'"
    assert sql("priority >= 3") == "TRY_CAST(m_priority AS DOUBLE) >= 3"
    assert sql("width > 3") == "m_width > 3"
    assert sql("NOT app IN ('a', 'b')") == "NOT (m_app IN ('a', 'b'))"


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("nope = 1", "unknown field 'nope'"),
        ("category = ", "expected a value"),
        ("category == 'x'", "expected a value"),
        ("category = 'x' category = 'y'", "join conditions with AND or OR"),
        ("(category = 'x'", "expected ')'"),
        ("category = 'x'; DROP TABLE assets", "unexpected character ';'"),
        ("", "empty expression"),
        ("category LIKE 3", "LIKE needs a quoted pattern"),
        ("'x' = category", "expected a field name"),
        ("category = 'unterminated", "unexpected character"),
    ],
)
def test_bad_expressions_name_the_expression_and_the_problem(expression, reason):
    with pytest.raises(BadInput) as caught:
        parse_filter(expression, FIELDS)
    assert reason in str(caught.value)
    assert caught.value.source == f"filter {expression!r}"


def test_overlong_expressions_are_refused():
    with pytest.raises(BadInput, match="limit 2000"):
        parse_filter("category = 'x' OR " * 200 + "category = 'y'", FIELDS)
