"""Learning from votes: a thumbs-up on (query, asset) lifts that asset when the same or a similar query is searched
again, a thumbs-down lowers it.

Which votes count for a query (all of them from the searched collection only, see feedback.py):
- the same query: the same normalised text (query_key: the query's content words as the keyword index sees them,
  filler words left out, order and case ignored, so "Card declined!" and "the declined card" are one query) and
  the same query image (by its sha256; an image query without text matches by the image alone);
- a similar query: when both the vote and the search have a query vector from the same embedding model, a cosine
  similarity of at least `similarity` (VLSEARCH_FEEDBACK_SIMILARITY).
Each person counts once per asset (their latest vote among the matching queries), so one analyst voting on five
phrasings is one person, and net = people up - people down.

The learned component is weight x tanh(net / PEOPLE_SCALE) x the best candidate's fused score: one person moves a
hit by about a third of the weight, three people by three quarters of it, and no crowd by more than the weight
(VLSEARCH_FEEDBACK_WEIGHT, a share of the best score, so it means the same in relative and ranked fusion). Only
hits already among the candidates move: a vote never brings in an asset the query (or its filter) did not find.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Protocol

import numpy as np

from pipeline.config import Settings
from pipeline.records import Hit, Vector
from pipeline.search.feedback import FeedbackLog, Vote
from pipeline.search.highlight import terms
from pipeline.search.query_words import content_words

FEEDBACK_WEIGHT: float = Settings.model_fields["feedback_weight"].default
FEEDBACK_SIMILARITY: float = Settings.model_fields["feedback_similarity"].default
PEOPLE_SCALE = 3.0


@lru_cache(maxsize=4096)
def query_key(text: str) -> str:
    """The normalised text of a query: its distinct content terms, sorted ("" when it has none)."""
    return " ".join(sorted(terms(content_words(text.strip())))) if text.strip() else ""


class VoteSource(Protocol):
    """The votes of one collection that search learns from."""

    def votes(self) -> Sequence[Vote]: ...


class LoggedVotes:
    """A collection's votes in the feedback log, read again only when they have changed (any thread may use it)."""

    def __init__(self, log: FeedbackLog, collection: str) -> None:
        self.log = log
        self.collection = collection
        self._lock = threading.Lock()
        self._stamp: tuple[int, str] | None = None
        self._votes: list[Vote] = []

    def votes(self) -> Sequence[Vote]:
        stamp = self.log.changed(collection=self.collection)
        with self._lock:
            if stamp != self._stamp:
                self._votes, self._stamp = self.log.votes(collection=self.collection), stamp
            return self._votes


@dataclass(frozen=True)
class FixedVotes:
    """Votes given up front: `eval --feedback` learns from one half of them and judges by the other."""

    given: Sequence[Vote]

    def votes(self) -> Sequence[Vote]:
        return self.given


@dataclass(frozen=True)
class LearnedQuery:
    """What a search is matched against the votes by."""

    text: str
    image_sha: str = ""
    vector: Vector | None = None
    embed_model: str = ""


@dataclass(frozen=True)
class Tally:
    """People who marked an asset relevant (up) or not relevant (down) for the same or similar queries."""

    up: int
    down: int

    @property
    def net(self) -> int:
        return self.up - self.down


def matches(vote: Vote, query: LearnedQuery, *, similarity: float) -> bool:
    """True when `vote` was given for the same query (normalised text and image) or a similar one (vectors)."""
    key = query_key(query.text)
    if vote.query_image_sha == query.image_sha and (key or query.image_sha) and query_key(vote.query_text) == key:
        return True
    if query.vector is None or vote.query_vector is None or vote.embed_model != query.embed_model:
        return False
    if vote.query_vector.shape != query.vector.shape:
        return False
    return cosine(vote.query_vector, query.vector) >= similarity


def cosine(a: Vector, b: Vector) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / norms if norms else 0.0


def tallies(votes: Sequence[Vote], query: LearnedQuery, *, similarity: float) -> dict[str, Tally]:
    """asset id -> the people for and against it among the votes for `query` and queries like it."""
    latest: dict[tuple[str, str], Vote] = {}
    for vote in votes:
        if matches(vote, query, similarity=similarity):
            person = (vote.voter, vote.asset_id)
            if person not in latest or vote.voted_at >= latest[person].voted_at:
                latest[person] = vote
    counted: dict[str, list[int]] = {}
    for vote in latest.values():
        up_down = counted.setdefault(vote.asset_id, [0, 0])
        up_down[0 if vote.vote > 0 else 1] += 1
    return {asset: Tally(up, down) for asset, (up, down) in counted.items()}


def component(tally: Tally, *, weight: float, scale: float) -> float:
    """The learned addition to a fused score: |component| <= weight x scale (the best candidate's score)."""
    return weight * scale * math.tanh(tally.net / PEOPLE_SCALE)


def add_learned(hits: list[Hit], found: dict[str, Tally], *, weight: float) -> list[Hit]:
    """`hits` with the learned component added to the voted ones among them, best first."""
    if weight <= 0 or not found or not hits:
        return hits
    scale = max(0.0, max(hit.scores.fused for hit in hits))
    learned = []
    for hit in hits:
        tally = found.get(hit.record.id)
        if tally is None:
            learned.append(hit)
            continue
        added = component(tally, weight=weight, scale=scale)
        scores = replace(
            hit.scores, fused=hit.scores.fused + added, learned=added, voted_up=tally.up, voted_down=tally.down
        )
        learned.append(replace(hit, scores=scores))
    return sorted(learned, key=lambda hit: (-hit.scores.fused, hit.record.id))


@dataclass
class LearnedBoost:
    """The votes search learns from, with the weight and similarity settings; the Searcher's collaborator."""

    source: VoteSource
    weight: float = FEEDBACK_WEIGHT
    similarity: float = FEEDBACK_SIMILARITY

    def apply(self, hits: list[Hit], query: LearnedQuery) -> tuple[list[Hit], int]:
        """The hits re-scored, and how many votes (one per person and asset) matched the query: 0, nothing learned."""
        if self.weight <= 0:
            return hits, 0
        found = tallies(self.source.votes(), query, similarity=self.similarity)
        matched = sum(tally.up + tally.down for tally in found.values())
        return add_learned(hits, found, weight=self.weight), matched


def people(count: int) -> str:
    return f"{count} {'person' if count == 1 else 'people'}"


def reason(up: int, down: int) -> str | None:
    """The learned component explained: "boosted: 3 people marked it relevant for similar queries"."""
    if up > down:
        against = f" ({people(down)} not)" if down else ""
        return f"boosted: {people(up)} marked it relevant for similar queries{against}"
    if down > up:
        besides = f" ({people(up)} relevant)" if up else ""
        return f"lowered: {people(down)} marked it not relevant for similar queries{besides}"
    return None
