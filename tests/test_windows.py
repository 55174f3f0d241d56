"""Video hits grouped per video at their best time window: the pure function, then through search."""

from __future__ import annotations

import pytest

from pipeline.ocr import RapidOcrEngine
from pipeline.records import Hit, Scores
from pipeline.search.searcher import Searcher
from pipeline.search.windows import group_video_hits
from pipeline.store.lance_engine import LanceStore
from tests.media_records import frame_record, image_record, page_record

DESK = "/videos/desk.mp4"
KITCHEN = "/videos/kitchen.mp4"


def frame(video: str, timestamp_s: float, fused: float, rerank: float | None = None) -> Hit:
    return Hit(frame_record(video, timestamp_s, f"frame {timestamp_s}"), Scores(fused=fused, rerank=rerank))


def image(name: str, fused: float) -> Hit:
    return Hit(image_record(name, name), Scores(fused=fused))


def ranked(*hits: Hit) -> list[Hit]:
    """Hits in the order search would give them: best final score first."""
    return sorted(hits, key=lambda hit: -(hit.scores.rerank if hit.scores.rerank is not None else hit.scores.fused))


def group(hits: list[Hit], window_s: float = 3.0, frame_interval_s: float = 1.0) -> list[Hit]:
    return group_video_hits(hits, window_s=window_s, frame_interval_s=frame_interval_s)


def test_neighbouring_frames_add_up_so_a_run_beats_a_single_better_frame():
    (hit,) = group(ranked(frame(DESK, 10, 0.9), frame(DESK, 83, 0.6), frame(DESK, 84, 0.7), frame(DESK, 85, 0.6)))
    window = hit.window
    assert (window.start_s, window.end_s, window.frames) == (83, 86, 3)
    assert window.score == pytest.approx(1.9)
    assert hit.record.timestamp_s == 84 and hit.scores.fused == 0.7  # the best frame inside the window


def test_window_starts_at_its_first_frame_and_ends_one_interval_after_its_last():
    (hit,) = group(
        ranked(frame(DESK, 20.0, 0.5), frame(DESK, 20.5, 0.5), frame(DESK, 21.0, 0.5)),
        window_s=2.0,
        frame_interval_s=0.5,
    )
    assert (hit.window.start_s, hit.window.end_s, hit.window.frames) == (20.0, 21.5, 3)


def test_a_frame_at_exactly_the_window_length_falls_in_the_next_window():
    hits = ranked(frame(DESK, 83, 0.5), frame(DESK, 84, 0.5), frame(DESK, 85, 0.5), frame(DESK, 86, 0.6))
    (hit,) = group(hits)
    # 83..86 holds 83, 84, 85 (1.5); 84..87 holds 84, 85, 86 (1.6) and wins.
    assert (hit.window.start_s, hit.window.end_s, hit.window.frames) == (84, 87, 3)


def test_equal_windows_go_to_the_earlier_one():
    (hit,) = group(ranked(frame(DESK, 50, 0.5), frame(DESK, 10, 0.5)))
    assert (hit.window.start_s, hit.window.end_s, hit.window.frames) == (10, 11, 1)


def test_rerank_probabilities_decide_where_they_exist():
    hits = [frame(DESK, 5, 0.2, rerank=0.95), frame(DESK, 40, 0.9), frame(DESK, 41, 0.9)]
    (hit,) = group(hits)
    # A frame the reranker scored counts its probability, the others their fused score.
    assert hit.window.start_s == 40 and hit.window.score == pytest.approx(1.8)
    (hit,) = group([frame(DESK, 5, 0.2, rerank=0.95), frame(DESK, 40, 0.4, rerank=0.3), frame(DESK, 41, 0.4)])
    assert hit.window.start_s == 5 and hit.scores.rerank == 0.95


def test_one_hit_per_video_in_the_place_of_its_best_frame_other_hits_keep_their_order():
    receipt, mug = image("receipt", 0.95), image("mug", 0.5)
    page = Hit(page_record("/docs/manual.pdf", 3, "x"), Scores(fused=0.45))
    hits = ranked(
        receipt,
        mug,
        page,
        frame(KITCHEN, 7, 0.8),  # the kitchen's best frame ranks second overall,
        frame(DESK, 83, 0.6),
        frame(DESK, 84, 0.6),
        frame(DESK, 85, 0.6),  # the desk's third,
        frame(KITCHEN, 60, 0.3),  # and a lone kitchen frame ranks last
    )
    grouped = group(hits)
    assert [hit.record.uri for hit in grouped] == [
        receipt.record.uri,
        f"{KITCHEN}#t=7.000",
        f"{DESK}#t=83.000",
        mug.record.uri,
        page.record.uri,
    ]
    assert [hit.window.frames for hit in grouped if hit.window] == [1, 3]
    # Images and pages pass through as they came: same objects, no window.
    assert grouped[0] is receipt and grouped[3] is mug and grouped[4] is page and page.window is None


def test_grouping_leaves_the_incoming_hits_alone():
    hits = ranked(frame(DESK, 1, 0.5), frame(DESK, 2, 0.4))
    group(hits)
    assert all(hit.window is None for hit in hits)


def test_no_frames_no_change():
    hits = [image("a", 0.9), image("b", 0.1)]
    assert group(hits) == hits and group([]) == []


def test_window_and_interval_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        group([frame(DESK, 1, 0.5)], window_s=0)


# through search, on a real LanceDB store in OCR + keyword mode -----------------------------------


@pytest.fixture
def searcher(tmp_path) -> Searcher:
    store = LanceStore(tmp_path, dim=8)
    desk = [frame_record(DESK, t, "a person sits at a desk") for t in range(0, 12)]
    desk[5] = frame_record(DESK, 5, "laptop lid")  # one short, strongly matching frame on its own
    desk += [frame_record(DESK, t, "the person lifts the laptop lid and it opens slowly") for t in (83, 84, 85)]
    kitchen = [
        frame_record(KITCHEN, 7, "a laptop on the kitchen counter next to the lid of a pan"),
        frame_record(KITCHEN, 8, "kitchen counter"),
    ]
    images = [image_record("sticker", "laptop sticker sheet"), image_record("mug", "coffee mug")]
    store.upsert(desk + kitchen + images + [page_record("/docs/manual.pdf", 3, "close the laptop lid to sleep")])
    store.optimize()
    return Searcher(store, RapidOcrEngine(), None, video_window_s=3.0, frame_interval_s=1.0)


def test_search_answers_a_video_with_its_time_window(searcher):
    result = searcher.search(text="laptop lid", limit=10)
    by_parent = {hit.record.parent_uri or hit.record.uri: hit for hit in result.hits}
    assert len(by_parent) == len(result.hits)  # one hit per video
    desk = by_parent[DESK]
    assert (desk.window.start_s, desk.window.end_s, desk.window.frames) == (83, 86, 3)
    assert by_parent[KITCHEN].window.frames == 1
    assert by_parent["/docs/manual.pdf"].record.page == 3 and by_parent["/docs/manual.pdf"].window is None
    assert "/collection/mug.png" not in by_parent


def test_frames_beyond_the_first_page_of_hits_still_make_the_window(searcher):
    (hit,) = searcher.search(text="laptop lid", limit=1).hits
    assert hit.record.parent_uri == DESK and hit.window.frames == 3
