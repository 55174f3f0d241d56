"""Captioner and reranker served by an OpenAI-compatible model server, such as vLLM.

vLLM batches requests from many callers on the GPU continuously (paged attention, prefix caching), so
captioning a large collection there is faster than `generate` in this process. Run, on a GPU host:

    vllm serve Qwen/Qwen3-VL-2B-Instruct --port 8000          # VLSEARCH_CAPTION_SERVER_URL=http://host:8000/v1
    vllm serve Qwen/Qwen3-VL-Reranker-2B --port 8001          # VLSEARCH_RERANK_SERVER_URL=http://host:8001/v1

Both speak `POST /chat/completions` with images as data URLs, the same prompts as the local roles:
- captions are greedy (temperature 0) and at most VLSEARCH_CAPTION_MAX_NEW_TOKENS tokens; a batch's
  images go as concurrent requests, which the server batches;
- the reranker asks for one token with its log-probabilities and scores sigmoid(logprob("yes") -
  logprob("no")): the softmax's normaliser cancels, so this is the logit difference the local reranker
  computes. An answer missing from the top log-probabilities is taken at the lowest one listed, which
  bounds it from above.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import urllib3
from PIL import Image

from pipeline.config import Settings
from pipeline.errors import ModelUnavailable
from pipeline.models import Query, RerankDocument
from pipeline.models.captioner import CAPTION_PROMPT
from pipeline.models.loading import Conversation
from pipeline.models.reranker import judge_conversation

TOP_LOGPROBS = 20  # the most OpenAI's API (and vLLM by default) return per position


class ServedModel:
    """One model behind an OpenAI-compatible URL: chat completions, with images sent as data URLs."""

    def __init__(self, name: str, url: str, *, timeout_s: float, max_pixels: int, concurrency: int) -> None:
        self.name = name
        self.url = url.rstrip("/") + "/chat/completions"
        self.max_pixels = max_pixels
        self._http = urllib3.PoolManager(
            maxsize=concurrency, timeout=urllib3.Timeout(total=timeout_s), retries=urllib3.Retry(0)
        )
        self._concurrency = concurrency

    @classmethod
    def configured(cls, name: str, url: str, settings: Settings, *, max_pixels: int) -> ServedModel:
        """With the settings' timeout and concurrency (VLSEARCH_MODEL_SERVER_*)."""
        return cls(
            name,
            url,
            timeout_s=settings.model_server_timeout_s,
            max_pixels=max_pixels,
            concurrency=settings.model_server_concurrency,
        )

    def complete_all(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every request at once (up to the concurrency), answers in order."""
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            return list(pool.map(self.complete, requests))

    def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"model": self.name, **request}).encode()
        try:
            response = self._http.request(
                "POST", self.url, body=body, headers={"Content-Type": "application/json"}, redirect=False
            )
        except urllib3.exceptions.HTTPError as error:
            raise ModelUnavailable(self.name, f"the model server at {self.url} did not answer ({error})") from error
        if response.status != 200:
            detail = response.data[:300].decode("utf-8", "replace")
            raise ModelUnavailable(self.name, f"the model server at {self.url} answered {response.status}: {detail}")
        try:
            answer: dict[str, Any] = json.loads(response.data)
            answer["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise ModelUnavailable(self.name, f"the model server at {self.url} sent no chat completion") from error
        return answer

    def messages(self, conversation: Conversation) -> list[dict[str, Any]]:
        """A conversation of this package's roles in the API's shape: text parts and image_url parts."""
        return [
            {"role": message["role"], "content": [self._part(part) for part in message["content"]]}
            for message in conversation
        ]

    def _part(self, part: dict[str, Any]) -> dict[str, Any]:
        if part["type"] == "image":
            return {"type": "image_url", "image_url": {"url": data_url(part["image"], self.max_pixels)}}
        return {"type": "text", "text": part["text"]}


class ServedCaptioner:
    """Captions from an OpenAI-compatible server (VLSEARCH_CAPTION_SERVER_URL)."""

    def __init__(self, name: str, url: str, settings: Settings) -> None:
        self.name = name
        self._server = ServedModel.configured(name, url, settings, max_pixels=settings.model_max_pixels)
        self._prompt = CAPTION_PROMPT.format(language=settings.caption_language)
        self._max_tokens = settings.caption_max_new_tokens

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        requests = [
            {
                "messages": self._server.messages(
                    [
                        {
                            "role": "user",
                            "content": [{"type": "image", "image": image}, {"type": "text", "text": self._prompt}],
                        }
                    ]
                ),
                "max_tokens": self._max_tokens,
                "temperature": 0,
            }
            for image in images
        ]
        return [
            str(answer["choices"][0]["message"].get("content") or "").strip()
            for answer in self._server.complete_all(requests)
        ]


class ServedReranker:
    """P(relevant) from an OpenAI-compatible server (VLSEARCH_RERANK_SERVER_URL), by the yes/no log-probabilities."""

    accelerated = True  # a model server is there to run on a GPU: search reranks by default

    def __init__(self, name: str, url: str, settings: Settings) -> None:
        self.name = name
        self._server = ServedModel.configured(name, url, settings, max_pixels=settings.rerank_max_pixels)

    def score(self, query: Query, documents: Sequence[RerankDocument]) -> list[float]:
        requests = [
            {
                "messages": self._server.messages(judge_conversation(query, document)),
                "max_tokens": 1,
                "temperature": 0,
                "logprobs": True,
                "top_logprobs": TOP_LOGPROBS,
            }
            for document in documents
        ]
        return [self._probability(answer) for answer in self._server.complete_all(requests)]

    def _probability(self, answer: dict[str, Any]) -> float:
        try:
            listed = answer["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            logprobs = {str(entry["token"]).strip().lower(): float(entry["logprob"]) for entry in reversed(listed)}
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ModelUnavailable(self.name, "the model server sent no log-probabilities (top_logprobs)") from error
        if not logprobs:
            raise ModelUnavailable(self.name, "the model server sent an empty list of log-probabilities")
        floor = min(logprobs.values())
        return 1.0 / (1.0 + math.exp(logprobs.get("no", floor) - logprobs.get("yes", floor)))


def data_url(image: Image.Image, max_pixels: int) -> str:
    """The image as a PNG data URL, scaled down to `max_pixels` first (the server would do so anyway)."""
    if image.width * image.height > max_pixels:
        scale = math.sqrt(max_pixels / (image.width * image.height))
        image = image.resize(
            (max(1, int(image.width * scale)), max(1, int(image.height * scale))), Image.Resampling.LANCZOS
        )
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
