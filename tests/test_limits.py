"""Limits: query length and result count refused by the library (so the CLI and the app agree), and the
per-session model-call allowance in the app, each with a message that names the limit and its setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from pipeline.access.audit import AUDIT_FILE, Action, AuditLog, Outcome
from pipeline.access.limits import ModelCallBudget, search_model_calls
from pipeline.cli import app as cli
from pipeline.config import Settings
from pipeline.errors import BadInput, LimitReached
from pipeline.services import build_services
from tests.sample_collection import QUERY_SCREENS, REDUCED_MODE_ENV

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
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VLSEARCH_AUTH", "off")
    for name, value in REDUCED_MODE_ENV.items():
        monkeypatch.setenv(name, value)
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
    expected = r"used its 3 model calls per 60 min \(VLSEARCH_MAX_MODEL_CALLS_PER_SESSION\); try again in 50 min"
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


def test_the_app_stops_model_searches_when_the_session_used_its_calls(app_env, tmp_path):
    app_env.setenv("VLSEARCH_MAX_MODEL_CALLS_PER_SESSION", "1")
    app = AppTest.from_file(str(APP), default_timeout=60).run().switch_page("views/lookup.py").run()
    for _ in range(2):
        screenshot = (QUERY_SCREENS / "SUP-1042.jpg").read_bytes()
        app.file_uploader(key="lookup_screenshot").set_value(("SUP-1042.jpg", screenshot, "image/jpeg"))
        next(button for button in app.button if button.label == "Find matching tickets").click()
        app.run()
    assert not app.exception
    assert "used its 1 model calls per 60 min (VLSEARCH_MAX_MODEL_CALLS_PER_SESSION)" in app.error[0].value
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
