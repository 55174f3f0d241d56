"""Searches while an ingest writes, from threads and from other processes, and two ingests of
overlapping folders at once: no errors, only whole records, counts that never go down, and in the
end exactly what one clean ingest stores.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipeline.config import Settings
from pipeline.ingest.ingestor import Outcome
from pipeline.ingest.sources import collect
from pipeline.services import build_services
from tests.ingest_runs import (
    BATCH_SIZE,
    ROOT,
    Reference,
    open_store,
    problems,
    reference_run,
    search_while,
    snapshot,
    start_ingest,
)

pytestmark = pytest.mark.slow

READERS = 4


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return reference_run(tmp_path_factory)


def test_reader_threads_share_the_store_with_a_writing_ingest(reference, tmp_path):
    services = build_services(
        Settings(data_dir=tmp_path / "data", models_enabled=False, ingest_batch_size=BATCH_SIZE, pdf_render_dpi=72)
    )
    items = collect([reference.folder]).items
    with ThreadPoolExecutor(READERS + 1) as pool:
        writing = pool.submit(services.ingestor().ingest, items)
        readers = [pool.submit(search_while, services.store, lambda: not writing.done()) for _ in range(READERS)]
        report = writing.result()
        rounds = [reader.result() for reader in readers]  # re-raises what went wrong in a reader
    assert report.failures == [] and report.count(Outcome.ADDED) == len(reference.assets)
    assert all(rounds)
    assert problems(services.store) == []
    assert snapshot(services.store) == reference.assets


def test_other_processes_search_while_an_ingest_process_writes(reference, tmp_path):
    data_dir, stop = tmp_path / "data", tmp_path / "stop"
    store = open_store(data_dir)  # exists before the readers start; the ingest opens it too
    ingest = start_ingest(data_dir, reference.folder)
    reader = subprocess.Popen(
        [sys.executable, "-m", "tests.ingest_runs", str(data_dir), str(stop)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        search_while(store, lambda: ingest.poll() is None)
    finally:
        _, ingest_err = ingest.communicate(timeout=600)
        stop.touch()
        reader_out, reader_err = reader.communicate(timeout=120)
    assert ingest.returncode == 0, ingest_err
    assert reader.returncode == 0 and int(reader_out) >= 1, reader_err
    # The store opened before the ingest (as the app's is) comes to see everything it wrote.
    deadline = time.monotonic() + 30
    while store.count() < len(reference.assets) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert problems(store) == []
    assert snapshot(store) == reference.assets


def test_two_ingests_of_overlapping_folders_at_once_store_each_asset_once(reference, tmp_path):
    data_dir = tmp_path / "data"
    both = [start_ingest(data_dir, reference.folder), start_ingest(data_dir, reference.folder / "shared")]
    outcomes = [process.communicate(timeout=600) for process in both]
    for process, (out, err) in zip(both, outcomes):
        assert process.returncode == 0, err
        assert "failed 0" in out, out
    store = open_store(data_dir)
    assert problems(store) == []
    assert snapshot(store) == reference.assets
    # Each asset is reported added by the one run that stored it first; the other finds it stored meanwhile.
    added = [int(re.search(r"added (\d+),", out).group(1)) for out, _ in outcomes]  # type: ignore[union-attr]
    assert sum(added) == len(reference.assets), [out for out, _ in outcomes]
