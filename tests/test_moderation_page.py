"""The moderation page through streamlit.testing's AppTest, over a real library and queue in reduced mode."""

from __future__ import annotations

import html
import io
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
from pipeline.ingest.uploads import UPLOADS_FOLDER
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
    assert {button.label for button in page.button} == {"Approve", "Remove", "Escalate", "Skip", "Claim"}
    queue = open_queue(Settings(data_dir=data_dir))

    page.text_input(key="moderation_note").set_value("counterfeit sneakers")
    click(page, "Remove")
    click(page, "Yes, remove")
    assert not page.exception
    item = queue.get(1)
    assert (item.state, item.reviewer, item.note) == (State.REMOVED, "alice", "counterfeit sneakers")
    assert [(entry.item_id, entry.to_state, entry.reviewer) for entry in queue.audit_log()] == [
        (1, State.REMOVED, "alice")
    ]
    assert page.success[0].value == "Item 1: removed."
    assert page.subheader[0].value == "Item 2 · spam"  # the next item is shown
    assert queue.get(2).claimed_by is None  # ... and not claimed
    assert page.text_input(key="moderation_note").value == ""


def test_showing_an_item_does_not_claim_it_a_claim_is_explicit(page, data_dir):
    queue = open_queue(Settings(data_dir=data_dir))
    page.text_input(key="moderation_reviewer").set_value("alice").run()
    assert page.subheader[0].value == "Item 1 · counterfeit"
    assert queue.get(1).claimed_by is None  # before: shown = claimed by alice for 10 minutes
    assert "not claimed: Claim holds it for you; a decision claims it too" in captions(page)
    page.text_input(key="moderation_reviewer").set_value("alicex").run()  # a typo fixed claims nothing either
    assert [item.claimed_by for item in queue.items()] == [None, None]

    click(page, "Claim")
    assert queue.get(1).claimed_by == "alicex"
    assert "claimed by you until" in captions(page)
    click(page, "Release")
    assert queue.get(1).claimed_by is None


def test_remove_asks_for_confirmation_and_cancel_decides_nothing(page, data_dir):
    queue = open_queue(Settings(data_dir=data_dir))
    page.text_input(key="moderation_reviewer").set_value("alice").run()
    click(page, "Remove")  # the X key presses this button
    assert "Remove item 1? Its content is deleted" in page.warning[0].value
    assert queue.get(1).state == State.PENDING and not queue.audit_log()
    remove = next(button for button in page.button if button.label == "Remove")
    assert remove.disabled  # pressing X again does not remove either
    click(page, "Cancel")
    assert not page.warning and queue.get(1).state == State.PENDING and not queue.audit_log()
    assert page.subheader[0].value == "Item 1 · counterfeit"


def test_skip_can_be_undone_and_nothing_left_agrees_with_the_counter(page):
    page.text_input(key="moderation_reviewer").set_value("bob").run()
    click(page, "Skip")
    assert page.subheader[0].value == "Item 2 · spam"
    click(page, "Skip")
    assert not page.subheader
    assert [(metric.label, metric.value) for metric in page.metric][0] == ("Pending", "2")
    # before: "Nothing left to review here (pending)." beside Pending 2
    assert page.success[0].value == "Nothing left for you to review — 2 pending: 2 skipped by you."

    click(page, "Undo skip")  # the last skipped item comes back
    assert page.subheader[0].value == "Item 2 · spam"
    click(page, "Show skipped")
    assert page.subheader[0].value == "Item 1 · counterfeit"


def test_nothing_left_names_items_other_reviewers_hold(page, data_dir):
    queue = open_queue(Settings(data_dir=data_dir))
    queue.claim(1, "alice")
    page.text_input(key="moderation_reviewer").set_value("bob").run()
    click(page, "Skip")
    assert page.success[0].value == (
        "Nothing left for you to review — 2 pending: 1 skipped by you, 1 claimed by another reviewer."
    )


def test_filters_and_skip(page):
    page.text_input(key="moderation_reviewer").set_value("bob")
    page.selectbox(key="moderation_category").set_value("spam").run()
    assert page.subheader[0].value == "Item 2 · spam" and shown_ids(page) == [2]
    click(page, "Skip")
    assert page.success[0].value == "Nothing left for you to review in spam — 1 pending: 1 skipped by you."
    page.selectbox(key="moderation_state").set_value("removed").run()
    assert shown_ids(page) == [] and not page.subheader


def test_another_reviewers_claim_is_respected(page, data_dir):
    open_queue(Settings(data_dir=data_dir)).claim(1, "alice")
    page.text_input(key="moderation_reviewer").set_value("bob").run()
    assert page.subheader[0].value == "Item 2 · spam"


def test_an_admin_releases_a_stale_claim_and_it_is_audited(page, data_dir):
    queue = open_queue(Settings(data_dir=data_dir))
    queue.claim(1, "alice")  # alice went home with item 1 claimed
    page.run()  # sign-in off: the open user is an admin
    assert page.expander[0].label == "Claims (1)"
    click(page, "Release claim")
    assert page.success[0].value == "Item 1: claim by alice released."
    assert queue.get(1).claimed_by is None
    (event,) = open_audit_log(data_dir).events(action=Action.DECISION)
    assert (event.outcome, event.detail) == (Outcome.OK, {"step": "release", "item": 1, "holder": "alice"})


def test_a_sensitive_item_is_blurred_until_revealed_and_the_reveal_is_audited(page, data_dir):
    queue = open_queue(Settings(data_dir=data_dir))
    photo = open_image(SAMPLES / "photo_rocket_launch.jpg")
    queue.enqueue(
        uri="/uploads/rocket.jpg",
        sha256="3" * 64,
        thumbnail=thumbnail_jpeg(photo),
        matches=[Match(Rule.KEYWORD, "violence", 1.0, detail="kill you")],  # `sensitive = true` in the rules
    )
    page.run()  # the category list now has violence
    page.text_input(key="moderation_reviewer").set_value("alice")
    page.selectbox(key="moderation_category").set_value("violence").run()
    assert page.subheader[0].value == "Item 3 · violence"
    blurred_url = page.get("image")[0].value
    click(page, "Reveal")
    assert not any(button.label == "Reveal" for button in page.button)
    assert page.get("image")[0].value != blurred_url  # the server now sends the original picture
    (event,) = open_audit_log(data_dir).events(action=Action.DECISION)
    assert event.detail == {"step": "reveal", "item": 3, "reviewer": "alice", "categories": ["violence"]}

    page.selectbox(key="moderation_category").set_value("spam").run()
    assert page.subheader[0].value == "Item 2 · spam"
    assert not any(button.label == "Reveal" for button in page.button)  # not sensitive: shown as it is


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
    ("change", "before", "button", "step"),
    [
        (demote, "Remove", "Yes, remove", "decide"),
        (demote, None, "Approve", "decide"),
        (demote, None, "Skip", "skip"),
        (demote, None, "Release", "release"),
        (remove, "Remove", "Yes, remove", "decide"),
    ],
)
def test_a_moderator_demoted_or_removed_while_the_page_is_open_cannot_decide(
    signed_in, data_dir, change, before, button, step
):
    page = signed_in("mo")
    assert page.subheader[0].value == "Item 1 · counterfeit"
    click(page, "Claim")
    if before:
        click(page, before)
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
    assert refused == [("mo", role_now, Outcome.REFUSED, step)]
    assert not any(event.outcome == Outcome.OK for event in open_audit_log(data_dir).events())


def test_a_moderator_cannot_release_another_reviewers_claim(signed_in, data_dir):
    open_queue(Settings(data_dir=data_dir)).claim(1, "alice")
    page = signed_in("mo")
    assert not page.expander  # mo holds no claim; alice's is not theirs to release
    admin = signed_in("ann")
    assert admin.expander[0].label == "Claims (1)"
    click(admin, "Release claim")
    assert open_queue(Settings(data_dir=data_dir)).get(1).claimed_by is None


def test_an_upload_on_home_that_matches_waits_in_the_moderation_queue(page, data_dir):
    """Before, uploads on Home were never scanned: only `moderate scan FOLDER` fed the queue."""
    copy = io.BytesIO()
    open_image(SAMPLES / "product_sneaker_red.jpg").resize((480, 480)).save(copy, format="JPEG", quality=60)
    home = AppTest.from_file(str(ROOT / "streamlit_app" / "app.py"), default_timeout=120).run()  # Home first
    home.file_uploader(key="home_upload_files").set_value([("sneaker-copy.jpg", copy.getvalue(), "image/jpeg")])
    home = click(home, "Ingest uploads")
    assert not home.exception
    notes = [html.unescape(info.value).replace("\u200b", "") for info in home.info]
    assert any("1 of 1 queued for moderation review: sneaker-copy.jpg (counterfeit)" in note for note in notes), notes
    queued = open_queue(Settings(data_dir=data_dir)).items()[-1]
    assert (queued.id, queued.category, Path(queued.uri).parent) == (3, "counterfeit", data_dir / UPLOADS_FOLDER)
