"""Captioner role: short factual captions from Qwen3-VL-Instruct, written for a keyword index.

Greedy decoding keeps captions reproducible, so re-ingesting an asset gives the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from pipeline.config import Settings
from pipeline.models.loading import Checkpoint, load_checkpoint, pick_device

CAPTION_PROMPT = (
    "Describe this image in one or two factual sentences for a search index: what it shows, and any "
    "visible product, app, brand, text or error message. Answer in {language}."
)


class QwenCaptioner:
    """Captions images in batches; weights load on the first call."""

    def __init__(self, name: str, path: Path, settings: Settings) -> None:
        self.name = name
        self._path = path
        self._device = pick_device(settings.device, name)
        self._batch_size = settings.model_batch_size
        self._max_pixels = settings.model_max_pixels
        self._max_new_tokens = settings.caption_max_new_tokens
        self._prompt = CAPTION_PROMPT.format(language=settings.caption_language)

    def load(self) -> Checkpoint:
        """Load the weights now (idempotent; shared with other roles using the same checkpoint)."""
        return load_checkpoint(self._path, self._device)

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        """One caption per image, in order (possibly empty if the model says nothing)."""
        if not images:
            return []
        checkpoint = self.load()
        tokenizer = checkpoint.processor.tokenizer
        prompt = self._prompt
        captions: list[str] = []
        for start in range(0, len(images), self._batch_size):
            conversations = [
                [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}]}]
                for image in images[start : start + self._batch_size]
            ]
            # Left padding keeps every prompt flush against the tokens generated after it.
            inputs = checkpoint.prepare(conversations, padding_side="left", max_pixels=self._max_pixels)
            with torch.inference_mode():
                generated = checkpoint.model.generate(  # type: ignore[misc]  # transformers' self-type for generate
                    **inputs,
                    max_new_tokens=self._max_new_tokens,
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new_tokens = generated[:, inputs["input_ids"].shape[1] :]
            captions.extend(text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        return captions
