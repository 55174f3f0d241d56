"""HTTP API overhead: search through `python -m pipeline serve` beside the in-process Searcher, and /vectorize.

    python bench/api.py [--records 100000] [--queries 100] [--warmup 10] [--concurrency 1 4 16]
                        [--vectorize-batches 20] [--checkpoint DIR] [--data-dir /tmp/vlsearch-bench] [--rebuild]

Search: a collection of synthetic records (bench/synthetic.py, built as bench/search_scale.py builds
it and reused when its size matches) laid out as VLSEARCH_DATA_DIR=<data-dir>/api-<records> opens it.
The API is `python -m pipeline serve` in its own process (uvicorn, one worker, VLSEARCH_AUTH=off on
127.0.0.1, the request allowance raised out of the way), so the clients never share its GIL. Each of
N client threads has its own httpx.Client (keep-alive) and POSTs /v1/search, reading the JSON hits;
the in-process side runs the same N threads calling `services.searcher().search(...)` in this
process, as the route does. Both sides run the same queries with the same settings in the same run:
--warmup untimed queries per client, then --queries timed ones per client, all clients released at
once. Latency is per query as the client sees it; QPS is all timed queries over the wall time.

The searches are keyword-only (alpha 0, top 10) in OCR + keyword mode (models off): a hybrid
search would add the same query-embedding time to both sides, and the API's micro-batching of
concurrent query embeddings (VLSEARCH_QUERY_BATCH_WINDOW_MS) is not measured here.

/vectorize: a second server with the tiny random-weight Qwen3-VL (tests/tiny_qwen.py, built here;
--checkpoint times another Qwen3-VL directory) on CPU, one client sending --vectorize-batches
calls of Weaviate's multi2vec protocol, texts only and then base64 PNG images only, beside the same
embedder calls made in this process (texts as queries, images as documents, as the route makes them).
The server's texts go through its query micro-batching, which waits up to VLSEARCH_QUERY_BATCH_WINDOW_MS.

Prints markdown tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the tiny checkpoint is local; nothing is ever downloaded

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.search_scale import cpu_model, ensure_built, percentile  # noqa: E402
from bench.synthetic import SyntheticCollection  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.models import Embedder, Query, load_models  # noqa: E402
from pipeline.services import build_services  # noqa: E402

LIMIT = 10
DISTINCT_QUERIES = 200
START_TIMEOUT_S = 300.0
VECTORIZE_BATCH = 8
VECTORIZE_IMAGE_PX = 224
# Settings shared by the server (as VLSEARCH_* variables) and the in-process Searcher.
SEARCH_SETTINGS = {"models_enabled": False, "auth": "off", "api_requests_per_minute": 1_000_000_000}


# the server ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(settings: dict[str, object]) -> dict[str, str]:
    """The VLSEARCH_* variables that give a server process `settings`."""
    named = {
        f"VLSEARCH_{name.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in settings.items()
    }
    return {**os.environ, "VLSEARCH_LOG_LEVEL": "warning", **named}


@contextmanager
def served(settings: dict[str, object], log: Path) -> Iterator[tuple[str, float]]:
    """(base URL, seconds until it answered /healthz) of `python -m pipeline serve` over `settings`, stopped after."""
    port = free_port()
    start = time.perf_counter()
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=environment(settings),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"the API server exited with code {server.returncode}; its log: {log}")
                if time.perf_counter() - start > START_TIMEOUT_S:
                    raise SystemExit(f"the API server did not answer within {START_TIMEOUT_S:.0f} s; its log: {log}")
                try:
                    if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            yield url, time.perf_counter() - start
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


# load -----------------------------------------------------------------------------------------------

Search = Callable[[str], list[str]]  # query text -> hit ids, best first


@dataclass(frozen=True)
class Load:
    latencies_ms: list[float]
    wall_s: float

    @property
    def qps(self) -> float:
        return len(self.latencies_ms) / self.wall_s

    def p(self, fraction: float) -> float:
        return percentile(self.latencies_ms, fraction)


def run_clients(
    concurrency: int, texts: Sequence[str], per_client: int, warmup: int, new_client: Callable[[], Search]
) -> Load:
    """`concurrency` threads, each with its own client, released together after their warm-up queries."""
    started: list[float] = []
    barrier = threading.Barrier(concurrency, action=lambda: started.append(time.perf_counter()))
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    finished = [0.0] * concurrency
    failures: list[BaseException] = []

    def client(number: int) -> None:
        try:
            search = new_client()
            first = number * (per_client + warmup)
            for offset in range(warmup):
                search(texts[(first + offset) % len(texts)])
        except BaseException as error:
            failures.append(error)
            barrier.abort()
            return
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        try:
            for offset in range(warmup, warmup + per_client):
                begin = time.perf_counter()
                search(texts[(first + offset) % len(texts)])
                latencies[number].append((time.perf_counter() - begin) * 1000)
        except BaseException as error:
            failures.append(error)
        finished[number] = time.perf_counter()

    threads = [threading.Thread(target=client, args=(number,)) for number in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"a client failed: {failures[0]!r}")
    return Load([ms for per_thread in latencies for ms in per_thread], max(finished) - started[0])


def api_client(url: str) -> Callable[[], Search]:
    def new_client() -> Search:
        http = httpx.Client(base_url=url, timeout=60)

        def search(text: str) -> list[str]:
            response = http.post("/v1/search", json={"text": text, "alpha": 0.0, "limit": LIMIT})
            response.raise_for_status()
            return [hit["id"] for hit in response.json()["hits"]]

        return search

    return new_client


def in_process_client(settings: Settings) -> Callable[[], Search]:
    services = build_services(settings)

    def new_client() -> Search:
        def search(text: str) -> list[str]:
            return [hit.record.id for hit in services.searcher().search(text=text, alpha=0.0, limit=LIMIT).hits]

        return search

    return new_client


# /vectorize -------------------------------------------------------------------------------------------


def tiny_checkpoint(directory: Path) -> Path:
    from tests.tiny_qwen import build_tiny_qwen3vl

    return build_tiny_qwen3vl(directory)


def png_base64(number: int) -> str:
    """A small screenshot-like image with a line of text, base64 PNG, as Weaviate sends a blob property."""
    image = Image.new("RGB", (VECTORIZE_IMAGE_PX, VECTORIZE_IMAGE_PX), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 214, 60), fill=(30 + number % 200, 90, 160))
    draw.text((16, 80), f"Error PF-{4000 + number}: payment failed", fill=(20, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


Vectorize = Callable[[dict[str, list[str]]], int]  # a /vectorize body -> how many vectors came back


def api_vectorize(http: httpx.Client) -> Vectorize:
    def vectorize(body: dict[str, list[str]]) -> int:
        response = http.post("/vectorize", json=body)
        response.raise_for_status()
        answer = response.json()
        return len(answer["textVectors"]) + len(answer["imageVectors"])

    return vectorize


def in_process_vectorize(embedder: Embedder) -> Vectorize:
    """The embedder calls the route makes (texts as queries, decoded images as documents), without HTTP."""

    def vectorize(body: dict[str, list[str]]) -> int:
        texts = body.get("texts", [])
        images = [Image.open(io.BytesIO(base64.b64decode(encoded))) for encoded in body.get("images", [])]
        found = len(embedder.embed_queries([Query(text=text) for text in texts])) if texts else 0
        return found + (len(embedder.embed_documents(images)) if images else 0)

    return vectorize


def time_vectorize(vectorize: Vectorize, batches: int, body: Callable[[int], dict[str, list[str]]]) -> list[float]:
    """Milliseconds per call for `batches` calls after one warm-up, checking each returns a vector per input."""
    timings = []
    for number in range(-1, batches):
        request = body(number)
        begin = time.perf_counter()
        found = vectorize(request)
        elapsed = (time.perf_counter() - begin) * 1000
        if found != VECTORIZE_BATCH:
            raise SystemExit(f"{found} vectors for {VECTORIZE_BATCH} inputs")
        if number >= 0:
            timings.append(elapsed)
    return timings


def measure_vectorize(args: argparse.Namespace, workdir: Path) -> None:
    checkpoint = args.checkpoint or tiny_checkpoint(workdir / "tiny-qwen3-vl")
    settings: dict[str, object] = {
        "data_dir": workdir / "vectorize-data",
        "auth": "off",
        "api_requests_per_minute": 1_000_000_000,
        "models_enabled": True,
        "embed_model": str(checkpoint),
        "caption_model": str(checkpoint),
        "rerank_model": str(checkpoint),
        "embed_dim": 32,
        "device": "cpu",
        "model_max_pixels": 128 * 128,
    }
    embedder = load_models(Settings(**settings)).embedder  # type: ignore[arg-type]
    if embedder is None:
        raise SystemExit(f"the checkpoint at {checkpoint} did not load")
    rows: dict[str, Callable[[int], dict[str, list[str]]]] = {
        "texts": lambda n: {
            "texts": [f"payment failed PF-{4000 + n * VECTORIZE_BATCH + i}" for i in range(VECTORIZE_BATCH)]
        },
        "images": lambda n: {"images": [png_base64(n * VECTORIZE_BATCH + i) for i in range(VECTORIZE_BATCH)]},
    }
    with (
        served(settings, workdir / "vectorize-server.log") as (url, ready_s),
        httpx.Client(base_url=url, timeout=300) as http,
    ):
        print(
            f"\n/vectorize: {checkpoint.name} on CPU, embed_dim 32, model_max_pixels {128 * 128}; "
            f"server answered after {ready_s:.1f} s; one client, {args.vectorize_batches} calls per row after one "
            f"warm-up, {VECTORIZE_BATCH} inputs each ({VECTORIZE_IMAGE_PX}x{VECTORIZE_IMAGE_PX} PNG images, base64); "
            "in process: the same embedder calls without HTTP\n"
        )
        print(
            "| inputs | API p50 ms/call | API p99 ms/call | API vectors/s | in-process p50 ms/call "
            "| in-process vectors/s |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for kind, body in rows.items():
            remote = time_vectorize(api_vectorize(http), args.vectorize_batches, body)
            local = time_vectorize(in_process_vectorize(embedder), args.vectorize_batches, body)
            print(
                f"| {kind} | {percentile(remote, 0.5):.1f} | {percentile(remote, 0.99):.1f} | "
                f"{len(remote) * VECTORIZE_BATCH / (sum(remote) / 1000):.0f} | {percentile(local, 0.5):.1f} | "
                f"{len(local) * VECTORIZE_BATCH / (sum(local) / 1000):.0f} |"
            )


# report -------------------------------------------------------------------------------------------------


def measure_search(args: argparse.Namespace) -> None:
    data_dir = args.data_dir / f"api-{args.records}"
    ensure_built(data_dir / "lancedb", args.records, args.seed, args.rebuild)
    texts = [query.text for query in SyntheticCollection(args.records, seed=args.seed).queries(DISTINCT_QUERIES)]
    settings: dict[str, object] = {"data_dir": data_dir, **SEARCH_SETTINGS}
    in_process = in_process_client(Settings(**settings))  # type: ignore[arg-type]

    with served(settings, data_dir / "server.log") as (url, ready_s):
        api = api_client(url)
        compared, remote_search, local_search = texts[:20], api(), in_process()
        same = sum(remote_search(text) == local_search(text) for text in compared)
        print(
            f"\n{args.records:,} records, keyword-only search (alpha 0, top {LIMIT}, OCR + keyword mode); "
            f"server answered after {ready_s:.1f} s; same top {LIMIT} through the API and in process for "
            f"{same} of {len(compared)} queries; {args.queries} timed queries per client after {args.warmup} warm-up\n"
        )
        print(
            "| clients | in-process p50 ms | API p50 ms | API overhead p50 ms | in-process p99 ms | API p99 ms "
            "| in-process QPS | API QPS |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for concurrency in args.concurrency:
            local = run_clients(concurrency, texts, args.queries, args.warmup, in_process)
            remote = run_clients(concurrency, texts, args.queries, args.warmup, api)
            print(
                f"| {concurrency} | {local.p(0.5):.2f} | {remote.p(0.5):.2f} | {remote.p(0.5) - local.p(0.5):.2f} | "
                f"{local.p(0.99):.2f} | {remote.p(0.99):.2f} | {local.qps:.0f} | {remote.qps:.0f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000, help="collection size")
    parser.add_argument("--queries", type=int, default=100, help="timed queries per client")
    parser.add_argument("--warmup", type=int, default=10, help="untimed queries per client before timing")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16], help="concurrent clients per row")
    parser.add_argument("--vectorize-batches", type=int, default=20, help="/vectorize requests per row (0 skips)")
    parser.add_argument("--checkpoint", type=Path, help="Qwen3-VL directory for /vectorize (default: the tiny one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data-dir", type=Path, default=Path("/tmp/vlsearch-bench"), help="where collections are built"
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the collection even if it exists")
    args = parser.parse_args()
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    protocol = "httptools" if importlib.util.find_spec("httptools") else "h11"
    print(
        f"{cpu_model()}, {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}; server: `python -m pipeline "
        f"serve` in its own process (uvicorn {loop} + {protocol}, 1 worker); clients: httpx {httpx.__version__}"
    )
    measure_search(args)
    if args.vectorize_batches:
        with tempfile.TemporaryDirectory(prefix="vlsearch-bench-vectorize-") as workdir:
            measure_vectorize(args, Path(workdir))


if __name__ == "__main__":
    main()
