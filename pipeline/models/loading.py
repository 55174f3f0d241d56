"""Where Qwen3-VL weights come from and how they are loaded once and shared between roles.

Resolution is cheap (a directory check, the Hugging Face cache, then a download unless
offline) and happens when the app starts; the heavy torch loading happens on first use,
through one cache keyed by checkpoint directory, device and dtype, so the embedder,
captioner and reranker share one copy of weights they have in common.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from huggingface_hub import snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
)

from pipeline.errors import BadInput, ModelUnavailable

if TYPE_CHECKING:
    from transformers import BatchFeature, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

Conversation = list[dict[str, Any]]

# The vision tower sees 16-pixel patches merged 2x2, so image sides are multiples of 32.
IMAGE_FACTOR = 32
MIN_PIXELS = 4 * IMAGE_FACTOR * IMAGE_FACTOR
MAX_ASPECT_RATIO = 200
SUPPORTED_MODEL_TYPES = {"qwen3_vl"}


def resolve_weights(model: str) -> Path:
    """The local checkpoint directory for a model id or directory, or ModelUnavailable saying why not."""
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        return _checked(model, candidate)
    if candidate.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1 or "\\" in model:
        raise ModelUnavailable(model, f"there is no directory {candidate.absolute()}")
    return _checked(model, _from_hub(model))


def checkpoint_config(path: Path) -> dict[str, Any]:
    """The checkpoint's config.json as a dict (cheap: no torch involved)."""
    config: dict[str, Any] = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return config


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

    def prepare(self, conversations: Sequence[Conversation], *, padding_side: str, max_pixels: int) -> BatchFeature:
        """Chat-format a batch, cap image resolution and tokenise, on the model's device."""
        texts = self.processor.apply_chat_template(list(conversations), tokenize=False, add_generation_prompt=True)
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
_LOCK = threading.Lock()


def load_checkpoint(path: Path, device: torch.device) -> Checkpoint:
    """Load (once per directory, device and dtype) the model and processor in path: bf16 on GPUs, float32 on CPU."""
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    key = (str(path.resolve()), str(device), dtype)
    with _LOCK:
        if key not in _CHECKPOINTS:
            from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

            try:
                processor = AutoProcessor.from_pretrained(path)
                model = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=dtype)
            except Exception as exc:
                raise ModelUnavailable(str(path), f"loading the checkpoint failed ({exc})") from exc
            _CHECKPOINTS[key] = Checkpoint(model=model.to(device).eval(), processor=processor, device=device)
        return _CHECKPOINTS[key]


def _from_hub(model: str) -> Path:
    """The snapshot in the Hugging Face cache, else a download unless HF_HUB_OFFLINE forbids it."""
    try:
        return Path(snapshot_download(model, local_files_only=True))
    except HFValidationError as exc:
        raise ModelUnavailable(model, "it is neither an existing directory nor a Hugging Face model id") from exc
    except LocalEntryNotFoundError as exc:
        if _offline():
            raise ModelUnavailable(
                model, "it is not in the Hugging Face cache and HF_HUB_OFFLINE=1 forbids downloading it"
            ) from exc
    try:
        return Path(snapshot_download(model))
    except GatedRepoError as exc:
        raise ModelUnavailable(model, "the Hugging Face Hub gates it: log in with an account that has access") from exc
    except RepositoryNotFoundError as exc:
        raise ModelUnavailable(model, "the Hugging Face Hub has no such model (or it is private)") from exc
    except LocalEntryNotFoundError as exc:
        raise ModelUnavailable(model, "it is not in the Hugging Face cache and the Hub could not be reached") from exc
    except Exception as exc:  # any network or disk failure must end in reduced mode, not a crash
        summary = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelUnavailable(model, f"downloading it failed ({summary})") from exc


def _checked(model: str, path: Path) -> Path:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelUnavailable(model, f"{path} has no config.json")
    try:
        model_type = checkpoint_config(path).get("model_type")
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(model, f"{config_file} is unreadable ({exc})") from exc
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelUnavailable(model, f"{path} holds a {model_type!r} model, not a Qwen3-VL one")
    return path


def _offline() -> bool:
    # Read at call time: huggingface_hub reads the variable once, at import.
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
