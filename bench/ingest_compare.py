"""Side-by-side ingest: an earlier commit's code and this checkout's, on the same folders, in one run.

The earlier code is taken from git (`git archive`) into a temporary directory, and each ingest runs
in its own process with the same settings (OCR + keyword mode, LanceDB, an empty data dir), the old and
the new alternating, so both see the same machine. Each run reports images per second and how busy its
stages were: OCR (time inside the OCR engine over the wall time and the OCR workers), the store write
(inside upsert) and the rest (reading, decoding, hashing, thumbnails, PDQ, planning) on the main thread.

Also renders the synthetic screenshot folder: error screens drawn from bench/synthetic.py's texts
(English, Chinese and mixed; desktop 1280x800 and phone 780x1688 at 2x), deterministic per index.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
DESKTOP = (1280, 800)
PHONE = (780, 1688)

# Runs in a child process with the code under test first on sys.path; prints one JSON line.
RUNNER = r"""
import json, sys, threading, time
from pathlib import Path
from pipeline.config import Settings
from pipeline.ingest.sources import collect
from pipeline.services import build_services

folder, data_dir = sys.argv[1], sys.argv[2]
services = build_services(Settings(models_enabled=False, data_dir=Path(data_dir)))
ingestor = services.ingestor()
busy = {"ocr": 0.0, "write": 0.0}
lock = threading.Lock()

def timed(stage, work):
    def run(*args, **kwargs):
        start = time.perf_counter()
        try:
            return work(*args, **kwargs)
        finally:
            with lock:
                busy[stage] += time.perf_counter() - start
    return run

ingestor.ocr.read = timed("ocr", ingestor.ocr.read)
ingestor.store.upsert = timed("write", ingestor.store.upsert)
items = collect([folder]).items
start = time.perf_counter()
report = ingestor.ingest(items)
wall = time.perf_counter() - start
print(json.dumps({
    "images": report.count("added"), "failed": len(report.failures), "wall_s": wall, "busy_s": busy,
    "ocr_workers": getattr(ingestor, "ocr_workers", 1),
}))
"""


def earlier_code(commit: str, into: Path) -> Path:
    """The `pipeline` package as it was at `commit`, unpacked below `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "pipeline"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def ingest_in_child(code: Path, folder: Path) -> dict[str, object]:
    """Ingest `folder` into a fresh data dir with the code in `code`; the child's JSON report."""
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1"}
        env = {key: value for key, value in env.items() if not key.startswith("VLSEARCH_")}
        done = subprocess.run(
            [sys.executable, "-c", RUNNER, str(folder), data_dir],
            cwd=code,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def utilisation(result: dict[str, object]) -> str:
    """How busy each stage was over the run: OCR per worker, the store write, the rest on the main thread."""
    wall = float(result["wall_s"])  # type: ignore[arg-type]
    busy: dict[str, float] = result["busy_s"]  # type: ignore[assignment]
    workers = int(result["ocr_workers"])  # type: ignore[call-overload]
    return f"OCR {busy['ocr'] / (wall * workers):.0%} of {workers}, write {busy['write'] / wall:.0%}"


def synthetic_screens(folder: Path, count: int, seed: int = 7) -> Path:
    """`count` screenshot-like PNGs in `folder` (made once; reused when the folder already holds them)."""
    from bench.synthetic import SyntheticCollection

    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.png"))) == count:
        return folder
    rng = random.Random(seed)
    made = 0
    for records in SyntheticCollection(count, dim=8, seed=seed).records(batch=1_000):
        for record in records:
            phone = rng.random() < 0.4
            dark = rng.random() < 0.3
            draw_screen(record.ocr_text, PHONE if phone else DESKTOP, dark).save(folder / f"screen_{made:04d}.png")
            made += 1
    return folder


def draw_screen(text: str, size: tuple[int, int], dark: bool) -> Image.Image:
    """A plain app screen: a title bar, then each line of `text` in a card, as an error dialog lays them out."""
    scale = 2 if size == PHONE else 1
    background, card, ink = ("#1e1f24", "#2b2d35", "#e8e8ea") if dark else ("#f3f4f6", "#ffffff", "#1f2328")
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, size[0], 56 * scale), fill="#3b5bdb")
    title = ImageFont.truetype(str(FONT), 22 * scale)
    body = ImageFont.truetype(str(FONT), 16 * scale)
    lines = [line[: 24 if scale == 2 else 90] for line in text.splitlines()]  # what fits the card
    draw.text((24 * scale, 14 * scale), lines[1] if len(lines) > 1 else "", font=title, fill="#ffffff")
    left, top = 40 * scale, 96 * scale
    width = size[0] - 2 * left
    draw.rounded_rectangle((left, top, left + width, top + 48 * scale * len(lines)), 12 * scale, fill=card)
    for number, line in enumerate(lines):
        draw.text((left + 20 * scale, top + (14 + 48 * number) * scale), line, font=body, fill=ink)
    return image
