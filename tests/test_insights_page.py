"""The Insights page through streamlit.testing's AppTest, in OCR + keyword mode: an empty collection, one without
dates, and the sample tickets with a customer's screenshot of one of them (a near-identical group)."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.config import Settings
from pipeline.ingest.ingestor import Outcome
from pipeline.ingest.sources import collect
from pipeline.services import build_services
from tests.sample_collection import QUERY_SCREENS, REDUCED_MODE_ENV, ingest_samples

pytestmark = pytest.mark.usefixtures("fresh_app_caches")

APP = Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py"
PAGE = "views/insights.py"
TIMEOUT_S = 120
OPEN_MODE_ENV = {"VLSEARCH_AUTH": "off"}


def ingest(data_dir: Path, *paths: Path) -> Path:
    services = build_services(Settings(data_dir=data_dir, models_enabled=False))
    report = services.ingestor().ingest(collect(list(paths)).items)
    services.close()
    assert report.count(Outcome.ADDED) == len(paths), report.failures
    return data_dir


@pytest.fixture(scope="module")
def tickets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three sample tickets and a receipt (tests/sample_collection.py), and the customer's screenshot of SUP-1042."""
    return ingest(ingest_samples(tmp_path_factory.mktemp("insights-app")), QUERY_SCREENS / "SUP-1042.jpg")


def open_insights(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> AppTest:
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(data_dir))
    for name, value in {**REDUCED_MODE_ENV, **OPEN_MODE_ENV}.items():
        monkeypatch.setenv(name, value)
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S).run()
    app.switch_page(PAGE).run()
    assert not app.exception
    return app


def texts(app: AppTest) -> str:
    kinds = ("title", "subheader", "markdown", "caption", "info", "warning", "error")
    written = (html.unescape(str(element.value)) for kind in kinds for element in getattr(app, kind))
    return "\n".join(written).replace("\u200b", "")


def test_an_empty_collection_says_so(monkeypatch, tmp_path):
    app = open_insights(monkeypatch, tmp_path / "empty")
    assert "No images yet: add some on the Home page" in texts(app)
    assert not app.error and not app.button


def test_a_collection_without_dates_is_counted_by_ingest_time(monkeypatch, tmp_path):
    app = open_insights(monkeypatch, ingest(tmp_path / "undated", QUERY_SCREENS / "SUP-1042.jpg"))
    page = texts(app)
    assert "No metadata column holds dates" in page and "Counted by ingested_at" in page
    assert not app.error


def test_volume_change_groups_and_topics_of_the_tickets(monkeypatch, tickets):
    app = open_insights(monkeypatch, tickets)
    page = texts(app)
    assert not app.error, page
    assert "5 assets in view" in page and "Counted by created_at" in page
    assert [chart.proto.spec for chart in app.get("plotly_chart")]  # one per "count by" column
    assert app.multiselect(key="insights_by").value == ["app", "error_code"]
    # The latest ticket (SUP-1392, PayFlow PF-4090) is from 2026-02; nothing was dated 2026-01.
    assert "Change by app: 2026-02 against 2026-01" in page and "PayFlow: 1 this month, 0 last month" in page
    assert "PF-4090: 1 this month, 0 last month" in page
    assert "Near-identical images: 1 group\n" in page
    assert "2 near-identical images, like payflow_card_declined_en_desktop_light.png" in page
    assert "Topic " in page

    next(button for button in app.button if button.key.startswith("insights_group_open_")).click()
    app.run()
    search = app.session_state["analyst_search"]
    assert search["where"].startswith("uri IN (")
    assert sorted(Path(hit.record.uri).name for hit in search["hits"]) == [
        "SUP-1042.jpg",
        "payflow_card_declined_en_desktop_light.png",
    ]


def test_assets_left_to_compare_are_counted_with_a_button_to_go_on(monkeypatch, tickets, tmp_path):
    data_dir = tmp_path / "uncompared"
    shutil.copytree(tickets, data_dir, ignore=shutil.ignore_patterns("insights.sqlite*"))
    monkeypatch.setenv("VLSEARCH_INSIGHTS_COMPARE_S", "0")  # this page view compares nothing
    app = open_insights(monkeypatch, data_dir)
    page = texts(app)
    assert "5 assets not compared yet: the groups may grow once they are." in page
    assert "Near-identical images: 0 groups" in page
    assert any(button.label == "Compare more" for button in app.button)


def test_a_filter_that_matches_nothing_says_so(monkeypatch, tickets):
    app = open_insights(monkeypatch, tickets)
    app.text_input(key="insights_where").set_value("app = 'Nobody'")
    next(button for button in app.button if button.label == "Show insights").click()
    app.run()
    assert "Nothing in view: no asset matches" in texts(app)
