"""Carrying out a Remove decision: the content leaves the collection people search and the uploads folder.

A queue item names its content by SHA-256 (and the uri it was scanned at). Removing it deletes
the collection's asset with that content (an image's id is derived from its SHA-256, so this
finds it wherever it was ingested from) and the upload file the app kept for it
(<data_dir>/uploads/<sha256>.<ext>). With VLSEARCH_MODERATION_QUARANTINE the file is moved to
<data_dir>/quarantine, readable by the service user only, instead of being deleted. Files
elsewhere on the server are never deleted (they are not ours, and a queue row is no authority to
delete a path on the server); they are named in the result so the moderator can act on them.
Removing twice is harmless: the second time finds nothing left.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.access.audit import Action, AuditLog, Outcome
from pipeline.access.auth import User
from pipeline.config import Settings
from pipeline.errors import BadInput, RemovalFailed, StoreError, VlsearchError
from pipeline.ingest.uploads import EXTENSION_BY_MIME, UPLOADS_FOLDER
from pipeline.moderation.queue import ReviewQueue
from pipeline.records import asset_id
from pipeline.store.base import Store

QUARANTINE_FOLDER = "quarantine"  # under the data dir
QUARANTINE_DIR_MODE = 0o700
QUARANTINE_FILE_MODE = 0o600
SHA256 = re.compile(r"[0-9a-f]{64}")
UPLOAD_SUFFIXES = tuple(sorted(set(EXTENSION_BY_MIME.values())))


@dataclass(frozen=True)
class Removed:
    """What a removal did: asset ids deleted from the collection, upload files deleted or quarantined (their new
    paths), and local files with that content it left alone because they are outside the uploads folder."""

    assets: list[str] = field(default_factory=list)
    deleted_files: list[str] = field(default_factory=list)
    quarantined_files: list[str] = field(default_factory=list)
    kept_files: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One sentence for the moderator."""
        parts = [f"{len(self.assets)} asset{'' if len(self.assets) == 1 else 's'} deleted from the collection"]
        if self.deleted_files:
            parts.append(f"{len(self.deleted_files)} upload file{_plural(self.deleted_files)} deleted")
        if self.quarantined_files:
            parts.append(f"{len(self.quarantined_files)} upload file{_plural(self.quarantined_files)} quarantined")
        text = ", ".join(parts)
        if self.kept_files:
            text += f"; left in place (outside the uploads folder): {', '.join(self.kept_files)}"
        return text

    def to_detail(self) -> dict[str, Any]:
        """The audit log's detail fields."""
        return {
            "assets": self.assets,
            "deleted_files": self.deleted_files,
            "quarantined_files": self.quarantined_files,
            "kept_files": self.kept_files,
        }


class ContentRemover:
    """Deletes one piece of content from the main collection and the uploads folder (or quarantines the file)."""

    def __init__(self, store: Store, data_dir: Path, *, quarantine: bool = False) -> None:
        self.store = store
        self.uploads = data_dir / UPLOADS_FOLDER
        self.quarantine = data_dir / QUARANTINE_FOLDER if quarantine else None

    def remove(self, *, sha256: str, uri: str) -> Removed:
        """Delete the asset whose content is `sha256` (its id is derived from it), then its upload file."""
        if not SHA256.fullmatch(sha256):
            raise BadInput(f"sha256 {sha256!r}", "not a SHA-256 in lower-case hex: nothing was removed")
        ids = [asset_id(sha256)]
        sources = [asset.uri for asset in self.store.lookup(uris=[], ids=ids)]  # where it was ingested from
        try:
            # By id, under the store's write lock on its latest version: found even if ingested a moment ago.
            deleted = self.store.delete(ids)
        except (OSError, ValueError, RuntimeError) as error:
            raise StoreError(f"deleting the asset of {sha256[:12]}… failed: {error}") from error
        deleted_files, quarantined = [], []
        for path in self._upload_files(sha256):
            if self.quarantine is None:
                path.unlink()
                deleted_files.append(str(path))
            else:
                quarantined.append(str(self._quarantine(path)))
        kept = sorted(place for place in {uri, *sources} if self._local_file_elsewhere(place))
        return Removed(ids if deleted else [], deleted_files, quarantined, kept)

    def _upload_files(self, sha256: str) -> list[Path]:
        """The uploads folder's files for this content: named by the SHA-256, regular files (not links)."""
        found = []
        for suffix in UPLOAD_SUFFIXES:
            path = self.uploads / f"{sha256}{suffix}"
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISREG(mode):
                found.append(path)
        return found

    def _quarantine(self, path: Path) -> Path:
        assert self.quarantine is not None
        self.quarantine.mkdir(mode=QUARANTINE_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self.quarantine, QUARANTINE_DIR_MODE)  # mkdir's mode is reduced by the umask, and a folder may exist
        os.chmod(path, QUARANTINE_FILE_MODE)  # before the move, so it is never readable by others in there
        target = self.quarantine / path.name
        shutil.move(path, target)  # a rename; a copy and delete when uploads/ is another file system
        return target

    def _local_file_elsewhere(self, uri: str) -> bool:
        path = Path(uri)
        if not path.is_absolute() or not path.is_file():
            return False
        return path.resolve().parent != self.uploads.resolve()


def _plural(items: list[str]) -> str:
    return "" if len(items) == 1 else "s"


def content_remover(store: Store, settings: Settings) -> ContentRemover:
    """The remover for the main collection `store`, with the data dir and quarantine setting of `settings`."""
    return ContentRemover(store, settings.data_dir, quarantine=settings.moderation_quarantine)


def remove_queued_content(
    queue: ReviewQueue,
    remover: ContentRemover,
    audit: AuditLog,
    item_id: int,
    reviewer: str,
    *,
    user: User | None,
    **context: Any,
) -> Removed:
    """The first half of a Remove decision: claim the item (so nobody else decides it meanwhile), then delete its
    content, written to the audit log as a destructive action (ok with what went, or failed with why; `user`, or
    the reviewer's name when there is none, as on the command line). On failure RemovalFailed: the caller does not
    decide, so the item stays open and claimed, and pressing Remove again retries."""
    item = queue.claim(item_id, reviewer)  # refuses an item already decided, or held by another reviewer
    detail = {"item": item_id, "reviewer": reviewer, "sha256": item.sha256, "uri": item.uri, **context}
    try:
        removed = remover.remove(sha256=item.sha256, uri=item.uri)
    except (VlsearchError, OSError) as error:
        audit.record(Action.DESTRUCTIVE, user=user, actor=reviewer, outcome=Outcome.FAILED, reason=str(error), **detail)
        raise RemovalFailed(item_id, reviewer, str(error)) from error
    audit.record(Action.DESTRUCTIVE, user=user, actor=reviewer, **detail, **removed.to_detail())
    return removed
