"""Embedder role: Qwen3-VL-Embedding vectors for images (documents) and text/image queries.

Follows the model card: the instruction goes in the system message, the image and/or text
in the user message, and the vector is the final-layer hidden state of the last real
(non-padding) token, truncated Matryoshka-style to the configured size and L2-normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.config import Settings
from pipeline.errors import BadInput, ModelUnavailable
from pipeline.models import Query, Vectors
from pipeline.models.loading import (
    Checkpoint,
    Conversation,
    load_checkpoint,
    pick_device,
)
from pipeline.models.weights import checkpoint_config

QUERY_INSTRUCTION = "Retrieve images or text relevant to the user's query."
DOCUMENT_INSTRUCTION = "Represent the user's input."


class QwenEmbedder:
    """Embeds documents and queries into one vector space; weights load on the first call."""

    def __init__(self, name: str, path: Path, settings: Settings) -> None:
        hidden_size = checkpoint_config(path)["text_config"]["hidden_size"]
        if settings.embed_dim > hidden_size:
            raise ModelUnavailable(
                name,
                f"VLSEARCH_EMBED_DIM={settings.embed_dim} is larger than the model's hidden size {hidden_size}; "
                f"set it to {hidden_size} or less",
            )
        self.name = name
        self.dim = settings.embed_dim
        self._path = path
        self._device = pick_device(settings.device, name)
        self._batch_size = settings.model_batch_size
        self._max_pixels = settings.model_max_pixels

    def load(self) -> Checkpoint:
        """Load the weights now (idempotent; shared with other roles using the same checkpoint)."""
        return load_checkpoint(self._path, self._device)

    def embed_documents(self, images: Sequence[Image.Image]) -> Vectors:
        """One vector per image, encoded as a document (no retrieval instruction)."""
        return self._embed([_conversation(DOCUMENT_INSTRUCTION, image=image) for image in images])

    def embed_queries(self, queries: Sequence[Query]) -> Vectors:
        """One vector per query, encoded with the retrieval instruction."""
        conversations = []
        for index, query in enumerate(queries):
            text = (query.text or "").strip() or None
            if text is None and query.image is None:
                raise BadInput(f"query {index}", "a query needs text, an image or both")
            conversations.append(_conversation(QUERY_INSTRUCTION, text=text, image=query.image))
        return self._embed(conversations)

    def _embed(self, conversations: list[Conversation]) -> Vectors:
        if not conversations:
            return np.zeros((0, self.dim), dtype=np.float32)
        checkpoint = self.load()
        backbone = checkpoint.model.model  # the language model's hidden states, no LM head needed
        chunks = []
        for start in range(0, len(conversations), self._batch_size):
            inputs = checkpoint.prepare(
                conversations[start : start + self._batch_size], padding_side="right", max_pixels=self._max_pixels
            )
            with torch.inference_mode():
                hidden = backbone(**inputs, use_cache=False).last_hidden_state
            pooled = _last_real_token(hidden, inputs["attention_mask"])
            chunks.append(F.normalize(pooled[:, : self.dim].float(), dim=-1).cpu().numpy())
        return np.concatenate(chunks).astype(np.float32, copy=False)


def _conversation(instruction: str, *, text: str | None = None, image: Image.Image | None = None) -> Conversation:
    """The instruction as the system message; the image, then the text, as the user message."""
    content: list[dict[str, Any]] = []
    if image is not None:
        content.append({"type": "image", "image": image})
    if text is not None:
        content.append({"type": "text", "text": text})
    return [
        {"role": "system", "content": [{"type": "text", "text": instruction}]},
        {"role": "user", "content": content},
    ]


def _last_real_token(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The hidden state at each row's last attended position, whichever side the padding is on."""
    last = attention_mask.shape[1] - 1 - attention_mask.flip(dims=[1]).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
