"""Screenshot lookup for support agents: the past tickets that show the customer's problem, and how sure we are.

Search ranks every ticket, so the top hit is not necessarily a match. A ticket counts as a
confident match only when it passes a test:
- with a reranker: its relevance probability is at least the threshold (VLSEARCH_MIN_RELEVANCE,
  0.5 when unset);
- without one, the keyword rule (KEYWORD_RULE below, shown to agents in the page).
Only assets with a non-empty `ticket_id` are tickets.

Why the keyword rule is what it is (measured by bench/lookup_confidence.py on held-out screens, docs/benchmarks.md):
- A crop cuts words at its edges ("eshold") and OCR glues words ("andfromcenter"); both count as shared when they
  are part of the ticket's text, so a crop is not penalised for what the customer's scissors did.
- Screens of one app share most of their words (menus, labels), so a screen with another error can share more
  than half of them with a stored ticket. What tells two such screens apart is the error: a screenshot that
  shows an error code, none of them the ticket's, is another error; and the best ticket must stand clearly above
  the next one, or the words cannot tell which ticket it is.
- Looking the same (pipeline/search/visual.py) only breaks that tie: screens of one app with another error
  message reach as many matching keypoints (50-117 on the held-out set) as the same screen rendered again
  (40-170), so it never makes a ticket confident on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from pipeline.records import AssetRecord, Hit
from pipeline.search.highlight import terms
from pipeline.search.searcher import Searcher
from pipeline.store.analyzer import CJK

TICKET_COLUMN = "ticket_id"
TICKETS_ONLY = f"{TICKET_COLUMN} IS NOT NULL AND {TICKET_COLUMN} != ''"
DEFAULT_MIN_PROBABILITY = 0.5
MIN_SHARED_FRACTION = 0.5
MIN_SHARED_TERMS = 3
# How far the best ticket's share of the words must stand above the next ticket's.
MIN_MARGIN = 0.1
# A word cut at the crop's edge or glued by OCR counts when the ticket's text holds it (spaces ignored); shorter
# pieces would be found in almost any text.
MIN_PIECE_CHARS = 4
MIN_CJK_PIECE_CHARS = 2
# Letters, an optional dash or underscore, more letters, digits: PF-4021, E-SYNC-507, ERR_TIMEOUT_408.
# Not preceded by a capital or digit, so OCR that glued "Error" to the code ("ErrorPF-4021") still reads it.
ERROR_CODE = re.compile(r"(?<![A-Z0-9])[A-Z]{1,6}[-_]?[A-Z]*[-_]?\d{3,}")
KEYWORD_RULE = (
    "Without a reranker, a past ticket is a confident match when either\n"
    "1. **same error code**: an error code read from the screenshot or the note (letters, an optional - or _, "
    "digits: `PF-4021`, `E-SYNC-507`, `ERR_TIMEOUT_408`) is the ticket's error code (its `error_code` field, or a "
    "code in its screenshot's text when that field is empty); or\n"
    f"2. **same words**: at least {MIN_SHARED_FRACTION:.0%} (and at least {MIN_SHARED_TERMS}) of the distinct words "
    "of the screenshot and the note (2+ characters, Chinese split into words, case ignored) occur in the ticket's "
    f"screenshot text (a word cut at the screenshot's edge or glued to the next one by OCR counts when it is part "
    f"of the ticket's text, {MIN_PIECE_CHARS}+ letters); the ticket shares at least {MIN_MARGIN:.0%} more of the "
    "words than the next ticket, or it alone looks the same as the screenshot (matching keypoints); and the "
    "screenshot shows no error code, or the ticket's (`PF-4077` against the ticket's `PF-4021`: another error)."
)

RERANK_RULE = (
    "A reranker is loaded: a past ticket is a confident match when the model's relevance probability for it is "
    "at least **{threshold:.2f}** (`VLSEARCH_MIN_RELEVANCE`, {default} when unset). Tickets it did not score "
    "within its depth or time budget do not count as confident."
)


def relevance_threshold(configured: float | None) -> float:
    """The rerank probability a ticket needs: VLSEARCH_MIN_RELEVANCE when set, else DEFAULT_MIN_PROBABILITY."""
    return DEFAULT_MIN_PROBABILITY if configured is None else configured


def rerank_rule(threshold: float) -> str:
    return RERANK_RULE.format(threshold=threshold, default=DEFAULT_MIN_PROBABILITY)


@dataclass(frozen=True)
class Evidence:
    """What the customer's screenshot and a ticket have in common."""

    codes: list[str]
    shared_terms: list[str]  # most informative first
    query_terms: int
    conflicting_code: str | None = None
    looks_same: int | None = None  # keypoints agreeing with the screenshot (Scores.visual_pairs)

    @property
    def fraction(self) -> float:
        return len(self.shared_terms) / self.query_terms if self.query_terms else 0.0

    @property
    def same_words(self) -> bool:
        """Enough of the words, and no other error code on the screenshot: the absolute half of rule 2."""
        enough = self.fraction >= MIN_SHARED_FRACTION and len(self.shared_terms) >= MIN_SHARED_TERMS
        return enough and self.conflicting_code is None

    def confident(self, rival: Evidence | None = None) -> bool:
        """The keyword rule (KEYWORD_RULE), against the best other ticket's evidence (`rival`)."""
        return bool(self.codes) or (self.same_words and self.stands_above(rival))

    def stands_above(self, rival: Evidence | None) -> bool:
        if rival is None or self.fraction >= rival.fraction + MIN_MARGIN:
            return True
        return self.looks_same is not None and (rival.looks_same or 0) * 2 <= self.looks_same


@dataclass(frozen=True)
class TicketMatch:
    hit: Hit
    evidence: Evidence
    confident: bool
    reason: str

    @property
    def ticket_id(self) -> str:
        return self.hit.record.metadata.get(TICKET_COLUMN, "")

    @property
    def resolution(self) -> str:
        return self.hit.record.metadata.get("resolution", "")


@dataclass
class Lookup:
    ocr_text: str
    query_text: str
    query_codes: list[str]
    matches: list[TicketMatch]
    rule: str
    threshold: float
    notices: list[str] = field(default_factory=list)

    @property
    def confident(self) -> list[TicketMatch]:
        return [match for match in self.matches if match.confident]

    @property
    def best(self) -> TicketMatch | None:
        return next(iter(self.confident), None)


def error_codes(text: str) -> list[str]:
    """Error-code-like tokens in text, in order, once each."""
    return list(dict.fromkeys(ERROR_CODE.findall(text)))


def keyword_evidence(query_text: str, ticket: AssetRecord, looks_same: int | None = None) -> Evidence:
    """Shared error codes and words between the screenshot's text (and note) and one ticket; `looks_same`: the
    keypoints the screenshot and the ticket's image agree on, if search found it looks the same."""
    recorded = ticket.metadata.get("error_code", "").strip()
    ticket_codes = {_normal(code): code for code in ([recorded] if recorded else error_codes(ticket.ocr_text))}
    query_codes = error_codes(query_text)
    shared_codes = [code for code in query_codes if _normal(code) in ticket_codes]
    conflicting = None
    if query_codes and not shared_codes and ticket_codes:
        # The screenshot shows an error, and it is not this ticket's: name the ticket's code of the same family.
        families = {_family(code) for code in query_codes}
        same_family = [code for key, code in sorted(ticket_codes.items()) if _family(key) in families]
        conflicting = (same_family or sorted(ticket_codes.values()))[0]
    wanted = terms(query_text)
    stored = terms(ticket.ocr_text)
    compact = re.sub(r"\s+", "", ticket.ocr_text.lower())
    return Evidence(
        codes=shared_codes,
        shared_terms=sorted(
            (term for term in wanted if term in stored or _piece_of(term, compact)), key=_informative_first
        ),
        query_terms=len(wanted),
        conflicting_code=conflicting,
        looks_same=looks_same,
    )


def _piece_of(term: str, compact_text: str) -> bool:
    """A word cut at an edge or glued by OCR: long enough not to match by chance, and inside the text."""
    shortest = MIN_CJK_PIECE_CHARS if CJK.search(term) else MIN_PIECE_CHARS
    return len(term) >= shortest and term in compact_text


def lookup_tickets(
    searcher: Searcher,
    *,
    image: Image.Image,
    note: str = "",
    alpha: float = 0.5,
    rerank: bool = True,
    min_probability: float = DEFAULT_MIN_PROBABILITY,
    limit: int = 5,
) -> Lookup:
    """Search past tickets with the screenshot (and the agent's note) and judge each hit."""
    if TICKET_COLUMN not in searcher.store.metadata_columns():
        return Lookup(
            ocr_text="",
            query_text="",
            query_codes=[],
            matches=[],
            rule="keyword",
            threshold=min_probability,
            notices=[f"this collection has no tickets: ingest a manifest with a {TICKET_COLUMN} column"],
        )
    result = searcher.search(
        text=note.strip() or None, image=image, alpha=alpha, limit=limit, where=TICKETS_ONLY, rerank=rerank
    )
    rule = "rerank" if result.reranked else "keyword"
    matches = judge(result.hits, result.keyword_text, rule=rule, min_probability=min_probability)
    return Lookup(
        ocr_text=result.ocr_text,
        query_text=result.keyword_text,
        query_codes=error_codes(result.keyword_text),
        matches=matches,
        rule=rule,
        threshold=min_probability,
        notices=result.notices,
    )


def judge(hits: Sequence[Hit], query_text: str, *, rule: str, min_probability: float) -> list[TicketMatch]:
    """Each candidate ticket judged by `rule` ("rerank" or "keyword"), each against the others."""
    evidence = [keyword_evidence(query_text, hit.record, hit.scores.visual_pairs) for hit in hits]
    return [
        _judge(hit, found, _rival(evidence, index), rule, min_probability)
        for index, (hit, found) in enumerate(zip(hits, evidence))
    ]


def _rival(evidence: list[Evidence], index: int) -> Evidence | None:
    """The other candidate that shares the most words: the one this ticket must stand above."""
    others = [found for position, found in enumerate(evidence) if position != index]
    return max(others, key=lambda found: found.fraction, default=None)


def _judge(hit: Hit, evidence: Evidence, rival: Evidence | None, rule: str, min_probability: float) -> TicketMatch:
    if rule == "rerank":
        probability = hit.scores.rerank
        if probability is None:
            return TicketMatch(hit, evidence, False, "not scored by the reranker (past its depth or time budget)")
        verdict = "≥" if probability >= min_probability else "<"
        reason = f"reranker relevance {probability:.2f} {verdict} threshold {min_probability:.2f}"
        return TicketMatch(hit, evidence, probability >= min_probability, reason)
    return TicketMatch(hit, evidence, evidence.confident(rival), _keyword_reason(evidence, rival))


def _keyword_reason(evidence: Evidence, rival: Evidence | None) -> str:
    words = (
        f"{len(evidence.shared_terms)} of the screenshot's {evidence.query_terms} words "
        f"({evidence.fraction:.0%}) are in the ticket"
    )
    looks = "" if evidence.looks_same is None else f"; looks the same: {evidence.looks_same} matching keypoints"
    if evidence.codes:
        return f"same error code {', '.join(evidence.codes)}; {words}{looks}"
    if evidence.conflicting_code:
        return f"the ticket's error code is {evidence.conflicting_code}, not the one on the screenshot; {words}{looks}"
    if evidence.same_words and not evidence.stands_above(rival) and rival is not None:
        return f"{words}, but another ticket has {rival.fraction:.0%} of them: too close to tell{looks}"
    return f"{words}{looks}"


def _informative_first(term: str) -> tuple[bool, int, str]:
    """Words before bare numbers, longer words first: what an agent should read first."""
    return term.isdigit(), -len(term), term


def _normal(code: str) -> str:
    return re.sub(r"[-_\s]", "", code.upper())


def _family(code: str) -> str:
    """The letters before the number: PF-4021 -> PF, E-SYNC-507 -> ESYNC."""
    return re.sub(r"\d.*$", "", _normal(code))
