"""The hash chains over the access audit log (audit.sqlite) and the moderation decisions (moderation.sqlite):
`vlsearch audit verify` finds a row edited past the triggers, names it, checks recorded head hashes, and the
version-1 files of earlier deployments are migrated with their history chained."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.access.audit import AUDIT_FILE, Action, AuditLog, Outcome
from pipeline.access.auth import AuthMode, Role, User
from pipeline.access.chain import GENESIS
from pipeline.cli import app as cli
from pipeline.moderation.matching import Match, Rule
from pipeline.moderation.queue import ReviewQueue, State
from pipeline.moderation.services import QUEUE_FILE

ANN = User("ann", Role.ADMIN, AuthMode.LOCAL)
MATCH = Match(Rule.PDQ, "counterfeit", 4.0, "ref-1", "/refs/sneaker.jpg", "threshold 31")

# The version-1 schemas exactly as vlsearch created them before the chain (pipeline/access/audit.py and
# pipeline/moderation/queue.py, SCHEMA_VERSION = 1): deployments have files like these.
AUDIT_V1 = (
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX events_action ON events (action, id)",
    """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: rows cannot be changed'); END""",
    """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: rows cannot be deleted'); END""",
)
QUEUE_V1 = (
    """CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        uri TEXT NOT NULL,
        thumbnail BLOB NOT NULL,
        category TEXT NOT NULL,
        matches TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'removed', 'escalated')),
        claimed_by TEXT,
        lease_expires_at REAL,
        reviewer TEXT,
        note TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        decided_at REAL
    )""",
    "CREATE INDEX items_state ON items (state, id)",
    """CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        item_id INTEGER NOT NULL REFERENCES items (id),
        at REAL NOT NULL,
        reviewer TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX audit_log_item ON audit_log (item_id, id)",
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be changed'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted'); END""",
)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir with an audit log of several events and a queue of several decisions, as `audit verify` sees it."""
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(tmp_path))
    audit = AuditLog(tmp_path / AUDIT_FILE)
    audit.record(Action.SIGN_IN, actor="mallory", outcome=Outcome.FAILED, reason="wrong user name or password")
    audit.record(Action.SIGN_IN, user=ANN)
    audit.record(Action.SEARCH, user=ANN, query="card declined 卡", results=3)
    audit.record(Action.DECISION, user=ANN, item=1, to_state="removed", note='=HYPERLINK("x")')
    queue = ReviewQueue(tmp_path / QUEUE_FILE)
    for n in range(3):
        queue.enqueue(uri=f"/uploads/{n}.jpg", sha256=f"{n:064x}", thumbnail=b"jpeg", matches=[MATCH])
    queue.decide(1, State.REMOVED, "alice", "counterfeit")
    queue.decide(2, State.ESCALATED, "alice")
    queue.decide(2, State.APPROVED, "senior", "parody")
    return tmp_path


def verify(*args: str):
    return CliRunner().invoke(cli, ["audit", "verify", *args])


def verified_json(*args: str) -> dict:
    result = verify("--json", *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def tamper(path: Path, *statements: str) -> None:
    """What someone with write access to the file can do: drop the triggers, then change rows."""
    with sqlite3.connect(path) as db:
        for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            db.execute(f"DROP TRIGGER {trigger}")
        for statement in statements:
            db.execute(statement)


def test_a_log_with_several_events_and_a_queue_with_several_decisions_verify_clean(data_dir):
    assert AuditLog(data_dir / AUDIT_FILE).verify().intact
    assert ReviewQueue(data_dir / QUEUE_FILE).verify().intact
    result = verify()
    assert result.exit_code == 0, result.output
    assert "audit.sqlite (events): 4 rows, intact" in result.output
    assert "moderation.sqlite (audit_log): 3 rows, intact" in result.output
    report = verified_json()
    assert report["intact"] is True and report["absent"] == []
    assert [(file["table"], file["rows"], file["problem"]) for file in report["files"]] == [
        ("events", 4, None),
        ("audit_log", 3, None),
    ]
    assert all(len(file["head"]) == 64 and file["head"] != GENESIS for file in report["files"])


def test_an_edited_event_is_found_naming_its_row(data_dir):
    tamper(data_dir / AUDIT_FILE, "UPDATE events SET actor = 'nobody' WHERE id = 3")
    result = verify()
    assert result.exit_code == 1
    assert "(events): broken at events row 3: the row's content does not match its hash" in result.output
    assert "moderation.sqlite (audit_log): 3 rows, intact" in result.output
    problem = verified_json()["files"][0]["problem"]
    assert problem["table"] == "events" and problem["row"] == 3 and "changed after it was written" in problem["reason"]


def test_an_edited_decision_is_found_naming_its_row(data_dir):
    tamper(data_dir / QUEUE_FILE, "UPDATE audit_log SET reviewer = 'bob' WHERE id = 2")
    result = verify()
    assert result.exit_code == 1
    assert "(audit_log): broken at audit_log row 2: the row's content does not match its hash" in result.output


def test_a_removed_row_breaks_the_link_of_the_next_one(data_dir):
    tamper(data_dir / AUDIT_FILE, "DELETE FROM events WHERE id = 2")
    problem = verified_json()["files"][0]["problem"]
    assert problem["row"] == 3
    assert "is not the hash of row 1" in problem["reason"] and "rows 2 to 2 are missing" in problem["reason"]


def test_a_state_changed_past_the_triggers_is_found_naming_the_item(data_dir):
    tamper(data_dir / QUEUE_FILE, "UPDATE items SET state = 'approved' WHERE id = 3")
    problem = verified_json()["files"][1]["problem"]
    assert problem == {
        "table": "items",
        "row": 3,
        "reason": "the item is 'approved' but it has no decision: its state was changed directly",
    }


def test_a_consistent_rewrite_is_caught_only_by_a_head_recorded_elsewhere(data_dir):
    recorded = verified_json()["files"][0]["head"]
    path = data_dir / AUDIT_FILE
    tamper(path, "DELETE FROM events WHERE id = 4")  # the newest row: nothing after it to break
    assert verify().exit_code == 0  # the chain alone cannot see a removed tail
    result = verify("--expect-head", recorded)
    assert result.exit_code == 1 and f"expected head {recorded} is on no chain" in result.output
    assert verified_json("--expect-head", recorded)["expected_heads"] == [{"hash": recorded, "found": False}]


def test_a_recorded_head_stays_valid_while_the_log_grows(data_dir):
    heads = [file["head"] for file in verified_json()["files"]]
    AuditLog(data_dir / AUDIT_FILE).record(Action.SIGN_OUT, user=ANN)
    ReviewQueue(data_dir / QUEUE_FILE).decide(3, State.APPROVED, "alice")
    result = verify("--expect-head", heads[0], "--expect-head", heads[1].upper())
    assert result.exit_code == 0, result.output


def test_cli_exit_codes_and_errors_name_the_input(data_dir):
    assert verify().exit_code == 0
    bad_head = verify("--expect-head", "abc")
    assert bad_head.exit_code == 2 and "--expect-head 'abc': not a head hash" in bad_head.output
    (data_dir / QUEUE_FILE).unlink()
    for suffix in ("-wal", "-shm"):
        (data_dir / (QUEUE_FILE + suffix)).unlink(missing_ok=True)
    (data_dir / QUEUE_FILE).write_bytes(b"not a database" * 100)
    broken_file = verify()
    assert broken_file.exit_code == 2 and "moderation.sqlite" in broken_file.output
    assert "Traceback" not in broken_file.output


def test_a_missing_file_is_reported_and_not_created(tmp_path, monkeypatch):
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(tmp_path))
    AuditLog(tmp_path / AUDIT_FILE).record(Action.SIGN_IN, user=ANN)
    result = verify()
    assert result.exit_code == 0 and "moderation.sqlite: not there, nothing to check" in result.output
    assert not (tmp_path / QUEUE_FILE).exists()


def test_a_row_inserted_with_plain_sql_must_link_to_the_last_one(data_dir):
    with sqlite3.connect(data_dir / AUDIT_FILE) as db:
        with pytest.raises(sqlite3.IntegrityError, match="must carry the hash of the last row as prev_hash"):
            db.execute(
                "INSERT INTO events (at, actor, role, action, outcome, detail) "
                "VALUES (0, 'ann', 'admin', 'sign-in', 'ok', '{}')"
            )
    assert verify().exit_code == 0


def test_writers_in_parallel_keep_one_chain(tmp_path):
    path = tmp_path / AUDIT_FILE

    def write(name: str) -> None:
        log = AuditLog(path)
        for n in range(25):
            log.record(Action.SEARCH, actor=name, query=str(n))

    AuditLog(path)  # created before the writers race
    threads = [threading.Thread(target=write, args=(f"writer-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = AuditLog(path).verify()
    assert report.intact and report.rows == 100


def create_v1(path: Path, schema: tuple[str, ...], *rows: str) -> None:
    with sqlite3.connect(path) as db:
        for statement in (*schema, *rows):
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")


def columns_and_triggers(path: Path) -> tuple[list[tuple], list[str]]:
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        columns = [(table, *column) for table in tables for column in db.execute(f"PRAGMA table_info({table})")]
        triggers = [sql for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")]
    return columns, triggers


def test_a_version_1_audit_log_is_migrated_with_its_history_chained(tmp_path):
    path = tmp_path / AUDIT_FILE
    create_v1(
        path,
        AUDIT_V1,
        "INSERT INTO events (at, actor, role, action, outcome, detail) "
        "VALUES (1750000000, 'ann', 'admin', 'sign-in', 'ok', '{\"mode\": \"local\"}')",
        "INSERT INTO events (at, actor, role, action, outcome, detail) "
        "VALUES (1750000060.5, 'ann', 'admin', 'search', 'ok', '{\"query\": \"发票\"}')",
    )
    audit = AuditLog(path)
    assert [(event.id, event.action, event.detail) for event in audit.events()] == [
        (2, Action.SEARCH, {"query": "发票"}),
        (1, Action.SIGN_IN, {"mode": "local"}),
    ]
    audit.record(Action.SIGN_OUT, user=ANN)
    report = audit.verify()
    assert report.intact and report.rows == 3
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(
                "REPLACE INTO events (id, at, actor, role, action, outcome, detail) SELECT 1, 0, 'x', '', '', '', ''"
            )
    assert columns_and_triggers(path) == columns_and_triggers(AuditLog(tmp_path / "fresh.sqlite").path)


def test_a_version_1_queue_is_migrated_with_its_decisions_chained(tmp_path):
    path = tmp_path / QUEUE_FILE
    item = "INSERT INTO items (id, sha256, uri, thumbnail, category, matches, state, reviewer, created_at) VALUES "
    decision = "INSERT INTO audit_log (item_id, at, reviewer, from_state, to_state, note) VALUES "
    matches = json.dumps([MATCH.to_json()])
    create_v1(
        path,
        QUEUE_V1,
        f"{item}(1, '{1:064x}', '/uploads/1.jpg', x'00', 'counterfeit', '{matches}', 'removed', 'alice', 1750000000)",
        f"{item}(2, '{2:064x}', '/uploads/2.jpg', x'00', 'counterfeit', '{matches}', 'escalated', 'bob', 1750000000)",
        f"{item}(3, '{3:064x}', '/uploads/3.jpg', x'00', 'counterfeit', '{matches}', 'pending', NULL, 1750000000)",
        f"{decision}(1, 1750000100, 'alice', 'pending', 'removed', 'fake')",
        f"{decision}(2, 1750000200.25, 'bob', 'pending', 'escalated', '')",
    )
    queue = ReviewQueue(path)
    assert [(entry.item_id, entry.to_state, entry.note) for entry in queue.audit_log()] == [
        (1, State.REMOVED, "fake"),
        (2, State.ESCALATED, ""),
    ]
    queue.decide(2, State.APPROVED, "senior")
    report = queue.verify()
    assert report.intact and report.rows == 3
    with sqlite3.connect(path) as db:
        with pytest.raises(sqlite3.IntegrityError, match="items.state changes only by a decision"):
            db.execute("UPDATE items SET state = 'approved' WHERE id = 3")
    assert columns_and_triggers(path) == columns_and_triggers(ReviewQueue(tmp_path / "fresh.sqlite").path)
