"""The LLM judge: a second opinion on borderline uploads from the reranker, asked the category's policy question.

Borderline means matched only by the softer rules (vector similarity, keywords): a
near-duplicate of a known-bad reference needs no opinion. The reranker's probability that the
upload (its image and OCR text) answers "yes" to the policy question becomes a `judge` match
when it reaches the threshold. On a CPU one judgement takes seconds, hence off by default.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pipeline.errors import VlsearchError
from pipeline.models import Query, RerankDocument, Reranker
from pipeline.moderation.matching import NEAR_DUPLICATE, Match, Rule, Upload
from pipeline.moderation.rules import PolicyRules

log = logging.getLogger(__name__)


class PolicyJudge:
    def __init__(self, reranker: Reranker, rules: PolicyRules, min_probability: float = 0.5) -> None:
        self.reranker = reranker
        self.rules = rules
        self.min_probability = min_probability

    def review(self, upload: Upload, matches: Sequence[Match]) -> list[Match]:
        """Judge matches for each category the soft rules raised; nothing when there is no match or a near-duplicate."""
        if not matches or any(match.rule in NEAR_DUPLICATE for match in matches):
            return []
        document = RerankDocument(image=upload.image, ocr_text=upload.text)
        verdicts = []
        for category in dict.fromkeys(match.category for match in matches):
            question = self.rules.question(category)
            try:
                probability = self.reranker.score(Query(text=question), [document])[0]
            except (VlsearchError, RuntimeError, ValueError) as error:
                # The soft match already queues the upload; a failed opinion must not lose it.
                log.warning("the policy judge failed on a %s candidate: %s", category, error)
                continue
            if probability >= self.min_probability:
                verdicts.append(Match(Rule.JUDGE, category, round(probability, 4), detail=question))
        return verdicts
