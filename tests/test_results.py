import csv
import datetime as dt
import io
from dataclasses import replace

import pytest

from pipeline.display.filters import FilterKind, column_filter, filter_where
from pipeline.display.results import (
    count_text,
    facet_counts,
    hit_label,
    hit_rows,
    match_text,
    results_csv,
    score_text,
    why_text,
    window_label,
    without_asset,
)
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
    assert list(rows[0])[:17] == [
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
        "label",
        "visual_pairs",
        "learned",
        "voted_up",
        "voted_down",
    ]
    assert list(rows[0])[17:] == ["category", "metadata.rank"]  # a column named like a built-in is renamed
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


def test_one_label_per_hit_ticket_then_uploaded_name_then_place():
    ticket_page = replace(page_record("/srv/docs/manual.pdf", 3, "hinge"), metadata={"ticket_id": "SUP-7"})
    upload = make_record("0f3a9c", "declined", "", {"file_name": "checkout-declined.png"})
    assert [hit_label(Hit(record)) for record in (ticket_page, upload)] == [
        "SUP-7 · manual.pdf, page 3",
        "checkout-declined.png",
    ]
    assert [row["label"] for row in hit_rows([Hit(upload), *hits()[:1]])] == ["checkout-declined.png", "card.png"]


def test_the_match_figure_means_the_same_across_queries_or_says_it_is_relative():
    reranked, fused_only = Hit(make_record("a", ""), Scores(fused=1.0, rerank=0.87)), hits()[0]
    assert match_text(reranked, 1, 37) == "match 87%"
    assert match_text(fused_only, 1, 37) == "rank 1 of 37"  # never "fused 1.000", which every first hit has
    assert match_text(fused_only, 3, None) == "rank 3 · relative to this query"
    assert match_text(fused_only, 1, 5, "newest").startswith("added ")
    assert count_text(12, 37) == "37 matches · 12 shown"
    assert count_text(12, None).startswith("top 12 shown")
    assert count_text(2, 2, "newest") == "2 records, newest first · 2 shown"


def test_why_adds_visual_closeness_only_where_it_explains():
    visual = Hit(make_record("a", ""), Scores(fused=0.5, vector_distance=0.21))
    assert why_text([], visual, image_query=True) == "looks alike (vector distance 0.21)"
    assert why_text(["words in the image text: card"], visual, image_query=False) == "words in the image text: card"
    assert why_text([], hits()[0], image_query=False) == ""


def test_find_similar_pages_skip_every_copy_of_the_image():
    same = make_record("copy", "")
    ranking = [Hit(replace(same, id=name, sha256="s1" if name in "ab" else name)) for name in "axbyz"]
    kept, consumed = without_asset(ranking, 2, sha256="s1")
    assert [hit.record.id for hit in kept] == ["x", "y"] and consumed == 4  # the next page starts at "z"


def test_filters_suit_their_columns():
    assert column_filter("category", [("billing", 2), ("login", 1)]).kind == FilterKind.CHOICE
    ids = column_filter("ticket_id", [("SUP-1", 1), ("SUP-2", 1), ("SUP-3", 1)])
    assert ids.kind == FilterKind.TEXT
    many = column_filter("app", [(f"app {n}", 2) for n in range(30)])
    assert many.kind == FilterKind.TEXT
    dates = column_filter("created_at", [("2024-03-01", 1), ("2024-01-18T10:00:00", 2)])
    assert (dates.kind, dates.low, dates.high) == (FilterKind.DATE_RANGE, dt.date(2024, 1, 18), dt.date(2024, 3, 1))
    sizes = column_filter("weight_kg", [("1.5", 1), ("12", 3)])
    assert (sizes.kind, sizes.low, sizes.high) == (FilterKind.NUMBER_RANGE, 1.5, 12.0)


def test_filter_expressions_quote_what_was_typed_and_cover_whole_days():
    where = filter_where(
        {"category": ["billing"]},
        {"ticket_id": "it's 10"},
        {"created_at": (dt.date(2024, 1, 1), dt.date(2024, 1, 31)), "weight_kg": (1.0, 2.5)},
    )
    assert where == (
        "(ticket_id LIKE '%it''s 10%' AND (created_at >= '2024-01-01' AND created_at < '2024-02-01') AND "
        "(weight_kg >= 1.0 AND weight_kg <= 2.5)) AND category IN ('billing')"
    )
    assert filter_where({}, {"ticket_id": "  "}, {}) is None
