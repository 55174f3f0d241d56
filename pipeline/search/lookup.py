"""Screenshot lookup for support agents: the past tickets that show the customer's problem, and how sure we are.

Search ranks every ticket, so the top hit is not necessarily a match. A ticket counts as a
confident match only when it passes an absolute test:
- with a reranker: its relevance probability is at least the threshold (VLSEARCH_MIN_RELEVANCE,
  0.5 when unset);
- without one, the keyword rule (KEYWORD_RULE below, shown to agents in the page).
Only assets with a non-empty `ticket_id` are tickets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from PIL import Image

from pipeline.records import AssetRecord, Hit
from pipeline.search.highlight import terms
from pipeline.search.searcher import Searcher

TICKET_COLUMN = "ticket_id"
TICKETS_ONLY = f"{TICKET_COLUMN} IS NOT NULL AND {TICKET_COLUMN} != ''"
DEFAULT_MIN_PROBABILITY = 0.5
MIN_SHARED_FRACTION = 0.5
MIN_SHARED_TERMS = 3
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
    "screenshot text, and the screenshot does not show another code of the ticket's code family "
    "(`PF-4021` against the ticket's `PF-4090`: same app, different error)."
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

    @property
    def fraction(self) -> float:
        return len(self.shared_terms) / self.query_terms if self.query_terms else 0.0

    @property
    def confident(self) -> bool:
        """The keyword rule (KEYWORD_RULE)."""
        same_words = self.fraction >= MIN_SHARED_FRACTION and len(self.shared_terms) >= MIN_SHARED_TERMS
        return bool(self.codes) or (same_words and self.conflicting_code is None)


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


def keyword_evidence(query_text: str, ticket: AssetRecord) -> Evidence:
    """Shared error codes and words between the screenshot's text (and note) and one ticket."""
    recorded = ticket.metadata.get("error_code", "").strip()
    ticket_codes = {_normal(code): code for code in ([recorded] if recorded else error_codes(ticket.ocr_text))}
    query_codes = error_codes(query_text)
    shared_codes = [code for code in query_codes if _normal(code) in ticket_codes]
    conflicting = None
    if not shared_codes:
        families = {_family(code) for code in query_codes}
        conflicting = next((code for key, code in sorted(ticket_codes.items()) if _family(key) in families), None)
    wanted = terms(query_text)
    return Evidence(
        codes=shared_codes,
        shared_terms=sorted(wanted & terms(ticket.ocr_text), key=_informative_first),
        query_terms=len(wanted),
        conflicting_code=conflicting,
    )


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
    matches = [_judge(hit, result.keyword_text, rule, min_probability) for hit in result.hits]
    return Lookup(
        ocr_text=result.ocr_text,
        query_text=result.keyword_text,
        query_codes=error_codes(result.keyword_text),
        matches=matches,
        rule=rule,
        threshold=min_probability,
        notices=result.notices,
    )


def _judge(hit: Hit, query_text: str, rule: str, min_probability: float) -> TicketMatch:
    evidence = keyword_evidence(query_text, hit.record)
    if rule == "rerank":
        probability = hit.scores.rerank
        if probability is None:
            return TicketMatch(hit, evidence, False, "not scored by the reranker (past its depth or time budget)")
        verdict = "≥" if probability >= min_probability else "<"
        reason = f"reranker relevance {probability:.2f} {verdict} threshold {min_probability:.2f}"
        return TicketMatch(hit, evidence, probability >= min_probability, reason)
    return TicketMatch(hit, evidence, evidence.confident, _keyword_reason(evidence))


def _keyword_reason(evidence: Evidence) -> str:
    words = (
        f"{len(evidence.shared_terms)} of the screenshot's {evidence.query_terms} words "
        f"({evidence.fraction:.0%}) are in the ticket"
    )
    if evidence.codes:
        return f"same error code {', '.join(evidence.codes)}; {words}"
    if evidence.conflicting_code:
        return f"the ticket's error code is {evidence.conflicting_code}, not the one on the screenshot; {words}"
    return words


def _informative_first(term: str) -> tuple[bool, int, str]:
    """Words before bare numbers, longer words first: what an agent should read first."""
    return term.isdigit(), -len(term), term


def _normal(code: str) -> str:
    return re.sub(r"[-_\s]", "", code.upper())


def _family(code: str) -> str:
    """The letters before the number: PF-4021 -> PF, E-SYNC-507 -> ESYNC."""
    return re.sub(r"\d.*$", "", _normal(code))
