"""Match an upload against the known-content library and the policy rules, explaining every match.

Rules run in order of precision: PDQ near-duplicates (and of the mirrored upload, reported as
pdq-flipped), keypoint near-duplicates (crops, overlays), vector similarity when an embedder is
loaded, OCR keywords, and last the optional LLM judge for borderline uploads. A reference
found by several rules is reported once, by the most precise one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, Protocol

from PIL import Image, ImageOps

from pipeline.images import pdq_hash, thumbnail_jpeg
from pipeline.keypoints import KeypointIndex
from pipeline.models import Embedder
from pipeline.moderation.library import Reference
from pipeline.moderation.rules import PolicyRules
from pipeline.ocr import OcrEngine
from pipeline.pdq_index import PdqIndex
from pipeline.store.base import Store

DEFAULT_PDQ_THRESHOLD = 31


class Rule(StrEnum):
    PDQ = "pdq"
    PDQ_FLIPPED = "pdq-flipped"
    KEYPOINTS = "keypoints"
    VECTOR = "vector"
    KEYWORD = "keyword"
    JUDGE = "judge"


MEASURE = {
    Rule.PDQ: "hamming distance",
    Rule.PDQ_FLIPPED: "hamming distance",
    Rule.KEYPOINTS: "agreeing keypoints",
    Rule.VECTOR: "cosine distance",
    Rule.KEYWORD: "keywords",
    Rule.JUDGE: "probability",
}
NEAR_DUPLICATE = frozenset({Rule.PDQ, Rule.PDQ_FLIPPED, Rule.KEYPOINTS})


@dataclass(frozen=True)
class Match:
    """One reason an upload resembles known-bad content. `score` is the rule's measure (see MEASURE)."""

    rule: Rule
    category: str
    score: float
    reference_id: str | None = None
    reference_uri: str | None = None
    detail: str = ""

    def describe(self) -> str:
        """One line for people, e.g. "pdq: hamming distance 4 to sneaker.jpg (threshold 31)"."""
        target = f" to {self.reference_uri.rsplit('/', 1)[-1]}" if self.reference_uri else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.rule}: {MEASURE[self.rule]} {self.score:g}{target}{detail}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Match:
        return cls(**{**data, "rule": Rule(data["rule"])})


class Upload:
    """An image being checked; the derived forms each rule needs are computed once, on first use."""

    def __init__(self, image: Image.Image, ocr: OcrEngine | None = None) -> None:
        self.image = image
        self._ocr = ocr

    @cached_property
    def text(self) -> str:
        return self._ocr.read(self.image) if self._ocr is not None else ""

    @cached_property
    def mirrored(self) -> Image.Image:
        return ImageOps.mirror(self.image)

    @cached_property
    def thumbnail(self) -> bytes:
        return thumbnail_jpeg(self.image)


class MatchRule(Protocol):
    def find(self, upload: Upload) -> list[Match]: ...


class SecondOpinion(Protocol):
    def review(self, upload: Upload, matches: Sequence[Match]) -> list[Match]: ...


class PdqRule:
    """Near-duplicates by PDQ Hamming distance; the mirrored upload catches horizontal flips."""

    def __init__(self, references: Sequence[Reference], threshold: int = DEFAULT_PDQ_THRESHOLD) -> None:
        self.threshold = threshold
        self._references = [reference for reference in references if reference.pdq]
        self._index = PdqIndex([reference.pdq for reference in self._references])

    def find(self, upload: Upload) -> list[Match]:
        if not self._references:
            return []
        direct = self._index.within(pdq_hash(upload.image)[0], self.threshold)
        seen = {row for row, _ in direct}
        flipped = [
            hit for hit in self._index.within(pdq_hash(upload.mirrored)[0], self.threshold) if hit[0] not in seen
        ]
        return [self._match(Rule.PDQ, row, distance) for row, distance in direct] + [
            self._match(Rule.PDQ_FLIPPED, row, distance) for row, distance in flipped
        ]

    def _match(self, rule: Rule, row: int, distance: int) -> Match:
        reference = self._references[row]
        return Match(
            rule, reference.category, float(distance), reference.id, reference.uri, f"threshold {self.threshold}"
        )


class KeypointRule:
    """Near-duplicates that PDQ misses: crops and overlays, found by keypoints that agree on one transform."""

    def __init__(self, references: Sequence[Reference]) -> None:
        self._references = list(references)
        self._index = KeypointIndex([reference.thumbnail for reference in self._references])

    def find(self, upload: Upload) -> list[Match]:
        return [
            Match(
                Rule.KEYPOINTS,
                self._references[row].category,
                float(pairs),
                self._references[row].id,
                self._references[row].uri,
                f"at least {self._index.min_inliers}",
            )
            for row, pairs in self._index.matches(upload.thumbnail)
        ]


class VectorRule:
    """References whose embedding is within a cosine distance of the upload's (same embedding model only)."""

    def __init__(
        self, embedder: Embedder, store: Store, references: Sequence[Reference], max_distance: float, limit: int = 10
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.max_distance = max_distance
        self.limit = limit
        self._by_id = {reference.id: reference for reference in references}

    def find(self, upload: Upload) -> list[Match]:
        vector = self.embedder.embed_documents([upload.image])[0]
        same_model = "embed_model = '" + self.embedder.name.replace("'", "''") + "'"
        matches = []
        for doc_id, distance in self.store.vector_search(vector, limit=self.limit, where=same_model):
            reference = self._by_id.get(doc_id)
            if reference is not None and distance <= self.max_distance:
                matches.append(
                    Match(
                        Rule.VECTOR,
                        reference.category,
                        round(distance, 4),
                        reference.id,
                        reference.uri,
                        f"threshold {self.max_distance:g}",
                    )
                )
        return matches


class KeywordRule:
    """Policy keywords in the text OCR reads from the upload (text-based spam and the like)."""

    def __init__(self, rules: PolicyRules) -> None:
        self.rules = rules

    def find(self, upload: Upload) -> list[Match]:
        return [
            Match(Rule.KEYWORD, hit.category, float(len(hit.keywords)), detail=", ".join(hit.keywords))
            for hit in self.rules.keyword_hits(upload.text)
        ]


class Matcher:
    """Runs the rules in the order given; a reference already matched by an earlier rule is not repeated."""

    def __init__(
        self,
        rules: Sequence[MatchRule],
        ocr: OcrEngine | None = None,
        judge: SecondOpinion | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        self.rules = list(rules)
        self.ocr = ocr
        self.judge = judge
        self.notes = list(notes)  # how it was set up, for the user: library size, rules that are off

    def match(self, image: Image.Image) -> list[Match]:
        upload = Upload(image, self.ocr)
        matches: list[Match] = []
        matched_references: set[str] = set()
        for rule in self.rules:
            for match in rule.find(upload):
                if match.reference_id is not None:
                    if match.reference_id in matched_references:
                        continue
                    matched_references.add(match.reference_id)
                matches.append(match)
        if self.judge is not None:
            matches.extend(self.judge.review(upload, matches))
        return matches
