import csv
import io

from pipeline.records import Hit, Scores
from pipeline.results import facet_counts, hit_rows, results_csv, score_text
from tests.store_conformance import make_record


def hits() -> list[Hit]:
    return [
        Hit(make_record("card", "=HYPERLINK(\"http://evil\")", "a card", {"category": "billing", "rank": "high"}),
            Scores(fused=0.9, bm25=3.5)),
        Hit(make_record("locked", "登录失败", "", {"category": "login"}), Scores(fused=0.4, vector_distance=0.2)),
        Hit(make_record("mug", "", "a mug", {}), Scores(fused=0.1, rerank=0.75)),
    ]


def read(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets then read UTF-8 (Chinese) right
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_has_every_score_and_metadata_column():
    rows = read(results_csv(hits()))
    assert list(rows[0])[:9] == ["rank", "id", "uri", "fused", "bm25", "vector_distance", "rerank", "caption",
                                 "ocr_text"]
    assert list(rows[0])[9:] == ["category", "metadata.rank"]  # a column named like a built-in is renamed
    assert [row["rank"] for row in rows] == ["1", "2", "3"]
    assert rows[0]["bm25"] == "3.5" and rows[0]["vector_distance"] == "" and rows[2]["rerank"] == "0.75"
    assert rows[1]["ocr_text"] == "登录失败" and rows[2]["category"] == ""


def test_csv_defuses_spreadsheet_formulas():
    assert read(results_csv(hits()))[0]["ocr_text"] == "'=HYPERLINK(\"http://evil\")"


def test_empty_results_give_a_header_only():
    assert read(results_csv([])) == []
    assert results_csv([]).decode("utf-8-sig").startswith("rank,id,uri,fused")


def test_rows_facets_and_score_text():
    assert hit_rows(hits())[1]["vector_distance"] == 0.2
    assert facet_counts(hits(), "category") == [("billing", 1), ("login", 1), ("(none)", 1)]
    assert score_text(Scores(fused=0.5, bm25=2.0)) == "fused 0.500 · bm25 2.000 · vector distance — · rerank —"
