import sqlite3

import numpy as np
import pytest

from pipeline.errors import BadInput
from pipeline.search.feedback import FeedbackLog, query_id


@pytest.fixture
def path(tmp_path):
    return tmp_path / "data" / "feedback.sqlite"


def test_a_vote_survives_a_new_log(path):
    FeedbackLog(path).record(
        collection="assets", voter="ann", query_text="card declined", query_image_sha="", asset_id="a1", vote=1
    )
    (vote,) = FeedbackLog(path).votes(collection="assets")
    assert (vote.query_text, vote.query_image_sha, vote.asset_id, vote.vote) == ("card declined", "", "a1", 1)
    assert vote.voted_at.tzinfo is not None


def test_a_second_vote_on_the_same_query_and_asset_replaces_the_first(path):
    log = FeedbackLog(path)
    log.record(collection="assets", voter="ann", query_text="card declined ", query_image_sha="", asset_id="a1", vote=1)
    log.record(collection="assets", voter="ann", query_text="card declined", query_image_sha="", asset_id="a1", vote=-1)
    log.record(
        collection="assets", voter="ann", query_text="card declined", query_image_sha="abc", asset_id="a1", vote=1
    )
    log.record(collection="assets", voter="ann", query_text="card declined", query_image_sha="", asset_id="a2", vote=1)
    assert log.votes_for(collection="assets", query_text="card declined", query_image_sha="", voter="ann") == {
        "a1": -1,
        "a2": 1,
    }
    assert len(log.votes(collection="assets")) == 3


def test_bad_votes_are_refused(path):
    log = FeedbackLog(path)
    with pytest.raises(BadInput, match="not \\+1"):
        log.record(collection="assets", voter="ann", query_text="q", query_image_sha="", asset_id="a", vote=0)
    with pytest.raises(BadInput, match="needs the query"):
        log.record(collection="assets", voter="ann", query_text=" ", query_image_sha="", asset_id="a", vote=1)
    assert log.votes(collection="assets") == []


def test_the_file_is_plain_sqlite_for_other_tools(path):
    FeedbackLog(path).record(
        collection="assets", voter="ann", query_text="q", query_image_sha="sha", asset_id="a", vote=-1
    )
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (2,)
        rows = connection.execute("SELECT query_text, query_image_sha, asset_id, vote FROM feedback").fetchall()
    assert rows == [("q", "sha", "a", -1)]


def test_query_id_is_stable_and_tells_queries_apart():
    assert query_id("card", "") == query_id(" card ", "")
    assert len({query_id("card", ""), query_id("card", "sha"), query_id("cards", "")}) == 3


def test_each_person_votes_once_per_query_and_asset(path):
    log = FeedbackLog(path)
    for voter, vote in (("ann", 1), ("bob", 1), ("ann", -1)):
        log.record(collection="assets", query_text="q", query_image_sha="", asset_id="a", vote=vote, voter=voter)
    assert sorted((vote.voter, vote.vote) for vote in log.votes(collection="assets")) == [("ann", -1), ("bob", 1)]


def test_the_query_vector_is_kept_with_the_vote(path):
    log = FeedbackLog(path)
    vector = np.array([0.6, 0.8], dtype=np.float32)
    log.record(
        collection="assets",
        query_text="q",
        query_image_sha="",
        asset_id="a",
        vote=1,
        voter="ann",
        query_vector=vector,
        embed_model="qwen",
    )
    log.record(collection="assets", query_text="q", query_image_sha="", asset_id="a", vote=-1, voter="ann")
    (vote,) = log.votes(collection="assets")
    assert vote.vote == -1 and vote.embed_model == "qwen"  # a later vote without a vector keeps the one known
    assert vote.query_vector is not None and vote.query_vector.tolist() == pytest.approx([0.6, 0.8])


def test_a_version_1_log_keeps_its_votes_in_the_default_collection(path):
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE feedback (query_text TEXT NOT NULL, query_image_sha TEXT NOT NULL DEFAULT '', "
            "asset_id TEXT NOT NULL, vote INTEGER NOT NULL CHECK (vote IN (-1, 1)), voted_at TEXT NOT NULL, "
            "PRIMARY KEY (query_text, query_image_sha, asset_id))"
        )
        connection.executemany(
            "INSERT INTO feedback VALUES (?, ?, ?, ?, ?)",
            [
                ("card declined", "", "a1", 1, "2025-05-01T10:00:00+00:00"),
                ("", "f" * 64, "a2", -1, "2025-05-02T10:00:00+00:00"),
            ],
        )
        connection.execute("PRAGMA user_version = 1")
    log = FeedbackLog(path)
    votes = log.votes(collection="assets")
    assert [(v.query_text, v.query_image_sha, v.asset_id, v.vote, v.voter) for v in votes] == [
        ("card declined", "", "a1", 1, ""),
        ("", "f" * 64, "a2", -1, ""),
    ]
    assert votes[0].voted_at.year == 2025 and log.votes(collection="other") == []
    log.record(collection="assets", query_text="card declined", query_image_sha="", asset_id="a1", vote=1, voter="bob")
    assert len(log.votes(collection="assets")) == 3  # the unnamed earlier voter and bob are two people
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (2,)
