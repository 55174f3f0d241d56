"""Insights (pipeline/insights/): volume per period with hand-computed counts, near-identical groups on real
screenshots (a customer's re-rendered screen beside its ticket, not a look-alike with another error), topics
that are stable for a seeded collection, the cache that makes the next run incremental, CSV and the CLI."""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import Settings
from pipeline.errors import BadInput
from pipeline.ingest.ingestor import Outcome
from pipeline.ingest.sources import collect, read_manifest
from pipeline.insights.cache import INSIGHTS_FILE, InsightsCache
from pipeline.insights.export import changes_csv, volume_csv
from pipeline.insights.near_duplicates import Group, text_agrees
from pipeline.insights.report import InsightsRequest
from pipeline.insights.services import collection_insights
from pipeline.insights.topics import fit, topics_for
from pipeline.insights.volume import OTHER, Change, Period, volume
from pipeline.records import AssetSummary
from pipeline.services import build_services
from pipeline.store.base import FILTERABLE_FIELDS
from pipeline.store.filters import MAX_EXPRESSION_CHARS, parse_filter
from pipeline.store.lance_engine import LanceStore
from tests.store_conformance import DIM, make_record

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
QUERY_SCREENS = ROOT / "tests" / "data" / "query_screens"

# (created_at, app): hand-counted below.
DATED = [
    ("2026-01-05", "X"),  # ISO week 2026-W02
    ("2026-01-20", "X"),  # 2026-W04
    ("2026-02-02", "X"),  # Monday of 2026-W06
    ("2026-02-10", "Y"),  # 2026-W07
    ("2026-02-11T09:30:00Z", "Y"),  # a date-time counts by its day
    ("2025-12-31", "Y"),  # a Wednesday: ISO week 2026-W01
    ("", "X"),  # no date
    ("soon", "Y"),  # not a date
]


def test_counts_per_month_and_the_change_from_the_month_before():
    found = volume(DATED, date_column="created_at", by="app", period=Period.MONTH)
    assert found.periods == ["2025-12", "2026-01", "2026-02"]
    assert found.counts == {"X": [0, 2, 1], "Y": [1, 0, 2]}
    assert (found.current, found.previous) == ("2026-02", "2026-01")
    assert found.changes == [Change("Y", 2, 0), Change("X", 1, 2)]  # the biggest rise first
    assert found.undated == 2


def test_counts_per_iso_week_fill_empty_weeks_with_zero():
    found = volume(DATED, date_column="created_at", by="app", period=Period.WEEK)
    assert found.periods == [f"2026-W{week:02d}" for week in range(1, 8)]
    assert found.counts == {"X": [0, 1, 0, 1, 0, 1, 0], "Y": [1, 0, 0, 0, 0, 0, 2]}
    assert found.changes == [Change("Y", 2, 0), Change("X", 0, 1)]


def test_until_sets_the_current_period_even_when_it_is_empty():
    found = volume(DATED, date_column="created_at", by="app", period=Period.MONTH, until=date(2026, 3, 15))
    assert found.periods[-1] == "2026-03" and (found.current, found.previous) == ("2026-03", "2026-02")
    assert found.changes == [Change("X", 0, 1), Change("Y", 0, 2)]


def test_values_past_the_top_are_summed_as_other():
    found = volume(DATED, date_column="created_at", by="app", period=Period.MONTH, top=1)
    assert found.counts == {"X": [0, 2, 1], OTHER: [1, 0, 2]}  # X and Y tie on 3: alphabetical
    assert {change.value for change in found.changes} == {"X", "Y"}  # changes list every value


def test_volume_csv_is_the_chart_and_defuses_formulas():
    found = volume([*DATED, ("2026-02-03", "=HYPERLINK(1)")], date_column="created_at", by="app", period=Period.MONTH)
    rows = list(csv.reader(io.StringIO(volume_csv(found).decode("utf-8-sig"))))
    assert rows[0] == ["month", "app", "assets"]
    assert ["2026-01", "X", "2"] in rows and ["2026-02", "Y", "2"] in rows
    assert ["2026-02", "'=HYPERLINK(1)", "1"] in rows
    changes = list(csv.reader(io.StringIO(changes_csv(found).decode("utf-8-sig"))))
    assert changes[0] == ["app", "2026-02", "2026-01", "change"] and changes[1] == ["Y", "2", "0", "2"]


def dated_record(number: int, created_at: str, app_name: str, text: str = ""):
    record = make_record(f"r{number}", text or f"record {number}", metadata={"created_at": created_at, "app": app_name})
    return dataclasses.replace(record, pdq=f"{number:064x}", pdq_quality=10)


@pytest.fixture
def services(tmp_path: Path):
    services = build_services(Settings(data_dir=tmp_path, models_enabled=False))
    yield services
    services.close()


def test_the_filter_and_the_query_of_the_dashboard_narrow_what_is_counted(services):
    texts = ["card declined", "card declined again", "login locked", "card declined", "login locked", "sync", "", ""]
    services.store.upsert([dated_record(n, day, app_name, texts[n]) for n, (day, app_name) in enumerate(DATED)])
    services.store.optimize()
    every = collection_insights(services, InsightsRequest(by=("app",)))
    assert (
        every.assets == 8 and every.date_column == "created_at" and every.date_columns == ["created_at", "ingested_at"]
    )
    only_y = collection_insights(services, InsightsRequest(where="app = 'Y'", by=("app",)))
    assert only_y.assets == 4 and only_y.volumes[0].counts == {"Y": [1, 0, 2]}
    declined = collection_insights(services, InsightsRequest(query="declined", by=("app",), period=Period.MONTH))
    assert declined.assets == 3  # records 0, 1 and 3 say "declined"
    assert declined.volumes[0].counts == {"X": [2, 0], "Y": [0, 1]}
    by_ingest = collection_insights(services, InsightsRequest(date_column="ingested_at"))
    assert by_ingest.volumes[0].counts == {"all": [8]} and by_ingest.volumes[0].undated == 0


def test_an_unknown_column_is_named(services):
    services.store.upsert([dated_record(0, "2026-01-01", "X")])
    with pytest.raises(BadInput, match="'plan'"):
        collection_insights(services, InsightsRequest(by=("plan",)))
    with pytest.raises(BadInput, match="'when'"):
        collection_insights(services, InsightsRequest(date_column="when"))


# near-identical images ----------------------------------------------------------------------------------------

TICKET_SCREENS = ("SUP-1042", "SUP-1392", "SUP-1057")  # PayFlow card declined, its PayFlow look-alike, a login


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three ticket screenshots (with their manifest rows) and two customers' screenshots of the first and last."""
    data_dir = tmp_path_factory.mktemp("screens")
    services = build_services(Settings(data_dir=data_dir, models_enabled=False))
    tickets = [
        item
        for item in read_manifest(SAMPLES / "manifest.jsonl").items
        if item.metadata.get("ticket_id") in TICKET_SCREENS
    ]
    customers = collect([str(QUERY_SCREENS / "SUP-1042.jpg"), str(QUERY_SCREENS / "SUP-1057.jpg")])
    report = services.ingestor().ingest([*tickets, *customers.items])
    assert report.count(Outcome.ADDED) == 5, report.failures
    services.close()
    return data_dir


@pytest.mark.slow
def test_a_customer_screenshot_groups_with_its_ticket_and_not_with_a_look_alike(screens, tmp_path):
    data_dir = tmp_path / "data"
    import shutil

    shutil.copytree(screens, data_dir)
    services = build_services(Settings(data_dir=data_dir, models_enabled=False))
    steps: list[tuple[int, int]] = []
    found = collection_insights(services, InsightsRequest(), progress=lambda done, total: steps.append((done, total)))
    named = sorted(sorted(Path(member.uri).name for member in group.members) for group in found.groups)
    assert named == [
        ["SUP-1042.jpg", "payflow_card_declined_en_desktop_light.png"],
        ["SUP-1057.jpg", "nimbus_login_locked_zh_phone_dark.png"],
    ]
    declined = next(group for group in found.groups if "SUP-1042.jpg" in group.members[1].uri + group.members[0].uri)
    assert declined.representative.metadata["ticket_id"] == "SUP-1042"  # dated: first; the customer's has no date
    assert "declined" in declined.words
    assert steps[-1] == (5, 5) and found.not_compared == 0
    listed = services.store.summaries(where=declined.filter)
    assert sorted(summary.id for summary in listed) == sorted(member.id for member in declined.members)

    # The next run compares nothing; a new copy of the ticket's screen is compared alone and joins its group.
    steps.clear()
    collection_insights(services, InsightsRequest(), progress=lambda done, total: steps.append((done, total)))
    assert steps == []
    copy = tmp_path / "copy.png"
    shutil.copy(SAMPLES / "images" / "payflow_card_declined_en_desktop_light.png", copy)
    from PIL import Image

    with Image.open(copy) as image:
        image.resize((image.width // 2, image.height // 2)).save(copy)
    services.ingestor().ingest(collect([str(copy)]).items)
    again = collection_insights(services, InsightsRequest(), progress=lambda done, total: steps.append((done, total)))
    assert steps == [(1, 1)]
    assert again.groups[0].size == 3 and {Path(m.uri).name for m in again.groups[0].members} >= {"copy.png"}

    # A deleted asset leaves its group; a group needs two.
    services.store.delete([member.id for member in again.groups[0].members if member.uri.endswith(".jpg")])
    services.store.delete([member.id for member in again.groups[1].members if member.uri.endswith(".jpg")])
    left = collection_insights(services, InsightsRequest())
    assert [group.size for group in left.groups] == [2]
    assert InsightsCache(data_dir / INSIGHTS_FILE, "assets").compared() == {s.id for s in services.store.summaries()}
    services.close()


def test_a_big_groups_filter_lists_as_many_members_as_a_filter_holds():
    members = [
        AssetSummary(
            f"id{n}", f"/uploads/customers/2026/ticket-{n:04d}-screenshot.png", datetime.now(UTC), "", "", "", 0, {}
        )
        for n in range(80)
    ]
    group = Group(members[0], members, current=0, previous=0, words=[])
    assert len(group.filter) <= MAX_EXPRESSION_CHARS
    listed = parse_filter(group.filter, FILTERABLE_FIELDS)
    assert listed.values[0] == members[0].uri and 30 < len(listed.values) < 80
    small = Group(members[0], members[:3], current=0, previous=0, words=[])
    assert parse_filter(small.filter, FILTERABLE_FIELDS).values == tuple(m.uri for m in members[:3])


def test_same_words_but_another_error_code_is_another_screen():
    screen = "Payment failed. Your card was declined by the issuer. Error PF-4021. Try another card or contact us."
    assert text_agrees(screen, screen.replace("Try another card", "Please try another card"))
    assert not text_agrees(screen, screen.replace("PF-4021", "PF-4090"))
    assert not text_agrees(screen, "Sync paused: your storage quota is full. Free up space to continue syncing.")
    assert text_agrees("", "")  # two pictures without text: the keypoints decide


# topics ------------------------------------------------------------------------------------------------------

THEMES = {
    "payment": "payment card declined issuer checkout charge refund invoice",
    "login": "login password locked account sign verification attempts",
    "sync": "sync storage quota folder upload files space",
}


def themed(seed: int, count: int = 8):
    """`count` records per theme, each holding five of its theme's words and a word of its own."""
    records = []
    for theme, words in THEMES.items():
        vocabulary = words.split()
        for number in range(count):
            picked = [vocabulary[(number + step) % len(vocabulary)] for step in range(5)]
            name = f"{theme}{seed}-{number}"
            record = make_record(name, " ".join(picked) + f" ticket{theme}{number}x", metadata={"theme": theme})
            records.append(dataclasses.replace(record, pdq="", pdq_quality=0))
    return records


def test_topics_follow_the_themes_and_are_labelled_by_their_words(tmp_path):
    records = themed(0)
    store = LanceStore(tmp_path / "store", dim=DIM)
    store.upsert(records)
    summaries = store.summaries()
    fitted = fit(summaries)
    assert fitted is not None
    model, assigned = fitted
    theme_of = {summary.id: summary.metadata["theme"] for summary in summaries}
    clusters = {
        theme: {int(assigned[i]) for i, s in enumerate(summaries) if theme_of[s.id] == theme} for theme in THEMES
    }
    assert all(len(topics) == 1 for topics in clusters.values()) and len(set.union(*clusters.values())) == 3
    for theme, (topic,) in clusters.items():
        assert set(model.labels[topic]) <= set(THEMES[theme].split()), (theme, model.labels[topic])
    again = fit(store.summaries())
    assert again is not None and again[0].labels == model.labels and list(again[1]) == list(assigned)


def test_topics_are_cached_and_new_assets_join_the_nearest_topic(tmp_path):
    store = LanceStore(tmp_path / "store", dim=DIM)
    store.upsert(themed(0))
    cache = InsightsCache(tmp_path / INSIGHTS_FILE, "assets")
    model, first, refitted = topics_for(store.summaries(), cache)
    assert refitted and model is not None and len(first) == 24
    newcomer = dataclasses.replace(make_record("late", "password locked login attempts sign"), pdq="")
    store.upsert([newcomer])
    _, second, refitted = topics_for(store.summaries(), cache)
    assert not refitted and {k: v for k, v in second.items() if k != newcomer.id} == first
    login_topic = first[next(r.id for r in themed(0) if r.metadata["theme"] == "login")]
    assert second[newcomer.id] == login_topic
    store.upsert(themed(1, count=3))  # 9 more: past REFIT_SHARE of 24
    _, third, refitted = topics_for(store.summaries(), cache)
    assert refitted and len(third) == 34
    assert InsightsCache(tmp_path / INSIGHTS_FILE, "other").topic_model() is None  # per collection


def test_insights_report_topics_with_size_and_trend(services):
    records = themed(0)
    months = ["2026-01-10", "2026-02-10"]
    records = [
        dataclasses.replace(
            r, metadata={**r.metadata, "created_at": months[n % 2 if r.metadata["theme"] != "sync" else 1]}
        )
        for n, r in enumerate(records)
    ]
    services.store.upsert(records)
    found = collection_insights(services, InsightsRequest(period=Period.MONTH))
    assert found.topic_mode == "text" and [topic.size for topic in found.topics] == [8, 8, 8]
    sync = next(topic for topic in found.topics if "quota" in topic.words or "storage" in topic.words)
    assert (sync.current, sync.previous) == (8, 0) and sync.growth == 8
    assert found.topics[0].number == sync.number  # same size: the fastest growing first
    assert set(sync.query.split()) == set(sync.words)


# the command line -------------------------------------------------------------------------------------------


def test_cli_prints_json_and_writes_csv(services, tmp_path, monkeypatch):
    services.store.upsert([dated_record(n, day, app_name) for n, (day, app_name) in enumerate(DATED)])
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("VLSEARCH_MODELS_ENABLED", "false")
    runner = CliRunner()
    postponed = runner.invoke(app, ["insights", "--compare-for", "0", "--json"])
    assert postponed.exit_code == 0 and json.loads(postponed.stdout)["not_compared"] == len(DATED)
    assert "8 assets are not compared for near-duplicates yet" in postponed.stderr
    assert json.loads(postponed.stdout)["groups"] == []  # nothing compared, nothing grouped
    result = runner.invoke(app, ["insights", "--by", "app", "--json", "--csv", str(tmp_path / "csv")])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["not_compared"] == 0
    assert shown["volumes"][0]["counts"] == {"X": [0, 2, 1], "Y": [1, 0, 2]}
    assert shown["volumes"][0]["changes"][0] == {"value": "Y", "current": 2, "previous": 0, "delta": 2}
    assert sorted(path.name for path in (tmp_path / "csv").iterdir()) == [
        "change-app.csv",
        "groups.csv",
        "topics.csv",
        "volume-app.csv",
    ]
    table = runner.invoke(app, ["insights", "--by", "app", "--period", "week"])
    assert table.exit_code == 0 and "2026-W07" in table.stdout
    wrong = runner.invoke(app, ["insights", "--period", "year"])
    assert wrong.exit_code == 1 and "period 'year'" in wrong.output


# full mode: the tiny Qwen3-VL ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_with_an_embedder_topics_follow_the_vectors_and_the_captioner_sums_each_up(tiny_settings):
    from PIL import Image

    from pipeline.images import thumbnail_jpeg

    services = build_services(tiny_settings)
    dim = tiny_settings.embed_dim
    rng = np.random.default_rng(3)
    records = []
    for number, (theme, words) in enumerate(itertools.product(("red", "blue"), THEMES.values())):
        for copy in range(2):
            # The vector says red or blue; the text is one of three unrelated themes, so text would cluster otherwise.
            centre = np.eye(dim)[0 if theme == "red" else 1]
            vector = (centre + 0.05 * rng.standard_normal(dim)).astype(np.float32)
            picture = Image.new("RGB", (64, 64), theme)
            record = make_record(f"{theme}{number}-{copy}", words, vector=vector / np.linalg.norm(vector))
            records.append(
                dataclasses.replace(record, thumbnail=thumbnail_jpeg(picture), metadata={"colour": theme}, pdq="")
            )
    services.store.upsert(records)
    captioned: list[int] = []
    captioner = services.models.captioner
    assert captioner is not None
    original = captioner.caption
    captioner.caption = lambda images: captioned.append(len(images)) or original(images)  # type: ignore[method-assign]
    found = collection_insights(services, InsightsRequest())
    assert found.topic_mode == "vectors" and len(found.topics) == 2
    for topic in found.topics:
        colours = {services.store.get([doc_id])[0].metadata["colour"] for doc_id in topic.member_ids}
        assert len(colours) == 1 and topic.size == 6
    said = InsightsCache(tiny_settings.data_dir / INSIGHTS_FILE, "assets").topic_summaries()
    assert captioned == [1, 1]  # one contact sheet per topic
    assert {topic.number: topic.summary for topic in found.topics} == said
    again = collection_insights(services, InsightsRequest())
    assert captioned == [1, 1] and [topic.summary for topic in again.topics] == [t.summary for t in found.topics]
    services.close()
