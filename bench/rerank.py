"""Rerank throughput (query-document pairs per second) of a full-size Qwen3-VL-2B on this machine.

    python bench/rerank.py [--passes 3]

No weights can be downloaded here, so the model is the Qwen3-VL-2B architecture with random
weights (bench/full_size_qwen.py), in float32 on CPU, loaded through QwenReranker, the code
path real weights take. Its tiny test tokenizer splits English text into about twice as many
tokens as Qwen's would, so the figures are somewhat pessimistic for text-heavy pairs; the
table gives the tokens per pair.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.full_size_qwen import write_checkpoint  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.models import Query, RerankDocument  # noqa: E402
from pipeline.models.reranker import QwenReranker, judge_conversation  # noqa: E402

NAME = "Qwen3-VL-2B (random weights)"
SIDES = [224, 448]  # document images are resized to at most SIDE x SIDE pixels
BATCH_SIZES = [1, 4]
QUERY = Query(text="payment failed: card declined by the issuer")
CAPTION = "A screenshot of a mobile banking app showing a red error banner after a card payment."
OCR_TEXT = (
    "Payment failed. Your card was declined by the issuer (code 05). Try another card or contact your bank. "
    "Order #48213 Total: 42.90 EUR  Retry  Cancel  Help"
)


def documents(count: int) -> list[RerankDocument]:
    """Large noise images (resized down by the reranker) with a caption and OCR text."""
    rng = np.random.default_rng(0)
    return [
        RerankDocument(Image.fromarray(rng.integers(0, 256, (896, 896, 3), dtype=np.uint8)), CAPTION, OCR_TEXT)
        for _ in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=int, default=3, help="timed forward passes per row, after one warm-up pass")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temp:
        checkpoint_dir = Path(temp)
        build_s = write_checkpoint(checkpoint_dir)
        rows = []
        # Largest shapes first: the allocator and the memory-mapped weights settle during the first
        # row's warm-up instead of slowing the smaller rows down.
        for side in sorted(SIDES, reverse=True):
            for batch_size in sorted(BATCH_SIZES, reverse=True):
                settings = Settings(device="cpu", rerank_batch_size=batch_size, rerank_max_pixels=side * side)
                reranker = QwenReranker(NAME, checkpoint_dir, settings)
                pairs = documents(batch_size)
                inputs = reranker.load().prepare(
                    [judge_conversation(QUERY, pairs[0])], padding_side="left", max_pixels=side * side
                )
                tokens = int(inputs["attention_mask"].sum())
                image_tokens = int(inputs["image_grid_thw"][0].prod()) // 4
                reranker.score(QUERY, pairs)  # warm-up
                seconds = []
                for _ in range(args.passes):
                    start = time.perf_counter()
                    reranker.score(QUERY, pairs)
                    seconds.append(time.perf_counter() - start)
                rows.append((side, image_tokens, tokens, batch_size, statistics.median(seconds)))
                # This process keeps about 2 threads busy; a higher load means another process competed.
                print(
                    f"{side}x{side} batch {batch_size}: passes of {', '.join(f'{t:.1f}' for t in seconds)} s "
                    f"(1-minute load average {os.getloadavg()[0]:.1f})",
                    flush=True,
                )

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print()
    print(
        f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, {memory_gb:.0f} GiB RAM, no GPU; "
        f"torch {torch.__version__}, transformers {transformers.__version__}; float32; "
        f"median of {args.passes} passes per row; building and saving the checkpoint took {build_s:.0f} s"
    )
    print()
    print("| document image (max pixels) | image tokens | tokens/pair | batch size | pairs/s | s/pair |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for side, image_tokens, tokens, batch_size, seconds in sorted(rows):
        print(
            f"| {side}x{side} | {image_tokens} | {tokens} | {batch_size} | "
            f"{batch_size / seconds:.3f} | {seconds / batch_size:.2f} |"
        )


if __name__ == "__main__":
    main()
