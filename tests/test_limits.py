"""Limits: query length and result count refused by the library (so the CLI and the app agree), the per-user
model-call allowance in the app, and the number of model-heavy searches a process runs at once, each with a
message that names the limit and its setting."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from pipeline.access.audit import AUDIT_FILE, Action, AuditLog, Outcome
from pipeline.access.limits import ModelCallBudget, QuerySlots, process_query_slots, search_model_calls
from pipeline.cli import app as cli
from pipeline.config import Settings
from pipeline.errors import BadInput, Busy, LimitReached
from pipeline.ingest.sources import SourceItem
from pipeline.services import build_services
from tests.sample_collection import QUERY_SCREENS, REDUCED_MODE_ENV, SAMPLES

APP = Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def searcher(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, models_enabled=False, max_query_chars=20, max_results=5)
    return build_services(settings).searcher()


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_app_caches: None) -> pytest.MonkeyPatch:
    """The app in reduced mode over a collection of one image (an empty one only offers to add images)."""
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VLSEARCH_AUTH", "off")
    for name, value in REDUCED_MODE_ENV.items():
        monkeypatch.setenv(name, value)
    services = build_services(Settings())
    try:
        picture = SAMPLES / "images" / "product_mug_white.jpg"
        services.ingestor().ingest([SourceItem(uri=str(picture), origin=picture.name)])
    finally:
        services.close()
    return monkeypatch


def analyst_page() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60).run().switch_page("views/analyst.py").run()


def test_a_too_long_query_is_refused_naming_the_limit(searcher):
    with pytest.raises(BadInput, match=r"query: 21 characters is over the limit of 20 \(VLSEARCH_MAX_QUERY_CHARS\)"):
        searcher.search(text="x" * 21, limit=5)
    assert searcher.search(text="x" * 20, limit=5).hits == []


def test_a_raised_query_limit_admits_queries_past_the_default(tmp_path: Path):
    """The setting is the only limit: 2,499 characters pass at 5,000 (a fixed 2,000 in the planner refused them)."""
    settings = Settings(data_dir=tmp_path, models_enabled=False, max_query_chars=5000)
    searcher = build_services(settings).searcher()
    assert searcher.search(text="invoice " * 312 + "abc", limit=5).hits == []  # 2,499 characters
    with pytest.raises(BadInput, match=r"5,001 characters is over the limit of 5,000"):
        searcher.search(text="x" * 5001, limit=5)


def test_more_results_than_allowed_are_refused_naming_the_limit(searcher):
    with pytest.raises(BadInput, match=r"limit: 6 results is over the limit of 5 \(VLSEARCH_MAX_RESULTS\)"):
        searcher.search(text="invoice", limit=6)
    with pytest.raises(BadInput, match="ask for at least 1 result"):
        searcher.search(text="invoice", limit=0)


def test_the_cli_refuses_a_too_long_query_with_the_same_message(tmp_path, monkeypatch):
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VLSEARCH_MAX_QUERY_CHARS", "10")
    for name, value in REDUCED_MODE_ENV.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["search", "--text", "login failed on android"])
    assert result.exit_code == 2
    assert "23 characters is over the limit of 10 (VLSEARCH_MAX_QUERY_CHARS)" in result.output


def test_the_model_call_budget_refuses_past_the_limit_until_the_window_moves_on():
    clock = Clock()
    budget = ModelCallBudget(max_calls=3, window_s=3600, clock=clock)
    budget.spend(2)
    clock.now = 600
    budget.spend()
    expected = (
        r"this user has used the 3 model calls allowed per 60 min "
        r"\(VLSEARCH_MAX_MODEL_CALLS_PER_SESSION, counted per user\); try again in 50 min"
    )
    with pytest.raises(LimitReached, match=expected) as raised:
        budget.spend()
    assert raised.value.retry_after_s == 3000
    clock.now = 3600  # the first two calls have left the window
    assert budget.remaining() == 2
    with pytest.raises(LimitReached):
        budget.spend(3)  # all or nothing
    assert budget.remaining() == 2


def test_a_search_costs_a_call_per_model_it_runs():
    assert search_model_calls(embedder=False, image=False, rerank=False) == 0  # BM25 only
    assert search_model_calls(embedder=True, image=False, rerank=False) == 1
    assert search_model_calls(embedder=False, image=True, rerank=True) == 2


def test_the_app_stops_model_searches_when_the_user_used_their_calls(app_env, tmp_path):
    app_env.setenv("VLSEARCH_MAX_MODEL_CALLS_PER_SESSION", "1")
    app = AppTest.from_file(str(APP), default_timeout=60).run().switch_page("views/lookup.py").run()
    for _ in range(2):
        screenshot = (QUERY_SCREENS / "SUP-1042.jpg").read_bytes()
        app.file_uploader(key="lookup_screenshot").set_value(("SUP-1042.jpg", screenshot, "image/jpeg"))
        next(button for button in app.button if button.label == "Find matching tickets").click()
        app.run()
    assert not app.exception
    assert "local has used the 1 model calls allowed per 60 min (VLSEARCH_MAX_MODEL_CALLS_PER_SESSION" in (
        app.error[0].value
    )
    searches = AuditLog(tmp_path / AUDIT_FILE).events(action=Action.SEARCH)
    assert [event.outcome for event in searches] == [Outcome.REFUSED, Outcome.OK]


def test_the_app_caps_the_result_count_and_names_a_too_long_query(app_env):
    app_env.setenv("VLSEARCH_MAX_RESULTS", "5")
    app_env.setenv("VLSEARCH_MAX_QUERY_CHARS", "20")
    app = analyst_page()
    assert app.number_input(key="analyst_limit").max == 5
    app.text_input(key="analyst_text").set_value("why does my card get declined every time")
    next(button for button in app.button if button.label == "Search").click()
    app.run()
    assert "over the limit of 20 (VLSEARCH_MAX_QUERY_CHARS)" in app.error[0].value


def lookup_as(name: str) -> AppTest:
    """A new session (as a new browser tab is) of a signed-in user, looking up one screenshot."""
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state["auth_user"] = name
    app.run().switch_page("views/lookup.py").run()
    screenshot = (QUERY_SCREENS / "SUP-1042.jpg").read_bytes()
    app.file_uploader(key="lookup_screenshot").set_value(("SUP-1042.jpg", screenshot, "image/jpeg"))
    next(button for button in app.button if button.label == "Find matching tickets").click()
    return app.run()


def test_a_new_tab_of_the_same_user_continues_their_model_call_allowance(app_env, tmp_path, users_json):
    (tmp_path / "users.json").write_bytes(users_json.read_bytes())
    app_env.setenv("VLSEARCH_AUTH", "local")
    app_env.setenv("VLSEARCH_MAX_MODEL_CALLS_PER_SESSION", "1")
    assert not lookup_as("sam").error  # sam's one call
    refused = lookup_as("sam")  # another tab: a fresh session, the same user
    assert "sam has used the 1 model calls allowed per 60 min" in refused.error[0].value
    assert not lookup_as("ann").error  # every user has their own allowance


@contextmanager
def slots_taken(slots: QuerySlots, count: int) -> Iterator[None]:
    """`count` threads each holding one of `slots` until the block ends."""
    holding, release = threading.Barrier(count + 1), threading.Event()

    def hold() -> None:
        with slots.hold():
            holding.wait()
            release.wait()

    threads = [threading.Thread(target=hold) for _ in range(count)]
    for thread in threads:
        thread.start()
    holding.wait()
    try:
        yield
    finally:
        release.set()
        for thread in threads:
            thread.join()


def test_model_searches_past_the_concurrency_limit_are_told_busy_until_a_slot_frees():
    slots = QuerySlots(2, wait_s=0)
    with slots_taken(slots, 2):
        expected = r"busy: the server already runs 2 model searches at once, its limit \(VLSEARCH_MAX_CONCURRENT_"
        with pytest.raises(Busy, match=expected) as raised:
            with slots.hold():
                pass
        assert raised.value.retry_after_s > 0 and "try again in" in str(raised.value)
    with slots.hold():  # both finished: a slot is free again
        pass


def test_a_searcher_takes_a_slot_for_a_query_image_and_not_for_a_keyword_search(tmp_path):
    settings = Settings(data_dir=tmp_path, models_enabled=False, max_concurrent_queries=1)
    searcher = build_services(settings).searcher()
    with slots_taken(process_query_slots(1), 1):
        with pytest.raises(Busy, match="VLSEARCH_MAX_CONCURRENT_QUERIES"):
            searcher.search(image=Image.new("RGB", (64, 64), "white"), limit=5)  # OCR: a model-heavy search
        assert searcher.search(text="invoice", limit=5).hits == []  # BM25 only (no models) needs no slot


def test_the_app_answers_busy_and_audits_the_refusal(app_env, tmp_path):
    app_env.setenv("VLSEARCH_MAX_CONCURRENT_QUERIES", "1")
    app = AppTest.from_file(str(APP), default_timeout=60).run().switch_page("views/analyst.py").run()
    picture = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(picture, format="PNG")
    app.file_uploader(key="analyst_image").set_value(("query.png", picture.getvalue(), "image/png"))
    with slots_taken(process_query_slots(1), 1):
        next(button for button in app.button if button.label == "Search").click()
        app.run()
    assert not app.exception
    assert "busy: the server already runs 1 model searches at once" in app.error[0].value
    (search,) = AuditLog(tmp_path / AUDIT_FILE).events(action=Action.SEARCH)
    assert search.outcome == Outcome.REFUSED
