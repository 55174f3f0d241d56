"""The moderation page through streamlit.testing's AppTest, over a real library and queue in reduced mode."""

from __future__ import annotations

import html
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.access.audit import Action, Outcome, open_audit_log
from pipeline.access.auth import Role, UsersFile
from pipeline.config import Settings
from pipeline.images import thumbnail_jpeg
from pipeline.ingest.ingestor import Ingestor
from pipeline.ingest.sources import collect
from pipeline.moderation.library import add_references, library_services, load_references
from pipeline.moderation.matching import Match, Rule
from pipeline.moderation.queue import State
from pipeline.moderation.services import open_queue
from pipeline.services import build_services
from tests.near_duplicate_set import LIMITS, NoOcr, jpeg_40, open_image

pytestmark = pytest.mark.usefixtures("fresh_app_caches")

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "streamlit_app" / "views" / "moderation.py"
SAMPLES = ROOT / "samples" / "images"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A library with one counterfeit reference and a queue with a copy of it and a keyword-only spam item."""
    settings = Settings(data_dir=tmp_path, models_enabled=False)
    library = library_services(build_services(settings))
    ingestor = Ingestor(library.store, NoOcr(), None, None, LIMITS)
    add_references(ingestor, collect([SAMPLES / "product_sneaker_red.jpg"]), "counterfeit")
    (sneaker,) = load_references(library.store)
    queue = open_queue(settings)
    copy = jpeg_40(open_image(SAMPLES / "product_sneaker_red.jpg"))
    queue.enqueue(
        uri="/uploads/sneaker.jpg",
        sha256="1" * 64,
        thumbnail=thumbnail_jpeg(copy),
        matches=[Match(Rule.PDQ, "counterfeit", 6.0, sneaker.id, sneaker.uri, "threshold 31")],
    )
    flyer = open_image(SAMPLES / "text_promo_lottery_spam_zh.png")
    queue.enqueue(
        uri="/uploads/flyer.png",
        sha256="2" * 64,
        thumbnail=thumbnail_jpeg(flyer),
        matches=[Match(Rule.KEYWORD, "spam", 2.0, detail="中奖, 免费领取")],
    )
    return tmp_path


@pytest.fixture
def page(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VLSEARCH_MODELS_ENABLED", "false")
    monkeypatch.setenv("VLSEARCH_AUTH", "off")  # reviewers type their name; tests/test_auth.py signs in
    app = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not app.exception
    return app


def click(app: AppTest, label: str) -> AppTest:
    next(button for button in app.button if button.label == label).click()
    return app.run()


def captions(app: AppTest) -> str:
    """Every caption as the reader sees it (escape() adds entities and zero-width spaces)."""
    return html.unescape(" ".join(caption.value for caption in app.caption)).replace("\u200b", "")


def shown_ids(app: AppTest) -> list[int]:
    return app.dataframe[0].value["id"].tolist() if len(app.dataframe[0].value) else []


def test_the_queue_shows_counts_items_and_activity_before_a_reviewer_is_named(page):
    assert [(metric.label, metric.value) for metric in page.metric] == [
        ("Pending", "2"),
        ("Approved", "0"),
        ("Removed", "0"),
        ("Escalated", "0"),
    ]
    assert "Enter your name as reviewer" in page.info[0].value
    assert shown_ids(page) == [1, 2]
    assert len(page.get("plotly_chart")) == 1
    assert page.selectbox(key="moderation_category").options == ["all", "counterfeit", "spam"]


def test_a_reviewer_sees_the_item_beside_its_reference_and_a_decision_is_stored(page, data_dir):
    page.text_input(key="moderation_reviewer").set_value("alice").run()
    assert page.subheader[0].value == "Item 1 · counterfeit"
    assert len(page.get("image")) == 2  # the upload and the reference it matched
    assert "pdq: hamming distance 6 to product_sneaker_red.jpg" in captions(page)
    assert {button.label for button in page.button} == {"Approve", "Remove", "Escalate", "Skip"}
    queue = open_queue(Settings(data_dir=data_dir))
    assert queue.get(1).claimed_by == "alice"

    page.text_input(key="moderation_note").set_value("counterfeit sneakers")
    click(page, "Remove")
    assert not page.exception
    item = queue.get(1)
    assert (item.state, item.reviewer, item.note) == (State.REMOVED, "alice", "counterfeit sneakers")
    assert [(entry.item_id, entry.to_state, entry.reviewer) for entry in queue.audit_log()] == [
        (1, State.REMOVED, "alice")
    ]
    assert page.success[0].value == "Item 1: removed."
    assert page.subheader[0].value == "Item 2 · spam"  # the next item is claimed and shown
    assert page.text_input(key="moderation_note").value == ""


def test_filters_and_skip(page):
    page.text_input(key="moderation_reviewer").set_value("bob")
    page.selectbox(key="moderation_category").set_value("spam").run()
    assert page.subheader[0].value == "Item 2 · spam" and shown_ids(page) == [2]
    click(page, "Skip")
    assert "Nothing left to review here (pending)." in page.success[0].value
    page.selectbox(key="moderation_state").set_value("removed").run()
    assert shown_ids(page) == [] and not page.subheader


def test_another_reviewers_claim_is_respected(page, data_dir):
    open_queue(Settings(data_dir=data_dir)).claim(1, "alice")
    page.text_input(key="moderation_reviewer").set_value("bob").run()
    assert page.subheader[0].value == "Item 2 · spam"


# the role is checked again when a button runs ---------------------------------------------------------


@pytest.fixture
def signed_in(data_dir: Path, users_json: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], AppTest]:
    """Open the page signed in (local users) as a name of tests/conftest.py's users file."""
    shutil.copy(users_json, data_dir / "users.json")
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VLSEARCH_MODELS_ENABLED", "false")
    monkeypatch.setenv("VLSEARCH_AUTH", "local")

    def open_as(name: str) -> AppTest:
        app = AppTest.from_file(str(PAGE), default_timeout=60)
        app.session_state["auth_user"] = name
        app.run()
        assert not app.exception
        return app

    return open_as


def demote(users: UsersFile) -> str:
    users.set_role("mo", Role.SUPPORT)
    return "support"


def remove(users: UsersFile) -> str:
    users.remove("mo")
    return ""


@pytest.mark.parametrize(
    ("change", "button"), [(demote, "Remove"), (demote, "Approve"), (demote, "Skip"), (remove, "Remove")]
)
def test_a_moderator_demoted_or_removed_while_the_page_is_open_cannot_decide(signed_in, data_dir, change, button):
    page = signed_in("mo")
    assert page.subheader[0].value == "Item 1 · counterfeit"  # claimed by mo
    role_now = change(UsersFile(data_dir / "users.json"))  # `vlsearch users set-role mo --role support`

    click(page, button)  # the button drawn while mo was a moderator
    assert not page.exception
    item = open_queue(Settings(data_dir=data_dir)).get(1)
    assert (item.state, item.reviewer, item.claimed_by) == (State.PENDING, None, "mo")  # undecided, not released
    assert any("it needs the moderator or admin role" in error.value for error in page.error)
    refused = [
        (event.actor, event.role, event.outcome, event.detail.get("step"))
        for event in open_audit_log(data_dir).events(action=Action.DECISION)
    ]
    assert refused == [("mo", role_now, Outcome.REFUSED, {"Remove": "decide", "Approve": "decide"}.get(button, "skip"))]
    assert not any(event.outcome == Outcome.OK for event in open_audit_log(data_dir).events())
