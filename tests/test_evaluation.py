"""Retrieval evaluation: metrics against hand-computed values, qrels parsing, feedback, and `eval` end to end."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.errors import BadInput
from pipeline.images import ImageLimits
from pipeline.ingest.sources import read_manifest
from pipeline.records import asset_id
from pipeline.search.evaluation import (
    AssetKey,
    JudgedQuery,
    config_grid,
    distinct_configs,
    evaluate,
    matched_keys,
    parse_alphas,
    parse_fusions,
    queries_from_votes,
    read_qrels,
    score_ranking,
    split_votes,
)
from pipeline.search.feedback import FeedbackLog, Vote
from pipeline.services import build_services
from pipeline.store.base import Fusion
from tests.media_records import image_record, page_record
from tests.sample_collection import QUERY_SCREENS, RECEIPT, REDUCED_MODE_ENV, ROOT, ingest_samples

A, B, C = AssetKey("ticket_id", "SUP-A"), AssetKey("ticket_id", "SUP-B"), AssetKey("ticket_id", "SUP-C")
X = AssetKey("ticket_id", "SUP-X")  # judged not relevant


# metrics ------------------------------------------------------------------------------------


def test_metrics_of_a_known_ranking():
    grades = {A: 2, B: 1, C: 1, X: 0}
    # ranks:  1 unjudged, 2 B, 3 judged not relevant, 4 A, 5-6 unjudged, 7 C
    ranking = [[], [B], [X], [A], [], [], [C]]
    score = score_ranking(ranking, grades)
    assert score.recall == {1: 0.0, 5: pytest.approx(2 / 3), 10: 1.0}
    assert score.reciprocal_rank == 0.5 and score.first_relevant_rank == 2
    found = 1 / math.log2(3) + 2 / math.log2(5) + 1 / math.log2(8)
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert score.ndcg == pytest.approx(found / ideal) == pytest.approx(0.5831, abs=1e-4)


def test_the_ideal_ranking_scores_one_and_a_second_hit_for_an_item_gains_nothing():
    assert score_ranking([[A], [B], [C]], {A: 2, B: 1, C: 1}).ndcg == pytest.approx(1.0)
    twice = score_ranking([[B], [B], [A]], {A: 2, B: 1})
    assert twice.ndcg == pytest.approx((1 + 2 / math.log2(4)) / (2 + 1 / math.log2(3)))
    assert twice.recall[1] == 0.5 and twice.recall[5] == 1.0


def test_nothing_relevant_retrieved_scores_zero():
    score = score_ranking([[X], []], {A: 1, X: 0})
    assert (score.recall, score.reciprocal_rank, score.ndcg, score.first_relevant_rank) == (
        {1: 0.0, 5: 0.0, 10: 0.0},
        0.0,
        0.0,
        None,
    )


def test_keys_name_assets_by_id_uri_parent_uri_or_metadata():
    page = page_record("/docs/manual.pdf", 3, "reset the router", metadata={"ticket_id": "SUP-7"})
    image = image_record("router", "router lights")
    keys = {
        AssetKey("parent_uri", "/docs/manual.pdf"): 1,
        AssetKey("uri", "/docs/manual.pdf#page=3"): 1,
        AssetKey("ticket_id", "SUP-7"): 1,
        AssetKey("id", image.id): 1,
    }
    assert matched_keys([page, image], keys) == [list(keys)[:3], [AssetKey("id", image.id)]]


# qrels files --------------------------------------------------------------------------------


@pytest.fixture
def qrels(tmp_path):
    (tmp_path / "screens").mkdir()
    (tmp_path / "screens" / "s.png").write_bytes(b"not read until the evaluation runs")

    def write(*lines: str) -> Path:
        path = tmp_path / "qrels.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


def test_a_qrels_file_resolves_images_and_uris_against_its_folder(qrels, tmp_path):
    path = qrels(
        '{"query": " card declined ", "relevant": {"ticket_id=SUP-1042": 2, "id=abc": 0}}',
        "",
        '{"query": "登录失败", "image": "screens/s.png", "relevant": {"uri=docs/m.pdf#page=2": 1, '
        '"parent_uri=https://example.com/v.mp4": 1}}',
    )
    first, second = read_qrels(path)
    assert first == JudgedQuery(
        f"{path} line 1", "card declined", None, {AssetKey("ticket_id", "SUP-1042"): 2, AssetKey("id", "abc"): 0}
    )
    assert first.relevant == {AssetKey("ticket_id", "SUP-1042"): 2}
    assert second.source == f"{path} line 3" and second.image == tmp_path / "screens" / "s.png"
    assert second.grades == {
        AssetKey("uri", f"{tmp_path}/docs/m.pdf#page=2"): 1,
        AssetKey("parent_uri", "https://example.com/v.mp4"): 1,
    }
    assert second.label == "登录失败 + s.png"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"query": "x", "relevant": {"id=a": 1}', "not valid JSON"),
        ('["x"]', "expected a JSON object"),
        ('{"query": "x", "relevant": {"id=a": 1}, "grade": 1}', "unknown field 'grade'"),
        ('{"relevant": {"id=a": 1}}', 'needs "query" text, an "image", or both'),
        ('{"query": 3, "relevant": {"id=a": 1}}', "must be strings"),
        ('{"image": "screens/missing.png", "relevant": {"id=a": 1}}', "query image not found"),
        ('{"query": "x"}', '"relevant" must be a non-empty object'),
        ('{"query": "x", "relevant": {}}', '"relevant" must be a non-empty object'),
        ('{"query": "x", "relevant": {"SUP-1042": 1}}', "is not <field>=<value>"),
        ('{"query": "x", "relevant": {"ticket id=SUP-1": 1}}', "is not <field>=<value>"),
        ('{"query": "x", "relevant": {"id=a": 1.5}}', "whole number 0 or more, not 1.5"),
        ('{"query": "x", "relevant": {"id=a": -1}}', "whole number 0 or more, not -1"),
        ('{"query": "x", "relevant": {"id=a": true}}', "whole number 0 or more, not true"),
        ('{"query": "x", "relevant": {"id=a": 0}}', "every grade is 0"),
        ('{"query": "x", "relevant": {"uri=a.png": 1, "uri=./a.png": 1}}', "names the same assets"),
    ],
)
def test_a_bad_qrels_line_is_refused_naming_the_line_and_the_reason(qrels, line, reason):
    path = qrels('{"query": "fine", "relevant": {"id=a": 1}}', line)
    with pytest.raises(BadInput, match="line 2") as caught:
        read_qrels(path)
    assert reason in caught.value.reason


def test_a_repeated_query_and_an_empty_file_are_refused(qrels, tmp_path):
    with pytest.raises(BadInput, match="line 3: the same query as line 1"):
        read_qrels(qrels(*['{"query": "x", "relevant": {"id=a": 1}}', '{"query": "y", "relevant": {"id=a": 1}}'] * 2))
    with pytest.raises(BadInput, match="no queries"):
        read_qrels(qrels(""))
    with pytest.raises(BadInput, match="not found"):
        read_qrels(tmp_path / "nope.jsonl")


def test_the_grid_options_are_checked():
    assert parse_alphas("0, 0.5,1,0.5") == [0.0, 0.5, 1.0]
    assert parse_fusions("ranked, relative") == [Fusion.RANKED, Fusion.RELATIVE]
    with pytest.raises(BadInput, match="outside"):
        parse_alphas("0,1.5")
    with pytest.raises(BadInput, match="not a number"):
        parse_alphas("0,half")
    with pytest.raises(BadInput, match="'rrf' is not a fusion type"):
        parse_fusions("relative,rrf")
    grid = config_grid([0.0, 1.0], [Fusion.RELATIVE], [False, True])
    assert [(c.alpha, c.rerank) for c in grid] == [(0.0, False), (1.0, False), (0.0, True), (1.0, True)]


# feedback -----------------------------------------------------------------------------------


def test_thumbs_become_grades_and_unusable_feedback_queries_are_left_out_with_a_note(tmp_path):
    log = FeedbackLog(tmp_path / "feedback.sqlite")
    said = {"collection": "assets", "voter": "ann"}
    log.record(**said, query_text="card declined", query_image_sha="", asset_id="a1", vote=1)
    log.record(**said, query_text="card declined", query_image_sha="", asset_id="a2", vote=-1)
    log.record(**said, query_text="", query_image_sha="f" * 64, asset_id="a3", vote=1)  # image query, image at hand
    log.record(**said, query_text="", query_image_sha="e" * 64, asset_id="a1", vote=1)  # image query, image gone
    log.record(**said, query_text="vpn", query_image_sha="", asset_id="a2", vote=-1)  # thumbs down only
    screen = tmp_path / "screen.png"
    queries, notes = queries_from_votes(log.votes(collection="assets"), {"f" * 64: screen}.get)
    assert [(q.text, q.image, q.grades) for q in queries] == [
        ("card declined", None, {AssetKey("id", "a1"): 1, AssetKey("id", "a2"): 0}),
        (None, screen, {AssetKey("id", "a3"): 1}),
    ]
    assert len(notes) == 2
    assert "image eeeeeeeeeeee" in notes[0] and "not among the stored images" in notes[0]
    assert "'vpn'" in notes[1] and "thumbs down only" in notes[1]


# against a real collection ------------------------------------------------------------------


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    """SUP-1042 and SUP-1392 (PayFlow), SUP-1057 (a Chinese login screen) and a receipt, in reduced mode."""
    return ingest_samples(tmp_path_factory.mktemp("eval-data"))


def write_qrels(path: Path) -> Path:
    lines = [
        {"query": "card declined", "relevant": {"ticket_id=SUP-1042": 2, "ticket_id=SUP-1392": 0}},
        {"query": "grocery receipt", "relevant": {f"uri={RECEIPT}": 1}},
        {"image": str(QUERY_SCREENS / "SUP-1042.jpg"), "relevant": {"ticket_id=SUP-1042": 1}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def run_eval(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **REDUCED_MODE_ENV, "VLSEARCH_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    command = [sys.executable, "-m", "pipeline", "eval", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_eval_prints_one_row_per_distinct_configuration_and_skips_rerank_without_a_reranker(collection, tmp_path):
    qrels_file = write_qrels(tmp_path / "qrels.jsonl")
    result = run_eval(collection, "--qrels", str(qrels_file), "--alpha", "0,1", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    # Keyword only: alpha and fusion change nothing, so the four of each rerank setting share one row.
    every_config = [{"alpha": alpha, "fusion": fusion} for fusion in ("relative", "ranked") for alpha in (0.0, 1.0)]
    assert [(row["rerank"], row["stands_for"]) for row in rows] == [(False, every_config), (True, every_config)]
    keyword, rerank = rows
    assert not keyword["skipped"] and keyword["best"] and "4 configurations" in keyword["note"]
    assert rerank["skipped"] and rerank["note"] == "skipped" and "recall@10" not in rerank and not rerank["best"]
    assert keyword["recall@10"] > 0 and keyword["ndcg@10"] > 0
    by_query = {query["query"]: query for query in keyword["per_query"]}
    assert by_query["SUP-1042.jpg"]["first_relevant_rank"] == 1  # the customer's screenshot finds its ticket
    assert "alpha and fusion have no effect" in result.stderr and "no reranker model is loaded" in result.stderr

    table = run_eval(collection, "--qrels", str(qrels_file), "--alpha", "0,1", "--no-rerank")
    assert table.returncode == 0, table.stderr
    lines = [line for line in table.stdout.splitlines() if "configurations" in line]
    assert len(lines) == 1 and "best" in lines[0] and lines[0].split()[:3] == ["any", "any", "off"]
    assert "3 judged queries" in table.stdout


@pytest.mark.slow
def test_eval_refuses_a_key_on_a_column_the_collection_lacks(collection, tmp_path):
    path = tmp_path / "qrels.jsonl"
    path.write_text(
        '{"query": "card", "relevant": {"ticket_id=SUP-1042": 1}}\n'
        '{"query": "card", "image": "x.png", "relevant": {"ticket=SUP-1042": 1}}\n'
    )
    (tmp_path / "x.png").write_bytes(b"")
    result = run_eval(collection, "--qrels", str(path))
    assert result.returncode == 2
    assert "line 2" in result.stderr and "no metadata column 'ticket'" in result.stderr


@pytest.mark.slow
def test_each_query_image_is_read_once_whatever_the_number_of_configurations(collection):
    services = build_services(Settings(data_dir=collection, models_enabled=False))
    searcher = services.searcher()
    reads = []
    real_ocr = searcher.ocr

    class CountingOcr:
        name = real_ocr.name

        def read(self, image):
            reads.append(image)
            return real_ocr.read(image)

    searcher.ocr = CountingOcr()
    query = JudgedQuery("test", None, QUERY_SCREENS / "SUP-1042.jpg", {AssetKey("ticket_id", "SUP-1042"): 1})
    evaluation = evaluate(
        searcher, [query], config_grid([0.0, 0.5, 1.0], list(Fusion), [False]), image_limits=ImageLimits(10**8, 10**8)
    )
    assert len(evaluation.rows) == 1 and len(evaluation.rows[0].stands_for) == 6 and len(reads) == 1
    assert evaluation.rows[0].recall[1] == 1.0


def test_votes_split_by_query_the_same_way_every_time():
    when = datetime(2026, 1, 1, tzinfo=UTC)
    votes = [Vote(f"query {n}", "", f"a{n % 3}", 1, when, voter) for n in range(40) for voter in ("ann", "bob")]
    learn, held_out = split_votes(votes, seed=0)
    assert (learn, held_out) == split_votes(votes, seed=0)
    assert {v.query_text for v in learn}.isdisjoint({v.query_text for v in held_out})
    assert 10 <= len({v.query_text for v in learn}) <= 30 and len(learn) + len(held_out) == len(votes)
    assert {v.query_text for v in split_votes(votes, seed=1)[0]} != {v.query_text for v in learn}


CARD_PHRASINGS = ("card declined", "Card declined!", "declined card", "the card declined", "card was declined")


@pytest.mark.slow
def test_eval_feedback_learns_from_half_the_votes_and_prints_before_and_after(collection):
    ids = {
        item.metadata.get("ticket_id") or Path(item.uri).name: asset_id(
            hashlib.sha256(Path(item.uri).read_bytes()).hexdigest()
        )
        for item in read_manifest(ROOT / "samples" / "manifest.jsonl").items
        if item.metadata.get("ticket_id") in ("SUP-1042", "SUP-1392") or Path(item.uri) == RECEIPT
    }
    log = FeedbackLog(collection / "feedback.sqlite")
    for text in (*CARD_PHRASINGS, "grocery receipt"):
        relevant = ids[RECEIPT.name] if "receipt" in text else ids["SUP-1042"]
        for voter in ("ann", "bob"):
            log.record(collection="assets", query_text=text, query_image_sha="", asset_id=relevant, vote=1, voter=voter)
        if "card" in text:
            log.record(
                collection="assets", query_text=text, query_image_sha="", asset_id=ids["SUP-1392"], vote=-1, voter="ann"
            )
    seed = 4  # learns two phrasings of "card declined", judges by three others and "grocery receipt"
    learn, held_out = split_votes(log.votes(collection="assets"), seed=seed)
    learned_texts, judged_texts = {v.query_text for v in learn}, {v.query_text for v in held_out}
    similar = {text for text in judged_texts if "card" in text.lower()}
    assert similar and learned_texts & set(CARD_PHRASINGS) and "grocery receipt" in judged_texts

    result = run_eval(
        collection,
        "--feedback",
        "--split-seed",
        str(seed),
        "--alpha",
        "0",
        "--fusion",
        "relative",
        "--no-rerank",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["queries"] == len(judged_texts)
    assert [row["learned"] for row in body["rows"]] == [False, True]
    before, after = body["rows"]
    assert {q["query"] for q in after["per_query"] if q["learned_from_votes"]} == similar
    assert not any(q["learned_from_votes"] for q in before["per_query"])
    groups = {group["group"]: group for group in body["learned_groups"]}
    assert groups["a similar query learned"]["queries"] == len(similar)
    rest = groups["no similar query learned"]
    assert (
        rest["queries"] == len(judged_texts) - len(similar) and rest["changed"] == 0 and rest["before"] == rest["after"]
    )
    assert f"learned from {len(learn)} votes on {len(learned_texts)} queries" in result.stderr

    table = run_eval(
        collection, "--feedback", "--split-seed", str(seed), "--alpha", "0", "--fusion", "relative", "--no-rerank"
    )
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines() if line.split()[:3] in (["0", "relative", "off"],)]
    assert [row[3] for row in rows[:2]] == ["off", "on"]  # the learned column: before, then after
    assert "learned boost before -> after" in table.stdout and "no similar query learned" in table.stdout


def test_configurations_differ_only_by_rerank_without_an_embedding_model():
    grid = config_grid([0.0, 0.5], list(Fusion), [False, True])
    assert distinct_configs(grid, with_vectors=True) == [[config] for config in grid]
    without = distinct_configs(grid, with_vectors=False)
    assert [[config.rerank for config in group] for group in without] == [[False] * 4, [True] * 4]


def test_the_sample_qrels_name_assets_of_the_sample_manifest():
    items = read_manifest(ROOT / "samples" / "manifest.jsonl").items
    names = {"uri": {item.uri for item in items}, "ticket_id": {item.metadata["ticket_id"] for item in items}}
    queries = read_qrels(ROOT / "samples" / "qrels.jsonl")
    assert sum(query.image is not None for query in queries) == len(list(QUERY_SCREENS.glob("*.jpg")))
    for query in queries:
        for key in query.grades:
            assert key.value in names[key.field], (query.source, str(key))
