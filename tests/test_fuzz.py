"""Property-based fuzzing of every input a user types or uploads: filter expressions, manifest rows,
query strings and image bytes. Each either works or is refused with a BadInput naming the input;
no other exception escapes and the store is unchanged by what it refused.
"""

from __future__ import annotations

import io
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from pipeline.errors import BadInput
from pipeline.images import DecodedImage, ImageLimits, decode_image
from pipeline.ingest.ingestor import Ingestor, Outcome
from pipeline.ingest.sources import SourceItem, read_manifest
from pipeline.ocr import RapidOcrEngine
from pipeline.records import AssetRecord, SourceKind, asset_id
from pipeline.search.searcher import Searcher, SearchResult
from pipeline.store.base import FILTERABLE_FIELDS
from pipeline.store.filters import parse_filter
from pipeline.store.lance_engine import LanceStore
from tests.ingest_runs import problems

# Derandomized: CI runs the same examples every time; fuzz/ (atheris) is where new ground is explored.
FUZZ = settings(
    max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
METADATA = {"category": ("billing", "login", "it's"), "app": ("PayFlow", "Nimbus ID", "支付")}
TEXTS = ("alpha invoice overdue", "bravo refund 退款", "charlie login failed", "delta receipt")
INJECTIONS = (
    "' OR 1=1 --",
    "category = 'x'; DROP TABLE assets; --",
    "category = 'a' OR '1'='1'",
    "); DROP TABLE assets; --",
    "category = '\x00'",
    "category = 'it''s' AND app IN ('PayFlow', \"x\")",
    "width > 99999999999999999999999999",
    "width > -0.0000000000000000001",
    "category LIKE '%' ESCAPE '\\'",
    "app = '\u202egnp.exe'",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LanceStore:
    """Four whole records with metadata columns, keyword-indexed, as a small real collection."""
    store = LanceStore(tmp_path_factory.mktemp("fuzz-store"), dim=8)
    thumbnail = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(thumbnail, format="JPEG")
    records = [
        AssetRecord(
            id=asset_id(f"{number:064x}"),
            uri=f"/collection/{number}.png",
            sha256=f"{number:064x}",
            width=64,
            height=32,
            mime="image/png",
            source_kind=SourceKind.IMAGE,
            ocr_text=text,
            caption="",
            pdq="0" * 64,
            pdq_quality=100,
            thumbnail=thumbnail.getvalue(),
            ocr_model="rapidocr",
            caption_model="",
            embed_model="",
            ingested_at=datetime.now(UTC),
            vector=None,
            metadata={"category": METADATA["category"][number % 3], "app": METADATA["app"][number % 3]},
        )
        for number, text in enumerate(TEXTS)
    ]
    store.upsert(records)
    store.optimize()
    return store


@pytest.fixture(scope="module")
def ocr() -> RapidOcrEngine:
    return RapidOcrEngine()


def names_the_filter(error: BadInput, expression: str) -> bool:
    return error.source == "filter" or error.source == f"filter {expression!r}"


# (a) filter expressions -------------------------------------------------------------------------

FIELDS = st.sampled_from([*METADATA, "width", "mime", "page", "timestamp_s", "nope", "id", "NULL", "_rowid"])
VALUES = st.one_of(
    st.text(max_size=12).map(lambda text: "'" + text.replace("'", "''") + "'"),
    st.text(max_size=12).map(lambda text: f"'{text}'"),  # quotes left unescaped
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["TRUE", "FALSE", "NULL", "1e309", "-", "''''", "'%'", "'_'", "'\\'"]),
)
CONDITIONS = st.one_of(
    st.tuples(FIELDS, st.sampled_from(["=", "!=", "<>", "<", "<=", ">", ">=", "=="]), VALUES).map(" ".join),
    st.tuples(FIELDS, st.sampled_from(["IN", "NOT IN"]), st.lists(VALUES, max_size=4)).map(
        lambda parts: f"{parts[0]} {parts[1]} ({', '.join(parts[2])})"
    ),
    st.tuples(FIELDS, st.sampled_from(["LIKE", "NOT LIKE"]), VALUES).map(" ".join),
    st.tuples(FIELDS, st.sampled_from(["IS NULL", "IS NOT NULL", "IS", "NOT"])).map(" ".join),
)
EXPRESSIONS = st.recursive(
    CONDITIONS,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" AND ", " OR ", " and ", " XOR ", " "]), inner).map("".join),
        inner.map(lambda expression: f"NOT ({expression})"),
        inner.map(lambda expression: f"({expression}"),
    ),
    max_leaves=6,
)
ANY_FILTER = st.one_of(EXPRESSIONS, st.text(max_size=80), st.sampled_from(INJECTIONS))


@FUZZ
@given(expression=ANY_FILTER)
@example(expression="x" * 2001)
def test_a_filter_expression_parses_or_is_refused_with_its_text(expression):
    fields = {**FILTERABLE_FIELDS, **{name: "text" for name in METADATA}}
    try:
        parse_filter(expression, fields)
    except BadInput as error:
        assert names_the_filter(error, expression) and error.reason


@FUZZ
@given(expression=ANY_FILTER)
@example(expression=INJECTIONS[1])
# Found by this test: Lance refused these literals for a 32-bit or number column with a raw ValueError.
@example(expression="width > 99999999999999999999999999")
@example(expression="width > 1.5")
@example(expression="page IN (1, 99999999999)")
@example(expression="width = TRUE")
@example(expression="width LIKE '1%'")
@example(expression="timestamp_s = 'x'")
@example(expression="mime IN ('a', 2)")
# Nesting and numbers beyond the limits: Lance raised a raw ValueError, Python a RecursionError.
@example(expression="NOT " * 26 + "category = 'billing'")
@example(expression="(" * 700 + "category = 'billing'" + ")" * 700)
@example(expression="width > " + "9" * 400 + ".5")
def test_a_filter_on_the_store_answers_or_is_refused_and_changes_nothing(store, expression):
    before = store.count()
    try:
        matched = store.count(where=expression)
        hits = store.hybrid(text="invoice refund login receipt", vector=None, alpha=0.0, limit=10, where=expression)
    except BadInput as error:
        assert names_the_filter(error, expression) and error.reason
    else:
        assert 0 <= matched <= before and len(hits) <= matched
    assert store.count() == before


# (b) manifest rows ------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
ROW_KEYS = st.one_of(st.sampled_from(["path", "url", "category", "id", "uri", "1bad", "a b", ""]), st.text(max_size=8))
JSON_LINES = st.one_of(
    st.dictionaries(ROW_KEYS, JSON_VALUES, max_size=5).map(lambda row: json.dumps(row, ensure_ascii=False)),
    JSON_VALUES.map(json.dumps),
    st.text(max_size=60),  # broken JSON, control characters, stray separators
    st.sampled_from(['{"path": "a.png", "note": "' + "x" * 100_000 + '"}', '{"url": "file:///etc/passwd"}']),
)
CSV_CELLS = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)
CSV_LINES = st.lists(CSV_CELLS, min_size=1, max_size=4).map(",".join)


def read_generated_manifest(suffix: str, lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / f"manifest{suffix}"
        manifest.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
        try:
            collected = read_manifest(manifest)
        except BadInput as error:  # the whole file refused (a CSV without a usable header)
            assert error.source == str(manifest) and error.reason
            return
        for item in collected.items:
            assert isinstance(item, SourceItem) and item.uri
            assert all(isinstance(value, str) for value in item.metadata.values())
        for problem in collected.problems:
            assert isinstance(problem, BadInput) and problem.source.startswith(str(manifest)) and problem.reason


@FUZZ
@given(lines=st.lists(JSON_LINES, max_size=6))
# Deep JSON raised RecursionError and a huge integer ValueError, each ending the whole manifest.
@example(lines=['{"path": "a.png"}', "[" * 100_000, '{"n": ' + "1" * 5000 + "}"])
def test_a_jsonl_manifest_yields_items_and_problems_naming_their_line(lines):
    read_generated_manifest(".jsonl", lines)


@FUZZ
@given(
    header=st.sampled_from(["path,category", "url,app", "path,path", "", "path,1bad", "path,id"]),
    rows=st.lists(CSV_LINES, max_size=6),
)
@example(header="path,category", rows=["a.png," + "x" * 200_000, "b.png,x"])  # over csv's field limit
def test_a_csv_manifest_yields_items_and_problems_naming_their_line(header, rows):
    read_generated_manifest(".csv", [header, *rows])


# (c) query strings ------------------------------------------------------------------------------

QUERIES = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=20),
    st.sampled_from(
        [
            "",
            " ",
            "x" * 100_000,
            "invoice" * 300,
            "\x00",
            '"unterminated',
            "title:foo AND (bar OR",
            "a* ?b ~c^2",
            "'; DROP TABLE assets; --",
            "🧾💳🔒",
            "فاتورة الدفع",
            "退款 发票",
            "\u202e\u200f",
            "NOT",
            "OR OR OR",
        ]
    ),
)


@FUZZ
@given(query=QUERIES)
@example(query="x" * 100_000)
def test_a_query_string_gives_results_or_a_clear_refusal(store, ocr, query):
    before = store.count()
    try:
        result = Searcher(store, ocr, None).search(text=query, alpha=0.5, limit=5)
    except BadInput as error:
        assert error.source in ("query", "query text") and error.reason
    else:
        assert isinstance(result, SearchResult) and len(result.hits) <= 5
    assert store.count() == before


# (d) mutated image bytes ------------------------------------------------------------------------


def _encoded(fmt: str) -> bytes:
    image = Image.new("RGB", (24, 16), (30, 90, 200))
    image.putpixel((3, 3), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


SEEDS = {fmt: _encoded(fmt) for fmt in ("PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP")}
MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "truncate", "insert"]), st.integers(0, 10_000), st.binary(min_size=1, max_size=8)
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, mutations: list[tuple[str, int, bytes]]) -> bytes:
    for kind, position, payload in mutations:
        at = position % (len(data) + 1)
        if kind == "flip" and at < len(data):
            data = data[:at] + bytes([data[at] ^ payload[0]]) + data[at + 1 :]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "insert":
            data = data[:at] + payload + data[at:]
    return data


CORRUPT_FILE_WARNINGS = pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow's notes on what it skipped


@CORRUPT_FILE_WARNINGS
@FUZZ
@given(fmt=st.sampled_from(sorted(SEEDS)), mutations=MUTATIONS)
def test_mutated_image_bytes_decode_or_are_refused_naming_the_file(fmt, mutations):
    data = mutate(SEEDS[fmt], mutations)
    try:
        decoded = decode_image(data, "upload.bin", max_pixels=1_000_000)
    except BadInput as error:
        assert error.source == "upload.bin" and error.reason
    else:
        assert isinstance(decoded, DecodedImage) and decoded.image.mode == "RGB"


@CORRUPT_FILE_WARNINGS
@settings(FUZZ, max_examples=12)
@given(fmt=st.sampled_from(sorted(SEEDS)), mutations=MUTATIONS)
def test_ingesting_mutated_images_stores_whole_records_or_reports_the_file(store, ocr, fmt, mutations):
    before = store.count()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"mutated.{fmt.lower()}"
        path.write_bytes(mutate(SEEDS[fmt], mutations))
        ingestor = Ingestor(store, ocr, None, None, ImageLimits(max_bytes=1_000_000, max_pixels=1_000_000))
        report = ingestor.ingest([SourceItem(uri=str(path), origin=str(path))])
    [result] = report.results
    if result.outcome == Outcome.FAILED:
        assert result.source == str(path) and result.reason
        assert store.count() == before
    else:
        assert store.count() >= before
    assert problems(store) == []
