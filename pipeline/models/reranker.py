"""Reranker role: a calibrated probability that a document is relevant to a query.

Follows Qwen's reference script for Qwen3-VL-Reranker (`qwen3_vl_reranker.py` of the model
card and the QwenLM/Qwen3-VL-Embedding repository, `src/models/`) in prompt layout and scoring:
- the system message is its fixed judge prompt ("Judge whether the Document meets ...; the
  answer can only be "yes" or "no"");
- the user message is "<Instruct>: {instruction}", then "<Query>:" followed by the query's
  image, then its text, then "\n<Document>:" followed by the document's image, then its text,
  as parts the chat template joins without separators; a side with nothing reads "NULL";
- the chat ends with the generation prompt, and the score is sigmoid(logit("yes") - logit("no"))
  at the next token, computed as the script does: the last hidden state projected on the
  difference of the LM head's "yes" and "no" rows (the head has no bias, so this is the logit
  difference), with left padding so that the last position is every row's next token.
Ours: the default instruction is the embedder's retrieval instruction (the script's is "Given
a search query, retrieve relevant candidates that answer the query."); the document text is
labelled ("Caption: ...", "Text in the image: ...") and long OCR text is cut, because an asset
is an image with text derived from it rather than a passage; images (query and document) are
resized to at most VLSEARCH_RERANK_MAX_PIXELS; the projection runs in float32 whatever the
model's dtype. An Instruct checkpoint answers the same prompt, with probabilities that are
less well calibrated than the reranker's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from pipeline.config import Settings
from pipeline.errors import BadInput, ModelUnavailable
from pipeline.models import Query, RerankDocument
from pipeline.models.embedder import QUERY_INSTRUCTION
from pipeline.models.loading import Checkpoint, Conversation, load_checkpoint, pick_device

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

JUDGE_PROMPT = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
    'Note that the answer can only be "yes" or "no".'
)
INSTRUCTION = QUERY_INSTRUCTION
# Enough text to judge relevance by, while keeping every pair's sequence length bounded.
MAX_OCR_CHARS = 2000


class QwenReranker:
    """Scores query-document pairs in batches; weights load on the first call."""

    def __init__(self, name: str, path: Path, settings: Settings) -> None:
        self.name = name
        self._path = path
        self._device = pick_device(settings.device, name)
        # On a CPU one pair takes seconds (docs/benchmarks.md), so search does not rerank there by default.
        self.accelerated = self._device.type != "cpu"
        self._batch_size = settings.rerank_batch_size
        self._max_pixels = settings.rerank_max_pixels
        self._yes_minus_no: torch.Tensor | None = None

    def load(self) -> Checkpoint:
        """Load the weights now (idempotent; shared with other roles using the same checkpoint)."""
        checkpoint = load_checkpoint(self._path, self._device)
        if self._yes_minus_no is None:
            tokenizer = checkpoint.processor.tokenizer
            with checkpoint.processor_lock:  # encode() resets the shared tokenizer's padding under other threads
                yes, no = (_answer_token(tokenizer, answer, self.name) for answer in ("yes", "no"))
            head = checkpoint.model.lm_head.weight.detach()
            self._yes_minus_no = (head[yes] - head[no]).float()
        return checkpoint

    def score(self, query: Query, documents: Sequence[RerankDocument]) -> list[float]:
        """P(relevant) for each document, in order: sigmoid(logit("yes") - logit("no")) after the judge prompt."""
        if not (query.text or "").strip() and query.image is None:
            raise BadInput("query", "a query needs text, an image or both")
        if not documents:
            return []
        checkpoint = self.load()
        conversations = [judge_conversation(query, document) for document in documents]
        scores: list[float] = []
        for start in range(0, len(conversations), self._batch_size):
            inputs = checkpoint.prepare(
                conversations[start : start + self._batch_size], padding_side="left", max_pixels=self._max_pixels
            )
            with torch.inference_mode():
                hidden = checkpoint.model.model(**inputs, use_cache=False).last_hidden_state[:, -1]
            scores.extend(torch.sigmoid(hidden.float() @ self._yes_minus_no).tolist())
        return scores


def judge_conversation(query: Query, document: RerankDocument, instruction: str = INSTRUCTION) -> Conversation:
    """The chat the model judges: the judge prompt as system message; instruction, query and document as user."""
    lines = []
    if caption := document.caption.strip():
        lines.append(f"Caption: {caption}")
    if ocr_text := document.ocr_text.strip():
        lines.append(f"Text in the image: {ocr_text[:MAX_OCR_CHARS]}")
    content = [
        {"type": "text", "text": f"<Instruct>: {instruction}"},
        *_side("<Query>:", query.image, (query.text or "").strip()),
        *_side("\n<Document>:", document.image, "\n".join(lines)),
    ]
    return [
        {"role": "system", "content": [{"type": "text", "text": JUDGE_PROMPT}]},
        {"role": "user", "content": content},
    ]


def _side(label: str, image: Image.Image | None, text: str) -> list[dict[str, Any]]:
    """One side of the pair: its label, then the image, then the text; "NULL" when there is neither."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": label}]
    if image is not None:
        parts.append({"type": "image", "image": image})
    if text or image is None:
        parts.append({"type": "text", "text": text or "NULL"})
    return parts


def _answer_token(tokenizer: PreTrainedTokenizerBase, answer: str, model: str) -> int:
    ids = tokenizer.encode(answer, add_special_tokens=False)
    if len(ids) != 1:
        raise ModelUnavailable(
            model,
            f"its tokenizer splits the answer {answer!r} into {len(ids)} tokens, "
            'but scoring needs "yes" and "no" to be one token each',
        )
    return int(ids[0])
