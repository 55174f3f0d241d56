"""The Weaviate schema and filter translation, on the real weaviate-client classes (no server)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from weaviate.classes.config import DataType, Tokenization
from weaviate.collections.classes.config import _CollectionConfigCreate
from weaviate.collections.classes.filters import _Filters, _FilterValue
from weaviate.collections.filters import _FilterToGRPC

from pipeline.errors import BadInput, StoreError
from pipeline.records import AssetRecord
from pipeline.store.base import FILTERABLE_FIELDS
from pipeline.store.weaviate_filters import numeric_value, parse_weaviate_filter
from pipeline.store.weaviate_schema import DEFAULT_SCHEMA_FILE, create_arguments, load_spec

ROOT = Path(__file__).resolve().parents[1]
METADATA = ("category", "priority", "ticket_id")


@pytest.fixture(scope="module")
def spec():
    return load_spec()


@pytest.fixture(scope="module")
def payload(spec):
    """The collection definition exactly as the client would send it to the server."""
    return _CollectionConfigCreate(name="Assets", **create_arguments(spec, ["category"]))._to_dict()


def properties_of(payload):
    return {prop["name"]: prop for prop in payload["properties"]}


def shape(node: _Filters):
    """A filter tree as plain tuples: (operator, property, value) or (operator, [children])."""
    if isinstance(node, _FilterValue):
        return (node.operator.value, node.target, node.value)
    return (node.operator.value, [shape(child) for child in node.filters])


def where(expression: str):
    node = parse_weaviate_filter(expression, METADATA)
    _FilterToGRPC.convert(node)  # the client can serialise it
    return shape(node)


# the collection --------------------------------------------------------------------------------


def test_every_record_field_is_a_property_with_its_type(payload):
    props = properties_of(payload)
    stored = {f.name for f in dataclasses.fields(AssetRecord)} - {"id", "metadata", "vector"}
    derived = {"ocr_tokens", "caption_tokens", "label_tokens", "visual_words", "has_vector", "has_caption"}
    assert stored | derived == set(props) - {"m_category", "n_category"}
    types = {name: prop["dataType"][0] for name, prop in props.items()}
    assert types == {
        "uri": "text",
        "sha256": "text",
        "width": "int",
        "height": "int",
        "mime": "text",
        "source_kind": "text",
        "parent_uri": "text",
        "page": "int",
        "timestamp_s": "number",
        "ocr_text": "text",
        "caption": "text",
        "ocr_tokens": "text",
        "caption_tokens": "text",
        "label_tokens": "text",
        "visual_words": "text",
        "pdq": "text",
        "pdq_quality": "int",
        "thumbnail": "blob",
        "ocr_model": "text",
        "caption_model": "text",
        "embed_model": "text",
        "ingested_at": "date",
        "has_vector": "boolean",
        "has_caption": "boolean",
        "m_category": "text",
        "n_category": "number",
    }


def test_bm25_searches_only_the_analysed_copies_with_word_tokenization(payload):
    props = properties_of(payload)
    searchable = {name for name, prop in props.items() if prop.get("indexSearchable")}
    # The analysed text, metadata values and file name; and the visual words, which only image queries search.
    assert searchable == {"ocr_tokens", "caption_tokens", "label_tokens", "visual_words"}
    assert {props[name]["tokenization"] for name in searchable} == {"word"}
    assert not props["ocr_tokens"]["indexFilterable"]
    # The raw text is stored and returned, not indexed (Weaviate would index every text by default).
    for raw in ("ocr_text", "caption"):
        assert props[raw]["indexSearchable"] is False and props[raw]["indexFilterable"] is False


def test_filterable_fields_compare_whole_values(payload):
    props = properties_of(payload)
    for name, kind in FILTERABLE_FIELDS.items():
        assert props[name]["indexFilterable"] is True, name
        if kind == "text":
            assert props[name]["tokenization"] == "field", name
        else:
            assert props[name]["dataType"][0] in ("int", "number") and props[name]["indexRangeFilters"], name
    for name in ("uri", "sha256", "pdq"):
        assert props[name]["tokenization"] == "field"
    assert props["m_category"]["tokenization"] == "field" and props["m_category"]["indexSearchable"] is False
    assert props["n_category"]["indexRangeFilters"] is True
    assert "indexFilterable" not in props["thumbnail"]


def test_named_vector_is_self_provided_hnsw_cosine_without_quantization_by_default(payload):
    assert payload["vectorConfig"] == {
        "default": {
            "vectorizer": {"none": {}},
            "vectorIndexType": "hnsw",
            "vectorIndexConfig": {
                "distance": "cosine",
                "ef": -1,
                "efConstruction": 128,
                "maxConnections": 32,
                "skipDefaultQuantization": True,  # recent servers would apply RQ otherwise
            },
        }
    }


@pytest.mark.parametrize(
    ("quantization", "expected"),
    [
        ("rq", {"rq": {"enabled": True}}),
        ("sq", {"sq": {"enabled": True}}),
        ("pq", {"pq": {"enabled": True, "encoder": {}}}),
    ],
)
def test_quantization_is_a_setting(spec, quantization, expected):
    arguments = create_arguments(spec.with_overrides(quantization=quantization))
    payload = _CollectionConfigCreate(name="Assets", **arguments)._to_dict()
    index = payload["vectorConfig"]["default"]["vectorIndexConfig"]
    assert {key: index[key] for key in expected} == expected
    assert "skipDefaultQuantization" not in index


def test_bm25_stopwords_null_state_replication_and_shards(spec, payload):
    inverted = payload["invertedIndexConfig"]
    assert inverted["bm25"] == {"k1": 1.2, "b": 0.75}
    assert inverted["indexNullState"] is True
    assert str(inverted["stopwords"]["preset"].value) == "en"
    assert payload["replicationConfig"] == {"factor": 1}
    assert payload["shardingConfig"]["desiredCount"] == 1
    scaled = _CollectionConfigCreate(
        name="Assets", **create_arguments(spec.with_overrides(replication_factor=3, shard_count=6))
    )._to_dict()
    assert scaled["replicationConfig"] == {"factor": 3}
    assert scaled["shardingConfig"]["desiredCount"] == 6


def test_property_boosts(spec):
    assert spec.query_properties() == ["ocr_tokens", "caption_tokens", "label_tokens"]
    boosted = spec.with_overrides(boosts={"ocr_tokens": 1, "caption_tokens": 2.5, "label_tokens": 0.5})
    assert boosted.query_properties() == ["ocr_tokens", "caption_tokens^2.5", "label_tokens^0.5"]
    with pytest.raises(StoreError, match="not a searchable property"):
        spec.with_overrides(boosts={"uri": 2})
    with pytest.raises(StoreError, match="quantization must be one of"):
        spec.with_overrides(quantization="zip")


def test_metadata_columns_are_stored_as_text_and_as_a_number(spec):
    text, number = spec.metadata_properties("priority")
    assert (text.name, text.data_type, text.tokenization, text.filterable) == (
        "m_priority",
        DataType.TEXT,
        Tokenization.FIELD,
        True,
    )
    assert (number.name, number.data_type, number.range_filters) == ("n_priority", DataType.NUMBER, True)
    readings = [numeric_value(v) for v in ("10", "-2.5", "1e3", "SUP-1", "nan", "", " 3")]
    assert readings == [10.0, -2.5, 1000.0, None, None, None, None]


def test_raw_text_tokenization_can_be_gse(tmp_path):
    text = DEFAULT_SCHEMA_FILE.read_text(encoding="utf-8")
    custom = tmp_path / "collection.toml"
    custom.write_text(
        text.replace('tokenization = "word"\nsearchable = false', 'tokenization = "gse"\nsearchable = true')
    )
    gse = load_spec(custom)
    assert gse.property("ocr_text").tokenization == Tokenization.GSE and gse.property("ocr_text").searchable
    assert gse.property("ocr_tokens").tokenization == Tokenization.WORD


def test_bad_definition_names_the_file_and_key(tmp_path):
    bad = tmp_path / "collection.toml"
    text = DEFAULT_SCHEMA_FILE.read_text(encoding="utf-8")
    bad.write_text(text.replace('tokenization = "word"\nsearchable', 'tokenization = "klingon"\nsearchable'))
    with pytest.raises(StoreError, match=r"collection\.toml: raw_text\.tokenization must be one of .*'klingon'"):
        load_spec(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("[vector\n")
    with pytest.raises(StoreError, match="broken.toml is not valid TOML"):
        load_spec(broken)


def test_weaviate_folder_does_not_shadow_the_client_library():
    assert not any(path.suffix == ".py" for path in (ROOT / "weaviate").rglob("*"))
    probe = "import weaviate; print(weaviate.__file__); print(hasattr(weaviate, 'connect_to_local'))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    location, has_connect = result.stdout.split()
    assert "site-packages" in location and has_connect == "True"


# filters --------------------------------------------------------------------------------------


NOT_NULL = ("IsNull", "m_category", False)


def test_comparisons():
    assert where("category = 'billing'") == ("Equal", "m_category", "billing")
    assert where("width >= 640") == ("GreaterThanEqual", "width", 640)
    assert where("timestamp_s < 2") == ("LessThan", "timestamp_s", 2.0)
    assert where("height <= '480'") == ("LessThanEqual", "height", 480)
    assert where("ticket_id > 'SUP-2'") == ("GreaterThan", "m_ticket_id", "SUP-2")


def test_numeric_literals_on_metadata_use_the_numeric_copy():
    assert where("priority > 2") == ("GreaterThan", "n_priority", 2.0)
    grpc = _FilterToGRPC.convert(parse_weaviate_filter("priority > 2", METADATA))
    assert grpc.value_number == 2.0 and grpc.target.property == "n_priority"
    assert _FilterToGRPC.convert(parse_weaviate_filter("width = 640", METADATA)).value_int == 640


def test_not_equal_excludes_nulls_like_sql():
    assert where("category != 'x'") == ("And", [("NotEqual", "m_category", "x"), NOT_NULL])
    assert where("category <> 'x'") == where("category != 'x'")


def test_in_lists():
    assert where("category IN ('login', 'sync')") == ("ContainsAny", "m_category", ["login", "sync"])
    assert where("category NOT IN ('a')") == ("And", [("ContainsNone", "m_category", ["a"]), NOT_NULL])
    assert where("page IN (1, 2.5, 3)") == ("ContainsAny", "page", [1, 3])
    with pytest.raises(BadInput, match="mixes numbers and text"):
        where("priority IN (1, 'a')")


def test_like_and_is_null():
    assert where("ticket_id LIKE 'SUP-%'") == ("Like", "m_ticket_id", "SUP-*")
    assert where("ticket_id LIKE 'SUP-_'") == ("Like", "m_ticket_id", "SUP-?")
    assert where("category NOT LIKE 'b%'") == ("And", [("Not", [("Like", "m_category", "b*")]), NOT_NULL])
    assert where("ticket_id IS NULL") == ("IsNull", "m_ticket_id", True)
    assert where("parent_uri IS NOT NULL") == ("IsNull", "parent_uri", False)


def test_and_or_and_not_by_de_morgan():
    assert where("category = 'a' AND (width > 1 OR page = 2)") == (
        "And",
        [("Equal", "m_category", "a"), ("Or", [("GreaterThan", "width", 1), ("Equal", "page", 2)])],
    )
    assert where("NOT (category = 'a' OR width > 1)") == (
        "And",
        [("And", [("NotEqual", "m_category", "a"), NOT_NULL]), ("LessThanEqual", "width", 1)],
    )
    assert where("NOT category IN ('a') AND width = 640") == (
        "And",
        [("And", [("ContainsNone", "m_category", ["a"]), NOT_NULL]), ("Equal", "width", 640)],
    )
    assert where("NOT NOT category = 'a'") == ("Equal", "m_category", "a")
    assert where("NOT ticket_id IS NULL") == ("IsNull", "m_ticket_id", False)


def test_fractional_values_on_whole_number_fields():
    assert where("width > 640.5") == ("GreaterThanEqual", "width", 641)
    assert where("width <= 640.5") == ("LessThanEqual", "width", 640)
    assert where("width = 640.5") == ("And", [("GreaterThan", "width", 0), ("LessThan", "width", 1)])


def test_whole_numbers_beyond_64_bits_compare_like_the_nearest_bound():
    # Before, the client refused them while sending the query ("Value out of range"), a raw ValueError.
    assert where("width > " + "9" * 30) == ("GreaterThan", "width", 2**63 - 1)
    assert where("page IN (1, -" + "9" * 30 + ")") == ("ContainsAny", "page", [1, -(2**63)])


def test_nesting_and_number_limits_are_the_shared_parsers():
    with pytest.raises(BadInput, match="the limit is 8"):
        where("NOT " * 26 + "category = 'a'")
    with pytest.raises(BadInput, match="is too large"):
        where("width > " + "9" * 400 + ".5")
    assert where("NOT " * 8 + "category = 'a'") == ("Equal", "m_category", "a")


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("colour = 'red'", "unknown field 'colour'"),
        ("category =", "expected a value"),
        ("uri = 5", "uri is text: compare it with a quoted value"),
        ("width = 'wide'", "width is a number; 'wide' is not"),
        ("width = TRUE", "TRUE and FALSE do not compare"),
        ("width LIKE '6%'", "LIKE needs a text field"),
        ("ticket_id LIKE 'a*'", "Weaviate cannot match literally"),
    ],
)
def test_bad_expressions_are_bad_input(expression, reason):
    with pytest.raises(BadInput, match=reason) as caught:
        parse_weaviate_filter(expression, METADATA)
    assert expression in caught.value.source


# deployment ------------------------------------------------------------------------------------


def test_docker_compose_runs_a_pinned_weaviate_without_vectorizers_and_with_api_keys():
    yaml = pytest.importorskip("yaml")
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    weaviate_service = services["weaviate"]
    image, tag = weaviate_service["image"].rsplit(":", 1)
    assert image == "cr.weaviate.io/semitechnologies/weaviate" and tag.count(".") == 2
    env = weaviate_service["environment"]
    assert env["DEFAULT_VECTORIZER_MODULE"] == "none"
    assert env["ENABLE_TOKENIZER_GSE"] == "true" and env["AUTHENTICATION_APIKEY_ENABLED"] == "true"
    assert env["AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED"] == "false"
    assert {"8080:8080", "50051:50051"} <= {":".join(port.split(":")[-2:]) for port in weaviate_service["ports"]}
    assert "/v1/.well-known/ready" in " ".join(weaviate_service["healthcheck"]["test"])
    for name in ("app", "app-gpu"):
        app = services[name]
        assert app["depends_on"]["weaviate"]["condition"] == "service_healthy"
        assert app["environment"]["VLSEARCH_STORE"] == "weaviate"
        assert app["environment"]["VLSEARCH_WEAVIATE_URL"] == "http://weaviate:8080"
    assert services["app-gpu"]["profiles"] == ["gpu"]
    assert services["app-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"


def test_the_cluster_profile_replicates_every_shard_three_times_and_the_default_once():
    assert load_spec().replication_factor == 1
    cluster = load_spec(profile="cluster")
    assert cluster.replication_factor == 3
    assert dataclasses.replace(cluster, replication_factor=1, source=load_spec().source) == load_spec()  # nothing else


def test_an_unknown_or_malformed_profile_names_the_file(tmp_path):
    with pytest.raises(StoreError, match=r"collection\.toml has no profile 'klingon' \(profiles: cluster\)"):
        load_spec(profile="klingon")
    bad = tmp_path / "collection.toml"
    bad.write_text(DEFAULT_SCHEMA_FILE.read_text(encoding="utf-8") + "\n[profiles.odd]\ncluster = 3\n")
    with pytest.raises(StoreError, match=r"profiles\.odd\.cluster must be a table"):
        load_spec(bad, "odd")
