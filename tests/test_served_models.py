"""Captioner and reranker on an OpenAI-compatible model server (vLLM): the wire, doubled by a local server.

vLLM cannot run here (no GPU), so a server on 127.0.0.1 answers as vLLM's chat completions endpoint does and
records what it was sent: the tests check the requests field by field and what the roles make of the answers.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from PIL import Image

from pipeline.config import Settings
from pipeline.errors import ModelUnavailable
from pipeline.images import ImageLimits
from pipeline.ingest.ingestor import Ingestor
from pipeline.ingest.sources import collect
from pipeline.models import Query, RerankDocument, load_models
from pipeline.models.captioner import CAPTION_PROMPT
from pipeline.models.reranker import JUDGE_PROMPT
from pipeline.models.served import ServedCaptioner, ServedReranker
from pipeline.store.lance_engine import LanceStore
from tests.http_fixture import serve

Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


class ChatServer:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.url = ""


@contextmanager
def chat_server(answer: Answer) -> Iterator[ChatServer]:
    server = ChatServer(answer)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            server.requests.append(request)
            server.paths.append(self.path)
            status, body = server.answer(request)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    with serve(handler=Handler) as local:
        server.url = local.url("/v1")
        yield server


def completion(content: str, logprobs: list[tuple[str, float]] | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": content}}
    if logprobs is not None:
        top = [{"token": token, "logprob": value} for token, value in logprobs]
        choice["logprobs"] = {
            "content": [{"token": top[0]["token"], "logprob": top[0]["logprob"], "top_logprobs": top}]
        }
    return {"id": "cmpl-1", "object": "chat.completion", "choices": [choice]}


def settings(**values: Any) -> Settings:
    return Settings(model_max_pixels=64 * 64, rerank_max_pixels=32 * 32, caption_max_new_tokens=24, **values)


def image_in(part: dict[str, Any]) -> Image.Image:
    prefix = "data:image/png;base64,"
    url = part["image_url"]["url"]
    assert url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))


def test_captions_are_asked_greedily_with_the_prompt_and_a_bounded_length_one_request_per_image():
    def answer(request):
        return 200, completion(f"  a screenshot numbered {len(request['messages'][0]['content'][0]['image_url'])}  ")

    with chat_server(answer) as server:
        captioner = ServedCaptioner("Qwen/Qwen3-VL-2B-Instruct", server.url, settings())
        images = [Image.new("RGB", (200, 100), "white"), Image.new("RGB", (40, 30), "black")]
        captions = captioner.caption(images)
    assert len(captions) == 2 and all(caption.startswith("a screenshot") for caption in captions)
    assert server.paths == ["/v1/chat/completions"] * 2
    for request in server.requests:
        assert request["model"] == "Qwen/Qwen3-VL-2B-Instruct"
        assert request["max_tokens"] == 24 and request["temperature"] == 0
        (message,) = request["messages"]
        picture, prompt = message["content"]
        assert prompt == {"type": "text", "text": CAPTION_PROMPT.format(language="English")}
        assert image_in(picture).width * image_in(picture).height <= 64 * 64  # scaled down before sending
    assert sorted(image_in(r["messages"][0]["content"][0]).size for r in server.requests) == [(40, 30), (90, 45)]


def test_the_rerank_probability_is_the_yes_no_logit_difference_and_the_judge_prompt_is_sent():
    def answer(request):
        text = request["messages"][1]["content"][-1]["text"]
        if "invoice" in text:
            return 200, completion("yes", [("yes", -0.1), ("no", -2.4), ("Yes", -4.0)])
        return 200, completion("no", [("no", -0.05), (" yes", -3.05)])

    with chat_server(answer) as server:
        reranker = ServedReranker("Qwen/Qwen3-VL-Reranker-2B", server.url, settings())
        scores = reranker.score(
            Query(text="declined card"),
            [RerankDocument(None, caption="an invoice"), RerankDocument(Image.new("RGB", (64, 64)), ocr_text="hello")],
        )
    assert scores == pytest.approx([1 / (1 + math.exp(-2.3)), 1 / (1 + math.exp(3.0))])
    for request in server.requests:
        assert request["max_tokens"] == 1 and request["logprobs"] is True and request["top_logprobs"] == 20
        assert request["messages"][0] == {"role": "system", "content": [{"type": "text", "text": JUDGE_PROMPT}]}
        assert request["messages"][1]["content"][1] == {"type": "text", "text": "<Query>:"}
    assert reranker.accelerated  # search reranks by default with a server


def test_an_answer_the_server_did_not_list_counts_at_the_lowest_listed_logprob():
    with chat_server(lambda request: (200, completion("yes", [("yes", -0.2), ("maybe", -3.2)]))) as server:
        (score,) = ServedReranker("r", server.url, settings()).score(Query(text="q"), [RerankDocument(None)])
    assert score == pytest.approx(1 / (1 + math.exp(-3.0)))


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (503, {"error": "loading"}, "answered 503"),
        (200, {"choices": []}, "sent no chat completion"),
        (200, completion("yes"), "sent no log-probabilities"),
    ],
)
def test_a_server_that_fails_or_answers_nonsense_is_named_with_the_reason(status, body, reason):
    with chat_server(lambda request: (status, body)) as server:
        reranker = ServedReranker("Qwen/Qwen3-VL-Reranker-2B", server.url, settings())
        with pytest.raises(ModelUnavailable, match=f"{server.url}/chat/completions.*{reason}|{reason}"):
            reranker.score(Query(text="q"), [RerankDocument(None, caption="c")])


def test_a_server_that_is_not_there_is_named():
    with chat_server(lambda request: (200, {})) as server:
        url = server.url
    with pytest.raises(ModelUnavailable, match=f"the model server at {url}/chat/completions did not answer"):
        ServedCaptioner("c", url, settings()).caption([Image.new("RGB", (8, 8))])


def test_with_server_urls_the_roles_need_no_local_weights_and_ingest_stores_served_captions(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(3):
        Image.new("RGB", (80, 40), (index * 60, 20, 90)).save(folder / f"{index}.png")
    with chat_server(lambda request: (200, completion("a plain coloured rectangle"))) as server:
        configured = settings(
            embed_model=str(tmp_path / "no-weights-here"),
            caption_model="Qwen/Qwen3-VL-2B-Instruct",
            rerank_model="Qwen/Qwen3-VL-Reranker-2B",
            caption_server_url=server.url,
            rerank_server_url=server.url,
        )
        models = load_models(configured)
        assert isinstance(models.captioner, ServedCaptioner) and isinstance(models.reranker, ServedReranker)
        store = LanceStore(tmp_path / "store", dim=8)
        ocr = type("NoText", (), {"name": "no-text", "read": lambda self, image: ""})()
        report = Ingestor(store, ocr, None, models.captioner, ImageLimits(5_000_000, 1_000_000)).ingest(
            collect([folder]).items
        )
    assert report.summary()["added"] == 3
    records = store.get([doc_id for batch in store.iter_ids() for doc_id in batch])
    assert {(record.caption, record.caption_model) for record in records} == {
        ("a plain coloured rectangle", "Qwen/Qwen3-VL-2B-Instruct")
    }
