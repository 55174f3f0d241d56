"""Copying a collection between stores (LanceDB -> LanceDB here; the same code serves Weaviate)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import StoreError
from pipeline.records import AssetRecord, SourceKind
from pipeline.store.lance_engine import LanceStore
from pipeline.store.migrate import MigrationReport, migrate
from tests.store_conformance import DIM, make_record, unit


@pytest.fixture
def records():
    made = [
        make_record(
            f"r{i}",
            f"error code E-{i} 登录失败",
            f"screen {i}",
            {"category": "billing", "n": str(i)},
            unit(1, i / 10) if i % 3 else None,
        )
        for i in range(7)
    ]
    made.append(
        dataclasses.replace(
            make_record("deck", "slide text", content="deck-p2"),
            source_kind=SourceKind.PDF_PAGE,
            parent_uri="/collection/deck.pdf",
            page=2,
            uri="/collection/deck.pdf#page=2",
        )
    )
    return made


@pytest.fixture
def source(tmp_path, records):
    store = LanceStore(tmp_path / "source", dim=DIM)
    store.upsert(records)
    return store


@pytest.fixture
def target(tmp_path):
    return LanceStore(tmp_path / "target", dim=DIM)


def assert_same(got: AssetRecord, want: AssetRecord) -> None:
    for field in dataclasses.fields(AssetRecord):
        if field.name != "vector":
            assert getattr(got, field.name) == getattr(want, field.name), field.name
    if want.vector is None:
        assert got.vector is None
    else:
        np.testing.assert_allclose(got.vector, want.vector, atol=1e-6)


def test_copies_every_record_whole_in_batches(source, target, records):
    seen: list[int] = []
    report = migrate(source, target, batch_size=3, progress=lambda r: seen.append(r.done))
    assert (report.total, report.copied, report.skipped, report.failed, report.batches) == (8, 8, 0, [], 3)
    assert seen == [3, 6, 8]
    copied = {record.id: record for record in target.get([r.id for r in records])}
    for want in records:
        assert_same(copied[want.id], want)
    assert target.metadata_columns() == source.metadata_columns()
    # Searchable in the target without recomputing anything.
    assert target.keyword_search("失败", limit=10)
    assert target.vector_search(unit(1), limit=1)[0][0] == records[1].id


def test_is_resumable_and_skips_what_is_already_there(source, target, records):
    target.upsert(records[:5])
    report = migrate(source, target, batch_size=4)
    assert (report.copied, report.skipped) == (3, 5)
    assert target.count() == 8
    again = migrate(source, target)
    assert (again.copied, again.skipped) == (0, 8)


def test_a_refused_record_is_reported_and_the_rest_is_copied(tmp_path, source, records):
    class Refusing(LanceStore):
        def upsert(self, batch: Sequence[AssetRecord]) -> None:
            if any(record.uri == records[2].uri for record in batch):
                raise StoreError(f"{records[2].uri}: refused")
            super().upsert(batch)

    target = Refusing(tmp_path / "refusing", dim=DIM)
    report = migrate(source, target, batch_size=5)
    assert report.copied == 7
    assert report.failed == [(records[2].uri, f"{records[2].uri}: refused")]
    assert target.count() == 7


def test_vectors_of_another_dimension_are_refused_before_writing(tmp_path, source):
    target = LanceStore(tmp_path / "wide", dim=16)
    with pytest.raises(StoreError, match="8-d vectors and the target 16-d"):
        migrate(source, target)
    assert target.count() == 0


def test_empty_source(tmp_path, target):
    report = migrate(LanceStore(tmp_path / "empty", dim=DIM), target)
    assert report == MigrationReport()


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "VLSEARCH_MODELS_ENABLED": "false", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_migrate_and_weaviate_selection_say_where_they_tried_to_connect(tmp_path):
    unreachable = {
        "VLSEARCH_DATA_DIR": str(tmp_path),
        "VLSEARCH_WEAVIATE_URL": "http://127.0.0.1:9",
        "VLSEARCH_WEAVIATE_READY_TIMEOUT_S": "1",
    }
    result = run_cli("migrate", "--to", "weaviate", **unreachable)
    assert result.returncode == 2 and "cannot reach Weaviate at http://127.0.0.1:9" in result.stderr
    result = run_cli("stats", VLSEARCH_STORE="weaviate", **unreachable)
    assert result.returncode == 2 and "cannot reach Weaviate at http://127.0.0.1:9" in result.stderr
    result = run_cli("search", "--text", "x", VLSEARCH_STORE="weaviate", VLSEARCH_DATA_DIR=str(tmp_path))
    assert result.returncode == 2 and "needs VLSEARCH_WEAVIATE_URL" in result.stderr
    result = run_cli("migrate", "--to", "lancedb", VLSEARCH_DATA_DIR=str(tmp_path))
    assert result.returncode == 2 and "nothing to do" in result.stderr
