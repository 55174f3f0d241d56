"""A Remove decision removes the content: the upload's asset leaves the collection (search no longer finds it) and
its file leaves <data dir>/uploads (deleted, or quarantined owner-only), through the review desk, the moderation
page and the CLI, audited with what went."""

from __future__ import annotations

import json
import shutil
import stat
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from pipeline.access.audit import Action, Outcome, open_audit_log
from pipeline.access.auth import AuthMode, Role, User
from pipeline.cli import app as cli
from pipeline.config import Settings
from pipeline.errors import PermissionDenied, RemovalFailed
from pipeline.ingest.sources import SourceItem
from pipeline.ingest.uploads import UPLOADS_FOLDER, save_uploads
from pipeline.moderation.desk import ReviewDesk
from pipeline.moderation.queue import State
from pipeline.moderation.removal import QUARANTINE_FOLDER, content_remover
from pipeline.moderation.services import build_moderation, open_queue
from pipeline.records import asset_id
from pipeline.services import Services, build_services
from pipeline.store import Store, build_store
from tests.sample_collection import REDUCED_MODE_ENV, SAMPLES

pytestmark = pytest.mark.usefixtures("fresh_app_caches")

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "streamlit_app" / "views" / "moderation.py"
FLYER = SAMPLES / "images" / "text_promo_free_iphone_spam.png"
FLYER_TEXT = "Congratulations lucky visitor! You have been selected as our WINNER. Click now"
MODERATOR = User("mo", Role.MODERATOR, AuthMode.LOCAL)


class PrintedText:
    """Stands in for RapidOCR (seconds per image on a busy CI machine): reads the flyer's text off every image, so
    the real keyword rule queues it and the real keyword index finds it. test_remove_end_to_end runs the real OCR."""

    name = "printed-text"

    def read(self, image: Image.Image) -> str:
        return FLYER_TEXT


@dataclass
class Uploaded:
    settings: Settings
    services: Services
    item_id: int
    file: Path  # the upload's file under <data dir>/uploads
    asset: str  # its asset id in the collection


def upload_and_scan(settings: Settings, services: Services, files: list[tuple[str, bytes]]) -> Uploaded:
    """What the app and `moderate scan` do: keep the upload, ingest it, match it and queue it."""
    ingestor = services.ingestor()
    collected = save_uploads(files, settings.data_dir / UPLOADS_FOLDER, ingestor.limits)
    assert not ingestor.ingest(collected.items).failures
    (scanned,) = build_moderation(services).scanner().scan(collected.items[:1])
    assert scanned.queued is not None, scanned
    item = open_queue(settings).get(scanned.queued.item_id)
    return Uploaded(settings, services, item.id, Path(item.uri), asset_id(item.sha256))


def make_services(data_dir: Path, **settings: object) -> tuple[Settings, Services]:
    config = Settings(data_dir=data_dir, models_enabled=False, **settings)  # type: ignore[arg-type]
    return config, replace(build_services(config), ocr=PrintedText())


@pytest.fixture
def uploaded(tmp_path: Path) -> Uploaded:
    settings, services = make_services(tmp_path / "data")
    return upload_and_scan(settings, services, [("flyer.png", FLYER.read_bytes())])


def desk(uploaded: Uploaded, user: User = MODERATOR) -> ReviewDesk:
    return ReviewDesk(
        open_queue(uploaded.settings),
        open_audit_log(uploaded.settings.data_dir),
        user,
        user.name,
        content_remover(uploaded.services.store, uploaded.settings),
    )


def stored(uploaded: Uploaded) -> Store:
    """The collection as a new process opens it (a long-lived handle may read a moment behind other writers)."""
    return build_store(uploaded.settings)


def found(uploaded: Uploaded) -> list[str]:
    """Asset ids a keyword search for the flyer's words returns."""
    return [doc_id for doc_id, _ in stored(uploaded).keyword_search("winner lucky visitor", limit=10)]


def destructive_events(data_dir: Path) -> list[tuple[str, Outcome, dict]]:
    return [
        (event.actor, event.outcome, event.detail)
        for event in open_audit_log(data_dir).events(action=Action.DESTRUCTIVE)
    ]


def test_remove_through_the_desk_deletes_the_asset_and_its_upload_file(uploaded):
    assert found(uploaded) == [uploaded.asset] and uploaded.file.is_file()  # searchable before
    decision = desk(uploaded).decide(uploaded.item_id, State.REMOVED, "spam flyer")

    assert decision.item.state == State.REMOVED
    assert stored(uploaded).count() == 0 and found(uploaded) == []
    assert stored(uploaded).lookup(uris=[str(uploaded.file)], ids=[uploaded.asset]) == []
    assert not uploaded.file.exists() and not list((uploaded.settings.data_dir / UPLOADS_FOLDER).iterdir())
    assert decision.removed is not None
    assert decision.removed.describe() == "1 asset deleted from the collection, 1 upload file deleted"
    ((actor, outcome, detail),) = destructive_events(uploaded.settings.data_dir)
    assert (actor, outcome) == ("mo", Outcome.OK)
    assert detail["item"] == uploaded.item_id and detail["assets"] == [uploaded.asset]
    assert detail["deleted_files"] == [str(uploaded.file)] and detail["quarantined_files"] == []
    (decided,) = open_audit_log(uploaded.settings.data_dir).events(action=Action.DECISION)
    assert decided.detail["to_state"] == "removed"


def test_with_quarantine_on_the_file_is_moved_where_only_the_service_user_reads_it(tmp_path):
    settings, services = make_services(tmp_path / "data", moderation_quarantine=True)
    uploaded = upload_and_scan(settings, services, [("flyer.png", FLYER.read_bytes())])
    decision = desk(uploaded).decide(uploaded.item_id, State.REMOVED)

    quarantine = settings.data_dir / QUARANTINE_FOLDER
    kept = quarantine / uploaded.file.name
    assert not uploaded.file.exists() and kept.read_bytes() == FLYER.read_bytes()
    assert stat.S_IMODE(quarantine.stat().st_mode) == 0o700 and stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stored(uploaded).count() == 0 and found(uploaded) == []
    assert decision.removed is not None and decision.removed.quarantined_files == [str(kept)]
    ((_, _, detail),) = destructive_events(settings.data_dir)
    assert detail["quarantined_files"] == [str(kept)] and detail["deleted_files"] == []


def test_approve_and_escalate_keep_the_content(uploaded):
    desk(uploaded).decide(uploaded.item_id, State.ESCALATED)
    desk(uploaded).decide(uploaded.item_id, State.APPROVED)
    assert found(uploaded) == [uploaded.asset] and uploaded.file.is_file()
    assert destructive_events(uploaded.settings.data_dir) == []


def test_a_role_without_the_destructive_permission_removes_nothing(uploaded):
    analyst = User("ana", Role.ANALYST, AuthMode.LOCAL)
    with pytest.raises(PermissionDenied):
        desk(uploaded, analyst).decide(uploaded.item_id, State.REMOVED)
    assert found(uploaded) == [uploaded.asset] and uploaded.file.is_file()
    assert open_queue(uploaded.settings).get(uploaded.item_id).state == State.PENDING


def test_a_file_outside_the_uploads_folder_is_left_in_place_and_named(tmp_path):
    settings, services = make_services(tmp_path / "data")
    folder = tmp_path / "shared"
    folder.mkdir()
    original = shutil.copy(FLYER, folder / "flyer.png")
    assert not services.ingestor().ingest([SourceItem(uri=str(original), origin="flyer.png")]).failures
    (scanned,) = build_moderation(services).scanner().scan([SourceItem(uri=str(original), origin="flyer.png")])
    assert scanned.queued is not None
    uploaded = Uploaded(settings, services, scanned.queued.item_id, Path(original), "")

    decision = desk(uploaded).decide(uploaded.item_id, State.REMOVED)
    assert stored(uploaded).count() == 0 and found(uploaded) == []
    assert Path(original).is_file()  # a queue row is no authority to delete a file elsewhere on the server
    assert decision.removed is not None and decision.removed.kept_files == [str(original)]
    assert "left in place (outside the uploads folder): " + str(original) in decision.removed.describe()


def test_when_deleting_fails_the_item_stays_undecided_and_remove_can_be_pressed_again(tmp_path):
    settings, services = make_services(tmp_path / "data", moderation_quarantine=True)
    uploaded = upload_and_scan(settings, services, [("flyer.png", FLYER.read_bytes())])
    (settings.data_dir / QUARANTINE_FOLDER).write_text("not a folder")  # the quarantine cannot be made

    with pytest.raises(RemovalFailed, match=rf"item {uploaded.item_id} was not removed: .*try Remove again"):
        desk(uploaded).decide(uploaded.item_id, State.REMOVED)
    item = open_queue(settings).get(uploaded.item_id)
    assert (item.state, item.claimed_by) == (State.PENDING, "mo")
    assert not open_queue(settings).audit_log()
    assert [(outcome, detail["item"]) for _, outcome, detail in destructive_events(settings.data_dir)] == [
        (Outcome.FAILED, uploaded.item_id)
    ]

    (settings.data_dir / QUARANTINE_FOLDER).unlink()
    decision = desk(uploaded).decide(uploaded.item_id, State.REMOVED)  # deleting again is harmless
    assert decision.item.state == State.REMOVED and not uploaded.file.exists()
    assert stored(uploaded).count() == 0 and (settings.data_dir / QUARANTINE_FOLDER / uploaded.file.name).is_file()


def test_remove_on_the_moderation_page_deletes_the_content(uploaded, monkeypatch):
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(uploaded.settings.data_dir))
    monkeypatch.setenv("VLSEARCH_AUTH", "off")
    for name, value in REDUCED_MODE_ENV.items():
        monkeypatch.setenv(name, value)
    page = AppTest.from_file(str(PAGE), default_timeout=60).run()
    page.text_input(key="moderation_reviewer").set_value("alice").run()
    assert page.subheader[0].value == f"Item {uploaded.item_id} · spam"
    next(button for button in page.button if button.label == "Remove").click()
    page.run()
    next(button for button in page.button if button.label == "Yes, remove").click()  # Remove asks to confirm
    page.run()

    assert not page.exception and not page.error
    assert page.success[0].value == f"Item {uploaded.item_id}: removed."
    assert "1 asset deleted from the collection, 1 upload file deleted" in page.info[0].value
    assert stored(uploaded).count() == 0 and found(uploaded) == []
    assert not uploaded.file.exists()
    ((actor, outcome, detail),) = destructive_events(uploaded.settings.data_dir)
    assert (actor, outcome, detail["assets"]) == ("local", Outcome.OK, [uploaded.asset])


def test_remove_from_the_command_line_deletes_the_content_too(uploaded, monkeypatch):
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(uploaded.settings.data_dir))
    for name, value in REDUCED_MODE_ENV.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(
        cli, ["moderate", "decide", str(uploaded.item_id), "--state", "removed", "--reviewer", "alice"]
    )
    assert result.exit_code == 0, result.output
    assert "1 asset deleted from the collection, 1 upload file deleted" in result.output
    assert stored(uploaded).count() == 0 and found(uploaded) == [] and not uploaded.file.exists()
    ((actor, outcome, detail),) = destructive_events(uploaded.settings.data_dir)
    assert (actor, outcome, detail["assets"], detail["via"]) == ("alice", Outcome.OK, [uploaded.asset], "cli")

    searched = CliRunner().invoke(cli, ["search", "--text", "winner lucky visitor", "--json"])
    assert searched.exit_code == 0, searched.output
    assert json.loads(searched.stdout) == []


@pytest.mark.slow
def test_remove_end_to_end_with_the_real_ocr(tmp_path, monkeypatch):
    """The upload read by RapidOCR and queued by the shipped keyword rules is removed on the page, and search
    no longer finds it."""
    settings = Settings(data_dir=tmp_path / "data", models_enabled=False)
    services = build_services(settings)
    uploaded = upload_and_scan(settings, services, [("flyer.png", FLYER.read_bytes())])
    assert found(uploaded) == [uploaded.asset]
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VLSEARCH_AUTH", "off")
    for name, value in REDUCED_MODE_ENV.items():
        monkeypatch.setenv(name, value)
    page = AppTest.from_file(str(PAGE), default_timeout=60).run()
    page.text_input(key="moderation_reviewer").set_value("alice").run()
    next(button for button in page.button if button.label == "Remove").click()
    page.run()
    next(button for button in page.button if button.label == "Yes, remove").click()  # Remove asks to confirm
    page.run()
    assert not page.exception and page.success[0].value == f"Item {uploaded.item_id}: removed."
    assert stored(uploaded).count() == 0 and found(uploaded) == [] and not uploaded.file.exists()
