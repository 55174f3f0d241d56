"""Rerank throughput (query-document pairs per second) of a full-size Qwen3-VL-2B on this machine.

    python bench/rerank.py [--passes 3]

No weights can be downloaded here, so the model is the Qwen3-VL-2B-Instruct architecture
(the config values of its published config.json, below) with random weights, in float32 on
CPU, saved with save_pretrained and loaded through QwenReranker, the code path real weights
take. Random weights cost the same per forward pass as trained ones.

The tokenizer and processor are the tiny test ones (tests/tiny_qwen.py): the image
preprocessing is Qwen's (16-pixel patches merged 2x2), and every token id they produce is
below the full vocabulary size, so the forward pass is the real model's. Their 640-token
vocabulary splits English text into about twice as many tokens as Qwen's 151k one would, so
the figures are somewhat pessimistic for text-heavy pairs; the table gives the tokens per pair.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
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
from transformers import AutoProcessor, Qwen3VLConfig, Qwen3VLForConditionalGeneration

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import Settings  # noqa: E402
from pipeline.models import Query, RerankDocument  # noqa: E402
from pipeline.models.reranker import QwenReranker, judge_conversation  # noqa: E402
from tests.tiny_qwen import build_tiny_qwen3vl  # noqa: E402

NAME = "Qwen3-VL-2B (random weights)"
SIDES = [224, 448]  # document images are resized to at most SIDE x SIDE pixels
BATCH_SIZES = [1, 4]
QUERY = Query(text="payment failed: card declined by the issuer")
CAPTION = "A screenshot of a mobile banking app showing a red error banner after a card payment."
OCR_TEXT = (
    "Payment failed. Your card was declined by the issuer (code 05). Try another card or contact your bank. "
    "Order #48213 Total: 42.90 EUR  Retry  Cancel  Help"
)


def full_size_config(processor: transformers.ProcessorMixin) -> Qwen3VLConfig:
    """Qwen/Qwen3-VL-2B-Instruct's architecture; only the special token ids are the tiny tokenizer's."""
    ids = processor.tokenizer.convert_tokens_to_ids
    return Qwen3VLConfig(
        text_config={
            "vocab_size": 151936,
            "hidden_size": 2048,
            "intermediate_size": 6144,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "hidden_act": "silu",
            "rms_norm_eps": 1e-6,
            "max_position_embeddings": 262144,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5_000_000.0,
                "mrope_section": [24, 20, 20],
                "mrope_interleaved": True,
            },
            "tie_word_embeddings": True,
            "bos_token_id": ids("<|endoftext|>"),
            "eos_token_id": ids("<|im_end|>"),
            "pad_token_id": ids("<|endoftext|>"),
        },
        vision_config={
            "depth": 24,
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_heads": 16,
            "hidden_act": "gelu_pytorch_tanh",
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": 2048,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": [5, 11, 17],
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )


def write_checkpoint(directory: Path) -> float:
    """Save a random-weight full-size checkpoint with the tiny processor; returns the seconds it took."""
    start = time.perf_counter()
    processor = AutoProcessor.from_pretrained(build_tiny_qwen3vl(directory / "tiny"))
    processor.save_pretrained(directory)
    torch.manual_seed(0)
    model = Qwen3VLForConditionalGeneration(full_size_config(processor))  # float32, the dtype used on CPU
    print(f"built {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters", flush=True)
    model.save_pretrained(directory)
    del model  # 8.5 GB, freed before QwenReranker loads the saved copy
    gc.collect()
    return time.perf_counter() - start


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
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line),
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
