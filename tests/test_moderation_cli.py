"""`python -m pipeline moderate ...` end to end, in reduced mode: library, scan, list, claim, decide, export."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.near_duplicate_set import crop_10, jpeg_40, open_image, text_overlay, unrelated_images

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "images"

pytestmark = pytest.mark.slow

# upload file -> (policy category, rule) that must put it in the queue; None: must stay out.
EXPECTED = {
    "sneaker_cropped.png": ("counterfeit", "keypoints"),
    "mug_recompressed.jpg": ("counterfeit", "pdq"),
    "mug_with_caption.png": ("counterfeit", "keypoints"),
    "flyer_mirrored.png": ("spam", "pdq-flipped"),
    "lottery_flyer_zh.png": ("spam", "keyword"),
    "payflow_screen.png": None,
    "collage.png": None,
}


def moderate(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VLSEARCH_DATA_DIR": str(data_dir), "VLSEARCH_MODELS_ENABLED": "false", "COLUMNS": "200"}
    env["VLSEARCH_INGEST_ROOTS"] = str(SAMPLES)  # the references manifest names the samples by absolute path
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "moderate", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("moderation-cli")
    manifest = root / "references.csv"
    manifest.write_text(
        "path,policy_category,source\n"
        f"{SAMPLES / 'text_promo_free_iphone_spam.png'},spam,trust-and-safety\n"
        f"{SAMPLES / 'photo_cat_chelsea.jpg'},,trust-and-safety\n",
        encoding="utf-8",
    )
    uploads = root / "uploads"
    uploads.mkdir()
    rng = np.random.default_rng(3)
    crop_10(open_image(SAMPLES / "product_sneaker_red.jpg"), rng).save(uploads / "sneaker_cropped.png")
    jpeg_40(open_image(SAMPLES / "product_mug_white.jpg")).save(uploads / "mug_recompressed.jpg")
    text_overlay(open_image(SAMPLES / "product_mug_white.jpg").resize((450, 450))).save(
        uploads / "mug_with_caption.png"
    )
    open_image(SAMPLES / "text_promo_free_iphone_spam.png").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
        uploads / "flyer_mirrored.png"
    )
    open_image(SAMPLES / "text_promo_lottery_spam_zh.png").save(uploads / "lottery_flyer_zh.png")
    open_image(SAMPLES / "payflow_card_declined_en_desktop_light.png").save(uploads / "payflow_screen.png")
    dict(unrelated_images(4))["generated collage 1"].save(uploads / "collage.png")
    (uploads / "notes.txt").write_text("not an image")

    data_dir = root / "data"
    added = {
        "paths": moderate(
            data_dir,
            "library",
            "add",
            str(SAMPLES / "product_sneaker_red.jpg"),
            str(SAMPLES / "product_mug_white.jpg"),
            "--category",
            "counterfeit",
        ),
        "manifest": moderate(data_dir, "library", "add", "--manifest", str(manifest)),
    }
    scanned = moderate(data_dir, "scan", str(uploads))
    return data_dir, uploads, added, scanned


def listed(data_dir: Path, *args: str) -> dict[str, dict]:
    items = json.loads(ok(moderate(data_dir, "list", "--json", *args)).stdout)
    return {Path(item["uri"]).name: item for item in items}


def test_library_add_labels_references_and_names_the_rows_without_a_category(workspace):
    _, _, added, _ = workspace
    assert (
        "added 2, updated 0, unchanged 0, failed 0  ->  2 references in known_content (counterfeit 2)"
        in ok(added["paths"]).stdout
    )
    manifest = ok(added["manifest"]).stdout
    assert (
        "added 1, updated 0, unchanged 0, failed 1  ->  3 references in known_content (counterfeit 2, spam 1)"
        in manifest
    )
    assert "references.csv line 3" in manifest and "no policy_category" in manifest


def test_library_add_without_any_category_fails_every_item(workspace, tmp_path):
    result = moderate(tmp_path / "data", "library", "add", str(SAMPLES / "photo_cat_chelsea.jpg"))
    assert result.returncode == 1 and "no policy_category" in result.stdout
    refused(
        moderate(tmp_path / "data", "library", "add", "x.png", "--category", "bad name"), "policy category 'bad name'"
    )


def test_scan_prints_a_line_per_file_and_a_summary(workspace):
    *_, scanned = workspace
    output = ok(scanned).stdout
    for name, expected in EXPECTED.items():
        line = next(line for line in output.splitlines() if name in line)
        if expected is None:
            assert line.startswith("clean"), line
        else:
            category, rule = expected
            assert line.startswith("matched") and f"  {category}  {rule}: " in line and "(new)" in line, line
    assert "failed  " in output and "notes.txt: not a supported image" in output
    assert "scanned 8: matched 5 (5 newly queued, 0 already queued), clean 2, failed 1" in output


def test_list_shows_the_copies_with_their_category_and_rule(workspace):
    data_dir, _, _, _ = workspace
    items = listed(data_dir)
    assert set(items) == {name for name, expected in EXPECTED.items() if expected}
    for name, item in items.items():
        category, rule = EXPECTED[name]  # type: ignore[misc]
        assert (item["category"], item["matches"][0]["rule"], item["state"]) == (category, rule, "pending"), item
    assert items["sneaker_cropped.png"]["matches"][0]["reference_uri"].endswith("product_sneaker_red.jpg")
    assert items["lottery_flyer_zh.png"]["matches"][0]["detail"].startswith("恭喜您")
    assert set(listed(data_dir, "--category", "spam")) == {"flyer_mirrored.png", "lottery_flyer_zh.png"}
    human = ok(moderate(data_dir, "list", "--state", "pending", "--category", "counterfeit")).stdout
    assert "mug_recompressed.jpg" in human and "pdq: hamming distance" in human and "lottery" not in human


def test_review_claim_decide_export_and_decisions_survive_a_new_process(workspace, tmp_path):
    data_dir, uploads, _, _ = workspace
    ids = {name: item["id"] for name, item in listed(data_dir).items()}
    mug, flyer = ids["mug_recompressed.jpg"], ids["flyer_mirrored.png"]

    assert "claimed by alice until" in ok(moderate(data_dir, "claim", str(mug), "--reviewer", "alice")).stdout
    refused(moderate(data_dir, "decide", str(mug), "--state", "approved", "--reviewer", "bob"), "claimed by 'alice'")
    ok(moderate(data_dir, "decide", str(mug), "--state", "removed", "--reviewer", "alice", "--note", "fake mug shop"))
    ok(moderate(data_dir, "decide", str(flyer), "--state", "escalated", "--reviewer", "bob"))
    ok(
        moderate(
            data_dir, "decide", str(flyer), "--state", "approved", "--reviewer", "carol", "--note", "satire account"
        )
    )
    refused(
        moderate(data_dir, "decide", str(mug), "--state", "approved", "--reviewer", "alice"), "cannot go from removed"
    )
    refused(
        moderate(data_dir, "decide", "9999", "--state", "approved", "--reviewer", "alice"), "item 9999: no such item"
    )
    refused(moderate(data_dir, "claim", str(mug), "--reviewer", " "), "reviewer: a reviewer name is required")

    assert set(listed(data_dir, "--state", "removed")) == {"mug_recompressed.jpg"}
    assert listed(data_dir, "--state", "approved")["flyer_mirrored.png"]["reviewer"] == "carol"

    output = tmp_path / "decisions.csv"
    assert "wrote 3 decisions" in ok(moderate(data_dir, "export", "--output", str(output))).stderr
    rows = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8"))))
    assert [(r["item_id"], r["from_state"], r["to_state"], r["reviewer"], r["note"]) for r in rows] == [
        (str(mug), "pending", "removed", "alice", "fake mug shop"),
        (str(flyer), "pending", "escalated", "bob", ""),
        (str(flyer), "escalated", "approved", "carol", "satire account"),
    ]
    assert rows[0]["rules"] == "pdq" and rows[0]["category"] == "counterfeit"
    assert ok(moderate(data_dir, "export")).stdout == output.read_text(encoding="utf-8")

    rescan = ok(moderate(data_dir, "scan", str(uploads / "mug_recompressed.jpg"))).stdout
    assert "already queued, removed" in rescan and "matched 1 (0 newly queued, 1 already queued)" in rescan
    assert len(listed(data_dir)) == len([e for e in EXPECTED.values() if e])
