"""The data directory is private to the user vlsearch runs as: a colleague with a shell on the same host
cannot read the audit log, the moderation queue, feedback, uploads or the collection.

Each test starts from umask 022 (the usual default, under which files come out 0644) and restores the
process umask afterwards; a path is private when it has no group or other permission bits.
"""

from __future__ import annotations

import io
import logging
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.access.audit import AUDIT_FILE, Action, AuditLog
from pipeline.images import ImageLimits
from pipeline.ingest.uploads import UPLOADS_FOLDER, save_upload
from pipeline.moderation.matching import Match, Rule
from pipeline.moderation.queue import ReviewQueue
from pipeline.moderation.services import QUEUE_FILE
from pipeline.private import keep_data_private
from pipeline.search.feedback import FEEDBACK_FILE, FeedbackLog
from pipeline.store.lance_engine import LanceStore
from tests.media_fixtures import text_image
from tests.sample_collection import REDUCED_MODE_ENV
from tests.store_conformance import make_record

ROOT = Path(__file__).resolve().parents[1]
EMBED_DIM = 32  # the smallest VLSEARCH_EMBED_DIM, so the CLI opens the same store
LIMITS = ImageLimits(max_bytes=10_000_000, max_pixels=10_000_000, thumbnail_px=64)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def open_to_others(root: Path) -> list[str]:
    """Every path at or below root (links not followed) with a group or other permission bit, and its mode."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        if not path.is_symlink() and mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {mode:o}")
    return found


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def write_everything(data_dir: Path) -> None:
    """What a working deployment writes: the collection (with its indexes), the three SQLite files, an upload."""
    store = LanceStore(data_dir / "lancedb", dim=EMBED_DIM)
    vectors = np.eye(3, EMBED_DIM, dtype=np.float32)
    store.upsert([make_record(f"r{number}", f"invoice {number}", vector=vectors[number]) for number in range(3)])
    store.optimize()
    store.close()
    AuditLog(data_dir / AUDIT_FILE).record(Action.SEARCH, actor="ann", query="salary of bob")
    ReviewQueue(data_dir / QUEUE_FILE).enqueue(
        uri="/a.jpg", sha256="ab" * 32, thumbnail=b"t", matches=[Match(Rule.PDQ, "counterfeit", 4.0, "ref-1")]
    )
    FeedbackLog(data_dir / FEEDBACK_FILE).record(
        collection="assets", query_text="q", query_image_sha="", asset_id="x", vote=1, voter="ann"
    )
    save_upload("customer.png", png_bytes(), data_dir / UPLOADS_FOLDER, LIMITS)


def test_a_fresh_data_dir_is_private_to_its_user(tmp_path):
    data_dir = tmp_path / "data"
    write_everything(data_dir)
    # SQLite's side files exist while a connection is open: they take the database file's mode.
    connection = sqlite3.connect(data_dir / AUDIT_FILE)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("CREATE TEMP TABLE t (x)")
        connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        side_files = [data_dir / f"{AUDIT_FILE}-wal", data_dir / f"{AUDIT_FILE}-shm"]
        assert all(path.exists() for path in side_files)
        assert open_to_others(data_dir) == []
    finally:
        connection.close()
    assert {path.name for path in data_dir.iterdir()} >= {"lancedb", AUDIT_FILE, QUEUE_FILE, FEEDBACK_FILE, "uploads"}
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / AUDIT_FILE).stat().st_mode) == 0o600


def make_open_like_an_earlier_version(data_dir: Path) -> int:
    """chmod the tree to what umask 022 gave before: folders 0755, files 0644; returns how many paths."""
    paths = [data_dir, *data_dir.rglob("*")]
    for path in paths:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return len(paths)


def test_an_open_data_dir_from_an_earlier_version_is_tightened_once_with_one_warning(tmp_path, caplog):
    data_dir = tmp_path / "data"
    write_everything(data_dir)
    count = make_open_like_an_earlier_version(data_dir)
    elsewhere = tmp_path / "shared-notes.txt"  # a link out of the data dir: neither followed nor changed
    elsewhere.write_text("team notes")
    elsewhere.chmod(0o644)
    (data_dir / "notes").symlink_to(elsewhere)

    with caplog.at_level(logging.WARNING, logger="pipeline.private"):
        assert keep_data_private(data_dir) == count
    assert open_to_others(data_dir) == []
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o644
    (warning,) = [record for record in caplog.records if record.name == "pipeline.private"]
    assert warning.levelno == logging.WARNING and f"from {count} paths in {data_dir}" in warning.getMessage()

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pipeline.private"):
        assert keep_data_private(data_dir) == 0  # private now: not walked again, nothing said
    assert not caplog.records


@pytest.mark.slow
def test_the_cli_tightens_an_earlier_data_dir_and_keeps_what_it_ingests_private(tmp_path):
    data_dir = tmp_path / "data"
    write_everything(data_dir)
    make_open_like_an_earlier_version(data_dir)
    image = tmp_path / "screen.png"
    text_image("invoice overdue", (240, 72), font_size=24).save(image)
    env = {**os.environ, **REDUCED_MODE_ENV, "VLSEARCH_DATA_DIR": str(data_dir), "VLSEARCH_EMBED_DIM": str(EMBED_DIM)}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "ingest", str(image)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("took group and other access away from") == 1
    assert open_to_others(data_dir) == []
