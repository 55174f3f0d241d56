"""The access audit log: append-only, newest first, exported without spreadsheet formulas; searches in the app
are recorded, and admins (only) read the log in the app."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.access.audit import AUDIT_FILE, LOGGED_QUERY_CHARS, Action, AuditLog, Outcome, events_csv, logged_query
from pipeline.access.auth import AuthMode, Role, User
from pipeline.config import Settings
from pipeline.ingest.sources import SourceItem
from pipeline.services import build_services
from tests.sample_collection import REDUCED_MODE_ENV, SAMPLES

APP = Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py"
ANN = User("ann", Role.ADMIN, AuthMode.LOCAL)


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / AUDIT_FILE)


@pytest.fixture
def app_env(users_json: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_app_caches: None) -> Path:
    """An empty collection whose users file has one user per role."""
    (tmp_path / "users.json").write_bytes(users_json.read_bytes())
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("VLSEARCH_AUTH", raising=False)
    for name, value in REDUCED_MODE_ENV.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def app_as(name: str) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state["auth_user"] = name
    return app.run()


def test_events_come_back_newest_first_with_who_what_and_detail(audit):
    audit.record(Action.SIGN_IN, actor="mallory", outcome=Outcome.FAILED, reason="wrong user name or password")
    audit.record(Action.SIGN_IN, user=ANN)
    audit.record(Action.SEARCH, user=ANN, query="card declined", results=3)
    newest = audit.events()
    assert [(event.actor, event.role, event.action, event.outcome) for event in newest] == [
        ("ann", "admin", Action.SEARCH, Outcome.OK),
        ("ann", "admin", Action.SIGN_IN, Outcome.OK),
        ("mallory", "", Action.SIGN_IN, Outcome.FAILED),
    ]
    assert newest[0].detail == {"query": "card declined", "results": 3}
    assert [event.actor for event in audit.events(action=Action.SIGN_IN, actor="mallory")] == ["mallory"]


def test_the_log_is_append_only_even_for_someone_with_the_file(audit):
    audit.record(Action.SEARCH, user=ANN, query="invoice")
    with sqlite3.connect(audit.path) as db:
        for statement in ("UPDATE events SET actor = 'nobody'", "DELETE FROM events"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)
    assert [event.actor for event in audit.events()] == ["ann"]
    assert [event.actor for event in AuditLog(audit.path).events()] == ["ann"]  # reopening keeps it


def test_replace_into_cannot_rewrite_an_event(audit):
    """REPLACE deletes the old row without firing DELETE triggers; inserting over a used id is refused instead."""
    audit.record(Action.SEARCH, user=ANN, query="invoice")
    audit.record(Action.SIGN_OUT, user=ANN)
    rewrite = (
        "REPLACE INTO events (id, at, actor, role, action, outcome, detail{}) "
        "SELECT id, at, 'nobody', role, action, outcome, detail{} FROM events WHERE id = 1"
    )
    with sqlite3.connect(audit.path) as db:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(rewrite.format("", ""))
        # even with the head hash as prev_hash, so that the row would link to the chain
        with pytest.raises(sqlite3.IntegrityError, match="append-only: a row id cannot be written again"):
            db.execute(rewrite.format(", prev_hash", ", (SELECT hash FROM events WHERE id = 2)"))
    assert [event.actor for event in audit.events()] == ["ann", "ann"]
    assert audit.verify().intact


def test_long_queries_are_cut_in_the_log():
    assert logged_query("  short  ") == "short"
    cut = logged_query("x" * 5000)
    assert len(cut) == LOGGED_QUERY_CHARS + 1 and cut.endswith("…")


def test_csv_export_defuses_formulas_typed_by_strangers(audit):
    audit.record(Action.SIGN_IN, actor='=HYPERLINK("http://evil.example","x")', outcome=Outcome.FAILED)
    rows = list(csv.DictReader(io.StringIO(events_csv(audit.events()).decode("utf-8-sig"))))
    assert rows[0]["actor"] == '\'=HYPERLINK("http://evil.example","x")'
    assert (rows[0]["action"], rows[0]["outcome"], rows[0]["detail"]) == ("sign-in", "failed", "{}")


def test_a_search_in_the_app_is_recorded_with_its_query_and_result_count(app_env):
    services = build_services(Settings())  # a collection of one photo: an empty one only offers to add images
    try:
        picture = SAMPLES / "images" / "product_mug_white.jpg"
        services.ingestor().ingest([SourceItem(uri=str(picture), origin=picture.name)])
    finally:
        services.close()
    app = app_as("ana").switch_page("views/analyst.py").run()
    app.text_input(key="analyst_text").set_value("card declined")
    next(button for button in app.button if button.label == "Search").click()
    app.run()
    assert not app.exception
    (search,) = AuditLog(app_env / AUDIT_FILE).events(action=Action.SEARCH)
    assert (search.actor, search.role, search.outcome) == ("ana", "analyst", Outcome.OK)
    assert search.detail == {
        "page": "analyst",
        "query": "card declined",
        "image": "",
        "filters": "",
        "offset": 0,
        "results": 0,
    }


def test_admins_read_the_log_in_the_app_and_others_do_not(app_env):
    AuditLog(app_env / AUDIT_FILE).record(Action.SIGN_IN, actor="mallory", outcome=Outcome.FAILED)
    admin = app_as("ann").switch_page("views/audit.py").run()
    assert admin.title[0].value == "Audit log" and not admin.exception
    events, users = (frame.value for frame in admin.dataframe)
    assert events[["user", "action", "outcome"]].values.tolist()[0] == ["mallory", "sign-in", "failed"]
    assert users["user"].tolist() == ["ann", "sam", "mo", "ana"]
    for name in ("sam", "ana", "mo"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            app_as(name).switch_page("views/audit.py")
