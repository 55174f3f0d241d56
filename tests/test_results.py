import csv
import io

import pytest

from pipeline.display.results import facet_counts, hit_label, hit_rows, results_csv, score_text, window_label
from pipeline.records import Hit, Scores, TimeWindow
from tests.media_records import frame_record, page_record
from tests.store_conformance import make_record


def hits() -> list[Hit]:
    return [
        Hit(
            make_record("card", '=HYPERLINK("http://evil")', "a card", {"category": "billing", "rank": "high"}),
            Scores(fused=0.9, bm25=3.5),
        ),
        Hit(make_record("locked", "登录失败", "", {"category": "login"}), Scores(fused=0.4, vector_distance=0.2)),
        Hit(make_record("mug", "", "a mug", {}), Scores(fused=0.1, rerank=0.75)),
    ]


def read(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets then read UTF-8 (Chinese) right
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_has_every_score_and_metadata_column():
    rows = read(results_csv(hits()))
    assert list(rows[0])[:12] == [
        "rank",
        "id",
        "uri",
        "fused",
        "bm25",
        "vector_distance",
        "rerank",
        "caption",
        "ocr_text",
        "source",
        "page",
        "window",
    ]
    assert list(rows[0])[12:] == ["category", "metadata.rank"]  # a column named like a built-in is renamed
    assert [row["rank"] for row in rows] == ["1", "2", "3"]
    assert rows[0]["bm25"] == "3.5" and rows[0]["vector_distance"] == "" and rows[2]["rerank"] == "0.75"
    assert rows[1]["ocr_text"] == "登录失败" and rows[2]["category"] == ""


def test_csv_defuses_spreadsheet_formulas():
    assert read(results_csv(hits()))[0]["ocr_text"] == '\'=HYPERLINK("http://evil")'


def test_empty_results_give_a_header_only():
    assert read(results_csv([])) == []
    assert results_csv([]).decode("utf-8-sig").startswith("rank,id,uri,fused")


def test_rows_facets_and_score_text():
    assert hit_rows(hits())[1]["vector_distance"] == 0.2
    assert facet_counts(hits(), "category") == [("billing", 1), ("login", 1), ("(none)", 1)]
    assert score_text(Scores(fused=0.5, bm25=2.0)) == "fused 0.500 · bm25 2.000 · vector distance — · rerank —"


def located_hits() -> list[Hit]:
    return [
        Hit(page_record("/srv/docs/manual.pdf", 3, "hinge"), Scores(fused=0.8)),
        Hit(
            frame_record("https://media.example.com/clips/clip.mp4?sig=1", 84.0, "lid"),
            Scores(fused=0.7),
            window=TimeWindow(start_s=83.0, end_s=86.0, frames=3, score=1.9),
        ),
        Hit(make_record("card", "declined"), Scores(fused=0.5)),
    ]


def test_labels_name_the_page_and_the_time_window():
    assert [hit_label(hit) for hit in located_hits()] == [
        "manual.pdf, page 3",
        "clip.mp4, 00:01:23–00:01:26",
        "card.png",
    ]
    frame_without_window = Hit(frame_record("/v/clip.mp4", 3725.4, ""))
    assert hit_label(frame_without_window) == "clip.mp4, 01:02:05"


@pytest.mark.parametrize(
    ("start_s", "end_s", "label"),
    [
        (83.0, 86.0, "00:01:23–00:01:26"),
        (83.4, 85.6, "00:01:23–00:01:26"),  # whole seconds that cover the window
        (83.0 - 1e-9, 86.0 + 1e-9, "00:01:23–00:01:26"),  # float noise does not move a second
        (83.2, 83.3, "00:01:23.2–00:01:23.3"),  # a window under a second keeps tenths
        (3599.0, 3602.0, "00:59:59–01:00:02"),
    ],
)
def test_window_labels(start_s, end_s, label):
    assert window_label(TimeWindow(start_s=start_s, end_s=end_s, frames=1, score=1.0)) == label


def test_rows_and_csv_explain_pages_and_windows():
    rows = read(results_csv(located_hits()))
    assert [(row["source"], row["page"], row["window"]) for row in rows] == [
        ("manual.pdf, page 3", "3", ""),
        ("clip.mp4, 00:01:23–00:01:26", "", "00:01:23–00:01:26"),
        ("card.png", "", ""),
    ]
    assert hit_rows(located_hits())[0]["page"] == 3
