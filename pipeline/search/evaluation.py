"""Retrieval quality: relevance judgments (qrels), standard metrics, and a grid of search configurations.

Judgments come from a JSONL file, one query per line, and from the dashboard's thumbs up / down:

    {"query": "card declined", "relevant": {"ticket_id=SUP-1042": 2, "ticket_id=SUP-1244": 1}}
    {"image": "screens/SUP-1042.jpg", "relevant": {"ticket_id=SUP-1042": 1}}
    {"query": "登录失败", "image": "screen.png", "relevant": {"uri=images/login.png": 1, "id=6f0f…": 0}}

- "query" (text) and "image" (a path relative to the qrels file): at least one of them.
- "relevant" names assets as "<field>=<value>" with a grade: a whole number, higher = more
  relevant, 0 = judged not relevant (counts as not relevant, like an asset nobody judged).
  The field is `id`, `uri` (a path relative to the qrels file, or a URL; a PDF page is
  "manual.pdf#page=3"), `parent_uri` (any page or frame of that PDF or video) or a metadata
  column such as `ticket_id`.

Each relevant key is one item to find: a key that several assets match (every page of a PDF,
every screenshot of a ticket) is found when any of them is retrieved. Over the top k hits:
Recall@k = items found / relevant items; MRR = mean of 1 / rank of the first relevant hit
(0 if none); nDCG@10 = DCG / ideal DCG with linear gains (the grade) and the log2(rank + 1)
discount, where a hit gains the grade of the best item it finds first (a second hit for the
same item gains nothing), and the ideal ranking finds the items best first.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from pipeline.errors import BadInput
from pipeline.images import ImageLimits, read_image_file
from pipeline.models import Embedder, Query, Vectors
from pipeline.ocr import OcrEngine
from pipeline.records import AssetRecord, asset_id
from pipeline.search.feedback import Vote
from pipeline.search.searcher import Searcher
from pipeline.store.base import Fusion, Store
from pipeline.store.filter_builder import quote

CUTOFFS = (1, 5, 10)
NDCG_DEPTH = 10
DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
BUILT_IN_FIELDS = ("id", "uri", "parent_uri")
QRELS_FIELDS = ("query", "image", "relevant")
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
NO_RERANKER = "skipped"  # Evaluation.notes says why and how to load a reranker


# judgments ------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class AssetKey:
    """Names relevant assets: by id, uri, parent uri or a metadata column's value."""

    field: str
    value: str

    def __str__(self) -> str:
        return f"{self.field}={self.value}"

    def matches(self, record: AssetRecord) -> bool:
        if self.field == "id":
            return record.id == self.value
        if self.field == "uri":
            return record.uri == self.value
        if self.field == "parent_uri":
            return record.parent_uri == self.value
        return record.metadata.get(self.field) == self.value


@dataclass(frozen=True)
class JudgedQuery:
    """One query and its graded relevant assets; `source` says where it was judged ("qrels.jsonl line 3")."""

    source: str
    text: str | None
    image: Path | None
    grades: dict[AssetKey, int]

    @property
    def label(self) -> str:
        return " + ".join(part for part in (self.text, self.image.name if self.image else None) if part)

    @property
    def relevant(self) -> dict[AssetKey, int]:
        return {key: grade for key, grade in self.grades.items() if grade > 0}


def read_qrels(path: Path) -> list[JudgedQuery]:
    """Every query of a qrels JSONL file; the first bad line is a BadInput naming it and the reason."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise BadInput(str(path), "qrels file not found") from error
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(str(path), f"cannot read the qrels file: {error}") from error
    queries: list[JudgedQuery] = []
    first_line: dict[tuple[str | None, Path | None], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        query = parse_qrels_line(line, source=f"{path} line {number}", base=path.parent)
        identity = (query.text, query.image)
        if identity in first_line:
            raise BadInput(query.source, f"the same query as line {first_line[identity]}")
        first_line[identity] = number
        queries.append(query)
    if not queries:
        raise BadInput(str(path), "the qrels file has no queries")
    return queries


def parse_qrels_line(line: str, *, source: str, base: Path) -> JudgedQuery:
    """One qrels line; relative image paths and uris are resolved against `base` (the qrels file's folder)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise BadInput(source, f"not valid JSON ({error.msg} at column {error.colno})") from error
    if not isinstance(row, dict):
        raise BadInput(source, "expected a JSON object with query, image and relevant")
    unknown = sorted(set(row) - set(QRELS_FIELDS))
    if unknown:
        raise BadInput(source, f"unknown field {', '.join(map(repr, unknown))} (expected {', '.join(QRELS_FIELDS)})")
    text, image = row.get("query"), row.get("image")
    if text is not None and not isinstance(text, str) or image is not None and not isinstance(image, str):
        raise BadInput(source, '"query" and "image" must be strings')
    text = (text or "").strip() or None
    if text is None and not image:
        raise BadInput(source, 'a query needs "query" text, an "image", or both')
    image_path = None
    if image:
        image_path = (base / image).resolve()
        if not image_path.is_file():
            raise BadInput(source, f"query image not found: {image_path}")
    return JudgedQuery(source, text, image_path, _grades(row.get("relevant"), source, base))


def _grades(relevant: object, source: str, base: Path) -> dict[AssetKey, int]:
    if not isinstance(relevant, dict) or not relevant:
        raise BadInput(source, '"relevant" must be a non-empty object of "<field>=<value>": grade')
    grades: dict[AssetKey, int] = {}
    for name, grade in relevant.items():
        key = parse_key(name, source=source, base=base)
        if isinstance(grade, bool) or not isinstance(grade, int) or grade < 0:
            raise BadInput(source, f"the grade of {name!r} must be a whole number 0 or more, not {json.dumps(grade)}")
        if key in grades:
            raise BadInput(source, f"{name!r} names the same assets as another key ({key})")
        grades[key] = grade
    if not any(grades.values()):
        raise BadInput(source, "no relevant asset: every grade is 0")
    return grades


def parse_key(name: str, *, source: str, base: Path) -> AssetKey:
    """ "ticket_id=SUP-1042" -> AssetKey; a relative uri or parent_uri is resolved against `base`."""
    field_name, separator, value = name.partition("=")
    field_name, value = field_name.strip(), value.strip()
    if not separator or not value or not FIELD_NAME.match(field_name):
        raise BadInput(
            source, f"relevant key {name!r} is not <field>=<value> (field: id, uri, parent_uri or a metadata column)"
        )
    if field_name in ("uri", "parent_uri"):
        value = _resolve_uri(value, base)
    return AssetKey(field_name, value)


def _resolve_uri(value: str, base: Path) -> str:
    """Stored uris are absolute paths or URLs; a "#page=3" or "#t=12.000" fragment stays as it is."""
    if urlsplit(value).scheme in ("http", "https"):
        return value
    path, hash_mark, fragment = value.partition("#")
    return f"{(base / path).resolve()}{hash_mark}{fragment}"


def queries_from_votes(
    votes: Iterable[Vote], find_image: Callable[[str], Path | None]
) -> tuple[list[JudgedQuery], list[str]]:
    """Dashboard feedback as judgments: thumbs up = grade 1, thumbs down = 0 (judged not relevant).

    An image query needs its image again: `find_image(sha256)` returns the file or None. Queries
    whose image is gone, or with thumbs down only (nothing relevant to find), are left out with a note.
    """
    grouped: dict[tuple[str, str], dict[AssetKey, int]] = {}
    for vote in votes:
        grades = grouped.setdefault((vote.query_text, vote.query_image_sha), {})
        grades[AssetKey("id", vote.asset_id)] = int(vote.vote > 0)
    queries, notes = [], []
    for (text, sha), grades in grouped.items():
        label = " + ".join(part for part in (text, f"image {sha[:12]}" if sha else "") if part)
        image = find_image(sha) if sha else None
        if sha and image is None:
            notes.append(f"feedback query {label!r} left out: its query image is not among the stored images")
        elif not any(grades.values()):
            notes.append(f"feedback query {label!r} left out: it has thumbs down only, nothing relevant to find")
        else:
            queries.append(JudgedQuery(f"feedback: {label}", text or None, image, grades))
    return queries, notes


def split_votes(votes: Sequence[Vote], *, seed: int = 0) -> tuple[list[Vote], list[Vote]]:
    """The votes in two halves by their raw query (text and image), the same split on every run with one seed:
    search learns from the first and is judged by the second, so no query is judged by its own votes. Phrasings of
    one question ("card declined", "Declined card!") fall on either side, which is what similar queries measure."""
    learn: list[Vote] = []
    held_out: list[Vote] = []
    for vote in votes:
        digest = hashlib.sha256(f"{seed}\0{vote.query_text.strip()}\0{vote.query_image_sha}".encode()).digest()
        (learn if digest[0] < 128 else held_out).append(vote)
    return learn, held_out


def stored_image_finder(store: Store) -> Callable[[str], Path | None]:
    """Finds a feedback query's image among the stored images (uploads are kept once ingested)."""

    def find(sha256: str) -> Path | None:
        for record in store.get([asset_id(sha256)]):
            path = Path(record.uri)
            if urlsplit(record.uri).scheme not in ("http", "https") and path.is_file():
                return path
        return None

    return find


# metrics --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryScore:
    recall: dict[int, float]  # cutoff k -> Recall@k
    reciprocal_rank: float
    ndcg: float  # nDCG@10
    first_relevant_rank: int | None


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain: gain / log2(rank + 1), ranks from 1."""
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


def score_ranking(matched: Sequence[Iterable[AssetKey]], grades: Mapping[AssetKey, int]) -> QueryScore:
    """Metrics of one ranking; `matched[i]` holds the keys the hit at rank i + 1 matches."""
    relevant = {key: grade for key, grade in grades.items() if grade > 0}
    if not relevant:
        raise ValueError("a query without relevant items has no recall or nDCG")
    found: set[AssetKey] = set()
    found_by_rank: list[int] = []
    gains: list[int] = []
    first = None
    for rank, keys in enumerate(matched, start=1):
        hit_keys = [key for key in keys if key in relevant]
        if hit_keys and first is None:
            first = rank
        new = [key for key in hit_keys if key not in found]
        found.update(new)
        found_by_rank.append(len(found))
        gains.append(max((relevant[key] for key in new), default=0))
    recall = {
        k: (found_by_rank[min(k, len(found_by_rank)) - 1] if found_by_rank else 0) / len(relevant) for k in CUTOFFS
    }
    ideal = dcg(sorted(relevant.values(), reverse=True)[:NDCG_DEPTH])
    return QueryScore(recall, 1.0 / first if first else 0.0, dcg(gains[:NDCG_DEPTH]) / ideal, first)


def matched_keys(records: Sequence[AssetRecord], grades: Mapping[AssetKey, int]) -> list[list[AssetKey]]:
    """For each ranked record, the judged keys it matches."""
    return [[key for key in grades if key.matches(record)] for record in records]


# configuration grid -------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    alpha: float
    fusion: Fusion
    rerank: bool
    learned: bool = False  # what search learned from votes (the searcher's vote source) on or off


@dataclass(eq=False)  # rows are compared by identity: two configurations may score the same
class ConfigRow:
    """Mean metrics of one configuration over the queries, and each query's own scores."""

    config: Config
    recall: dict[int, float] = field(default_factory=dict)
    mrr: float = 0.0
    ndcg: float = 0.0
    per_query: list[tuple[JudgedQuery, QueryScore]] = field(default_factory=list)
    note: str = ""
    skipped: bool = False
    cut_short: int = 0  # queries whose rerank stopped early (time budget or an error)
    stands_for: list[Config] = field(default_factory=list)  # the configurations this row ran for (itself at least)
    learned_from: set[str] = field(default_factory=set)  # sources of the queries whose search found votes to learn from

    @property
    def merged(self) -> bool:
        """True when the row stands for several configurations that cannot rank differently."""
        return len(self.stands_for) > 1


@dataclass
class Evaluation:
    rows: list[ConfigRow]
    queries: int
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> list[ConfigRow]:
        """The configurations with the highest nDCG@10 (MRR breaks ties); several when they score the same."""
        ran = [row for row in self.rows if not row.skipped]
        top = max(((row.ndcg, row.mrr) for row in ran), default=None)
        return [row for row in ran if (row.ndcg, row.mrr) == top]


def parse_alphas(text: str) -> list[float]:
    """ "0,0.5,1" -> [0.0, 0.5, 1.0]; each in [0, 1]."""
    values = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise BadInput("--alpha", f"{part.strip()!r} is not a number (give e.g. 0,0.25,0.5)") from None
        if not 0.0 <= value <= 1.0:
            raise BadInput("--alpha", f"{value:g} is outside [0, 1] (0 = keyword only, 1 = vector only)")
        values.append(value)
    return list(dict.fromkeys(values))


def parse_fusions(text: str) -> list[Fusion]:
    """ "relative,ranked" -> [Fusion.RELATIVE, Fusion.RANKED]."""
    names = [part.strip().lower() for part in text.split(",")]
    known = [fusion.value for fusion in Fusion]
    for name in names:
        if name not in known:
            raise BadInput("--fusion", f"{name!r} is not a fusion type (known: {', '.join(known)})")
    return [Fusion(name) for name in dict.fromkeys(names)]


def config_grid(
    alphas: Sequence[float], fusions: Sequence[Fusion], reranks: Sequence[bool], learned: Sequence[bool] = (False,)
) -> list[Config]:
    """Every combination, rerank off before on, then by fusion, then by alpha, each with learning off then on."""
    return [
        Config(alpha, fusion, rerank, learn)
        for rerank, fusion, alpha, learn in itertools.product(reranks, fusions, alphas, learned)
    ]


def distinct_configs(configs: Sequence[Config], *, with_vectors: bool) -> list[list[Config]]:
    """The configurations grouped by what they can change: without an embedding model there is no vector side,
    so alpha and fusion change nothing and only rerank and learning on / off remain. Each group runs once."""
    if with_vectors:
        return [[config] for config in configs]
    by_switches: dict[tuple[bool, bool], list[Config]] = {}
    for config in configs:
        by_switches.setdefault((config.rerank, config.learned), []).append(config)
    return list(by_switches.values())


def evaluate(
    searcher: Searcher,
    queries: Sequence[JudgedQuery],
    configs: Sequence[Config],
    *,
    limit: int = 10,
    image_limits: ImageLimits,
) -> Evaluation:
    """Run every query through the real searcher once per distinct configuration and average the metrics.

    Configurations that cannot rank differently share one row (see distinct_configs). Rerank
    configurations are skipped (with a note) when no reranker is loaded. BadInput names the
    query's line for a relevant key whose metadata column the collection lacks, or an unreadable
    query image.
    """
    if limit < NDCG_DEPTH:
        raise BadInput("limit", f"{limit} hits are too few for nDCG@{NDCG_DEPTH}; give {NDCG_DEPTH} or more")
    notes = check_keys(searcher.store, queries)
    groups = distinct_configs(configs, with_vectors=searcher.embedder is not None)
    if searcher.embedder is None:
        notes.append(
            "no embedding model: every configuration ran keyword only (BM25), so alpha and fusion have no effect; "
            "one row stands for all of them"
        )
    if any(config.rerank for config in configs) and searcher.rerank is None:
        notes.append("rerank configurations skipped: no reranker model is loaded (see VLSEARCH_RERANK_MODEL)")
    images = {query.image: _load(query.source, query.image, image_limits) for query in queries if query.image}
    shas = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in images}
    once = _with_query_work_once(searcher)
    rows = []
    for group in groups:
        config = group[0]
        if config.rerank and searcher.rerank is None:
            row = ConfigRow(config, note=NO_RERANKER, skipped=True)
        else:
            row = _run(once, queries, images, shas, config, limit)
        row.stands_for = group
        if row.merged and not row.skipped:
            row.note = "; ".join(
                part for part in (f"any alpha and fusion ({len(group)} configurations)", row.note) if part
            )
        rows.append(row)
    if any(row.cut_short for row in rows):
        notes.append(
            "rerank was cut short on some queries (its time budget, VLSEARCH_RERANK_BUDGET_S, ran out or it failed): "
            "the hits it did not score keep their fused order"
        )
    return Evaluation(rows, len(queries), notes)


def check_keys(store: Store, queries: Sequence[JudgedQuery]) -> list[str]:
    """Refuse keys on metadata columns the collection lacks; note the keys that match no stored asset."""
    columns = store.metadata_columns()
    notes = []
    for query in queries:
        for key in query.grades:
            if key.field not in BUILT_IN_FIELDS and key.field not in columns:
                raise BadInput(
                    query.source,
                    f"{key}: the collection has no metadata column {key.field!r} "
                    f"(columns: {', '.join(columns) or 'none'}; or use id, uri, parent_uri)",
                )
            if not _stored(store, key):
                notes.append(f"{query.source}: {key} matches no asset in the collection")
    return notes


def _stored(store: Store, key: AssetKey) -> bool:
    if key.field == "id":
        return bool(store.lookup(uris=[], ids=[key.value]))
    if key.field == "uri":
        return bool(store.lookup(uris=[key.value], ids=[]))
    return store.count(f"{key.field} = {quote(key.value)}") > 0


def _load(source: str, path: Path, limits: ImageLimits) -> Image.Image:
    try:
        return read_image_file(path, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels).image
    except BadInput as problem:
        raise BadInput(source, f"query image {problem.source}: {problem.reason}") from problem


def _run(
    searcher: Searcher,
    queries: Sequence[JudgedQuery],
    images: Mapping[Path, Image.Image],
    shas: Mapping[Path, str],
    config: Config,
    limit: int,
) -> ConfigRow:
    row = ConfigRow(config)
    for query in queries:
        result = searcher.search(
            text=query.text,
            image=images[query.image] if query.image else None,
            alpha=config.alpha,
            limit=limit,
            fusion=config.fusion,
            rerank=config.rerank,
            image_sha=shas[query.image] if query.image else "",
            learned=config.learned,
        )
        if result.learned_votes:
            row.learned_from.add(query.source)
        row.cut_short += result.rerank_partial or any(notice.startswith("rerank stopped") for notice in result.notices)
        records = [hit.record for hit in result.hits]
        row.per_query.append((query, score_ranking(matched_keys(records, query.grades), query.grades)))
    row.recall, row.mrr, row.ndcg = _means([score for _, score in row.per_query])
    if row.cut_short:
        row.note = f"rerank cut short on {row.cut_short}/{len(queries)}"
    return row


def _means(scores: Sequence[QueryScore]) -> tuple[dict[int, float], float, float]:
    """Mean Recall@k, MRR and nDCG@10 (zeros for no queries)."""
    if not scores:
        return {k: 0.0 for k in CUTOFFS}, 0.0, 0.0
    recall = {k: float(np.mean([score.recall[k] for score in scores])) for k in CUTOFFS}
    return recall, float(np.mean([s.reciprocal_rank for s in scores])), float(np.mean([s.ndcg for s in scores]))


SIMILAR_LEARNED = "a similar query learned"
NOTHING_LEARNED = "no similar query learned"


@dataclass(frozen=True)
class LearnedGroup:
    """One configuration with learning off (before) and on (after), over the queries of one group: those whose
    search found votes on the same or a similar query among the learned ones, or the rest."""

    config: Config
    group: str
    queries: int
    changed: int  # queries whose ranking of the judged assets moved
    before: tuple[dict[int, float], float, float]  # Recall@k, MRR, nDCG@10
    after: tuple[dict[int, float], float, float]


def learned_groups(evaluation: Evaluation) -> list[LearnedGroup]:
    """Before / after of each configuration evaluated with learning on, split into SIMILAR_LEARNED and
    NOTHING_LEARNED (which learning cannot change: no vote matched them)."""
    ran = [row for row in evaluation.rows if not row.skipped]
    groups = []
    for on in (row for row in ran if row.config.learned):
        off = next((row for row in ran if row.config == replace(on.config, learned=False)), None)
        if off is None:
            continue
        pairs = list(zip(off.per_query, on.per_query, strict=True))
        for name, wanted in ((SIMILAR_LEARNED, True), (NOTHING_LEARNED, False)):
            chosen = [
                (before, after) for (query, before), (_, after) in pairs if (query.source in on.learned_from) == wanted
            ]
            changed = sum(before != after for (before, after) in chosen)
            groups.append(
                LearnedGroup(
                    on.config,
                    name,
                    len(chosen),
                    changed,
                    _means([before for before, _ in chosen]),
                    _means([after for _, after in chosen]),
                )
            )
    return groups


def _with_query_work_once(searcher: Searcher) -> Searcher:
    """A copy of the searcher that reads and embeds each query once: neither depends on the configuration."""
    once = copy.copy(searcher)
    once.ocr = _OcrOnce(searcher.ocr)
    if searcher.embedder is not None:
        once.embedder = _QueryVectorsOnce(searcher.embedder)
    return once


class _OcrOnce:
    """Remembers the text of each query image (kept alive with it, so its id stays its own)."""

    def __init__(self, ocr: OcrEngine) -> None:
        self.name = ocr.name
        self._ocr = ocr
        self._texts: dict[int, tuple[Image.Image, str]] = {}

    def read(self, image: Image.Image) -> str:
        if id(image) not in self._texts:
            self._texts[id(image)] = (image, self._ocr.read(image))
        return self._texts[id(image)][1]


class _QueryVectorsOnce:
    """Remembers each query's vector; documents are never embedded during evaluation but pass through."""

    def __init__(self, embedder: Embedder) -> None:
        self.name = embedder.name
        self.dim = embedder.dim
        self._embedder = embedder
        self._vectors: dict[tuple[str | None, int], tuple[Query, np.ndarray]] = {}

    def embed_documents(self, images: Sequence[Image.Image]) -> Vectors:
        return self._embedder.embed_documents(images)

    def embed_queries(self, queries: Sequence[Query]) -> Vectors:
        missing = [query for query in queries if _query_key(query) not in self._vectors]
        if missing:
            for query, vector in zip(missing, self._embedder.embed_queries(missing), strict=True):
                self._vectors[_query_key(query)] = (query, vector)
        if not queries:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vectors[_query_key(query)][1] for query in queries])


def _query_key(query: Query) -> tuple[str | None, int]:
    return query.text, id(query.image)


def evaluation_json(evaluation: Evaluation) -> dict[str, object]:
    """The evaluation as plain data: a row per configuration (best marked) with each query's scores."""
    best = evaluation.best

    def figures(recall: Mapping[int, float], mrr: float, ndcg: float) -> dict[str, float]:
        return {**{f"recall@{k}": recall.get(k, 0.0) for k in CUTOFFS}, "mrr": mrr, f"ndcg@{NDCG_DEPTH}": ndcg}

    return {
        "queries": evaluation.queries,
        "notes": evaluation.notes,
        "learned_groups": [
            {
                "alpha": group.config.alpha,
                "fusion": group.config.fusion.value,
                "rerank": group.config.rerank,
                "group": group.group,
                "queries": group.queries,
                "changed": group.changed,
                "before": figures(*group.before),
                "after": figures(*group.after),
            }
            for group in learned_groups(evaluation)
        ],
        "rows": [
            {
                "alpha": row.config.alpha,
                "fusion": row.config.fusion.value,
                "rerank": row.config.rerank,
                "learned": row.config.learned,
                "skipped": row.skipped,
                "note": row.note,
                "stands_for": [
                    {"alpha": config.alpha, "fusion": config.fusion.value} for config in row.stands_for or [row.config]
                ],
                "best": row in best,
                **({} if row.skipped else figures(row.recall, row.mrr, row.ndcg)),
                "per_query": [
                    {
                        "query": query.label,
                        "source": query.source,
                        "first_relevant_rank": score.first_relevant_rank,
                        "learned_from_votes": query.source in row.learned_from,
                        **figures(score.recall, score.reciprocal_rank, score.ndcg),
                    }
                    for query, score in row.per_query
                ],
            }
            for row in evaluation.rows
        ],
    }
