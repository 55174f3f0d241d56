"""Copy a collection from one engine to another (e.g. LanceDB -> Weaviate) without recomputing.

Records travel whole: vectors, captions, OCR text, thumbnails, metadata, model names and
ingestion times, so nothing is re-OCR'd, re-captioned or re-embedded. The copy is resumable:
a record already in the target with the same sha256 is skipped, so an interrupted run is
simply started again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.errors import StoreError
from pipeline.store.base import Store


@dataclass
class MigrationReport:
    total: int = 0  # records in the source when the copy started
    copied: int = 0
    skipped: int = 0  # already in the target with the same content
    vanished: int = 0  # deleted from the source while the copy ran
    failed: list[tuple[str, str]] = field(default_factory=list)  # (uri, reason)
    batches: int = 0

    @property
    def done(self) -> int:
        return self.copied + self.skipped + self.vanished + len(self.failed)


def migrate(
    source: Store,
    target: Store,
    *,
    batch_size: int = 200,
    progress: Callable[[MigrationReport], None] | None = None,
) -> MigrationReport:
    """Copy every record of `source` into `target`, batch by batch; `progress` is called after each batch.

    A batch the target refuses is retried record by record so that one bad record is reported
    (in `failed`) without holding back the others.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    source_dim, target_dim = source.stats().vector_dim, target.stats().vector_dim
    if source_dim != target_dim:
        raise StoreError(
            f"the source holds {source_dim}-d vectors and the target {target_dim}-d; "
            "vectors cannot be copied between dimensions (open the target with the source's VLSEARCH_EMBED_DIM)"
        )
    report = MigrationReport(total=source.count())
    for ids in source.iter_ids(batch_size):
        present = {asset.id: asset.sha256 for asset in target.lookup(uris=[], ids=ids)}
        records = source.get(ids)
        report.vanished += len(ids) - len(records)
        todo = [record for record in records if present.get(record.id) != record.sha256]
        report.skipped += len(records) - len(todo)
        if todo:
            try:
                target.upsert(todo)
                report.copied += len(todo)
            except StoreError:
                for record in todo:
                    try:
                        target.upsert([record])
                        report.copied += 1
                    except StoreError as error:
                        report.failed.append((record.uri, error.reasons.get(record.uri, str(error))))
        report.batches += 1
        if progress is not None:
            progress(report)
    target.optimize()
    return report
