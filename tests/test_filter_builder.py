import pytest

from pipeline.errors import BadInput
from pipeline.store.filter_builder import build_where, quote
from pipeline.store.filters import Comparison, InList, parse_filter


def test_nothing_picked_is_no_filter():
    assert build_where({}) is None
    assert build_where({"category": []}) is None


def test_values_of_one_column_are_alternatives_and_columns_narrow():
    where = build_where({"category": ["billing", "login"], "language": ["en"], "app": []})
    assert where == "category IN ('billing', 'login') AND language IN ('en')"


def test_quotes_in_values_are_doubled_and_parse_back_unchanged():
    values = ["it's", "O''Brien", "'; DROP TABLE assets; --", "a\\b"]
    where = build_where({"note": values})
    assert quote("it's") == "'it''s'"
    assert parse_filter(where, ["note"]) == InList("note", tuple(values))


def test_base_condition_is_kept_whole():
    where = build_where({"category": ["billing"]}, base="ticket_id IS NULL OR ticket_id = ''")
    assert where == "(ticket_id IS NULL OR ticket_id = '') AND category IN ('billing')"
    assert build_where({}, base="width > 10") == "(width > 10)"
    assert parse_filter(build_where({}, base="width > 10"), ["width"]) == Comparison("width", ">", 10)


@pytest.mark.parametrize("column", ["not", "In", "bad column", "x)--", ""])
def test_columns_that_are_not_field_names_are_refused(column):
    with pytest.raises(BadInput, match="not usable as a field name"):
        build_where({column: ["x"]})
