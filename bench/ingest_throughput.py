"""Ingest throughput per stage, to show which stage limits: images/s and ms/image.

    python bench/ingest_throughput.py [--device auto|cpu|cuda] [--images N] [--model-images M]
                                      [--model-max-pixels P] [--caption-tokens T] [--skip-models]
                                      [--checkpoint DIR] [--compare-with COMMIT] [--synthetic N]

First, side by side in one run (bench/ingest_compare.py): the whole ingest in OCR + keyword mode with
the code of --compare-with (default: main before the pipelined ingest) and with this checkout's, on
the bundled samples and on a folder of N synthetic screenshots (--synthetic, default 500; 0 skips it),
each in its own process: images per second and how busy OCR and the store write were.

Stages, each timed on its own over the bundled samples (an even spread of N of the 45):
decode + sha256 + thumbnail + PDQ; OCR (RapidOCR); the whole Ingestor in OCR + keyword mode;
PDF page rendering (a text PDF and a scanned one, at VLSEARCH_PDF_RENDER_DPI) and video frame
sampling (H.264 720p, at VLSEARCH_VIDEO_FPS) where pipeline/ingest/pdf.py and pipeline/ingest/video.py import;
then, unless --skip-models, embedding (QwenEmbedder) and captioning (QwenCaptioner) with the
full-size Qwen3-VL-2B architecture and random weights (bench/full_size_qwen.py: no download),
loaded through load_models as real weights are, and the whole Ingestor in full mode.
--checkpoint times a Qwen3-VL checkpoint directory you have instead (real weights, say).

On a GPU the models run in bf16 with the settings' defaults (all images, 1280x32x32 model
pixels, 64 caption tokens); on CPU in float32 with fewer images, smaller images and shorter
captions, so a run takes minutes. Random weights never emit the end token, so every caption
runs to the token limit: the worst case. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the random checkpoint is local; nothing is ever downloaded

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest_compare import earlier_code, ingest_in_child, synthetic_screens, utilisation  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.images import DecodedImage, pdq_hash, read_image_file, thumbnail_jpeg  # noqa: E402
from pipeline.ingest.ingestor import Outcome  # noqa: E402
from pipeline.ingest.sources import SourceItem, read_manifest  # noqa: E402
from pipeline.services import build_services  # noqa: E402

DEFAULTS = Settings(models_enabled=False)
CPU_MODEL_IMAGES = 4
CPU_MODEL_MAX_PIXELS = 448 * 448
CPU_CAPTION_TOKENS = 16
PDF_PAGES = 8
PAGE_NUMBERS = range(1, PDF_PAGES + 1)
VIDEO_SECONDS = 20
VIDEO_SIZE = (1280, 720)
VIDEO_FPS = 30
BEFORE_PIPELINE = "7ef50ad"  # main before OCR workers, the detector cap and the pipelined stages (issue 19)


class Table:
    """Rows of (stage, units, seconds), printed as a Markdown table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, str, float]] = []
        self.notes: list[str] = []

    def add(self, stage: str, count: int, seconds: float, unit: str = "image") -> None:
        self.rows.append((stage, count, unit, seconds))
        load = os.getloadavg()[0]  # this script keeps about 2 threads busy; more means another process competed
        print(f"{stage}: {count} {unit}s in {seconds:.1f} s (1-minute load average {load:.1f})", flush=True)

    def print(self) -> None:
        print("| stage | count | per second | ms each |")
        print("| --- | ---: | ---: | ---: |")
        for stage, count, unit, seconds in self.rows:
            print(f"| {stage} | {count} {unit}s | {count / seconds:.2f} | {seconds / count * 1000:,.0f} |")
        for note in self.notes:
            print(f"\n{note}")


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def spread(items: Sequence[SourceItem], count: int) -> list[SourceItem]:
    """`count` items evenly spread over the manifest (screenshots, photos and text images alike)."""
    count = max(1, min(count, len(items)))
    return [items[index * len(items) // count] for index in range(count)]


def decode(items: Sequence[SourceItem]) -> list[DecodedImage]:
    return [
        read_image_file(Path(item.uri), max_bytes=DEFAULTS.max_file_bytes, max_pixels=DEFAULTS.max_image_pixels)
        for item in items
    ]


def prepare(items: Sequence[SourceItem]) -> None:
    for image in decode(items):
        thumbnail_jpeg(image.image, DEFAULTS.thumbnail_px)
        pdq_hash(image.image)


def ingest(settings: Settings, items: Sequence[SourceItem]) -> float:
    """The whole Ingestor (read, OCR, models, thumbnails, store write, index) into an empty collection."""
    with tempfile.TemporaryDirectory() as data_dir:
        services = build_services(settings.model_copy(update={"data_dir": Path(data_dir)}))
        services.ocr.read(decode(items[:1])[0].image)  # ONNX sessions load outside the timing
        start = time.perf_counter()
        report = services.ingestor().ingest(items)
        seconds = time.perf_counter() - start
    if report.count(Outcome.ADDED) != len(items):
        raise SystemExit(f"ingest did not add every image: {report.failures}")
    return seconds


def media_stages(table: Table, workdir: Path) -> None:
    """PDF pages and video frames: how fast they become images, before OCR and the models."""
    try:
        from pipeline.ingest.pdf import PdfFile
        from pipeline.ingest.video import VideoFile
        from tests.media_fixtures import make_scanned_pdf, make_text_pdf, make_text_video
    except ImportError as error:
        table.notes.append(f"PDF and video stages skipped: {error}")
        return
    words = "Invoice 48213 payment declined by the issuer, contact support with the reference code"
    dpi, max_pixels = DEFAULTS.pdf_render_dpi, DEFAULTS.max_image_pixels
    for label, make in (("text", make_text_pdf), ("scanned", make_scanned_pdf)):
        path = make(workdir / f"{label}.pdf", [f"Page {number}: {words}" for number in PAGE_NUMBERS])
        with PdfFile(path, path.name) as pdf:
            seconds = timed(lambda pdf=pdf: [pdf.read_page(n, dpi=dpi, max_pixels=max_pixels) for n in PAGE_NUMBERS])
        table.add(f"PDF page render + text layer, {label} PDF ({dpi} dpi)", PDF_PAGES, seconds, unit="page")
    segments = [(f"Step {second}: {words}", 1.0) for second in range(VIDEO_SECONDS)]  # a new screen every second
    path = make_text_video(workdir / "clip.mp4", segments, fps=VIDEO_FPS, size=VIDEO_SIZE)
    sampled: list[object] = []
    with VideoFile(path, path.name) as video:
        seconds = timed(
            lambda: sampled.extend(
                video.frames(
                    fps=DEFAULTS.video_fps,
                    scene_threshold=DEFAULTS.video_scene_threshold,
                    max_frames=DEFAULTS.video_max_frames,
                    max_pixels=max_pixels,
                )
            )
        )
    width, height = VIDEO_SIZE
    table.add(
        f"video frame sampling (H.264 {width}x{height} {VIDEO_FPS} fps, {DEFAULTS.video_fps:g} frame/s kept)",
        len(sampled),
        seconds,
        unit="frame",
    )
    table.notes.append(
        f"Video: {VIDEO_SECONDS} s of video ({VIDEO_SECONDS * VIDEO_FPS} frames) decoded in {seconds:.2f} s, "
        f"{VIDEO_SECONDS / seconds:.0f}x real time."
    )


def side_by_side(args: argparse.Namespace, items: Sequence[SourceItem], workdir: Path) -> None:
    """The earlier commit's ingest and this checkout's, alternating on each folder, as one Markdown table."""
    before = earlier_code(args.compare_with, workdir / "before")
    samples = workdir / "samples"
    samples.mkdir()
    for item in items:
        shutil.copy2(item.uri, samples)
    folders = [(f"{len(items)} bundled samples", samples)]
    if args.synthetic:
        folders.append(
            (f"{args.synthetic} synthetic screenshots", synthetic_screens(workdir / "screens", args.synthetic))
        )
    rows = []
    for label, folder in folders:
        for code, name in ((before, f"before ({args.compare_with})"), (ROOT, "now")):
            result = ingest_in_child(code, folder)
            rate = float(result["images"]) / float(result["wall_s"])  # type: ignore[arg-type]
            print(f"{label}, {name}: {result['images']} images at {rate:.2f}/s ({utilisation(result)})", flush=True)
            rows.append((label, name, result, rate))
    print()
    print("| folder | code | images | images/s | speed-up | stage utilisation |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for index, (label, name, result, rate) in enumerate(rows):
        speedup = f"{rate / rows[index - 1][3]:.2f}x" if index % 2 else ""
        print(f"| {label} | {name} | {result['images']} | {rate:.2f} | {speedup} | {utilisation(result)} |")
    print()


def model_stages(table: Table, args: argparse.Namespace, items: Sequence[SourceItem], workdir: Path) -> str:
    """Embedding, captioning and full-mode ingest with a Qwen3-VL checkpoint; returns a settings line.

    The checkpoint is --checkpoint when given, else the random full-size one, built here.
    """
    import torch

    from bench.full_size_qwen import write_checkpoint
    from pipeline.models import Query, RerankDocument, load_models
    from pipeline.models.loading import pick_device
    from pipeline.models.weights import checkpoint_config

    device = pick_device(args.device, "Qwen3-VL-2B")
    on_cpu = device.type == "cpu"
    count = args.model_images or (CPU_MODEL_IMAGES if on_cpu else len(items))
    max_pixels = args.model_max_pixels or (CPU_MODEL_MAX_PIXELS if on_cpu else DEFAULTS.model_max_pixels)
    tokens = args.caption_tokens or (CPU_CAPTION_TOKENS if on_cpu else DEFAULTS.caption_max_new_tokens)
    if args.checkpoint:
        checkpoint, build_s = args.checkpoint, None
        described = f"{checkpoint.name} ({checkpoint})"
    else:
        checkpoint = workdir / "qwen3-vl-2b-random"
        build_s = write_checkpoint(checkpoint)
        described = "Qwen3-VL-2B architecture, random weights"
    # Vectors as wide as the settings' default, or the model's hidden size when that is smaller.
    dim = min(DEFAULTS.embed_dim, checkpoint_config(checkpoint)["text_config"]["hidden_size"])
    settings = Settings(
        models_enabled=True,
        embed_model=str(checkpoint),
        caption_model=str(checkpoint),
        rerank_model=str(checkpoint),
        embed_dim=dim,
        device=str(device.type),
        model_max_pixels=max_pixels,
        caption_max_new_tokens=tokens,
    )
    models = load_models(settings)
    if models.embedder is None or models.captioner is None:
        raise SystemExit(f"the checkpoint at {checkpoint} did not load: {models.notices}")
    chosen = spread(items, count)
    images = [decoded.image for decoded in decode(chosen)]
    load_s = timed(lambda: models.embedder.embed_documents(images[:1]))  # loads the weights, then one warm-up pass
    models.captioner.caption(images[:1])  # warm-up: generation's first call sets up caches

    def synchronised(work: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            work()
            if device.type == "cuda":
                torch.cuda.synchronize()

        return run

    table.add("embedding (QwenEmbedder)", count, timed(synchronised(lambda: models.embedder.embed_documents(images))))
    table.add(
        f"captioning (QwenCaptioner, {tokens} new tokens)",
        count,
        timed(synchronised(lambda: models.captioner.caption(images))),
    )
    if models.reranker is not None:
        pairs = [RerankDocument(image, ocr_text="Error: payment declined by the issuer") for image in images]
        query = Query(text="card payment declined")
        table.add(
            "rerank (QwenReranker, query + image + text pairs)",
            count,
            timed(synchronised(lambda: models.reranker.score(query, pairs))),
            unit="pair",
        )
    table.add("whole ingest, full mode (OCR + caption + embed + store)", count, ingest(settings, chosen))
    if device.type == "cuda":
        table.notes.append(
            f"GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB at most allocated by torch "
            f"({torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB)."
        )
    dtype = "float32" if on_cpu else "bfloat16"
    built = f"building and saving the checkpoint took {build_s:.0f} s, " if build_s is not None else ""
    return (
        f"models: {described}, {dtype} on {device}, {dim}-d vectors; model_max_pixels={max_pixels:,} "
        f"(VLSEARCH_MODEL_MAX_PIXELS), caption_max_new_tokens={tokens}, model_batch_size={settings.model_batch_size}; "
        f"{built}loading it plus one warm-up pass {load_s:.0f} s"
    )


def machine(device: str) -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), platform.processor())
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    text = f"{cpu}, {os.cpu_count()} cores, {memory_gb:.0f} GiB RAM"
    try:
        import torch
    except ImportError:
        return text
    gpu = torch.cuda.get_device_name(0) if device != "cpu" and torch.cuda.is_available() else "no GPU used"
    return f"{text}, {gpu}; torch {torch.__version__}, {torch.get_num_threads()} torch threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where the models run")
    parser.add_argument("--images", type=int, default=45, help="sample images for decoding, OCR and reduced ingest")
    parser.add_argument(
        "--model-images", type=int, help=f"images for the model stages (default: {CPU_MODEL_IMAGES} on CPU, all on GPU)"
    )
    parser.add_argument(
        "--model-max-pixels",
        type=int,
        help=f"VLSEARCH_MODEL_MAX_PIXELS (default: {CPU_MODEL_MAX_PIXELS:,} on CPU, "
        f"{DEFAULTS.model_max_pixels:,} on GPU)",
    )
    parser.add_argument(
        "--caption-tokens",
        type=int,
        help=f"VLSEARCH_CAPTION_MAX_NEW_TOKENS (default: {CPU_CAPTION_TOKENS} on CPU, "
        f"{DEFAULTS.caption_max_new_tokens} on a GPU)",
    )
    parser.add_argument("--skip-models", action="store_true", help="only the stages of the OCR + keyword mode")
    parser.add_argument(
        "--compare-with",
        default=BEFORE_PIPELINE,
        help=f"the commit whose ingest runs side by side with this checkout's (default {BEFORE_PIPELINE}; "
        "'none' skips the comparison)",
    )
    parser.add_argument("--synthetic", type=int, default=500, help="synthetic screenshots in the comparison")
    parser.add_argument(
        "--checkpoint", type=Path, help="a Qwen3-VL checkpoint directory to time (default: random full-size 2B)"
    )
    args = parser.parse_args()

    items = spread(read_manifest(ROOT / "samples" / "manifest.jsonl").items, args.images)
    table = Table()
    settings_line = "models: skipped (--skip-models)"
    with tempfile.TemporaryDirectory() as temp:
        workdir = Path(temp)
        if args.compare_with != "none":
            side_by_side(args, items, workdir)
        table.add("decode + sha256 + thumbnail + PDQ", len(items), timed(lambda: prepare(items)))
        ocr = build_services(DEFAULTS.model_copy(update={"data_dir": workdir / "ocr"})).ocr
        decoded = decode(items)
        ocr.read(decoded[0].image)  # ONNX sessions load outside the timing
        table.add("OCR (RapidOCR)", len(items), timed(lambda: [ocr.read(image.image) for image in decoded]))
        table.add(
            "whole ingest, OCR + keyword mode (all stages + store write + index)", len(items), ingest(DEFAULTS, items)
        )
        media_stages(table, workdir)
        if not args.skip_models:
            settings_line = model_stages(table, args, items, workdir)

    print()
    print(f"Machine: {machine(args.device)}")
    print(settings_line)
    print()
    table.print()


if __name__ == "__main__":
    main()
