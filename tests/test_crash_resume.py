"""Resumable ingest: a run killed with SIGKILL at any moment, then run again, stores exactly what a
clean run stores, with every record whole and none twice.

Kill points are seeded and anchored to the reference run's commits (after the n-th commit plus a
random part of the time between commits), one trial per stretch of the run, so they spread over
startup, OCR, page rendering, the commits themselves and the final index build however fast or
loaded the machine is.
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest

from tests.ingest_runs import (
    Reference,
    commits,
    open_store,
    problems,
    reference_run,
    run_ingest,
    snapshot,
    start_ingest,
)

pytestmark = pytest.mark.slow

TRIALS = 4
SEED = 20250309


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return reference_run(tmp_path_factory)


def kill_after(data_dir: Path, process: subprocess.Popen[str], target_commits: int, delay_s: float) -> bool:
    """SIGKILL the ingest `delay_s` after its `target_commits`-th commit; False if it finished first."""
    while commits(data_dir) < target_commits and process.poll() is None:
        time.sleep(0.02)
    time.sleep(delay_s)
    if process.poll() is not None:
        return False
    process.kill()
    process.wait()
    return True


def test_the_reference_run_stores_pages_frames_and_images(reference):
    kinds = {uri.rsplit("#", 1)[1].split("=")[0] if "#" in uri else "image" for _, uri, _, _ in reference.assets}
    assert kinds == {"image", "page", "t"}
    assert len(reference.assets) == 10
    assert reference.commits > 6  # several batches, so kills land between commits too


@pytest.mark.parametrize("trial", range(TRIALS))
def test_an_ingest_killed_at_a_random_moment_resumes_to_the_clean_result(reference, tmp_path, trial):
    rng = random.Random(SEED + trial)
    target = rng.randrange(trial * reference.commits // TRIALS, (trial + 1) * reference.commits // TRIALS)
    delay = rng.uniform(0, reference.seconds / reference.commits)
    data_dir = tmp_path / "data"

    process = start_ingest(data_dir, reference.folder)
    killed = kill_after(data_dir, process, target, delay)
    where = f"killed after commit {target} + {delay:.2f} s" if killed else "finished before the kill"

    after_kill = open_store(data_dir)
    assert problems(after_kill) == [], where
    assert snapshot(after_kill) <= reference.assets, where  # only whole, correct records so far

    resumed = run_ingest(data_dir, reference.folder)
    assert resumed.returncode == 0, f"{where}: {resumed.stderr}"
    store = open_store(data_dir)
    assert problems(store) == [], where
    assert snapshot(store) == reference.assets, where
