"""How Qwen3-VL weights are loaded once and shared between roles.

The heavy torch loading happens on first use (weights.py finds them at start-up), through
one cache keyed by checkpoint directory, device and dtype, so the embedder, captioner and
reranker share one copy of weights they have in common. Concurrent requests share them too:
each checkpoint loads once however many threads ask at the same time, and its processor
(whose tokenizer keeps the padding side as state) prepares one batch at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from pipeline.errors import BadInput, ModelUnavailable

if TYPE_CHECKING:
    from transformers import BatchFeature, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

Conversation = list[dict[str, Any]]

# The vision tower sees 16-pixel patches merged 2x2, so image sides are multiples of 32.
IMAGE_FACTOR = 32
MIN_PIXELS = 4 * IMAGE_FACTOR * IMAGE_FACTOR
MAX_ASPECT_RATIO = 200


def pick_device(setting: str, model: str) -> torch.device:
    """cuda > mps > cpu for "auto"; an explicit device that is not there is reported, not silently replaced."""
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
        "cpu": True,
    }
    if setting == "auto":
        return torch.device(next(name for name, present in available.items() if present))
    if not available.get(setting, False):
        raise ModelUnavailable(model, f"VLSEARCH_DEVICE={setting} but no such device is available")
    return torch.device(setting)


@dataclass(frozen=True)
class Checkpoint:
    """A loaded Qwen3-VL model with its processor, shared by every role that uses these weights."""

    model: Qwen3VLForConditionalGeneration
    processor: Qwen3VLProcessor
    device: torch.device
    # The fast tokenizer sets its padding side on itself before encoding: two threads preparing at once
    # can get each other's side (left-padded reranker batches padded right, scored at the wrong token).
    processor_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def prepare(self, conversations: Sequence[Conversation], *, padding_side: str, max_pixels: int) -> BatchFeature:
        """Chat-format a batch, cap image resolution and tokenise, on the model's device (safe from many threads)."""
        images = [
            item["image"]
            for conversation in conversations
            for message in conversation
            for item in message["content"]
            if item["type"] == "image"
        ]
        for index, image in enumerate(images):
            width, height = image.size
            if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
                raise BadInput(f"image {index} of the batch", f"{width}x{height} is too elongated for the model")
        with self.processor_lock:
            texts = self.processor.apply_chat_template(list(conversations), tokenize=False, add_generation_prompt=True)
            inputs = self.processor(
                text=texts,
                images=images or None,
                padding=True,
                padding_side=padding_side,
                return_tensors="pt",
                images_kwargs={"size": {"shortest_edge": min(MIN_PIXELS, max_pixels), "longest_edge": max_pixels}},
            )
        return inputs.to(self.device)


_CHECKPOINTS: dict[tuple[str, str, torch.dtype], Checkpoint] = {}
_LOADING: dict[tuple[str, str, torch.dtype], threading.Lock] = {}
_LOADING_GUARD = threading.Lock()


def load_checkpoint(path: Path, device: torch.device) -> Checkpoint:
    """Load (once per directory, device and dtype) the model and processor in path: bf16 on GPUs, float32 on CPU.

    Threads asking for the same checkpoint wait for one load; a loaded checkpoint is returned without waiting
    for another one that is still loading.
    """
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    key = (str(path.resolve()), str(device), dtype)
    loaded = _CHECKPOINTS.get(key)
    if loaded is not None:
        return loaded
    with _LOADING_GUARD:
        key_lock = _LOADING.setdefault(key, threading.Lock())
    with key_lock:
        if key not in _CHECKPOINTS:
            _CHECKPOINTS[key] = _load(path, device, dtype)
        return _CHECKPOINTS[key]


def _load(path: Path, device: torch.device, dtype: torch.dtype) -> Checkpoint:
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    try:
        processor = AutoProcessor.from_pretrained(path)
        # PyTorch's fused scaled-dot-product attention (flash or memory-efficient kernels on a GPU), asked for by
        # name so a transformers default that changes cannot silently fall back to the eager implementation.
        model = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")
    except Exception as exc:
        raise ModelUnavailable(str(path), f"loading the checkpoint failed ({exc})") from exc
    # transformers types .to() for dtypes only
    model = model.to(device).eval()  # type: ignore[arg-type]
    return Checkpoint(model=model, processor=processor, device=device)
