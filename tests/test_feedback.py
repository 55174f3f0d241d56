import sqlite3

import pytest

from pipeline.errors import BadInput
from pipeline.search.feedback import FeedbackLog, query_id


@pytest.fixture
def path(tmp_path):
    return tmp_path / "data" / "feedback.sqlite"


def test_a_vote_survives_a_new_log(path):
    FeedbackLog(path).record(query_text="card declined", query_image_sha="", asset_id="a1", vote=1)
    (vote,) = FeedbackLog(path).votes()
    assert (vote.query_text, vote.query_image_sha, vote.asset_id, vote.vote) == ("card declined", "", "a1", 1)
    assert vote.voted_at.tzinfo is not None


def test_a_second_vote_on_the_same_query_and_asset_replaces_the_first(path):
    log = FeedbackLog(path)
    log.record(query_text="card declined ", query_image_sha="", asset_id="a1", vote=1)
    log.record(query_text="card declined", query_image_sha="", asset_id="a1", vote=-1)
    log.record(query_text="card declined", query_image_sha="abc", asset_id="a1", vote=1)
    log.record(query_text="card declined", query_image_sha="", asset_id="a2", vote=1)
    assert log.votes_for(query_text="card declined", query_image_sha="") == {"a1": -1, "a2": 1}
    assert len(log.votes()) == 3


def test_bad_votes_are_refused(path):
    log = FeedbackLog(path)
    with pytest.raises(BadInput, match="not \\+1"):
        log.record(query_text="q", query_image_sha="", asset_id="a", vote=0)
    with pytest.raises(BadInput, match="needs the query"):
        log.record(query_text=" ", query_image_sha="", asset_id="a", vote=1)
    assert log.votes() == []


def test_the_file_is_plain_sqlite_for_other_tools(path):
    FeedbackLog(path).record(query_text="q", query_image_sha="sha", asset_id="a", vote=-1)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (1,)
        rows = connection.execute("SELECT query_text, query_image_sha, asset_id, vote FROM feedback").fetchall()
    assert rows == [("q", "sha", "a", -1)]


def test_query_id_is_stable_and_tells_queries_apart():
    assert query_id("card", "") == query_id(" card ", "")
    assert len({query_id("card", ""), query_id("card", "sha"), query_id("cards", "")}) == 3
