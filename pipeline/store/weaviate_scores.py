"""Pure score arithmetic for Weaviate hybrid hits: the alpha mapping, the fused score, and the
parsing of Weaviate's `explain_score` text.

`explain_score` is human-readable text, not a stable API. The formats parsed here are taken
from Weaviate's own source and tests (repository weaviate/weaviate):
- relative score fusion: usecases/traverser/hybrid/hybrid_fusion.go, FusionRelativeScore,
  `"(Result Set '%v') Document %v: original score %v, normalized score: %v"`, entries joined
  by " - ", asserted in usecases/traverser/hybrid/fusion_test.go,
  TestFusionRelativeScoreExplain (both at commit f90bfd0ff173a8396ad51f7c098acfbb49aa7aaa);
  other versions of that file print the set name without quotes ("(Result Set keyword)"),
  and older ones prefix "Hybrid ", so both spellings are accepted;
- ranked fusion: the same hybrid_fusion.go, FusionRanked,
  `"%v\\n(Result Set %v) Document %v contributed %v to the score"` where the contribution is
  weight / (rank + 60 + 1) printed with Go's %v (shortest float64, may be 1e-05 style).
The fixtures in tests/test_weaviate_scores.py are those strings.

Degrading: when the text does not parse (a Weaviate release that rewords it), `parse_explain`
returns None. The engine then keeps the server's fused score and order (which do not depend on
the text), reports bm25 and vector_distance as None rather than guessing, and logs one warning
per query. It never returns numbers derived from text it did not understand.

Why parse at all, rather than Weaviate's own per-side queries (a bm25 query and a near_vector
query restricted to the hit ids)? The numbers themselves could be had that way (BM25 statistics
are per shard, not per filter, and the cosine distance is computed here from the stored vector
anyway), but the explanation is the only place Weaviate says *which side's candidate list a hit
was in*: each side is cut by its own limit, max_vector_distance and autocut inside the server,
which a second query cannot reproduce exactly. It also costs no extra round trip. So the text is
used for membership and relative-fusion BM25 scores, the restricted BM25 query fills in the
scores ranked fusion does not print, and a change in the text costs the per-side figures only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.store.base import Fusion
from pipeline.store.fusion import RANK_CONSTANT

SIDES = ("keyword", "vector")

_SET = r"\(Result Set '?(keyword|vector)'?\)"
_UUID = r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN)"
RELATIVE = re.compile(_SET + r" Document " + _UUID + r": original score " + _NUMBER + r"\b")
RANKED = re.compile(_SET + r" Document " + _UUID + r" contributed " + _NUMBER + r" to the score")


@dataclass
class Explained:
    """Which result sets a hit was in, with the original scores (relative fusion) or
    contributions (ranked fusion) Weaviate printed for it."""

    sets: set[str] = field(default_factory=set)
    original: dict[str, float] = field(default_factory=dict)
    contributed: dict[str, float] = field(default_factory=dict)


def parse_explain(text: str, doc_id: str) -> Explained | None:
    """The explanation of hit `doc_id`, or None when the text says nothing parseable about it."""
    explained = Explained()
    wanted = doc_id.lower()
    for pattern, target in ((RELATIVE, explained.original), (RANKED, explained.contributed)):
        for result_set, document, value in pattern.findall(text or ""):
            if document.lower() != wanted:
                continue
            try:
                number = float(value)
            except ValueError:  # pragma: no cover - the pattern only matches numbers
                return None
            if number != number or number in (float("inf"), float("-inf")):
                return None
            explained.sets.add(result_set)
            target[result_set] = number
    return explained if explained.sets else None


def server_alpha(alpha: float, use_keyword: bool, use_vector: bool) -> tuple[float, float]:
    """(alpha sent to Weaviate, factor applied here to its fused score).

    Weaviate runs the vector side whenever alpha > 0, so a side that is not used is left out by
    sending alpha 0 or 1, and the remaining side's weight is applied here, which gives the same
    numbers as the Lance engine's fusion.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    if use_keyword and use_vector:
        return alpha, 1.0
    if use_vector:
        return 1.0, alpha
    if use_keyword:
        return 0.0, 1.0 - alpha
    raise ValueError("a hybrid query needs at least one side")


def side_weights(alpha_sent: float) -> dict[str, float]:
    """The weight Weaviate gives each result set for the alpha it was sent."""
    return {"keyword": 1.0 - alpha_sent, "vector": alpha_sent}


def ranked_score(explained: Explained | None, weights: dict[str, float]) -> float | None:
    """Reciprocal-rank score in float64 from the contributions (each weight / (rank + 60) in
    float32 on the wire), or None when they do not decode to whole ranks."""
    if explained is None or not explained.contributed:
        return None
    total = 0.0
    for result_set, contribution in explained.contributed.items():
        weight = weights.get(result_set, 0.0)
        if weight <= 0 or contribution <= 0:
            return None
        exact = weight / contribution
        rank = round(exact) - RANK_CONSTANT
        if rank < 0 or abs(exact - round(exact)) > 1e-3 * exact:
            return None
        total += weight / (rank + RANK_CONSTANT)
    return total


def fused_score(
    server_score: float | None,
    fusion: Fusion,
    scale: float,
    explained: Explained | None,
    weights: dict[str, float],
) -> float:
    """The hit's fused score: Weaviate's, recomputed in float64 for ranked fusion when the
    explanation allows, scaled for a one-sided query, and kept within [0, 1] for relative fusion."""
    fused = float(server_score or 0.0)
    if fusion == Fusion.RANKED and (ranked := ranked_score(explained, weights)) is not None:
        fused = ranked
    fused *= scale
    if fusion == Fusion.RELATIVE:
        fused = min(max(fused, 0.0), 1.0)
    return fused


def in_side(explained: Explained | None, side: str) -> bool | None:
    """Whether the hit was in that side's result set; None when unknown."""
    return None if explained is None else side in explained.sets
