"""End to end through the real command line, in reduced (OCR + keyword) mode, on samples/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "samples" / "manifest.jsonl"
QUERY_SCREENS = sorted((ROOT / "tests" / "data" / "query_screens").glob("*.jpg"))

pytestmark = pytest.mark.slow


def run(data_dir: Path, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VLSEARCH_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "VLSEARCH_EMBED_MODEL": "Qwen/Qwen3-VL-Embedding-2B",
        "VLSEARCH_CAPTION_MODEL": "Qwen/Qwen3-VL-2B-Instruct",
        "HF_HOME": str(data_dir / "hf-empty"),  # no cached weights: the honest reduced mode
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def manifest_rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in MANIFEST.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("cli-data")
    result = run(data_dir, "ingest", "--manifest", str(MANIFEST))
    return data_dir, result


def test_ingest_of_the_samples_adds_every_row_and_warns_once_about_reduced_mode(ingested):
    _, result = ingested
    assert result.returncode == 0, result.stderr
    assert f"added {len(manifest_rows())}, updated 0, unchanged 0, failed 0" in result.stdout
    assert "ocr+keyword mode" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "OCR + keyword" in warnings[0], result.stderr


def test_stats_json_counts_assets_and_what_produced_them(ingested):
    data_dir, _ = ingested
    result = run(data_dir, "stats", "--json")
    figures = json.loads(result.stdout)
    assert figures["count"] == len(manifest_rows())
    assert figures["with_vector"] == 0 and figures["mode"] == "ocr+keyword"
    assert figures["models"]["ocr_model"] == {"rapidocr": len(manifest_rows())}
    assert {"ticket_id", "resolution", "category", "created_at"} <= set(figures["metadata_columns"])


def test_reingest_reports_everything_unchanged(ingested):
    data_dir, _ = ingested
    result = run(data_dir, "ingest", "--manifest", str(MANIFEST))
    assert result.returncode == 0
    assert f"added 0, updated 0, unchanged {len(manifest_rows())}, failed 0" in result.stdout


def test_a_crop_of_a_photo_without_text_is_found_by_how_it_looks_and_says_so(ingested, tmp_path):
    data_dir, _ = ingested
    photo = Image.open(ROOT / "samples" / "images" / "photo_cat_chelsea.jpg")
    photo.crop((photo.width // 6, photo.height // 8, photo.width, photo.height)).save(tmp_path / "crop.jpg")
    printed = run(data_dir, "search", "--image", str(tmp_path / "crop.jpg"), "--limit", "3")
    as_json = run(data_dir, "search", "--image", str(tmp_path / "crop.jpg"), "--limit", "3", "--json")
    assert printed.returncode == 0 and as_json.returncode == 0, printed.stderr + as_json.stderr
    first = json.loads(as_json.stdout)[0]
    pairs = first["scores"]["visual_pairs"]
    reason = f"looks the same: {pairs} matching keypoints"
    assert first["uri"].endswith("photo_cat_chelsea.jpg") and first["reasons"] == [reason]
    assert "1. photo_cat_chelsea.jpg" in printed.stdout and f"why: {reason}" in printed.stdout


@pytest.mark.parametrize("screen", QUERY_SCREENS, ids=[path.stem for path in QUERY_SCREENS])
def test_a_customers_screenshot_finds_its_ticket_first(ingested, screen):
    data_dir, _ = ingested
    result = run(data_dir, "search", "--image", str(screen), "--limit", "5", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert hits[0]["metadata"]["ticket_id"] == screen.stem, [h["metadata"].get("ticket_id") for h in hits]


def test_search_json_shape_and_filters(ingested):
    data_dir, _ = ingested
    result = run(data_dir, "search", "--text", "错误 失败", "--where", "language = 'zh'", "--limit", "50", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert hits and all(hit["metadata"]["language"] == "zh" for hit in hits)
    for hit in hits:
        assert {"id", "uri", "metadata", "ocr_text", "caption", "scores"} <= hit.keys()
        assert hit["scores"]["bm25"] is not None and hit["scores"]["vector_distance"] is None
    fused = [hit["scores"]["fused"] for hit in hits]
    assert fused == sorted(fused, reverse=True)


def test_chinese_text_query(ingested):
    data_dir, _ = ingested
    hits = json.loads(run(data_dir, "search", "--text", "账户已锁定", "--json").stdout)
    locked = [row["ticket_id"] for row in manifest_rows() if "NB-1003" == row.get("error_code")]
    assert hits[0]["metadata"]["ticket_id"] in locked


def test_human_output_shows_the_ticket(ingested):
    data_dir, _ = ingested
    result = run(data_dir, "search", "--text", "PF-4021 card declined", "--limit", "3")
    assert result.returncode == 0 and "SUP-1042" in result.stdout


def test_bad_filter_and_bad_query_image_are_clear_errors(ingested, tmp_path):
    data_dir, _ = ingested
    result = run(data_dir, "search", "--text", "x", "--where", "colour = 'red'")
    assert result.returncode == 2
    assert "filter \"colour = 'red'\": unknown field 'colour'" in result.stderr.replace("\n", " ")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = run(data_dir, "search", "--image", str(broken))
    assert result.returncode == 2 and "broken.png" in result.stderr and "Traceback" not in result.stderr


def test_a_folder_of_only_broken_files_exits_non_zero_naming_each(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"")
    (folder / "b.png").write_text("text")
    result = run(tmp_path / "data", "ingest", str(folder))
    assert result.returncode == 1
    assert "a.jpg: empty file" in result.stdout and "b.png: not a supported image" in result.stdout


@pytest.fixture(scope="module")
def media_data(tmp_path_factory):
    """Stored pages of a PDF and frames of a video (the files themselves are not needed to search them)."""
    from pipeline.config import Settings
    from pipeline.store import build_store
    from tests.media_records import frame_record, page_record

    data_dir = tmp_path_factory.mktemp("media-data")
    store = build_store(Settings(data_dir=data_dir, models_enabled=False))
    store.upsert(
        [page_record("/srv/docs/manual.pdf", 3, "open the laptop lid by the hinge", {"team": "hardware"})]
        + [frame_record("/srv/videos/clip.mp4", float(t), "the person opens the laptop lid") for t in (83, 84, 85)]
        + [frame_record("/srv/videos/clip.mp4", float(t), "a person at a desk") for t in (80, 81, 82)]
    )
    store.optimize()
    return data_dir


def test_search_names_the_page_and_the_time_window(media_data):
    result = run(media_data, "search", "--text", "laptop lid")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(
        "clip.mp4, 00:01:23–00:01:26" in line and "window score" in line and "over 3 frames" in line for line in lines
    )
    assert any("manual.pdf, page 3" in line for line in lines)
    assert sum("clip.mp4" in line for line in lines) == 1  # one hit for the video, not one per frame


def test_search_json_adds_where_each_hit_is(media_data):
    result = run(media_data, "search", "--text", "laptop lid", "--json")
    assert result.returncode == 0, result.stderr
    hits = {hit["source_kind"]: hit for hit in json.loads(result.stdout)}
    assert set(hits) == {"pdf_page", "video_frame"}
    page, video = hits["pdf_page"], hits["video_frame"]
    assert {"id", "uri", "metadata", "ocr_text", "caption", "scores"} <= page.keys()  # the stable keys stay
    assert (page["parent_uri"], page["page"], page["timestamp_s"], page["window"]) == (
        "/srv/docs/manual.pdf",
        3,
        None,
        None,
    )
    assert page["uri"] == "/srv/docs/manual.pdf#page=3" and page["metadata"] == {"team": "hardware"}
    assert video["parent_uri"] == "/srv/videos/clip.mp4" and video["page"] is None
    assert video["timestamp_s"] in (83.0, 84.0, 85.0)  # the best frame of the window
    assert video["uri"] == f"/srv/videos/clip.mp4#t={video['timestamp_s']:.3f}"
    window = video["window"]
    assert (window["start_s"], window["end_s"], window["frames"]) == (83.0, 86.0, 3)
    assert window["label"] == "00:01:23–00:01:26"
    assert window["score"] == pytest.approx(3 * video["scores"]["fused"])  # three equally matching frames


def test_a_relevance_cutoff_without_a_reranker_is_an_error_unless_unreranked_hits_are_allowed(ingested):
    data_dir, _ = ingested
    refused = run(data_dir, "search", "--text", "PF-4021 card declined", "--min-relevance", "0.5", "--json")
    assert refused.returncode == 2 and refused.stdout == ""  # a script gets no unfiltered hits
    assert "--min-relevance: no reranker is loaded" in refused.stderr.replace("\n", " ")
    assert "--allow-unreranked" in refused.stderr
    allowed = run(
        data_dir, "search", "--text", "PF-4021 card declined", "--min-relevance", "0.5", "--allow-unreranked", "--json"
    )
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)[0]["metadata"]["ticket_id"] == "SUP-1042"


@pytest.mark.parametrize(
    ("query", "first", "reason"),
    [
        ("SUP-1042", "payflow_card_declined_en_desktop_light.png", "metadata ticket_id = SUP-1042"),
        ("backpack", "product_backpack_green.jpg", "file name product_backpack_green.jpg"),
        ("cat", "photo_cat_chelsea.jpg", "file name photo_cat_chelsea.jpg"),
    ],
)
def test_metadata_values_and_file_names_are_found_by_keywords_in_reduced_mode(ingested, query, first, reason):
    data_dir, _ = ingested
    hits = json.loads(run(data_dir, "search", "--text", query, "--limit", "3", "--json").stdout)
    assert hits and hits[0]["uri"].endswith("/" + first), [hit["uri"] for hit in hits]
    shown = run(data_dir, "search", "--text", query, "--limit", "1")
    assert shown.returncode == 0 and f"why: {reason}" in shown.stdout, shown.stdout


def test_a_filter_alone_lists_the_sample_products_newest_first_in_pages(ingested):
    data_dir, _ = ingested
    products = {row["path"].rsplit("/", 1)[-1] for row in manifest_rows() if row["kind"] == "product"}
    where = "kind = 'product'"
    everything = json.loads(run(data_dir, "search", "--where", where, "--limit", "50", "--json").stdout)
    assert {hit["uri"].rsplit("/", 1)[-1] for hit in everything} == products
    pages = [
        json.loads(run(data_dir, "search", "--where", where, "--limit", "4", "--offset", str(start), "--json").stdout)
        for start in range(0, len(products), 4)
    ]
    assert [hit["id"] for page in pages for hit in page] == [hit["id"] for hit in everything]
    shown = run(data_dir, "search", "--where", where, "--limit", "4", "--offset", "4")
    assert shown.returncode == 0 and f"hits 5-8 of {len(products)} matches, newest first" in shown.stdout


def test_a_keyword_search_says_how_many_records_match(ingested):
    data_dir, _ = ingested
    shown = run(data_dir, "search", "--text", "product", "--limit", "2")
    products = sum(row["category"] == "product" or row["kind"] == "product" for row in manifest_rows())
    assert shown.returncode == 0 and f"hits 1-2 of {products} matches" in shown.stdout, shown.stdout
    nothing = run(data_dir, "search", "--limit", "2")
    assert nothing.returncode == 2 and "give a text, an image, a filter" in nothing.stderr
