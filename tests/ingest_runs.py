"""A small mixed collection and `python -m pipeline ingest` as a real subprocess, for the crash and
concurrency tests: what a clean run stores, and checks that a store holds whole, unique records.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.records import AssetRecord
from pipeline.store.lance_engine import LanceStore
from tests.media_fixtures import make_text_pdf, make_text_video, text_image
from tests.sample_collection import REDUCED_MODE_ENV

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZE = 2  # several commits per run, so a kill can land between, inside and after them
WORDS = ("alpha invoice", "bravo refund", "charlie login", "delta receipt")
PAGES = ("kilo shipping policy page", "lima returns policy page", "mike warranty policy page", "oscar privacy page")
Snapshot = set[tuple[str, str, str, str]]  # (id, uri, sha256, ocr_text) of every stored asset


def make_collection(folder: Path) -> Path:
    """Images with text at the top, a PDF and a short video in `shared/`: 10 assets, 6 of them OCR'd."""
    shared = folder / "shared"
    shared.mkdir(parents=True)
    for number, words in enumerate(WORDS):
        text_image(words, (240, 72), font_size=24).save((shared if number % 2 else folder) / f"image{number}.png")
    make_text_pdf(shared / "policies.pdf", list(PAGES))
    make_text_video(shared / "clip.mp4", [("november frame", 1.0), ("papa frame", 1.0)], fps=5)
    return folder


def ingest_command(data_dir: Path, *paths: Path) -> tuple[list[str], dict[str, str]]:
    env = {
        **os.environ,
        **REDUCED_MODE_ENV,
        "VLSEARCH_DATA_DIR": str(data_dir),
        "VLSEARCH_INGEST_BATCH_SIZE": str(BATCH_SIZE),
        "VLSEARCH_PDF_RENDER_DPI": "72",
    }
    return [sys.executable, "-m", "pipeline", "ingest", *map(str, paths)], env


def start_ingest(data_dir: Path, *paths: Path) -> subprocess.Popen[str]:
    command, env = ingest_command(data_dir, *paths)
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_ingest(data_dir: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    command, env = ingest_command(data_dir, *paths)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def commits(data_dir: Path) -> int:
    """Versions the asset table has committed so far (one manifest file each)."""
    return len(list((data_dir / "lancedb" / "assets.lance" / "_versions").glob("*.manifest")))


def open_store(data_dir: Path) -> LanceStore:
    return LanceStore(data_dir / "lancedb")


def snapshot(store: LanceStore) -> Snapshot:
    return {(r.id, r.uri, r.sha256, r.ocr_text) for r in store.get([i for batch in store.iter_ids() for i in batch])}


def missing_parts(record: AssetRecord) -> list[str]:
    """The parts every ingested record has that this one lacks (a half-written record lacks some)."""
    checks = (
        ("thumbnail", record.thumbnail.startswith(b"\xff\xd8")),
        ("sha256", len(record.sha256) == 64),
        ("ocr_model", bool(record.ocr_model)),
        ("size", record.width > 0 and record.height > 0),
        ("pdq", len(record.pdq) == 64),
    )
    return [name for name, present in checks if not present]


def problems(store: LanceStore) -> list[str]:
    """What is wrong with the store: repeated ids or uris, records missing a part ingest always writes."""
    ids = [doc_id for batch in store.iter_ids() for doc_id in batch]
    records = store.get(sorted(set(ids)))
    uris = [record.uri for record in records]
    found = [f"id {doc_id} stored {ids.count(doc_id)} times" for doc_id in sorted(set(ids)) if ids.count(doc_id) > 1]
    found += [f"uri {uri} stored {uris.count(uri)} times" for uri in sorted(set(uris)) if uris.count(uri) > 1]
    found += [f"{record.uri} lacks {', '.join(missing_parts(record))}" for record in records if missing_parts(record)]
    if store.count() != len(ids):
        found.append(f"count() says {store.count()}, a scan finds {len(ids)}")
    return found


def search_while(store: LanceStore, running: Callable[[], bool]) -> int:
    """Search, count and get in a loop until `running()` turns false (at least once); returns the rounds.

    Raises AssertionError when a count goes down or a hit's record is not whole.
    """
    rounds, last_count = 0, 0
    while rounds == 0 or running():
        word = WORDS[rounds % len(WORDS)].split()[1]
        count = store.count()
        assert count >= last_count, f"count went from {last_count} down to {count}"
        last_count = count
        hits = store.hybrid(text=word, vector=None, alpha=0.0, limit=10)
        for record in [hit.record for hit in hits] + store.get([hit.record.id for hit in hits]):
            assert not missing_parts(record), f"{record.uri} found by {word!r} lacks {missing_parts(record)}"
        rounds += 1
    return rounds


@dataclass(frozen=True)
class Reference:
    """The collection and what one clean, uninterrupted ingest of it stores."""

    folder: Path
    assets: Snapshot
    commits: int
    seconds: float


_reference: list[Reference] = []  # one clean run per test session, shared by the modules that compare to it


def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    if not _reference:
        folder = make_collection(tmp_path_factory.mktemp("collection"))
        data_dir = tmp_path_factory.mktemp("reference")
        started = time.monotonic()
        result = run_ingest(data_dir, folder)
        seconds = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        store = open_store(data_dir)
        assert problems(store) == []
        _reference.append(Reference(folder, snapshot(store), commits(data_dir), seconds))
    return _reference[0]


if __name__ == "__main__":
    # python -m tests.ingest_runs DATA_DIR STOP_FILE: a second process searching until STOP_FILE exists.
    data, stop = Path(sys.argv[1]), Path(sys.argv[2])
    print(search_while(open_store(data), lambda: not stop.exists()))
