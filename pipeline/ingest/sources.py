"""Where assets come from: files, folders (recursive), http(s) URLs and manifests (JSONL or CSV)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from pipeline.errors import BadInput
from pipeline.ingest.fetch import ALLOWED_SCHEMES
from pipeline.store.base import RESERVED_NAMES

COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# "scheme://" marks an argument as a URL; anything else (C:\x, ./a:b.png) is a path.
URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
MANIFEST_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


@dataclass(frozen=True)
class SourceItem:
    """One asset to ingest: a local file or a URL, with the metadata its manifest row gave."""

    uri: str
    origin: str
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def is_url(self) -> bool:
        return urlparse(self.uri).scheme.lower() in ALLOWED_SCHEMES


@dataclass
class Collected:
    items: list[SourceItem] = field(default_factory=list)
    problems: list[BadInput] = field(default_factory=list)


def collect(inputs: Sequence[str | Path], manifest: Path | None = None) -> Collected:
    """Expand folders, take http(s) URLs as they are and read the manifest.

    Unreadable inputs become problems, not exceptions. A URL is only classified here; fetch_url
    checks it when ingest fetches it.
    """
    collected = Collected()
    for given in inputs:
        if isinstance(given, str) and URL_LIKE.match(given):
            try:
                collected.items.append(SourceItem(uri=_checked_url(given, given), origin=given))
            except BadInput as problem:
                collected.problems.append(problem)
            continue
        path = Path(given)
        if path.is_dir():
            collected.items.extend(
                SourceItem(uri=str(file.resolve()), origin=str(file))
                for file in sorted(path.rglob("*"))
                if file.is_file()
            )
        elif path.exists():
            collected.items.append(SourceItem(uri=str(path.resolve()), origin=str(path)))
        else:
            collected.problems.append(BadInput(str(path), "no such file or folder"))
    if manifest is not None:
        rows = read_manifest(manifest)
        collected.items.extend(rows.items)
        collected.problems.extend(rows.problems)
    return collected


def read_manifest(manifest: Path) -> Collected:
    """Rows with `path` (relative to the manifest's folder) or `url`, plus metadata columns."""
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
            collected.items.append(_item(manifest, origin, row))
        except BadInput as problem:
            collected.problems.append(problem)
    if not collected.items and not collected.problems:
        collected.problems.append(BadInput(str(manifest), "manifest has no rows"))
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
        yield origin, row if isinstance(row, dict) else BadInput(origin, "a row must be a JSON object")


def _csv_rows(manifest: Path, text: str) -> Iterable[tuple[str, dict[str, object] | BadInput]]:
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    if not header:
        raise BadInput(str(manifest), "CSV manifest has no header row")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise BadInput(str(manifest), f"CSV header repeats column(s) {', '.join(duplicates)}")
    for number, row in enumerate(reader, start=2):
        origin = f"{manifest} line {number}"
        if None in row:
            yield origin, BadInput(origin, f"row has more fields than the header's {len(header)}")
            continue
        yield origin, {key: value for key, value in row.items() if value not in (None, "")}


def _item(manifest: Path, origin: str, row: dict[str, object]) -> SourceItem:
    path, url = row.get("path"), row.get("url")
    if bool(path) == bool(url):
        raise BadInput(origin, "each row needs exactly one of 'path' or 'url'")
    metadata: dict[str, str] = {}
    for key, value in row.items():
        if key in ("path", "url") or value is None:
            continue
        if not COLUMN_NAME.match(key):
            raise BadInput(origin, f"column name {key!r} must be letters, digits and _ (not starting with a digit)")
        if key in RESERVED_NAMES:
            raise BadInput(origin, f"column name {key!r} is reserved for a built-in field; rename it")
        metadata[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if url:
        if not isinstance(url, str):
            raise BadInput(origin, f"url must be a string, got {url!r}")
        return SourceItem(uri=_checked_url(origin, url), origin=origin, metadata=metadata)
    if not isinstance(path, str):
        raise BadInput(origin, f"path must be a string, got {path!r}")
    resolved = (manifest.parent / path).resolve()
    return SourceItem(uri=str(resolved), origin=f"{origin} ({path})", metadata=metadata)


def _checked_url(origin: str, url: str) -> str:
    """The URL as given (it is the stored uri), once its scheme is one that is fetched."""
    url = url.strip()
    scheme = urlparse(url).scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        reason = f"{scheme + ' URLs are' if scheme else 'a URL without a scheme is'} not fetched (http and https only)"
        raise BadInput(origin, reason if origin == url else f"url {url!r}: {reason}")
    return url
