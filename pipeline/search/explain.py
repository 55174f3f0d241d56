"""Why a hit matched, in a few words a person can check against the card: the query words found in its
text, an error code it shares, the metadata field or file name that matched, a visual near-duplicate, people's
votes on similar queries.

Terms are compared as the keyword index sees them (highlight.terms: the same analysis, case ignored),
so a reason names what made keyword search find the hit.
"""

from __future__ import annotations

from pipeline.records import Hit
from pipeline.search.highlight import terms
from pipeline.search.learned import reason as learned_reason
from pipeline.search.lookup import error_codes
from pipeline.store.analyzer import file_name

# Cosine distance under which two images are the same picture (resized, recompressed), not just alike.
NEAR_DUPLICATE_DISTANCE = 0.05
MAX_WORDS = 6
MAX_VALUE_CHARS = 60


def why(hit: Hit, query_text: str) -> list[str]:
    """Short reasons this hit matches `query_text` (the typed text and any text read from a query image)."""
    record = hit.record
    wanted = terms(query_text)
    reasons = []
    shared_codes = _shared_codes(query_text, f"{record.ocr_text} {record.metadata.get('error_code', '')}")
    if shared_codes:
        reasons.append(f"same error code {', '.join(shared_codes)}")
    said = terms(" ".join(shared_codes))  # the code's parts are not repeated as words
    for place, text in (("image text", record.ocr_text), ("caption", record.caption)):
        found = _sorted((wanted & terms(text)) - said)
        if found:
            reasons.append(f"words in the {place}: {_listed(found)}")
    for key, value in record.metadata.items():
        value_terms = terms(value)
        found = _sorted(wanted & value_terms)
        if not found:
            continue
        if value_terms <= wanted:
            reasons.append(f"metadata {key} = {_clipped(value)}")
        else:
            reasons.append(f"metadata {key} contains {_listed(found)}")
    name = file_name(record.uri)
    if wanted & terms(name):
        reasons.append(f"file name {name}")
    if hit.scores.proximity:
        reasons.append(
            "the query's words as a phrase" if hit.scores.proximity >= 1 else "the query's words close together"
        )
    if hit.scores.visual_pairs is not None:
        reasons.append(f"looks the same: {hit.scores.visual_pairs} matching keypoints")
    distance = hit.scores.vector_distance
    if distance is not None and distance <= NEAR_DUPLICATE_DISTANCE:
        reasons.append(f"visual near-duplicate (vector distance {distance:.3f})")
    if hit.scores.learned is not None:
        learned = learned_reason(hit.scores.voted_up or 0, hit.scores.voted_down or 0)
        if learned:
            reasons.append(learned)
    return reasons


def _shared_codes(query_text: str, text: str) -> list[str]:
    stored = {code.upper() for code in error_codes(text)}
    return [code for code in error_codes(query_text) if code.upper() in stored]


def _sorted(found: set[str]) -> list[str]:
    """Words before bare numbers, longer first: the informative ones lead."""
    return sorted(found, key=lambda term: (term.isdigit(), -len(term), term))


def _listed(found: list[str]) -> str:
    more = f" (+{len(found) - MAX_WORDS} more)" if len(found) > MAX_WORDS else ""
    return ", ".join(found[:MAX_WORDS]) + more


def _clipped(value: str) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= MAX_VALUE_CHARS else flat[: MAX_VALUE_CHARS - 1] + "…"
