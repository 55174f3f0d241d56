"""Where the Weaviate schema is applied: weaviate/collection.toml -> typed weaviate-client config.

The data file says what the collection holds; this module turns it into `Property`,
`Configure.Vectors.self_provided(...)`, inverted-index, replication and sharding objects
of the real client, so that a bad setting fails here with the file and key named rather
than as an HTTP 422 from the server.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weaviate.classes.config import (
    Configure,
    DataType,
    Property,
    StopwordsPreset,
    Tokenization,
    VectorDistances,
)

from pipeline.errors import StoreError

# weaviate/collection.toml, shipped inside the package through this link (pyproject.toml package data)
DEFAULT_SCHEMA_FILE = Path(__file__).with_name("weaviate_collection.toml")

DATA_TYPES = {
    "text": DataType.TEXT,
    "int": DataType.INT,
    "number": DataType.NUMBER,
    "boolean": DataType.BOOL,
    "date": DataType.DATE,
    "blob": DataType.BLOB,
}
RANGE_TYPES = {DataType.INT, DataType.NUMBER, DataType.DATE}
QUANTIZERS = ("none", "rq", "sq", "pq", "bq")
DISTANCES = {"cosine": VectorDistances.COSINE, "dot": VectorDistances.DOT, "l2-squared": VectorDistances.L2_SQUARED}
DEFAULT_BOOSTS = {"ocr_tokens": 1.0, "caption_tokens": 1.0, "label_tokens": 1.0}
STOPWORDS = {"en": StopwordsPreset.EN, "none": StopwordsPreset.NONE}


@dataclass(frozen=True)
class PropertySpec:
    name: str
    data_type: DataType
    tokenization: Tokenization | None = None
    filterable: bool = False
    searchable: bool = False
    range_filters: bool = False

    def to_property(self) -> Property:
        """The client's Property, with every index flag explicit (Weaviate's defaults index all text)."""
        if self.data_type == DataType.BLOB:
            return Property(name=self.name, data_type=self.data_type)
        options: dict[str, Any] = {"index_filterable": self.filterable}
        if self.data_type == DataType.TEXT:
            options.update(index_searchable=self.searchable, tokenization=self.tokenization)
        if self.data_type in RANGE_TYPES:
            options["index_range_filters"] = self.range_filters
        return Property(name=self.name, data_type=self.data_type, **options)


@dataclass(frozen=True)
class CollectionSpec:
    """Everything weaviate/collection.toml says, checked and typed."""

    source: str
    description: str
    properties: tuple[PropertySpec, ...]
    metadata_text: PropertySpec  # name holds the prefix
    metadata_number: PropertySpec
    vector_name: str = "default"
    distance: VectorDistances = VectorDistances.COSINE
    quantization: str = "none"
    ef: int = -1
    ef_construction: int = 128
    max_connections: int = 32
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    stopwords: StopwordsPreset = StopwordsPreset.EN
    boosts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_BOOSTS))
    index_null_state: bool = True
    index_property_length: bool = False
    index_timestamps: bool = False
    replication_factor: int = 1
    shard_count: int = 1

    @property
    def metadata_prefix(self) -> str:
        return self.metadata_text.name

    @property
    def number_prefix(self) -> str:
        return self.metadata_number.name

    def property(self, name: str) -> PropertySpec:
        return next(prop for prop in self.properties if prop.name == name)

    def query_properties(self) -> list[str]:
        """BM25F properties with their boosts, in the client's `name^boost` form."""
        return [name if boost == 1 else f"{name}^{boost:g}" for name, boost in self.boosts.items()]

    def metadata_properties(self, column: str) -> list[PropertySpec]:
        """The two properties that hold manifest column `column` (text, and its numeric reading)."""
        return [
            dataclasses.replace(self.metadata_text, name=self.metadata_prefix + column),
            dataclasses.replace(self.metadata_number, name=self.number_prefix + column),
        ]

    def with_overrides(
        self,
        *,
        quantization: str | None = None,
        replication_factor: int | None = None,
        shard_count: int | None = None,
        boosts: dict[str, float] | None = None,
    ) -> CollectionSpec:
        """This spec with deployment settings (VLSEARCH_WEAVIATE_*) applied over the file's values."""
        changes: dict[str, Any] = {}
        if quantization is not None:
            changes["quantization"] = _choice(self.source, "vector.quantization", quantization, QUANTIZERS)
        if replication_factor is not None:
            changes["replication_factor"] = _positive(self.source, "cluster.replication_factor", replication_factor)
        if shard_count is not None:
            changes["shard_count"] = _positive(self.source, "cluster.shard_count", shard_count)
        if boosts is not None:
            changes["boosts"] = _boosts(self.source, boosts, {p.name for p in self.properties if p.searchable})
        return dataclasses.replace(self, **changes)


def load_spec(path: Path | None = None, profile: str | None = None) -> CollectionSpec:
    """Read and check a collection definition (default weaviate/collection.toml); StoreError names file and key.

    `profile` picks a `[profiles.<name>]` table of the file whose tables are laid over the top-level
    ones, key by key (e.g. `[profiles.cluster.cluster] replication_factor = 3` for a three-node cluster).
    """
    path = path or DEFAULT_SCHEMA_FILE
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise StoreError(f"cannot read the Weaviate collection definition {source}: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise StoreError(f"{source} is not valid TOML: {error}") from error
    if profile:
        data = _with_profile(source, data, profile)
    try:
        return _spec(source, data)
    except (KeyError, TypeError) as error:
        raise StoreError(f"{source}: missing or malformed setting {error}") from error


def _with_profile(source: str, data: dict[str, Any], profile: str) -> dict[str, Any]:
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or profile not in profiles:
        known = ", ".join(sorted(profiles)) if isinstance(profiles, dict) else ""
        raise StoreError(f"{source} has no profile {profile!r} (profiles: {known or 'none'})")
    merged = dict(data)
    for table, values in profiles[profile].items():
        if not isinstance(values, dict) or not isinstance(data.get(table, {}), dict):
            raise StoreError(f"{source}: profiles.{profile}.{table} must be a table over the [{table}] table")
        merged[table] = {**data.get(table, {}), **values}
    return merged


def _spec(source: str, data: dict[str, Any]) -> CollectionSpec:
    raw_text = data.get("raw_text", {})
    raw_tokenization = _tokenization(source, "raw_text.tokenization", raw_text.get("tokenization", "word"))
    properties = []
    for name, options in data["properties"].items():
        where = f"properties.{name}"
        if options.get("raw_text"):
            options = {**options, "searchable": bool(raw_text.get("searchable", False))}
            tokenization: Tokenization | None = raw_tokenization
        else:
            tokenization = None
        properties.append(_property(source, where, name, options, tokenization))
    metadata = data["metadata"]
    vector = data.get("vector", {})
    bm25 = data.get("bm25", {})
    inverted = data.get("inverted_index", {})
    cluster = data.get("cluster", {})
    if vector.get("index", "hnsw") != "hnsw":
        raise StoreError(f"{source}: vector.index must be 'hnsw', got {vector.get('index')!r}")
    searchable = {prop.name for prop in properties if prop.searchable}
    return CollectionSpec(
        source=source,
        description=data.get("collection", {}).get("description", ""),
        properties=tuple(properties),
        metadata_text=_property(source, "metadata.text", metadata["text"]["prefix"], metadata["text"], None),
        metadata_number=_property(source, "metadata.number", metadata["number"]["prefix"], metadata["number"], None),
        vector_name=str(vector.get("name", "default")),
        distance=DISTANCES[_choice(source, "vector.distance", vector.get("distance", "cosine"), tuple(DISTANCES))],
        quantization=_choice(source, "vector.quantization", vector.get("quantization", "none"), QUANTIZERS),
        ef=int(vector.get("ef", -1)),
        ef_construction=_positive(source, "vector.ef_construction", vector.get("ef_construction", 128)),
        max_connections=_positive(source, "vector.max_connections", vector.get("max_connections", 32)),
        bm25_k1=float(bm25.get("k1", 1.2)),
        bm25_b=float(bm25.get("b", 0.75)),
        stopwords=STOPWORDS[_choice(source, "bm25.stopwords", bm25.get("stopwords", "en"), tuple(STOPWORDS))],
        boosts=_boosts(source, bm25.get("boosts", DEFAULT_BOOSTS), searchable),
        index_null_state=bool(inverted.get("index_null_state", True)),
        index_property_length=bool(inverted.get("index_property_length", False)),
        index_timestamps=bool(inverted.get("index_timestamps", False)),
        replication_factor=_positive(source, "cluster.replication_factor", cluster.get("replication_factor", 1)),
        shard_count=_positive(source, "cluster.shard_count", cluster.get("shard_count", 1)),
    )


def _property(
    source: str, where: str, name: str, options: dict[str, Any], tokenization: Tokenization | None
) -> PropertySpec:
    data_type = DATA_TYPES[_choice(source, f"{where}.data_type", options["data_type"], tuple(DATA_TYPES))]
    if data_type == DataType.TEXT and tokenization is None:
        tokenization = _tokenization(source, f"{where}.tokenization", options.get("tokenization", "field"))
    elif data_type != DataType.TEXT and "tokenization" in options:
        raise StoreError(f"{source}: {where}.tokenization only applies to text properties")
    if options.get("searchable") and data_type != DataType.TEXT:
        raise StoreError(f"{source}: {where}.searchable only applies to text properties")
    if options.get("range_filters") and data_type not in RANGE_TYPES:
        raise StoreError(f"{source}: {where}.range_filters only applies to int, number and date properties")
    return PropertySpec(
        name=name,
        data_type=data_type,
        tokenization=tokenization if data_type == DataType.TEXT else None,
        filterable=bool(options.get("filterable", False)),
        searchable=bool(options.get("searchable", False)),
        range_filters=bool(options.get("range_filters", False)),
    )


def _choice(source: str, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise StoreError(f"{source}: {key} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


def _tokenization(source: str, key: str, value: Any) -> Tokenization:
    allowed = tuple(token.value for token in Tokenization)
    return Tokenization(_choice(source, key, value, allowed))


def _positive(source: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StoreError(f"{source}: {key} must be a whole number of at least 1; got {value!r}")
    return value


def _boosts(source: str, boosts: dict[str, Any], searchable: set[str]) -> dict[str, float]:
    if not boosts:
        raise StoreError(f"{source}: bm25.boosts needs at least one property")
    checked: dict[str, float] = {}
    for name, boost in boosts.items():
        if name not in searchable:
            known = ", ".join(sorted(searchable))
            raise StoreError(f"{source}: bm25.boosts.{name}: not a searchable property ({known})")
        if isinstance(boost, bool) or not isinstance(boost, (int, float)) or boost <= 0:
            raise StoreError(f"{source}: bm25.boosts.{name} must be a positive number; got {boost!r}")
        checked[name] = float(boost)
    return checked


# typed client objects ----------------------------------------------------------------------


def quantizer(name: str) -> Any:
    """The client's quantizer config; "none" is explicit because recent servers default to RQ."""
    factory: Any = Configure.VectorIndex.Quantizer
    return {"none": factory.none, "rq": factory.rq, "sq": factory.sq, "pq": factory.pq, "bq": factory.bq}[name]()


def vector_config(spec: CollectionSpec) -> Any:
    """The self-provided named vector: vlsearch computes the embeddings, Weaviate indexes them."""
    return Configure.Vectors.self_provided(
        name=spec.vector_name,
        vector_index_config=Configure.VectorIndex.hnsw(
            distance_metric=spec.distance,
            ef=spec.ef,
            ef_construction=spec.ef_construction,
            max_connections=spec.max_connections,
            quantizer=quantizer(spec.quantization),
        ),
    )


def create_arguments(spec: CollectionSpec, metadata_columns: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Keyword arguments for `client.collections.create(name, **arguments)`."""
    properties = [prop.to_property() for prop in spec.properties]
    for column in metadata_columns:
        properties.extend(prop.to_property() for prop in spec.metadata_properties(column))
    return {
        "description": spec.description,
        "properties": properties,
        "vector_config": vector_config(spec),
        "inverted_index_config": Configure.inverted_index(
            bm25_k1=spec.bm25_k1,
            bm25_b=spec.bm25_b,
            stopwords_preset=spec.stopwords,
            index_null_state=spec.index_null_state,
            index_property_length=spec.index_property_length,
            index_timestamps=spec.index_timestamps,
        ),
        "replication_config": Configure.replication(factor=spec.replication_factor),
        "sharding_config": Configure.sharding(desired_count=spec.shard_count),
    }
