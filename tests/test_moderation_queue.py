"""The review queue on a real SQLite file: states, leases, the append-only audit log, crash safety, export."""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageFilter, ImageStat

from pipeline.access.audit import Action, Outcome, open_audit_log
from pipeline.access.auth import AuthMode, Role, User
from pipeline.errors import BadInput, LeaseConflict, PermissionDenied, StoreError
from pipeline.images import thumbnail_jpeg
from pipeline.moderation.desk import ReviewDesk, blurred_jpeg
from pipeline.moderation.export import COLUMNS, write_decisions_csv
from pipeline.moderation.matching import Match, Rule
from pipeline.moderation.queue import ReviewQueue, State
from pipeline.moderation.rules import SHIPPED_RULES, load_rules

ROOT = Path(__file__).resolve().parent.parent
LEASE_S = 300.0
PDQ_MATCH = Match(Rule.PDQ, "counterfeit", 4.0, "ref-1", "/refs/sneaker.jpg", "threshold 31")
KEYWORD_MATCH = Match(Rule.KEYWORD, "spam", 2.0, detail="congratulations, click now")


class Clock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(tmp_path: Path, clock: Clock) -> ReviewQueue:
    return ReviewQueue(tmp_path / "moderation.sqlite", lease_s=LEASE_S, clock=clock)


def enqueue(queue: ReviewQueue, n: int = 0, matches: list[Match] | None = None) -> int:
    return queue.enqueue(
        uri=f"/uploads/{n}.jpg", sha256=f"{n:064x}", thumbnail=b"jpeg", matches=matches or [PDQ_MATCH]
    ).item_id


def test_enqueue_is_idempotent_by_sha256(queue):
    first = queue.enqueue(uri="/a.jpg", sha256="ab" * 32, thumbnail=b"t", matches=[PDQ_MATCH, KEYWORD_MATCH])
    again = queue.enqueue(uri="/copy-of-a.jpg", sha256="ab" * 32, thumbnail=b"t", matches=[KEYWORD_MATCH])
    assert first.created and not again.created and again.item_id == first.item_id
    items = queue.items()
    assert len(items) == 1 and items[0].uri == "/a.jpg" and items[0].matches == [PDQ_MATCH, KEYWORD_MATCH]
    assert items[0].category == "counterfeit" and items[0].state == State.PENDING


def test_enqueue_refuses_an_upload_that_matched_nothing(queue):
    with pytest.raises(BadInput, match="nothing matched"):
        queue.enqueue(uri="/clean.jpg", sha256="cd" * 32, thumbnail=b"t", matches=[])


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ([State.APPROVED], True),
        ([State.REMOVED], True),
        ([State.ESCALATED, State.REMOVED], True),
        ([State.ESCALATED, State.APPROVED], True),
        ([State.APPROVED, State.REMOVED], False),
        ([State.REMOVED, State.ESCALATED], False),
        ([State.ESCALATED, State.ESCALATED], False),
        ([State.PENDING], False),
    ],
)
def test_state_machine(queue, path, allowed):
    item_id = enqueue(queue)
    *before, last = path
    for state in before:
        queue.decide(item_id, state, "alice")
    if allowed:
        assert queue.decide(item_id, last, "alice").state == last
    else:
        current = queue.get(item_id).state
        with pytest.raises(BadInput, match=f"item {item_id}: cannot go from {current} to {last}"):
            queue.decide(item_id, last, "alice")
        assert queue.get(item_id).state == current


def test_a_final_decision_says_so_and_unknown_inputs_are_named(queue):
    item_id = enqueue(queue)
    queue.decide(item_id, "removed", "alice", "counterfeit sneakers")
    with pytest.raises(BadInput, match="allowed: nothing: the decision is final"):
        queue.decide(item_id, "approved", "bob")
    with pytest.raises(BadInput, match="item 999: no such item"):
        queue.decide(999, "approved", "bob")
    with pytest.raises(BadInput, match="state 'deleted'.*one of pending, approved, removed, escalated"):
        queue.decide(item_id, "deleted", "bob")
    with pytest.raises(BadInput, match="reviewer: a reviewer name is required"):
        queue.claim(item_id, "  ")


def test_a_live_lease_keeps_other_reviewers_out_until_it_expires(queue, clock):
    item_id = enqueue(queue)
    claimed = queue.claim(item_id, "alice")
    assert claimed.claimed_by == "alice" and claimed.lease_expires_at == clock.now + LEASE_S

    with pytest.raises(LeaseConflict, match=f"item {item_id} is claimed by 'alice' until"):
        queue.claim(item_id, "bob")
    with pytest.raises(LeaseConflict):
        queue.decide(item_id, "approved", "bob")
    assert queue.claim(item_id, "alice").lease_expires_at == clock.now + LEASE_S  # renewing is allowed

    clock.now += LEASE_S + 1
    assert queue.claim(item_id, "bob").claimed_by == "bob"
    with pytest.raises(LeaseConflict, match="claimed by 'bob'"):
        queue.decide(item_id, "removed", "alice")
    decided = queue.decide(item_id, "removed", "bob")
    assert decided.state == State.REMOVED and decided.reviewer == "bob" and decided.claimed_by is None


def test_deciding_a_free_item_claims_it_in_the_same_transaction(queue):
    item_id = enqueue(queue)
    assert queue.decide(item_id, "escalated", "alice").state == State.ESCALATED
    # The decision released the lease: a senior reviewer can take the escalated item at once.
    assert queue.claim(item_id, "senior").claimed_by == "senior"
    assert queue.decide(item_id, "approved", "senior", "parody, allowed").state == State.APPROVED
    assert [(e.from_state, e.to_state, e.reviewer) for e in queue.audit_log(item_id)] == [
        (State.PENDING, State.ESCALATED, "alice"),
        (State.ESCALATED, State.APPROVED, "senior"),
    ]


def test_claim_next_hands_each_reviewer_a_different_item(queue, clock):
    first, second, third = (enqueue(queue, n) for n in range(3))
    assert queue.claim_next("alice").id == first
    assert queue.claim_next("alice").id == first  # the item a reviewer holds comes back until decided
    assert queue.claim_next("bob").id == second
    assert queue.claim_next("bob", skip={second}).id == third
    assert queue.claim_next("carol") is None  # alice holds the first, bob the second and third
    clock.now += LEASE_S + 1
    assert queue.claim_next("carol").id == first
    queue.decide(first, "escalated", "carol")
    assert queue.claim_next("senior", state="escalated").id == first
    assert queue.claim_next("senior", state="escalated", category="spam") is None
    with pytest.raises(BadInput, match="only pending or escalated"):
        queue.claim_next("alice", state="removed")


def test_releasing_a_claim_frees_the_item_but_only_for_its_holder(queue):
    item_id = enqueue(queue)
    queue.claim(item_id, "alice")
    queue.release(item_id, "bob")
    assert queue.get(item_id).claimed_by == "alice"
    queue.release(item_id, "alice")
    assert queue.claim(item_id, "bob").claimed_by == "bob"


def test_peeking_at_the_next_item_claims_nothing(queue, clock):
    first, second = (enqueue(queue, n) for n in range(2))
    assert queue.peek_next("alice").id == first
    assert queue.get(first).claimed_by is None  # before: showing an item claimed it for the lease
    assert queue.peek_next("alice", skip={first}).id == second
    assert queue.peek_next("alice", prefer=second).id == second  # an item whose skip was undone comes first
    queue.claim(first, "bob")
    assert queue.peek_next("alice", prefer=first).id == second  # ... unless someone claimed it meanwhile
    queue.claim(second, "alice")
    assert queue.peek_next("alice").id == second  # the reviewer's own claim comes first
    assert queue.peek_next("carol") is None


def test_dropping_a_claim_ends_anyones_lease_and_says_whose(queue, clock):
    item_id = enqueue(queue)
    assert queue.drop_claim(item_id) is None
    queue.claim(item_id, "alice")
    assert queue.claims() == [queue.get(item_id)]
    assert queue.drop_claim(item_id) == "alice"
    assert queue.get(item_id).claimed_by is None and queue.claims() == []
    assert queue.claim(item_id, "bob").claimed_by == "bob"


def test_waiting_explains_an_empty_desk_with_the_counts_the_counters_show(queue):
    first, second, third = (enqueue(queue, n) for n in range(3))
    queue.claim(third, "bob")
    waiting = queue.waiting("alice", state="pending", skip=[first])
    assert (waiting.total, waiting.skipped, waiting.held_by_others) == (3, 1, 1)
    assert waiting.describe() == "3 pending: 1 skipped by you, 1 claimed by another reviewer"
    assert queue.waiting("bob", state="escalated").describe() == "0 escalated"


def test_decided_items_cannot_be_claimed(queue):
    item_id = enqueue(queue)
    queue.decide(item_id, "approved", "alice")
    with pytest.raises(BadInput, match="is already approved"):
        queue.claim(item_id, "bob")


def test_the_audit_log_is_append_only(queue):
    item_id = enqueue(queue)
    queue.decide(item_id, "removed", "alice", "fake")
    with sqlite3.connect(queue.path) as db:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit_log SET to_state = 'approved'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM audit_log")
    assert [entry.to_state for entry in queue.audit_log()] == [State.REMOVED]


def test_replace_into_cannot_rewrite_a_decision(queue):
    item_id = enqueue(queue)
    queue.decide(item_id, "escalated", "alice")
    queue.decide(item_id, "removed", "senior", "fake")
    rewrite = (
        "REPLACE INTO audit_log (id, item_id, at, reviewer, from_state, to_state, note{}) "
        "SELECT id, item_id, at, 'bob', from_state, 'approved', note{} FROM audit_log WHERE id = 2"
    )
    with sqlite3.connect(queue.path) as db:
        for columns, values in (("", ""), (", prev_hash", ", hash")):  # the second links to the head
            with pytest.raises(sqlite3.DatabaseError, match="append-only|legal move"):
                db.execute(rewrite.format(columns, values))
    assert [(entry.reviewer, entry.to_state) for entry in queue.audit_log()] == [
        ("alice", State.ESCALATED),
        ("senior", State.REMOVED),
    ]


def test_the_state_of_an_item_changes_only_with_its_audit_row(queue):
    """Plain SQL on the file cannot decide an item, re-queue it or make it vanish without the history showing."""
    decided, pending = enqueue(queue, 1), enqueue(queue, 2)
    queue.decide(decided, "removed", "alice", "fake")
    with sqlite3.connect(queue.path) as db:  # foreign keys off, as in the sqlite3 shell
        attempts = {
            f"UPDATE items SET state = 'approved' WHERE id = {pending}": "items.state changes only by a decision",
            f"UPDATE items SET state = 'pending' WHERE id = {decided}": "items.state changes only by a decision",
            f"REPLACE INTO items SELECT * FROM items WHERE id = {decided}": "an item is queued once",
            "INSERT INTO items (sha256, uri, thumbnail, category, matches, state, created_at) "
            "VALUES ('ff', '/x.jpg', x'00', 'spam', '[]', 'approved', 0)": "an item is queued once, as pending",
            f"DELETE FROM items WHERE id = {decided}": "an item with decisions cannot be deleted",
            "INSERT INTO audit_log (item_id, at, reviewer, from_state, to_state) "
            f"VALUES ({decided}, 0, 'bob', 'removed', 'approved')": "a decision must be a legal move",
        }
        for statement, refusal in attempts.items():
            with pytest.raises(sqlite3.DatabaseError, match=refusal):
                db.execute(statement)
    assert [(item.id, item.state) for item in queue.items()] == [(decided, State.REMOVED), (pending, State.PENDING)]
    assert queue.decide(pending, "approved", "bob").state == State.APPROVED  # the real way still works
    assert queue.verify().intact


def test_a_failure_inside_a_decision_writes_neither_the_state_nor_the_audit_row(queue, monkeypatch):
    item_id = enqueue(queue)
    queue.claim(item_id, "alice")

    def crash(*args, **kwargs):
        raise OSError("disk unplugged")

    monkeypatch.setattr(queue, "_append_audit", crash)
    with pytest.raises(OSError, match="disk unplugged"):
        queue.decide(item_id, "removed", "alice")
    item = queue.get(item_id)
    assert item.state == State.PENDING and item.reviewer is None and item.claimed_by == "alice"
    assert queue.audit_log() == []


def test_filters_by_state_and_category(queue):
    spam = enqueue(queue, 1, [KEYWORD_MATCH])
    both = enqueue(queue, 2, [PDQ_MATCH, KEYWORD_MATCH])
    fake = enqueue(queue, 3, [PDQ_MATCH])
    queue.decide(fake, "removed", "alice")
    assert [item.id for item in queue.items(category="spam")] == [spam, both]
    assert [item.id for item in queue.items(state="pending", category="counterfeit")] == [both]
    assert [item.id for item in queue.items(state=State.REMOVED)] == [fake]
    assert queue.categories() == ["counterfeit", "spam"]
    assert queue.counts() == {State.PENDING: 2, State.APPROVED: 0, State.REMOVED: 1, State.ESCALATED: 0}


def test_activity_counts_queued_items_and_decisions_per_day(queue, clock):
    first = enqueue(queue, 1)
    clock.now += 86_400
    enqueue(queue, 2)
    queue.decide(first, "removed", "alice")
    assert queue.activity() == [("2025-06-15", "queued", 1), ("2025-06-16", "queued", 1), ("2025-06-16", "removed", 1)]


def test_export_writes_every_decision_with_its_item(queue, clock):
    item_id = enqueue(queue, 7, [PDQ_MATCH, KEYWORD_MATCH])
    queue.decide(item_id, "escalated", "alice", "unsure, brand owner?")
    clock.now += 60
    queue.decide(item_id, "removed", "senior", 'confirmed "replica"')
    buffer = io.StringIO()
    assert write_decisions_csv(queue.audit_log(), buffer) == 2
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert tuple(rows[0]) == COLUMNS
    assert [(row["from_state"], row["to_state"], row["reviewer"]) for row in rows] == [
        ("pending", "escalated", "alice"),
        ("escalated", "removed", "senior"),
    ]
    assert rows[1]["note"] == 'confirmed "replica"' and rows[1]["decided_at"] == "2025-06-15T15:07:40+00:00"
    assert rows[0]["uri"] == "/uploads/7.jpg" and rows[0]["sha256"] == f"{7:064x}"
    assert rows[0]["category"] == "counterfeit" and rows[0]["rules"] == "pdq keyword"


def test_decisions_are_visible_to_a_new_queue_object(queue, tmp_path):
    item_id = enqueue(queue)
    queue.decide(item_id, "removed", "alice")
    assert ReviewQueue(tmp_path / "moderation.sqlite").get(item_id).state == State.REMOVED


def test_a_queue_file_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "moderation.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="schema version 99"):
        ReviewQueue(path)


DECIDE_FOREVER = """
import itertools, sys
from pathlib import Path
from pipeline.moderation.matching import Match, Rule
from pipeline.moderation.queue import ReviewQueue
queue = ReviewQueue(Path(sys.argv[1]))
print("ready", flush=True)
for n in itertools.count():
    matches = [Match(Rule.PDQ, "spam", 1.0)]
    item = queue.enqueue(uri=f"/uploads/{n}.jpg", sha256=f"{n:064x}", thumbnail=b"t", matches=matches)
    queue.decide(item.item_id, "escalated", "crashy")
    queue.decide(item.item_id, "removed", "crashy", "decided in a loop")
"""


def test_a_process_killed_while_deciding_leaves_a_consistent_queue(tmp_path):
    path = tmp_path / "moderation.sqlite"
    worker = subprocess.Popen(
        [sys.executable, "-c", DECIDE_FOREVER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    queue = ReviewQueue(path)
    deadline = time.monotonic() + 30
    while queue.counts()[State.REMOVED] < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    trail: dict[int, list[State]] = {}
    for entry in queue.audit_log():
        trail.setdefault(entry.item_id, []).append(entry.to_state)
    items = queue.items()
    assert len(items) >= 20
    for item in items:
        expected = {
            State.PENDING: [],
            State.ESCALATED: [State.ESCALATED],
            State.REMOVED: [State.ESCALATED, State.REMOVED],
        }[item.state]
        assert trail.get(item.id, []) == expected, item
        assert (item.reviewer is None) == (item.state == State.PENDING), item


# the review desk: who may release a claim, sensitive pictures, uploads scanned ------------------------------------


def desk_for(queue: ReviewQueue, tmp_path: Path, name: str, role: Role) -> ReviewDesk:
    return ReviewDesk(queue, open_audit_log(tmp_path), User(name, role, AuthMode.LOCAL), name)


def test_the_claimant_and_admins_release_a_claim_and_a_moderator_cannot_release_anothers(queue, tmp_path):
    item_id = enqueue(queue)
    queue.claim(item_id, "alice")
    with pytest.raises(PermissionDenied, match="mo is moderator, and it needs the admin role"):
        desk_for(queue, tmp_path, "mo", Role.MODERATOR).release(item_id)
    assert queue.get(item_id).claimed_by == "alice"
    assert desk_for(queue, tmp_path, "alice", Role.MODERATOR).release(item_id) == "alice"
    queue.claim(item_id, "alice")
    assert desk_for(queue, tmp_path, "ann", Role.ADMIN).release(item_id) == "alice"
    assert queue.get(item_id).claimed_by is None
    with pytest.raises(BadInput, match="nobody holds a claim on it"):
        desk_for(queue, tmp_path, "ann", Role.ADMIN).release(item_id)
    events = open_audit_log(tmp_path).events(action=Action.DECISION)
    assert [(event.actor, event.outcome, event.detail.get("holder")) for event in reversed(events)] == [
        ("mo", Outcome.REFUSED, "alice"),
        ("alice", Outcome.OK, "alice"),
        ("ann", Outcome.OK, "alice"),
    ]


def test_sensitive_categories_come_from_the_rules_file(tmp_path):
    shipped = load_rules(SHIPPED_RULES)
    assert shipped.is_sensitive(["spam", "violence"]) and shipped.is_sensitive(["sexual"])
    assert not shipped.is_sensitive(["spam", "counterfeit", "unknown"])
    rules = tmp_path / "rules.toml"
    rules.write_text('[categories.gore]\nquestion = "Gore?"\nsensitive = "yes"\n', encoding="utf-8")
    with pytest.raises(BadInput, match=r"\[categories.gore\].*'sensitive' must be true or false"):
        load_rules(rules)


def test_a_sensitive_picture_is_blurred_on_the_server(tmp_path):
    original = thumbnail_jpeg(Image.open(ROOT / "samples" / "images" / "photo_rocket_launch.jpg").convert("RGB"))
    blurred = blurred_jpeg(original)

    def detail(jpeg: bytes) -> float:
        """Mean edge strength: what a viewer makes shapes out of."""
        with Image.open(io.BytesIO(jpeg)) as image:
            return ImageStat.Stat(image.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0]

    with Image.open(io.BytesIO(blurred)) as picture, Image.open(io.BytesIO(original)) as source:
        assert picture.size == source.size
    assert detail(blurred) < detail(original) / 5
