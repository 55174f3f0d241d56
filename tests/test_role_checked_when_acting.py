"""Actions check the role when they run, not when the page was drawn: the audit log's CSV export is made when its
button is pressed (a deferred download), after the users file is read again. The moderation buttons are shown in
tests/test_moderation_page.py; the export in a real browser in tests/test_hostile_collection.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.access.audit import Action, Outcome, open_audit_log
from pipeline.access.auth import AuthMode, Role, User, UsersFile
from pipeline.errors import PermissionDenied
from streamlit_app import ui

pytestmark = pytest.mark.usefixtures("fresh_app_caches")


@pytest.fixture
def data_dir(tmp_path: Path, users_json: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(users_json, tmp_path / "users.json")
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VLSEARCH_AUTH", "local")
    open_audit_log(tmp_path).record(Action.SEARCH, actor="sam", query="refund policy")
    return tmp_path


def test_the_audit_export_reads_the_role_again_when_the_button_is_pressed(data_dir):
    ann = User("ann", Role.ADMIN, AuthMode.LOCAL)  # as the audit page saw her when it drew the button
    audit = open_audit_log(data_dir)
    export = ui.audit_csv_export(ann, ui.role_lookup(ann), audit, action=None, actor=None)

    assert "refund policy" in export().decode("utf-8-sig")
    (exported,) = [event for event in audit.events(action=Action.EXPORT) if event.outcome == Outcome.OK]
    assert (exported.actor, exported.detail["export"], exported.detail["events"]) == ("ann", "csv", 1)

    users = UsersFile(data_dir / "users.json")
    users.set_role("mo", Role.ADMIN)  # the last admin cannot be demoted
    users.set_role("ann", Role.ANALYST)  # `vlsearch users set-role ann --role analyst`, page still open
    with pytest.raises(PermissionDenied, match="ann is analyst, and it needs the admin role"):
        export()
    users.remove("ann")
    with pytest.raises(PermissionDenied, match="nobody is signed in"):
        export()
    refused = [
        (event.actor, event.role, event.detail["export"])
        for event in audit.events(action=Action.EXPORT)
        if event.outcome == Outcome.REFUSED
    ]
    assert refused == [("ann", "", "csv"), ("ann", "analyst", "csv")]  # newest first
