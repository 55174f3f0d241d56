"""Files on the server: ingest roots, regular files only, one reason per unreadable entry, and the small
ingest gaps beside them (a file named twice, too many manifest columns, a damaged store).
docs/security.md#files-on-the-server."""

from __future__ import annotations

import errno
import html
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError
from streamlit.testing.v1 import AppTest

from pipeline.access.audit import AUDIT_FILE, Action, AuditLog
from pipeline.access.audit import Outcome as AuditOutcome
from pipeline.config import Settings
from pipeline.errors import BadInput
from pipeline.images import ImageLimits
from pipeline.ingest.ingestor import Ingestor, ItemResult, Outcome
from pipeline.ingest.sources import SourcePolicy, collect, collect_below_roots, read_manifest
from pipeline.records import asset_id
from pipeline.store.lance_engine import LanceStore
from tests.media_fixtures import text_image
from tests.sample_collection import REDUCED_MODE_ENV

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "streamlit_app" / "app.py"
LIMITS = ImageLimits(max_bytes=5_000_000, max_pixels=1_000_000)
OUTSIDE = "a symbolic link that leads outside the ingest root"
FOLDER_LINK = "a symbolic link to a folder: not followed"
DENIED_FOR_ROOT = Path("/proc/sys/vm/compact_memory")  # mode 0200: opening it to read is refused even to root


class BlankOcr:
    """These tests are about which files are read and what is reported, not about the text in them."""

    name = "blank-ocr"

    def read(self, image: Image.Image) -> str:
        return ""


def image(path: Path, words: str = "hello") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text_image(words, (200, 60), font_size=18).save(path)
    return path


def outside_message(path: str, folder: Path, roots: bool = False) -> str:
    where = f"the manifest's folder {folder.resolve()}" + (" and every ingest root" if roots else "")
    return f"path {path!r} leads outside {where}; to allow it, add its folder to VLSEARCH_INGEST_ROOTS"


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def vlsearch(data_dir: Path, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in its own process (a FIFO it opened would hang it; the timeout ends the test instead)."""
    environment = {**os.environ, **REDUCED_MODE_ENV, "VLSEARCH_DATA_DIR": str(data_dir), "COLUMNS": "250", **env}
    if "VLSEARCH_INGEST_ROOTS" not in env:
        environment.pop("VLSEARCH_INGEST_ROOTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def unreadable_entries(folder: Path) -> dict[str, str]:
    """Entries that make stat or open fail even for root, by name, with the reason ingest must give."""
    (folder / "loop").symlink_to("loop")  # ELOOP
    (folder / "dangling").symlink_to(folder / "gone.png")  # ENOENT
    (folder / "under-a-file").symlink_to(folder / "good.png" / "x")  # ENOTDIR
    (folder / "long").symlink_to("/tmp/" + "a" * 300)  # ENAMETOOLONG: stat raises, not just returns False
    reasons = {
        "loop": "a symbolic link loop",
        "dangling": "a symbolic link to nothing (its target is missing)",
        "under-a-file": "a symbolic link to nothing (its target is missing)",
        "long": "cannot read (File name too long)",
    }
    try:
        os.close(os.open(DENIED_FOR_ROOT, os.O_RDONLY))
    except PermissionError:  # a real PermissionError, as a 0600 file in a 0700 folder gives another user
        (folder / "denied.png").symlink_to(DENIED_FOR_ROOT)
        reasons["denied.png"] = "permission denied"
    except OSError:
        pass
    return reasons


# item 1: reading only below the roots -------------------------------------------------------------


def test_manifest_paths_stay_below_the_manifest_folder_unless_a_root_admits_them(tmp_path):
    batch, private = tmp_path / "batch", tmp_path / "private"
    image(batch / "img" / "ok.png")
    secret = image(private / "secret.png", "salary list")
    (batch / "img" / "link.png").symlink_to(secret)
    paths = ["img/ok.png", "../private/secret.png", str(secret), "img/link.png", "/etc/passwd"]
    manifest = write_manifest(batch / "m.jsonl", [{"path": path, "ticket_id": "T-1"} for path in paths])

    confined = read_manifest(manifest)
    assert [item.uri for item in confined.items] == [str(batch.resolve() / "img" / "ok.png")]
    assert [(problem.source, problem.reason) for problem in confined.problems] == [
        (f"{manifest} line {number}", outside_message(path, batch))
        for number, path in enumerate(paths, start=1)
        if number > 1
    ]

    admitted = read_manifest(manifest, SourcePolicy(roots=(private,)))
    assert [item.uri for item in admitted.items] == [str(batch.resolve() / "img" / "ok.png")] + [
        str(secret.resolve())
    ] * 3
    assert [(problem.source, problem.reason) for problem in admitted.problems] == [
        (f"{manifest} line 5", outside_message("/etc/passwd", batch, roots=True))
    ]


def test_the_app_folder_ingest_reads_only_below_a_root_and_names_files_relative_to_it(tmp_path):
    shared, private = tmp_path / "shared", tmp_path / "private"
    image(shared / "team" / "a.png")
    image(shared / "team" / "nested" / "b.png")
    secret = image(private / "secret.png")
    (shared / "team" / "secret.png").symlink_to(secret)
    (shared / "team" / "private").symlink_to(private)
    (shared / "team" / "again").symlink_to(shared)
    policy = SourcePolicy(roots=(shared,))

    for typed in (str(shared / "team"), "team", str(shared / "team" / "nested" / "..")):
        collected = collect_below_roots(typed, policy)
        assert [(item.origin, item.uri, item.root) for item in collected.items] == [
            (name, str(shared.resolve() / name), shared.resolve()) for name in ("team/a.png", "team/nested/b.png")
        ]
        assert sorted((problem.source, problem.reason) for problem in collected.problems) == [
            ("team/again", FOLDER_LINK),
            ("team/private", FOLDER_LINK),
            ("team/secret.png", OUTSIDE),
        ]

    for typed in (str(private), "/etc", str(shared / ".." / "private"), "../private", str(shared / "team" / "private")):
        with pytest.raises(BadInput, match=r"not below an ingest root \(VLSEARCH_INGEST_ROOTS: .*shared\)"):
            collect_below_roots(typed, policy)
    with pytest.raises(BadInput, match="server-folder ingest is off: no VLSEARCH_INGEST_ROOTS are configured"):
        collect_below_roots(str(shared), SourcePolicy())


def test_a_file_swapped_for_a_link_out_of_the_root_after_listing_is_not_read(tmp_path):
    shared, private = tmp_path / "shared", tmp_path / "private"
    listed = image(shared / "a.png")
    secret = image(private / "secret.png", "salary list")
    items = collect_below_roots(str(shared), SourcePolicy(roots=(shared,))).items
    listed.unlink()
    listed.symlink_to(secret)

    store = LanceStore(tmp_path / "store", dim=8)
    report = Ingestor(store, BlankOcr(), None, None, LIMITS).ingest(items)
    assert report.results == [ItemResult("a.png", Outcome.FAILED, OUTSIDE)]
    assert store.count() == 0


@pytest.mark.slow
def test_the_cli_reads_its_own_paths_as_given_but_confines_manifest_rows(tmp_path):
    batch, private = tmp_path / "batch", tmp_path / "private"
    image(batch / "ok.png", "first")
    secret = image(private / "secret.png", "second")
    manifest = write_manifest(batch / "m.jsonl", [{"path": "ok.png"}, {"path": "../private/secret.png"}])

    confined = vlsearch(tmp_path / "one", "ingest", "--manifest", str(manifest))
    assert confined.returncode == 0, confined.stderr
    assert "added 1, updated 0, unchanged 0, failed 1" in confined.stdout
    line = f"failed {manifest} line 2: {outside_message('../private/secret.png', batch)}"
    assert line in confined.stdout

    own = vlsearch(tmp_path / "one", "ingest", str(secret))  # the user's own path: read with their permissions
    assert "added 1, updated 0, unchanged 0, failed 0" in own.stdout, own.stdout + own.stderr

    admitted = vlsearch(tmp_path / "two", "ingest", "--manifest", str(manifest), VLSEARCH_INGEST_ROOTS=str(private))
    assert "added 2, updated 0, unchanged 0, failed 0" in admitted.stdout, admitted.stdout + admitted.stderr


def open_home(monkeypatch: pytest.MonkeyPatch, data_dir: Path, **env: str) -> AppTest:
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(data_dir))
    monkeypatch.delenv("VLSEARCH_INGEST_ROOTS", raising=False)
    for name, value in {**REDUCED_MODE_ENV, "VLSEARCH_AUTH": "off", **env}.items():
        monkeypatch.setenv(name, value)
    app = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not app.exception
    return app


def shown(value: str) -> str:
    """Text as the page shows it: escaped markup read back, the zero-width spaces that keep ":" from starting an
    emoji dropped."""
    return html.unescape(value).replace("\u200b", "")


def ingest_folder(app: AppTest, typed: str) -> AppTest:
    app.text_input(key="home_folder_path").set_value(typed)
    next(button for button in app.button if button.label == "Ingest folder").click()
    app = app.run()
    assert not app.exception
    return app


@pytest.mark.usefixtures("fresh_app_caches")
def test_home_has_no_server_folder_ingest_without_roots_and_says_how_to_turn_it_on(monkeypatch, tmp_path):
    app = open_home(monkeypatch, tmp_path / "data")
    assert "Ingest folder" not in [button.label for button in app.button]
    assert not [field for field in app.text_input if field.key == "home_folder_path"]
    (notice,) = [info.value for info in app.info if "VLSEARCH_INGEST_ROOTS" in info.value]
    assert "Ingesting a folder on the server is off" in notice and "`VLSEARCH_INGEST_ROOTS=/srv/screenshots`" in notice


@pytest.mark.slow
@pytest.mark.usefixtures("fresh_app_caches")
def test_home_ingests_below_the_roots_only_and_lists_what_it_left_out(monkeypatch, tmp_path):
    shared, private, data_dir = tmp_path / "shared", tmp_path / "private", tmp_path / "data"
    image(shared / "team" / "good.png")
    image(private / "secret.png", "salary list")
    (shared / "team" / "secret.png").symlink_to(private / "secret.png")
    (shared / "team" / "private").symlink_to(private)
    reasons = unreadable_entries(shared / "team")
    if "denied.png" in reasons:  # it links to /proc: outside the root, which is checked first
        reasons["denied.png"] = OUTSIDE
    app = open_home(monkeypatch, data_dir, VLSEARCH_INGEST_ROOTS=str(shared))
    assert f"Folders open to ingest (VLSEARCH_INGEST_ROOTS): {shared}" in [
        shown(caption.value) for caption in app.caption
    ]

    app = ingest_folder(app, str(private))
    assert [shown(error.value) for error in app.error] == [
        f"{private}: not below an ingest root (VLSEARCH_INGEST_ROOTS: {shared})"
    ]
    assert {metric.label: metric.value for metric in app.metric}["Assets"] == "0"
    (refusal,) = AuditLog(data_dir / AUDIT_FILE).events(action=Action.INGEST)
    assert refusal.outcome == AuditOutcome.REFUSED and refusal.detail["source"] == str(private)

    app = ingest_folder(app, "team")
    assert not app.error
    assert {metric.label: metric.value for metric in app.metric}["Assets"] == "1"
    (failures,) = app.dataframe
    listed = {row["file"]: row["reason"] for row in failures.value.to_dict("records")}
    assert listed == {
        "team/secret.png": OUTSIDE,
        "team/private": FOLDER_LINK,
        **{f"team/{name}": reason for name, reason in reasons.items()},
    }
    store = LanceStore(data_dir / "lancedb")
    (stored,) = store.get([doc_id for batch in store.iter_ids() for doc_id in batch])
    assert stored.uri == str(shared.resolve() / "team" / "good.png")


# items 6 and 7: only regular files, one reason per entry ------------------------------------------


@pytest.mark.slow
def test_fifos_and_devices_are_reported_never_opened(tmp_path):
    folder = tmp_path / "inbox"
    image(folder / "good.png")
    os.mkfifo(folder / "pipe.png")
    manifest = write_manifest(tmp_path / "m.jsonl", [{"path": "inbox/pipe.png", "ticket_id": "T-1"}])
    result = vlsearch(
        tmp_path / "data", "ingest", str(folder), str(folder / "pipe.png"), "/dev/null", "--manifest", str(manifest)
    )
    assert result.returncode == 0, result.stderr
    assert "added 1, updated 0, unchanged 0, failed 4" in result.stdout
    for source, kind in (
        (folder / "pipe.png", "a FIFO"),
        (folder / "pipe.png", "a FIFO"),
        ("/dev/null", "a character device"),
        (f"{manifest} line 1 (inbox/pipe.png)", "a FIFO"),
    ):
        assert f"failed {source}: not a regular file: {kind}" in result.stdout
    assert result.stdout.count(f"failed {folder / 'pipe.png'}: not a regular file: a FIFO") == 2


def test_a_file_replaced_by_a_fifo_after_listing_is_not_opened(tmp_path):
    path = image(tmp_path / "a.png")
    items = collect([path]).items
    path.unlink()
    os.mkfifo(path)
    ingestor = Ingestor(LanceStore(tmp_path / "store", dim=8), BlankOcr(), None, None, LIMITS)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(ingestor.ingest, items)
        try:
            report = running.result(timeout=120)
        except TimeoutError:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # a writer lets the blocked open() return
            pytest.fail("ingest opened the FIFO and blocked on it")
    assert report.results == [ItemResult(str(path), Outcome.FAILED, "not a regular file: a FIFO")]


@pytest.mark.slow
def test_unreadable_entries_are_reported_one_by_one_and_the_good_files_land(tmp_path):
    folder = tmp_path / "inbox"
    image(folder / "good.png")
    reasons = unreadable_entries(folder)
    (folder / "elsewhere").symlink_to(tmp_path)
    result = vlsearch(tmp_path / "data", "ingest", str(folder), str(folder / "long"))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"added 1, updated 0, unchanged 0, failed {len(reasons) + 2}" in result.stdout
    for name, reason in reasons.items():
        assert f"failed {folder / name}: {reason}" in result.stdout
    assert result.stdout.count(f"failed {folder / 'long'}: cannot read (File name too long)") == 2
    assert f"failed {folder / 'elsewhere'}: {FOLDER_LINK}" in result.stdout


def test_an_entry_stat_cannot_read_is_a_problem_of_its_own_not_an_exception(tmp_path):
    folder = tmp_path / "inbox"
    image(folder / "good.png")
    (folder / "long").symlink_to("/tmp/" + "a" * 300)
    with pytest.raises(OSError) as raised:
        os.stat(folder / "long")
    assert raised.value.errno == errno.ENAMETOOLONG
    collected = collect([folder])
    assert [item.origin for item in collected.items] == [str(folder / "good.png")]
    assert [(problem.source, problem.reason) for problem in collected.problems] == [
        (str(folder / "long"), "cannot read (File name too long)")
    ]


# item 13: a file named twice, too many manifest columns, a damaged store ---------------------------


def test_a_file_named_by_a_folder_and_a_manifest_row_keeps_the_manifest_metadata(tmp_path):
    folder = tmp_path / "inbox"
    first, second = image(folder / "a.png", "first"), image(folder / "b.png", "second")
    manifest = write_manifest(tmp_path / "m.jsonl", [{"path": "inbox/a.png", "ticket_id": "SUP-7"}])
    store = LanceStore(tmp_path / "store", dim=8)

    report = Ingestor(store, BlankOcr(), None, None, LIMITS).ingest(collect([folder], manifest).items)
    assert {result.source: result.outcome for result in report.results} == {
        f"{manifest} line 1 (inbox/a.png)": Outcome.ADDED,
        str(second): Outcome.ADDED,
    }
    assert len(report.results) == 2
    ids = {result.source: result.id for result in report.results}
    (stored,) = store.get([ids[f"{manifest} line 1 (inbox/a.png)"]])
    assert stored.uri == str(first.resolve()) and stored.metadata == {"ticket_id": "SUP-7"}


def test_a_manifest_wider_than_the_column_limit_is_refused_whole(tmp_path):
    rows = [{"path": "a.png", "ticket": "1", "app": "x"}, {"path": "b.png", "language": "en"}]
    manifest = write_manifest(tmp_path / "m.jsonl", rows)
    assert len(read_manifest(manifest, SourcePolicy(max_metadata_columns=3)).items) == 2
    with pytest.raises(BadInput) as refused:
        read_manifest(manifest, SourcePolicy(max_metadata_columns=2))
    assert (refused.value.source, refused.value.reason) == (
        str(manifest),
        "the manifest has 3 metadata columns, more than the 2 allowed (VLSEARCH_MAX_METADATA_COLUMNS); "
        "each becomes a column and an index of the collection",
    )


@pytest.mark.slow
def test_the_cli_refuses_a_manifest_with_300_columns_before_writing_anything(tmp_path):
    image(tmp_path / "a.png")
    manifest = write_manifest(tmp_path / "m.jsonl", [{"path": "a.png", **{f"c{n}": "x" for n in range(300)}}])
    result = vlsearch(tmp_path / "data", "ingest", "--manifest", str(manifest))
    assert result.returncode == 2
    assert f"error: {manifest}: the manifest has 300 metadata columns, more than the 64 allowed" in result.stderr
    assert not (tmp_path / "data" / "lancedb").exists()


@pytest.fixture(scope="module")
def healthy_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A data dir holding one asset ingested by the CLI, and that asset's file."""
    folder = tmp_path_factory.mktemp("damaged")
    picture = image(folder / "card.png", "card declined")
    result = vlsearch(folder / "data", "ingest", str(picture))
    assert "added 1" in result.stdout, result.stdout + result.stderr
    return folder / "data", picture


def damage(table: Path, part: str) -> None:
    """Garble the newest version manifest but its first and last 20 bytes (LanceDB panics in Rust opening it), or
    the second half of the data file (reads fail)."""
    if part == "version manifest":
        target = min((table / "_versions").glob("*.manifest"))  # names count down: the smallest is the newest
        start, end = 20, target.stat().st_size - 20
    else:
        (target,) = (table / "data").glob("*.lance")
        start, end = target.stat().st_size // 2, target.stat().st_size
    data = bytearray(target.read_bytes())
    data[start:end] = b"\xab" * (end - start)
    target.write_bytes(bytes(data))


@pytest.mark.slow
@pytest.mark.parametrize("part", ["version manifest", "data file"])
def test_a_damaged_store_is_named_with_the_way_out_not_a_traceback(healthy_store, tmp_path, part):
    healthy, picture = healthy_store
    data_dir = tmp_path / "data"
    shutil.copytree(healthy, data_dir)
    damage(data_dir / "lancedb" / "assets.lance", part)
    for command in (["stats"], ["search", "--text", "card"], ["ingest", str(picture)]):
        result = vlsearch(data_dir, *command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        assert f"error: the LanceDB store at {data_dir / 'lancedb'} cannot be used (" in result.stderr, command
        assert f"restore {data_dir / 'lancedb'} from a backup, or move it away and ingest again" in result.stderr


class RacedIngestor(Ingestor):
    """An ingest during whose OCR another run stores the same files: the interleaving two processes can have."""

    def __init__(self, other: Ingestor, items: list, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.other, self.items = other, items

    def _enrich(self, work, done):
        records = super()._enrich(work, done)
        assert self.other.ingest(self.items).summary()["added"] == 1
        return records


def test_an_asset_another_run_stored_meanwhile_is_not_reported_added_twice(tmp_path):
    path = image(tmp_path / "a.png")
    items = collect([path]).items
    store = LanceStore(tmp_path / "store", dim=8)
    other = Ingestor(store, BlankOcr(), None, None, LIMITS)
    raced = RacedIngestor(other, items, LanceStore(tmp_path / "store", dim=8), BlankOcr(), None, None, LIMITS)

    report = raced.ingest(items)
    (stored,) = store.get([doc_id for batch in store.iter_ids() for doc_id in batch])
    assert report.results == [
        ItemResult(str(path), Outcome.UNCHANGED, "stored meanwhile by another ingest", asset_id(stored.sha256))
    ]
    assert store.count() == 1


def test_ingest_roots_are_read_as_a_list_of_absolute_folders(monkeypatch):
    monkeypatch.setenv("VLSEARCH_INGEST_ROOTS", "/srv/screens, /srv/scans/")
    assert Settings().ingest_roots == [Path("/srv/screens"), Path("/srv/scans")]
    monkeypatch.setenv("VLSEARCH_INGEST_ROOTS", '["/srv/a,b"]')
    assert Settings().ingest_roots == [Path("/srv/a,b")]
    monkeypatch.setenv("VLSEARCH_INGEST_ROOTS", "screens")
    with pytest.raises(ValidationError, match="'screens' is not an absolute path"):
        Settings()
