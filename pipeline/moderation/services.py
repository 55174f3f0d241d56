"""Wiring for moderation: the known-content library, the rules, the matcher and the queue, from settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.config import Settings
from pipeline.images import ImageLimits
from pipeline.ingest.sources import SourceItem
from pipeline.moderation.judge import PolicyJudge
from pipeline.moderation.library import categories_of, library_services, load_references
from pipeline.moderation.matching import KeypointRule, KeywordRule, Matcher, MatchRule, PdqRule, VectorRule
from pipeline.moderation.queue import ReviewQueue
from pipeline.moderation.rules import PolicyRules, load_rules, rules_path
from pipeline.moderation.scan import Scanner, ScanResult, describe_scan
from pipeline.services import Services

QUEUE_FILE = "moderation.sqlite"


@dataclass
class Moderation:
    library: Services
    queue: ReviewQueue
    rules: PolicyRules

    def matcher(self) -> Matcher:
        """A matcher over the library as it is now (references are read once, here)."""
        settings = self.library.settings
        references = load_references(self.library.store)
        categories = ", ".join(f"{name} {count}" for name, count in categories_of(references).items())
        notes = [f"{len(references)} known-content references" + (f" ({categories})" if categories else "")]
        if not references:
            notes.append(
                f"the known-content library ({settings.collection}) is empty: only keyword rules apply; "
                "add references with: python -m pipeline moderate library add"
            )
        rules: list[MatchRule] = [PdqRule(references, settings.moderation_pdq_threshold)]
        if settings.moderation_keypoints:
            rules.append(KeypointRule(references))
        embedder = self.library.models.embedder
        if embedder is not None and any(reference.embed_model == embedder.name for reference in references):
            rules.append(VectorRule(embedder, self.library.store, references, settings.moderation_vector_max_distance))
        else:
            notes.append("vector similarity is off: no embedder, or no reference embedded by it")
        rules.append(KeywordRule(self.rules))
        judge = None
        if settings.moderation_judge:
            reranker = self.library.models.reranker
            if reranker is None:
                notes.append("the policy judge is off: VLSEARCH_MODERATION_JUDGE needs a reranker model")
            else:
                judge = PolicyJudge(reranker, self.rules, settings.moderation_judge_min_probability)
        return Matcher(rules, ocr=self.library.ocr, judge=judge, notes=notes)

    def scanner(self) -> Scanner:
        settings = self.library.settings
        limits = ImageLimits(
            max_bytes=settings.max_file_bytes, max_pixels=settings.max_image_pixels, thumbnail_px=settings.thumbnail_px
        )
        return Scanner(self.matcher(), self.queue, limits)


def open_queue(settings: Settings) -> ReviewQueue:
    """The review queue alone (reviewing needs neither the library nor the models)."""
    return ReviewQueue(settings.data_dir / QUEUE_FILE, lease_s=settings.moderation_lease_s)


def build_moderation(services: Services) -> Moderation:
    """Moderation over the services' settings: library collection, rules file and queue under the data dir."""
    settings = services.settings
    return Moderation(
        library=library_services(services),
        queue=open_queue(settings),
        rules=load_rules(rules_path(settings.moderation_rules_file, settings.data_dir)),
    )


def scan_uploads(services: Services, items: Sequence[SourceItem]) -> list[ScanResult]:
    """Check files uploaded through the app against the moderation library and rules, queueing those that match,
    as the HTTP API does for its uploads: nothing uploaded reaches the collection unseen by moderation."""
    if not items:
        return []
    return build_moderation(services).scanner().scan(items)


def moderate_uploads(services: Services, items: Sequence[SourceItem]) -> str:
    """scan_uploads, said in one line for the page the files were uploaded on (empty when none matched)."""
    return describe_scan(scan_uploads(services, items))
