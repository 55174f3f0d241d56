"""The pipelined ingest: OCR workers read at once, memory stays bounded when a stage stalls, progress is
reported on the caller's thread, and a failure or an interrupt stops every stage.

The OCR stand-ins here report what the pipeline did to them (how many reads ran at once, how many ran at
all); what RapidOCR reads is tested in test_ocr.py and, through the whole ingest, in test_ingest.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from pipeline.errors import StoreError
from pipeline.images import ImageLimits
from pipeline.ingest.ingestor import Ingestor, Outcome
from pipeline.ingest.sources import SourceItem, collect
from pipeline.store.lance_engine import LanceStore
from tests.test_ingest import FailingStore

DIM = 8
LIMITS = ImageLimits(max_bytes=5_000_000, max_pixels=1_000_000)
STAGE_THREADS = ("vlsearch-ingest", "vlsearch-ocr")


class PairedOcr:
    """Each read waits until another read is running too: ingest only finishes if two run at once."""

    name = "paired-ocr"

    def __init__(self) -> None:
        self.pairs = threading.Barrier(2, timeout=20)

    def read(self, image: Image.Image) -> str:
        self.pairs.wait()
        return "read in a pair"


class CountingOcr:
    name = "counting-ocr"

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def read(self, image: Image.Image) -> str:
        with self._lock:
            self.calls += 1
        return "text"


class StuckStore(LanceStore):
    """A store whose first write waits until the test lets it go, as a slow disk or a busy server would."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, dim=DIM)
        self.release = threading.Event()

    def upsert(self, records):
        self.release.wait(timeout=60)
        super().upsert(records)


def pictures(folder: Path, count: int) -> list[SourceItem]:
    folder.mkdir()
    for index in range(count):
        Image.new("RGB", (64, 48), (index % 256, index // 256 * 40, 200)).save(folder / f"{index:03d}.png")
    return collect([folder]).items


def stage_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith(STAGE_THREADS)]


def settled(count, quiet_s: float = 1.0, within_s: float = 30.0) -> int:
    """`count()` once it has stopped changing for `quiet_s`."""
    deadline = time.monotonic() + within_s
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return last


def test_ocr_workers_read_images_at_the_same_time(tmp_path):
    items = pictures(tmp_path / "in", 6)
    ingestor = Ingestor(LanceStore(tmp_path / "store", dim=DIM), PairedOcr(), None, None, LIMITS, ocr_workers=2)
    report = ingestor.ingest(items)
    assert report.summary()["added"] == 6, report.failures


def test_progress_is_reported_on_the_callers_thread_in_full(tmp_path):
    items = pictures(tmp_path / "in", 9)
    threads: set[int] = set()
    seen = []

    def progress(result):
        threads.add(threading.get_ident())
        seen.append(result)

    ingestor = Ingestor(LanceStore(tmp_path / "store", dim=DIM), CountingOcr(), None, None, LIMITS, batch_size=2)
    report = ingestor.ingest(items, progress)
    assert threads == {threading.get_ident()}
    assert seen == report.results and len(seen) == 9


def test_while_the_store_is_stuck_ingest_reads_only_a_few_batches_ahead(tmp_path):
    items = pictures(tmp_path / "in", 40)
    ocr, store = CountingOcr(), StuckStore(tmp_path / "store")
    ingestor = Ingestor(store, ocr, None, None, LIMITS, batch_size=2, ocr_workers=2)
    reports = []
    run = threading.Thread(target=lambda: reports.append(ingestor.ingest(items)))
    run.start()
    try:
        read_while_stuck = settled(lambda: ocr.calls)
    finally:
        store.release.set()
        run.join(timeout=120)
    # One batch waits to be written, one to be handed over, one in the model stage, one queued for it and one
    # being planned: five batches of two images are all that is decoded and read while the store is stuck.
    assert 2 <= read_while_stuck <= 5 * 2
    assert reports[0].summary()["added"] == 40 and store.count() == 40


def test_a_store_failure_stops_every_stage_and_keeps_what_was_written(tmp_path):
    items = pictures(tmp_path / "in", 12)
    store = FailingStore(tmp_path / "store", fail_on=3)
    ingestor = Ingestor(store, CountingOcr(), None, None, LIMITS, batch_size=2, ocr_workers=2)
    with pytest.raises(StoreError, match="disk full"):
        ingestor.ingest(items)
    assert store.count() == 4  # the two batches before the failure, whole
    assert stage_threads() == []


def test_an_interrupt_stops_every_stage_and_a_rerun_finishes(tmp_path):
    items = pictures(tmp_path / "in", 12)
    store = LanceStore(tmp_path / "store", dim=DIM)
    ingestor = Ingestor(store, CountingOcr(), None, None, LIMITS, batch_size=2, ocr_workers=2)

    def interrupt_after_a_batch(result):
        if result.outcome == Outcome.ADDED and store.count() >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingestor.ingest(items, interrupt_after_a_batch)
    assert stage_threads() == []
    rerun = ingestor.ingest(items)
    assert rerun.count(Outcome.ADDED) + rerun.count(Outcome.UNCHANGED) == 12 and store.count() == 12
