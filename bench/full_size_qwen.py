"""A full-size Qwen3-VL-2B checkpoint with random weights, for benchmarks on a host that cannot download weights.

The architecture is Qwen/Qwen3-VL-2B-Instruct's (the config values of its published
config.json; Qwen3-VL-Embedding-2B and Qwen3-VL-Reranker-2B share it), saved with
save_pretrained so the pipeline's model classes load it through the code path real weights
take. Random weights cost the same per forward pass as trained ones.

The tokenizer and processor are the tiny test ones (tests/tiny_qwen.py): the image
preprocessing is Qwen's (16-pixel patches merged 2x2), and every token id they produce is
below the full vocabulary size, so the forward pass is the real model's. Their 640-token
vocabulary splits English text into about twice as many tokens as Qwen's 151k one would.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoProcessor, Qwen3VLConfig, Qwen3VLForConditionalGeneration

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.tiny_qwen import build_tiny_qwen3vl  # noqa: E402


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
    model = Qwen3VLForConditionalGeneration(full_size_config(processor))  # float32; loading casts to bf16 on a GPU
    print(f"built {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters", flush=True)
    model.save_pretrained(directory)
    del model  # 8.5 GB, freed before the pipeline loads the saved copy
    gc.collect()
    return time.perf_counter() - start
