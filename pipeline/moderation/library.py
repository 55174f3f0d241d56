"""The known-content library: reference images labelled with a policy category, in their own collection.

References are ordinary assets (same Ingestor, same Store, so OCR, PDQ, thumbnails and vectors
come for free) whose `policy_category` metadata column says which policy they violate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipeline.config import Settings
from pipeline.errors import BadInput
from pipeline.ingest.ingestor import Ingestor, IngestReport, ItemResult, Outcome, Progress
from pipeline.ingest.sources import Collected, SourceItem
from pipeline.moderation.rules import check_category
from pipeline.services import Services
from pipeline.store import Store, build_store

log = logging.getLogger(__name__)

POLICY_CATEGORY = "policy_category"


@dataclass(frozen=True)
class Reference:
    """What matching needs of one reference; thumbnails feed the keypoint check and the review page."""

    id: str
    uri: str
    category: str
    pdq: str
    thumbnail: bytes
    embed_model: str


def library_settings(settings: Settings) -> Settings:
    """The same settings pointed at the known-content collection."""
    if settings.moderation_collection == settings.collection:
        raise BadInput(
            "VLSEARCH_MODERATION_COLLECTION",
            f"{settings.moderation_collection!r} is also VLSEARCH_COLLECTION; "
            "known-bad references need a collection of their own",
        )
    return settings.model_copy(update={"collection": settings.moderation_collection})


def library_services(services: Services) -> Services:
    """Services over the known-content collection, sharing the OCR engine and models already set up."""
    settings = library_settings(services.settings)
    return Services(
        settings=settings,
        store=build_store(settings),
        ocr=services.ocr,
        models=services.models,
        ingest_ocr=services.ingest_ocr,
    )


def add_references(
    ingestor: Ingestor, collected: Collected, category: str | None = None, progress: Progress | None = None
) -> IngestReport:
    """Ingest reference images into the library; each needs a policy category (its manifest column, else `category`).

    Items without one, and inputs that could not be read, are reported as failures; the rest land.
    """
    if category is not None:
        check_category(category, "--category")
    failures = [ItemResult(problem.source, Outcome.FAILED, problem.reason) for problem in collected.problems]
    labelled: list[SourceItem] = []
    for item in collected.items:
        try:
            labelled.append(_labelled(item, category))
        except BadInput as problem:
            failures.append(ItemResult(problem.source, Outcome.FAILED, problem.reason))
    for failure in failures:
        if progress is not None:
            progress(failure)
    report = ingestor.ingest(labelled, progress)
    report.results[:0] = failures
    return report


def _labelled(item: SourceItem, category: str | None) -> SourceItem:
    given = item.metadata.get(POLICY_CATEGORY) or category
    if not given:
        raise BadInput(
            item.origin, f"no {POLICY_CATEGORY}: give it a manifest column {POLICY_CATEGORY!r} or use --category"
        )
    return replace(item, metadata={**item.metadata, POLICY_CATEGORY: check_category(given, item.origin)})


def load_references(store: Store, batch_size: int = 500) -> list[Reference]:
    """Every reference in the library, read once (ids, then records in batches)."""
    references: list[Reference] = []
    unlabelled: list[str] = []
    for ids in store.iter_ids(batch_size):
        for record in store.get(ids):
            category = record.metadata.get(POLICY_CATEGORY)
            if not category:
                unlabelled.append(record.uri)
                continue
            references.append(
                Reference(record.id, record.uri, category, record.pdq, record.thumbnail, record.embed_model)
            )
    if unlabelled:
        log.warning(
            "%d assets in the known-content library have no %s and are ignored, e.g. %s",
            len(unlabelled),
            POLICY_CATEGORY,
            unlabelled[0],
        )
    return references


def reference_thumbnails(store: Store, ids: Sequence[str]) -> dict[str, bytes]:
    """Thumbnails of references by id, for showing an upload beside what it matched (deleted ones are left out)."""
    return {record.id: record.thumbnail for record in store.get(list(dict.fromkeys(ids)))}


def categories_of(references: Sequence[Reference]) -> dict[str, int]:
    """How many references each policy category has."""
    counts: dict[str, int] = {}
    for reference in references:
        counts[reference.category] = counts.get(reference.category, 0) + 1
    return dict(sorted(counts.items()))
