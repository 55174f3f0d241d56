"""Matcher orchestration, the policy judge, the scanner, and (slow) the full mode with the tiny Qwen3-VL."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import BadInput
from pipeline.images import ImageLimits, pdq_hash, thumbnail_jpeg
from pipeline.ingest.sources import Collected, SourceItem, collect
from pipeline.models import Query, RerankDocument
from pipeline.moderation.judge import PolicyJudge
from pipeline.moderation.library import Reference, add_references
from pipeline.moderation.matching import (
    KeypointRule,
    KeywordRule,
    Match,
    Matcher,
    PdqRule,
    Rule,
    Upload,
    VectorRule,
)
from pipeline.moderation.queue import ReviewQueue, State
from pipeline.moderation.rules import SHIPPED_RULES, load_rules
from pipeline.moderation.scan import Scanner
from tests.near_duplicate_set import NoOcr, crop_10, open_image

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "images"
LIMITS = ImageLimits(max_bytes=10_000_000, max_pixels=50_000_000)


class FixedText:
    name = "fixed"

    def __init__(self, text: str = "") -> None:
        self.text = text
        self.reads = 0

    def read(self, image: Image.Image) -> str:
        self.reads += 1
        return self.text


class FakeReranker:
    name = "fake-judge"
    accelerated = False

    def __init__(self, probability: float = 0.9, fail: bool = False) -> None:
        self.probability = probability
        self.fail = fail
        self.questions: list[str] = []

    def score(self, query: Query, documents: list[RerankDocument]) -> list[float]:
        if self.fail:
            raise RuntimeError("CUDA out of memory")
        self.questions.append(query.text or "")
        return [self.probability for _ in documents]


def reference(path: Path, category: str) -> Reference:
    image = open_image(path)
    return Reference(path.stem, str(path), category, pdq_hash(image)[0], thumbnail_jpeg(image), "")


@pytest.fixture(scope="module")
def references() -> list[Reference]:
    return [
        reference(SAMPLES / "product_sneaker_red.jpg", "counterfeit"),
        reference(SAMPLES / "product_mug_white.jpg", "counterfeit"),
        reference(SAMPLES / "photo_rocket_launch.jpg", "violence"),
    ]


@pytest.fixture(scope="module")
def rules():
    return load_rules(SHIPPED_RULES)


def test_a_reference_found_by_pdq_is_not_repeated_by_keypoints(references):
    sneaker = open_image(SAMPLES / "product_sneaker_red.jpg")
    matches = Matcher([PdqRule(references), KeypointRule(references)]).match(sneaker)
    assert [(m.rule, m.reference_id, m.category) for m in matches] == [(Rule.PDQ, "product_sneaker_red", "counterfeit")]
    cropped = crop_10(sneaker, np.random.default_rng(0))
    matches = Matcher([PdqRule(references), KeypointRule(references)]).match(cropped)
    assert [(m.rule, m.reference_id) for m in matches] == [(Rule.KEYPOINTS, "product_sneaker_red")]
    assert matches[0].score >= 20 and matches[0].describe().startswith("keypoints: agreeing keypoints ")


def test_ocr_runs_only_when_a_rule_reads_text(references, rules):
    ocr = FixedText("")
    Matcher([PdqRule(references)], ocr=ocr).match(Image.new("RGB", (64, 64)))
    assert ocr.reads == 0
    Matcher([PdqRule(references), KeywordRule(rules)], ocr=ocr).match(Image.new("RGB", (64, 64)))
    assert ocr.reads == 1


def test_the_judge_gives_a_second_opinion_on_keyword_only_uploads(rules):
    judge_model = FakeReranker(probability=0.83)
    matcher = Matcher(
        [KeywordRule(rules)], ocr=FixedText("CONGRATULATIONS! click now"), judge=PolicyJudge(judge_model, rules)
    )
    matches = matcher.match(Image.new("RGB", (64, 64)))
    assert [(m.rule, m.category) for m in matches] == [(Rule.KEYWORD, "spam"), (Rule.JUDGE, "spam")]
    assert matches[1].score == 0.83 and judge_model.questions == [rules.question("spam")]


def test_the_judge_stays_quiet_below_its_threshold_and_on_near_duplicates(references, rules):
    unsure = Matcher([KeywordRule(rules)], ocr=FixedText("click now"), judge=PolicyJudge(FakeReranker(0.2), rules))
    assert [m.rule for m in unsure.match(Image.new("RGB", (64, 64)))] == [Rule.KEYWORD]
    judge_model = FakeReranker()
    duplicate = Matcher(
        [PdqRule(references), KeywordRule(rules)], ocr=FixedText("click now"), judge=PolicyJudge(judge_model, rules)
    )
    assert Rule.JUDGE not in [m.rule for m in duplicate.match(open_image(SAMPLES / "product_mug_white.jpg"))]
    assert judge_model.questions == []


def test_a_failing_judge_keeps_the_soft_match(rules, caplog):
    matcher = Matcher(
        [KeywordRule(rules)], ocr=FixedText("click now"), judge=PolicyJudge(FakeReranker(fail=True), rules)
    )
    assert [m.rule for m in matcher.match(Image.new("RGB", (64, 64)))] == [Rule.KEYWORD]
    assert "policy judge failed" in caplog.text


def test_add_references_needs_a_category_for_every_item(tmp_path):
    class Recorder:
        def __init__(self) -> None:
            self.items: list[SourceItem] = []

        def ingest(self, items, progress=None):
            from pipeline.ingest.ingestor import IngestReport

            self.items = list(items)
            return IngestReport()

    recorder = Recorder()
    collected = Collected(
        items=[
            SourceItem("/a.jpg", "a.jpg"),
            SourceItem("/b.jpg", "manifest line 2", {"policy_category": "spam"}),
            SourceItem("/c.jpg", "manifest line 3", {"policy_category": "no spaces allowed"}),
        ],
        problems=[BadInput("missing.jpg", "no such file or folder")],
    )
    report = add_references(recorder, collected)  # type: ignore[arg-type]
    assert [(r.source, r.reason) for r in report.failures] == [
        ("missing.jpg", "no such file or folder"),
        ("a.jpg", "no policy_category: give it a manifest column 'policy_category' or use --category"),
        ("manifest line 3", "policy category 'no spaces allowed' must be letters, digits, '_' or '-' (at most 64)"),
    ]
    assert [item.metadata for item in recorder.items] == [{"policy_category": "spam"}]
    add_references(recorder, collected, category="counterfeit")  # type: ignore[arg-type]
    assert [item.metadata["policy_category"] for item in recorder.items] == ["counterfeit", "spam"]


def test_scan_queues_matches_once_and_reports_bad_files(references, rules, tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    open_image(SAMPLES / "product_sneaker_red.jpg").save(uploads / "sneaker_copy.png")
    Image.new("RGB", (300, 200), (20, 120, 40)).save(uploads / "plain.png")
    (uploads / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")

    queue = ReviewQueue(tmp_path / "moderation.sqlite")
    ocr = FixedText("")
    scanner = Scanner(Matcher([PdqRule(references), KeywordRule(rules)], ocr=ocr), queue, LIMITS)
    results = {Path(r.source).name: r for r in scanner.scan(collect([uploads]).items)}
    assert results["broken.jpg"].error.startswith("not a supported image")
    assert results["plain.png"].matches == () and results["plain.png"].queued is None
    copy = results["sneaker_copy.png"]
    assert copy.queued is not None and copy.queued.created and copy.matches[0].rule == Rule.PDQ

    again = {Path(r.source).name: r for r in scanner.scan(collect([uploads]).items)}
    assert again["sneaker_copy.png"].queued is not None and not again["sneaker_copy.png"].queued.created
    (item,) = queue.items()
    assert item.state == State.PENDING and item.category == "counterfeit" and item.uri.endswith("sneaker_copy.png")
    assert Image.open(io.BytesIO(item.thumbnail)).size[0] <= 256


@pytest.mark.slow
def test_full_mode_adds_vector_matches_and_the_model_judge(tiny_settings, tmp_path):
    from pipeline.moderation.services import build_moderation
    from pipeline.services import build_services

    settings = tiny_settings.model_copy(
        update={
            "moderation_judge": True,
            "moderation_judge_min_probability": 0.0,
            "moderation_vector_max_distance": 1e-3,
        }
    )
    moderation = build_moderation(build_services(settings))
    library = moderation.library
    library.ocr = NoOcr()  # the library's text is not what this test is about
    report = add_references(library.ingestor(), collect([SAMPLES / "product_sneaker_red.jpg"]), "counterfeit")
    assert report.summary()["added"] == 1

    matcher = moderation.matcher()
    vector_rule = next(rule for rule in matcher.rules if isinstance(rule, VectorRule))
    sneaker = open_image(SAMPLES / "product_sneaker_red.jpg")
    (found,) = vector_rule.find(Upload(sneaker))
    assert found.category == "counterfeit" and found.score <= 1e-3

    matcher.ocr = FixedText("Congratulations, you have won!")
    matches = matcher.match(Image.new("RGB", (200, 200), (90, 10, 200)))
    assert [(m.rule, m.category) for m in matches if m.rule != Rule.VECTOR] == [
        (Rule.KEYWORD, "spam"),
        (Rule.JUDGE, "spam"),
    ]
    judged = next(m for m in matches if m.rule == Rule.JUDGE)
    assert 0.0 <= judged.score <= 1.0 and judged.detail == moderation.rules.question("spam")
    assert isinstance(Match.from_json(judged.to_json()).rule, Rule)
