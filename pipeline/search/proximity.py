"""Phrase and proximity for typed queries: a page holding the question's words side by side beats a page that
mentions each of them somewhere.

BM25 scores each word on its own: in "find the intersection point of two paths", a page that says "path" 25
times and "intersection" once scores about as well as the page whose heading is "Intersection point of two
paths" (BM25 saturates term frequency), and the phrase page can come third. Neither engine scores positions in
a hybrid query (Weaviate's BM25 has no phrase operator), so the best RESCORED fused hits are re-scored here from
their own text: the words of the query in order with at most MAX_GAP other words between them is a phrase
(closeness 1); all of them within a window of twice the query's length are close (NEAR); anything less is
nothing, since a page that holds some of the words together and not the others is about something else. The
fused score gains PROXIMITY_WEIGHT x closeness, beside the 1.0 that keywords and vectors share: enough for the
phrase to overtake a page that has the words more often but apart, and never a lift for a page without them.

Only typed text is re-scored, with the filler words left out (query_words.py): the text read from a query
image is a screen's worth of words, not a phrase.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline.records import Hit
from pipeline.search.highlight import term_sequence
from pipeline.search.query_words import content_words

PROXIMITY_WEIGHT = 0.5
RESCORED = 50
MAX_GAP = 1
NEAR = 0.5


def closeness(query: list[str], text: str) -> float:
    """How close together `text` holds the query terms: 1 for the phrase, NEAR for all of them in one window."""
    wanted = list(dict.fromkeys(query))
    if len(wanted) < 2:
        return 0.0
    tokens = term_sequence(text)
    if _has_phrase(wanted, tokens):
        return 1.0
    window, needed = 2 * len(wanted), set(wanted)
    together = any(needed <= set(tokens[start : start + window]) for start in range(len(tokens)))
    return NEAR if together else 0.0


def _has_phrase(wanted: list[str], tokens: list[str]) -> bool:
    for start, token in enumerate(tokens):
        if token != wanted[0]:
            continue
        position = start
        for term in wanted[1:]:
            ahead = tokens[position + 1 : position + 2 + MAX_GAP]
            if term not in ahead:
                break
            position += 1 + ahead.index(term)
        else:
            return True
    return False


def add_proximity(hits: list[Hit], typed_text: str, *, weight: float = PROXIMITY_WEIGHT) -> list[Hit]:
    """`hits` with the best RESCORED re-scored for how close together they hold the typed words, best first."""
    query = term_sequence(content_words(typed_text))
    if len(set(query)) < 2 or not hits:
        return hits
    rescored = []
    for hit in hits[:RESCORED]:
        close = max(closeness(query, hit.record.ocr_text), closeness(query, hit.record.caption))
        scores = replace(hit.scores, fused=hit.scores.fused + weight * close, proximity=close)
        rescored.append(replace(hit, scores=scores))
    return sorted(rescored, key=lambda hit: (-hit.scores.fused, hit.record.id)) + hits[RESCORED:]
