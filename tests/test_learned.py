"""Search that learns from votes: a real LanceDB collection (reduced mode) searched through the wired services,
votes written to the real feedback log. An up-voted hit rises for the same and the same-normalised query, a
down-voted one falls, other queries and other collections are unchanged, the lift is bounded and can be switched
off, and the reason says how many people voted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Settings
from pipeline.display.results import results_csv, score_rows
from pipeline.display.shapes import HitShape
from pipeline.records import Hit
from pipeline.search.explain import why
from pipeline.search.feedback import FeedbackLog, Vote
from pipeline.search.learned import LearnedQuery, query_key, tallies
from pipeline.services import Services, build_services
from tests.store_conformance import make_record

# Graded keyword matches for "invoice overdue": the top one says it twice; the rest once, among more words.
TEXTS = {
    "reminder": "invoice overdue invoice overdue reminder",
    "notice": "invoice overdue notice for march",
    "portal": "overdue invoice shown in the vendor portal screen",
    "archive": "invoice archive of paid invoices for the year and overdue fees table",
    "ledger": "ledger export with one invoice line among many other accounting columns and totals",
    "weather": "weather forecast sunny",
}
QUERY = "invoice overdue"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = build_services(Settings(data_dir=tmp_path, models_enabled=False))
    services.store.upsert([make_record(name, text) for name, text in TEXTS.items()])
    yield services
    services.close()


def ranking(services: Services, text: str = QUERY, **options: object) -> list[Hit]:
    return services.searcher().search(text=text, limit=10, **options).hits  # type: ignore[arg-type]


def names(hits: list[Hit]) -> list[str]:
    return [Path(hit.record.uri).stem for hit in hits]


def vote(services: Services, name: str, value: int, people: int, *, text: str = QUERY, collection: str = "") -> None:
    asset = make_record(name).id
    for person in range(people):
        services.feedback_log().record(
            collection=collection or services.settings.collection,
            query_text=text,
            query_image_sha="",
            asset_id=asset,
            vote=value,
            voter=f"analyst{person}",
        )


def test_an_up_voted_hit_rises_for_the_same_and_a_same_normalised_query(services):
    before = names(ranking(services))
    assert before[:4] == ["reminder", "notice", "portal", "archive"]
    vote(services, "archive", +1, people=3)
    for text in (QUERY, "Invoice OVERDUE!", "the invoice overdue"):
        unlearned, after = names(ranking(services, text, learned=False)), ranking(services, text)
        assert names(after).index("archive") < unlearned.index("archive"), (text, unlearned, names(after))
        lifted = next(hit for hit in after if hit.record.uri.endswith("archive.png"))
        assert lifted.scores.learned and lifted.scores.learned > 0
        assert (lifted.scores.voted_up, lifted.scores.voted_down) == (3, 0)
        assert "boosted: 3 people marked it relevant for similar queries" in why(lifted, text)
    # ... but not over the clear keyword match: the page that says it twice stays first.
    assert names(ranking(services))[0] == "reminder"


def test_a_down_voted_hit_falls_and_one_person_is_one_person(services):
    before = names(ranking(services))
    vote(services, "notice", -1, people=3)
    vote(services, "notice", -1, people=1, text="Invoice overdue?")  # analyst0 again: counted once
    after = ranking(services)
    assert names(after).index("notice") > before.index("notice")
    lowered = next(hit for hit in after if hit.record.uri.endswith("notice.png"))
    assert (lowered.scores.voted_up, lowered.scores.voted_down) == (0, 3)
    assert lowered.scores.learned is not None and lowered.scores.learned < 0
    assert "lowered: 3 people marked it not relevant for similar queries" in why(lowered, QUERY)


def test_other_queries_and_other_collections_are_unchanged(services):
    other_query = ranking(services, "vendor portal screen")
    vote(services, "archive", +1, people=3, collection="archive2025")  # same asset ids, another collection
    assert [hit.scores for hit in ranking(services)] == [hit.scores for hit in ranking(services, learned=False)]
    vote(services, "archive", +1, people=3)
    vote(services, "portal", -1, people=3)
    assert [(hit.record.id, hit.scores) for hit in ranking(services, "vendor portal screen")] == [
        (hit.record.id, hit.scores) for hit in other_query
    ]


def test_the_lift_is_bounded_and_can_be_switched_off(services, tmp_path):
    plain = ranking(services)
    top = plain[0].scores.fused
    vote(services, "weather", +1, people=1)  # not a candidate of the query: votes never add a hit
    vote(services, "archive", +1, people=50)
    vote(services, "reminder", -1, people=50)
    weight = services.settings.feedback_weight
    after = {hit.record.id: hit for hit in ranking(services)}
    assert make_record("weather").id not in after
    for hit in plain:
        learned = after[hit.record.id].scores.learned or 0.0
        assert abs(learned) <= weight * top + 1e-9
        assert after[hit.record.id].scores.fused == pytest.approx(hit.scores.fused + learned)
    assert [(hit.record.id, hit.scores) for hit in ranking(services, learned=False)] == [
        (hit.record.id, hit.scores) for hit in plain
    ]
    off = build_services(Settings(data_dir=tmp_path, models_enabled=False, feedback_weight=0.0))
    try:
        assert [(hit.record.id, hit.scores) for hit in ranking(off)] == [(hit.record.id, hit.scores) for hit in plain]
    finally:
        off.close()


def test_the_learned_figures_reach_json_csv_and_the_details_rows(services):
    vote(services, "notice", +1, people=1)
    hit = next(hit for hit in ranking(services) if hit.record.uri.endswith("notice.png"))
    shape = HitShape.of_hit(hit, QUERY)
    assert shape.scores.voted_up == 1 and shape.scores.learned == hit.scores.learned
    assert "boosted: 1 person marked it relevant for similar queries" in shape.reasons
    assert "learned,voted_up,voted_down" in results_csv([hit]).decode("utf-8-sig").splitlines()[0]
    assert dict(score_rows(hit))["learned from votes"].startswith(f"{hit.scores.learned:+.3f} (1 up, 0 down")


def test_similar_queries_match_by_normalised_words_image_or_close_vectors():
    assert query_key("Card declined!") == query_key("the declined card") == "card declined"
    assert query_key("card declined twice") != query_key("card declined")
    near, far = np.array([1.0, 0.1, 0.0], np.float32), np.array([0.0, 1.0, 0.0], np.float32)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    votes = [
        Vote("payment failed", "", "a1", 1, when, "ann", query_vector=near, embed_model="m"),
        Vote("", "f" * 64, "a2", -1, when, "bob"),
        Vote("weather", "", "a3", 1, when, "cy", query_vector=far, embed_model="m"),
        Vote("refund", "", "a4", 1, when, "di", query_vector=near, embed_model="other-model"),
    ]
    query = LearnedQuery("card declined", vector=np.array([1.0, 0.0, 0.0], np.float32), embed_model="m")
    assert set(tallies(votes, query, similarity=0.9)) == {"a1"}  # cosine 0.995; another model's vector never
    assert set(tallies(votes, LearnedQuery("", image_sha="f" * 64), similarity=0.9)) == {"a2"}
    assert tallies(votes, LearnedQuery("card declined"), similarity=0.9) == {}


def test_votes_are_read_for_one_collection_only(tmp_path):
    log = FeedbackLog(tmp_path / "feedback.sqlite")
    log.record(collection="assets", query_text="q", query_image_sha="", asset_id="a", vote=1, voter="ann")
    log.record(collection="archive", query_text="q", query_image_sha="", asset_id="a", vote=-1, voter="ann")
    assert [vote.vote for vote in log.votes(collection="assets")] == [1]
    assert log.votes_for(collection="archive", query_text="q", query_image_sha="", voter="ann") == {"a": -1}
