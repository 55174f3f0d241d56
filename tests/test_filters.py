import pytest

from pipeline.errors import BadInput
from pipeline.store.filters import (
    MAX_FILTER_DEPTH,
    BoolOp,
    Comparison,
    InList,
    IsNull,
    Like,
    Not,
    parse_filter,
    to_sql,
)
from pipeline.store.lance_engine import LanceStore
from tests.store_conformance import DIM, make_record

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


# nesting and numbers a hostile colleague types ---------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A real LanceStore: what users run filters against, with its own SQL parser behind `where`."""
    store = LanceStore(tmp_path_factory.mktemp("filters-store"), dim=DIM)
    store.upsert(
        [
            make_record("a", "invoice", metadata={"category": "billing"}),
            make_record("b", "login", metadata={"category": "login"}),
            make_record("c", "refund"),
        ]
    )
    return store


def nested_not(count: int) -> str:
    return "NOT " * count + "category = 'billing'"


@pytest.mark.parametrize("count", [26, 40])
def test_deeply_nested_not_is_refused_naming_the_filter_and_the_limit(store, count):
    # The store is asked with 26 only: before, Lance's SQL parser spent exponential time on every
    # nested NOT (...) and then failed with a raw ValueError (40 took over half a minute).
    expression = nested_not(count)
    with pytest.raises(BadInput) as caught:
        parse_filter(expression, FIELDS)
    assert caught.value.source == f"filter {expression!r}"
    assert f"the limit is {MAX_FILTER_DEPTH}" in caught.value.reason
    if count == 26:
        with pytest.raises(BadInput, match=f"the limit is {MAX_FILTER_DEPTH}"):
            store.count(where=expression)


def test_seven_hundred_parentheses_are_refused_not_a_recursion_error(store):
    expression = "(" * 700 + "category = 'billing'" + ")" * 700
    with pytest.raises(BadInput, match=f"the limit is {MAX_FILTER_DEPTH}") as caught:
        parse_filter(expression, FIELDS)
    assert caught.value.source == f"filter {expression!r}"
    with pytest.raises(BadInput, match="nested more than"):
        store.hybrid(text="invoice", vector=None, alpha=0.0, limit=5, where=expression)


@pytest.mark.parametrize("number", ["9" * 400 + ".5", "9" * 400, "-" + "1" * 310])
def test_numbers_beyond_a_double_are_refused_naming_the_number(store, number):
    expression = f"width > {number}"
    with pytest.raises(BadInput, match="is too large") as caught:
        parse_filter(expression, FIELDS)
    assert number[:20] in caught.value.reason
    with pytest.raises(BadInput, match="is too large"):
        store.count(where=expression)


def test_nesting_up_to_the_limit_answers_with_the_same_meaning_on_the_store(store):
    # NOT is pushed down to the conditions: the SQL never nests NOT (...), and the answer is unchanged.
    assert store.count(where=nested_not(MAX_FILTER_DEPTH)) == 1
    assert store.count(where=nested_not(MAX_FILTER_DEPTH - 1)) == 1  # category != 'billing'; NULL never matches
    deep = "category = 'login'"
    for _ in range(MAX_FILTER_DEPTH // 4):  # four levels each: NOT, (, NOT, (
        deep = f"NOT (category IS NULL AND NOT ({deep}))"
    assert store.count(where=deep) == 2  # login, or a category at all
    # The worst case the limit lets through: every level adds an OR and an AND group.
    widest = "category = 'login'"
    for _ in range(MAX_FILTER_DEPTH):
        widest = f"(width < 0 OR width > 1 AND {widest})"
    assert store.count(where=widest) == 1


def test_sql_pushes_not_down_to_the_conditions():
    assert sql("NOT (app = 'a' OR NOT (width > 3 AND app IS NULL))") == (
        "(NOT (m_app = 'a') AND m_width > 3 AND m_app IS NULL)"
    )
    assert sql("NOT NOT NOT app LIKE 'x%'") == "NOT (m_app LIKE 'x%')"
    assert sql("app = 'a' AND (app = 'b' AND NOT (app = 'c' OR app = 'd'))") == (
        "(m_app = 'a' AND m_app = 'b' AND NOT (m_app = 'c') AND NOT (m_app = 'd'))"
    )
