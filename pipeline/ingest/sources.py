"""Where assets come from: files, folders (recursive), http(s) URLs and manifests (JSONL or CSV).

Paths someone else chose (manifest rows, a folder typed into the app) are read only below a root:
the manifest's own folder or one of VLSEARCH_INGEST_ROOTS (see local_files.py for why and how).
"""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from pipeline.config import Settings
from pipeline.errors import BadInput
from pipeline.ingest.fetch import ALLOWED_SCHEMES
from pipeline.ingest.local_files import ROOTS_SETTING, kind_of, reason_of, resolved_root, walk
from pipeline.store.base import RESERVED_NAMES

COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# "scheme://" marks an argument as a URL; anything else (C:\x, ./a:b.png) is a path.
URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
MANIFEST_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
# Lists and objects in one JSONL row nest at most this deep: deeper JSON exhausts Python's recursion.
MAX_ROW_NESTING = 64


@dataclass(frozen=True)
class SourceItem:
    """One asset to ingest: a local file or a URL, with the metadata its manifest row gave.

    `root`: the folder a local file must still be below when it is opened (None: a path the user gave
    on the command line, read with their own permissions).
    """

    uri: str
    origin: str
    metadata: dict[str, str] = field(default_factory=dict)
    root: Path | None = None

    @property
    def is_url(self) -> bool:
        return urlparse(self.uri).scheme.lower() in ALLOWED_SCHEMES


@dataclass
class Collected:
    items: list[SourceItem] = field(default_factory=list)
    problems: list[BadInput] = field(default_factory=list)


@dataclass(frozen=True)
class SourcePolicy:
    """Where paths others chose may lead, and how wide a manifest may be (VLSEARCH_INGEST_ROOTS,
    VLSEARCH_MAX_METADATA_COLUMNS). No roots: manifest rows stay in the manifest's folder, the app reads none."""

    roots: tuple[Path, ...] = ()
    max_metadata_columns: int = 64

    @classmethod
    def from_settings(cls, settings: Settings) -> SourcePolicy:
        return cls(roots=tuple(settings.ingest_roots), max_metadata_columns=settings.max_metadata_columns)


def collect(
    inputs: Sequence[str | Path], manifest: Path | None = None, policy: SourcePolicy = SourcePolicy()
) -> Collected:
    """Expand folders, take http(s) URLs as they are and read the manifest.

    Paths given here are the caller's own (the command line runs with its user's permissions) and are not
    confined; manifest rows are (see read_manifest). Unreadable inputs become problems, not exceptions: a
    FIFO, a device or a broken link is named with its reason and the rest goes on. A file named twice (a
    folder and a manifest row) is one item whose metadata is the manifest's. A URL is only classified here;
    fetch_url checks it when ingest fetches it.
    """
    collected = Collected()
    for given in inputs:
        if isinstance(given, str) and URL_LIKE.match(given):
            try:
                collected.items.append(SourceItem(uri=checked_url(given, given), origin=given))
            except BadInput as problem:
                collected.problems.append(problem)
            continue
        _collect_path(Path(given), collected)
    if manifest is not None:
        rows = read_manifest(manifest, policy)
        collected.items.extend(rows.items)
        collected.problems.extend(rows.problems)
    collected.items = _merged(collected.items)
    return collected


def collect_below_roots(folder: str, policy: SourcePolicy) -> Collected:
    """A folder on the server someone asked for (the app): read only below an ingest root, and every file and
    problem named relative to that root. A relative `folder` is taken relative to the first root."""
    if not policy.roots:
        raise BadInput(folder, f"server-folder ingest is off: no {ROOTS_SETTING} are configured")
    given = Path(folder).expanduser()
    root = resolved_root(given if given.is_absolute() else policy.roots[0] / given, policy.roots)
    if root is None:
        allowed = ", ".join(str(path) for path in policy.roots)
        raise BadInput(folder, f"not below an ingest root ({ROOTS_SETTING}: {allowed})")
    real = (given if given.is_absolute() else policy.roots[0] / given).resolve()
    if not real.is_dir():
        raise BadInput(folder, "no such folder" if not real.exists() else "not a folder")
    walked = walk(real, root)
    collected = Collected()
    for file in walked.files:
        collected.items.append(SourceItem(uri=str(file.resolve()), origin=_below(file, root), root=root))
    for path, reason in walked.problems:
        collected.problems.append(BadInput(_below(path, root), reason))
    return collected


def _below(path: Path, root: Path) -> str:
    """How a path is named to someone who may only see the root's contents."""
    try:
        return str(path.relative_to(root)) if path != root else "."
    except ValueError:
        return path.name


def _collect_path(path: Path, collected: Collected) -> None:
    """A path given on the command line: a folder is walked, a regular file taken, anything else named."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        missing = error.errno == errno.ENOENT and not path.is_symlink()
        collected.problems.append(BadInput(str(path), "no such file or folder" if missing else reason_of(error, path)))
        return
    except ValueError:  # a NUL character
        collected.problems.append(BadInput(str(path), "not a valid path"))
        return
    if stat.S_ISDIR(mode):
        walked = walk(path)
        collected.items.extend(SourceItem(uri=str(file.resolve()), origin=str(file)) for file in walked.files)
        collected.problems.extend(BadInput(str(where), reason) for where, reason in walked.problems)
    elif stat.S_ISREG(mode):
        collected.items.append(SourceItem(uri=str(path.resolve()), origin=str(path)))
    else:
        collected.problems.append(BadInput(str(path), f"not a regular file: {kind_of(mode)}"))


def _merged(items: list[SourceItem]) -> list[SourceItem]:
    """One item per uri, where it first came: a later item's metadata wins (a manifest row over a plain path,
    a later row over an earlier one), so naming a file twice never drops its manifest metadata."""
    by_uri: dict[str, SourceItem] = {}
    for item in items:
        earlier = by_uri.get(item.uri)
        if earlier is None:
            by_uri[item.uri] = item
            continue
        by_uri[item.uri] = SourceItem(
            uri=item.uri,
            origin=item.origin if item.metadata or not earlier.metadata else earlier.origin,
            metadata={**earlier.metadata, **item.metadata},
            root=item.root if item.root is not None else earlier.root,
        )
    return list(by_uri.values())


def read_manifest(manifest: Path, policy: SourcePolicy = SourcePolicy()) -> Collected:
    """Rows with `path` (relative to the manifest's folder) or `url`, plus metadata columns.

    A manifest is data someone may have handed over, so a row's path must stay below the manifest's folder
    (symlinks followed) unless an ingest root admits it; and a manifest with more metadata columns than
    allowed is refused whole, before anything is written (each column is a store column with an index).
    """
    kind = MANIFEST_SUFFIXES.get(manifest.suffix.lower())
    if kind is None:
        raise BadInput(str(manifest), f"a manifest must be .jsonl or .csv, not {manifest.suffix or 'no extension'!r}")
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise BadInput(str(manifest), "manifest not found") from error
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(str(manifest), f"cannot read manifest: {error}") from error
    rows = _jsonl_rows(manifest, text) if kind == "jsonl" else _csv_rows(manifest, text)
    collected = Collected()
    for origin, row in rows:
        if isinstance(row, BadInput):
            collected.problems.append(row)
            continue
        try:
            collected.items.append(_item(manifest, origin, row, policy.roots))
        except BadInput as problem:
            collected.problems.append(problem)
    if not collected.items and not collected.problems:
        collected.problems.append(BadInput(str(manifest), "manifest has no rows"))
    columns = {key for item in collected.items for key in item.metadata}
    if len(columns) > policy.max_metadata_columns:
        raise BadInput(
            str(manifest),
            f"the manifest has {len(columns)} metadata columns, more than the {policy.max_metadata_columns} allowed "
            "(VLSEARCH_MAX_METADATA_COLUMNS); each becomes a column and an index of the collection",
        )
    return collected


def _jsonl_rows(manifest: Path, text: str) -> Iterable[tuple[str, dict[str, object] | BadInput]]:
    for number, line in enumerate(text.splitlines(), start=1):
        origin = f"{manifest} line {number}"
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            yield origin, BadInput(origin, f"not valid JSON ({error.msg} at column {error.colno})")
            continue
        except RecursionError:
            yield origin, BadInput(origin, f"JSON nested too deeply (limit {MAX_ROW_NESTING} levels)")
            continue
        except ValueError as error:  # e.g. an integer longer than Python converts
            yield origin, BadInput(origin, f"not valid JSON ({error})")
            continue
        if not isinstance(row, dict):
            yield origin, BadInput(origin, "a row must be a JSON object")
        elif _nesting(row) > MAX_ROW_NESTING:
            yield origin, BadInput(origin, f"JSON nested too deeply (limit {MAX_ROW_NESTING} levels)")
        else:
            yield origin, row


def _nesting(value: object) -> int:
    """How deeply lists and objects nest in a parsed row, counted without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in children)
    return deepest


def _csv_rows(manifest: Path, text: str) -> Iterable[tuple[str, dict[str, object] | BadInput]]:
    reader = csv.DictReader(text.splitlines())
    try:
        header = reader.fieldnames or []
    except csv.Error as error:
        raise BadInput(str(manifest), f"CSV header row cannot be read ({error})") from error
    if not header:
        raise BadInput(str(manifest), "CSV manifest has no header row")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise BadInput(str(manifest), f"CSV header repeats column(s) {', '.join(duplicates)}")
    number = 1
    while True:
        number += 1
        origin = f"{manifest} line {number}"
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # e.g. a field over csv's size limit: this row only, the reader goes on
            yield origin, BadInput(origin, f"not a readable CSV row ({error})")
            continue
        if None in row:
            yield origin, BadInput(origin, f"row has more fields than the header's {len(header)}")
            continue
        yield origin, {key: value for key, value in row.items() if value not in (None, "")}


def _item(manifest: Path, origin: str, row: dict[str, object], roots: Sequence[Path]) -> SourceItem:
    path, url = row.get("path"), row.get("url")
    if bool(path) == bool(url):
        raise BadInput(origin, "each row needs exactly one of 'path' or 'url'")
    metadata = checked_metadata(origin, {key: value for key, value in row.items() if key not in ("path", "url")})
    if url:
        if not isinstance(url, str):
            raise BadInput(origin, f"url must be a string, got {url!r}")
        return SourceItem(uri=checked_url(origin, url), origin=origin, metadata=metadata)
    if not isinstance(path, str):
        raise BadInput(origin, f"path must be a string, got {path!r}")
    try:
        resolved = (manifest.parent / path).resolve()
    except ValueError as error:  # a NUL character
        raise BadInput(origin, f"path {path!r} is not a valid path") from error
    except (OSError, RuntimeError) as error:  # a symlink loop
        raise BadInput(origin, f"path {path!r}: a symbolic link loop") from error
    folder = manifest.parent.resolve()
    root = resolved_root(resolved, (folder, *roots))
    if root is None:
        where = f"the manifest's folder {folder}" + (" and every ingest root" if roots else "")
        raise BadInput(origin, f"path {path!r} leads outside {where}; to allow it, add its folder to {ROOTS_SETTING}")
    return SourceItem(uri=str(resolved), origin=f"{origin} ({path})", metadata=metadata, root=root)


def checked_metadata(origin: str, columns: Mapping[str, object]) -> dict[str, str]:
    """Metadata columns as stored: names a filter can use and no built-in field's; values as text (JSON for the
    rest); a null value is left out."""
    metadata: dict[str, str] = {}
    for key, value in columns.items():
        if value is None:
            continue
        if not COLUMN_NAME.match(key):
            raise BadInput(origin, f"column name {key!r} must be letters, digits and _ (not starting with a digit)")
        if key in RESERVED_NAMES:
            raise BadInput(origin, f"column name {key!r} is reserved for a built-in field; rename it")
        metadata[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return metadata


def checked_url(origin: str, url: str) -> str:
    """The URL as given (it is the stored uri), once its scheme is one that is fetched."""
    url = url.strip()
    scheme = urlparse(url).scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        reason = f"{scheme + ' URLs are' if scheme else 'a URL without a scheme is'} not fetched (http and https only)"
        raise BadInput(origin, reason if origin == url else f"url {url!r}: {reason}")
    return url
