"""Model roles (embedder, captioner, reranker) behind small protocols, and the factory that finds their weights.

`load_models` only checks where the weights are; the heavy loading happens on first use.
A role whose weights cannot be found is left out with a notice for the user, so the app
runs in a reduced "OCR + keyword" mode instead of failing or inventing vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pipeline.config import Settings
from pipeline.errors import ModelUnavailable

logger = logging.getLogger(__name__)

Vectors = NDArray[np.float32]
"""Shape (n, dim), rows L2-normalised."""


@dataclass(frozen=True)
class Query:
    """A search query: text, image, or both."""

    text: str | None = None
    image: Image.Image | None = None


class Embedder(Protocol):
    """Maps images (documents) and queries into one vector space of `dim` dimensions."""

    name: str
    dim: int

    def embed_documents(self, images: Sequence[Image.Image]) -> Vectors: ...

    def embed_queries(self, queries: Sequence[Query]) -> Vectors: ...


class Captioner(Protocol):
    """Writes a short searchable caption for each image."""

    name: str

    def caption(self, images: Sequence[Image.Image]) -> list[str]: ...


@dataclass(frozen=True)
class RerankDocument:
    """What the reranker sees of a stored asset: its image (if at hand) and the text indexed with it."""

    image: Image.Image | None
    caption: str = ""
    ocr_text: str = ""


class Reranker(Protocol):
    """Judges query-document pairs with a calibrated relevance probability, usable as an absolute cutoff."""

    name: str
    accelerated: bool  # on a GPU; search reranks by default only then

    def score(self, query: Query, documents: Sequence[RerankDocument]) -> list[float]: ...


@dataclass
class Models:
    """The roles that could be set up, and plain-language notices about the ones that could not."""

    embedder: Embedder | None
    captioner: Captioner | None
    reranker: Reranker | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def mode(self) -> str:
        """The search mode the embedder and captioner allow (rerank only reorders); notices say what is missing."""
        if self.embedder is not None and self.captioner is not None:
            return "full"
        if self.embedder is None and self.captioner is None:
            return "ocr+keyword"
        return "partial"


MODELS_OFF_NOTICE = (
    "No captions, no vectors, no rerank: search runs in OCR + keyword mode because models are turned off "
    "(VLSEARCH_MODELS_ENABLED=false)."
)
NO_RERANK = "hits keep their fused order and carry no relevance probability"
# Keyed by the missing roles, in the order load_models tries them.
LOSSES = {
    ("embedder", "captioner", "reranker"): "No captions, no vectors, no rerank: search runs in OCR + keyword mode.",
    ("embedder", "captioner"): "No captions, no vectors: search runs in OCR + keyword mode.",
    ("embedder", "reranker"): "No vectors, no rerank (partial mode): search matches OCR text and captions by "
    f"keyword only, image queries match by the text read from them, and {NO_RERANK}.",
    ("embedder",): "No vectors (partial mode): search matches OCR text and captions by keyword only, "
    "and image queries match by the text read from them.",
    ("captioner", "reranker"): "No captions, no rerank (partial mode): new assets are indexed with their OCR text "
    f"only, and {NO_RERANK}.",
    ("captioner",): "No captions (partial mode): new assets are indexed with their OCR text only.",
    ("reranker",): f"No rerank: {NO_RERANK}.",
}


REDUCED_MODE_DOCS = "docs/search.md#reduced-mode"
_warned: set[str] = set()  # each short warning once per process, however often models are loaded


def load_models(settings: Settings) -> Models:
    """Find the weights of each role without loading them; an unavailable role becomes None, explained in a notice."""
    if not settings.models_enabled:
        _warn_once(
            f"OCR + keyword mode: models are turned off (VLSEARCH_MODELS_ENABLED=false); see {REDUCED_MODE_DOCS}"
        )
        logger.info(MODELS_OFF_NOTICE)
        return Models(embedder=None, captioner=None, notices=[MODELS_OFF_NOTICE])

    missing: dict[str, tuple[ModelUnavailable, str | None]] = {}
    embedder = _attempt(
        "embedder",
        settings.embed_model,
        settings,
        missing,
        fix="set VLSEARCH_EMBED_MODEL to a local directory of Qwen3-VL-Embedding weights",
    )
    captioner = _served("captioner", settings.caption_model, settings.caption_server_url, settings) or _attempt(
        "captioner",
        settings.caption_model,
        settings,
        missing,
        fix="set VLSEARCH_CAPTION_MODEL to a local directory of Qwen3-VL-Instruct weights",
    )
    reranker = _served("reranker", settings.rerank_model, settings.rerank_server_url, settings) or _attempt(
        "reranker",
        settings.rerank_model,
        settings,
        missing,
        fix="set VLSEARCH_RERANK_MODEL to a local directory of Qwen3-VL-Reranker or Qwen3-VL-Instruct weights",
    )
    models = Models(embedder=embedder, captioner=captioner, reranker=reranker)
    if missing:
        models.notices.append(_notice(missing))
        label = {"ocr+keyword": "OCR + keyword mode", "partial": "partial mode"}.get(models.mode, "no rerank")
        _warn_once(f"{label}: no weights for the {', '.join(missing)} (details: --log-level info; {REDUCED_MODE_DOCS})")
        logger.info(models.notices[0])
    return models


def _warn_once(line: str) -> None:
    if line not in _warned:
        _warned.add(line)
        logger.warning(line)


def _attempt(
    role: str,
    model: str,
    settings: Settings,
    missing: dict[str, tuple[ModelUnavailable, str | None]],
    *,
    fix: str,
) -> Any:
    """Build one role; on failure record why, with the fix for missing weights (other reasons carry their own)."""
    from pipeline.models.weights import resolve_weights

    try:
        path = resolve_weights(model)
    except ModelUnavailable as exc:
        missing[role] = (exc, fix)
        return None
    try:
        return _implementation(role)(model, path, settings)
    except ModelUnavailable as exc:
        missing[role] = (exc, None)
        return None


def _served(role: str, model: str, url: str | None, settings: Settings) -> Any:
    """The role on a model server when its URL is set (no local weights needed), else None."""
    if url is None:
        return None
    from pipeline.models.served import ServedCaptioner, ServedReranker

    return (ServedCaptioner if role == "captioner" else ServedReranker)(model, url, settings)


def _implementation(role: str) -> Any:
    """The class of a role, imported only once its weights are found: a reduced-mode start never imports torch."""
    match role:
        case "embedder":
            from pipeline.models.embedder import QwenEmbedder

            return QwenEmbedder
        case "captioner":
            from pipeline.models.captioner import QwenCaptioner

            return QwenCaptioner
        case "reranker":
            from pipeline.models.reranker import QwenReranker

            return QwenReranker
        case other:
            raise ValueError(f"unknown model role {other!r}")


def _notice(missing: dict[str, tuple[ModelUnavailable, str | None]]) -> str:
    """One notice for the whole reduced mode: what is lost, each missing model and why, and how to fix it."""
    reasons = dict.fromkeys(f"Model {exc.model!r} is unavailable: {exc.reason}." for exc, _ in missing.values())
    fixes = [fix for _, fix in missing.values() if fix]
    remedy = f" To enable {'them' if len(fixes) > 1 else 'it'}, {' and '.join(fixes)}." if fixes else ""
    return f"{LOSSES[tuple(missing)]} {' '.join(reasons)}{remedy}"
