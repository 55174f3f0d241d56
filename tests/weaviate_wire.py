"""Wire-level doubles of a Weaviate server for the real weaviate-client, in the test process.

The approach of weaviate-python-client's own mock_tests: a gRPC server on 127.0.0.1 built from
the client's `weaviate.proto.v1` servicer, and an HTTP server for the REST side (meta, readiness,
schema). Both RECORD every request and answer from fixtures the test sets up (protobuf replies
built by hand); they rank nothing and evaluate no filter.

    with serve_weaviate() as server:
        server.grpc.search_replies.append(search_reply([...]))
        store = WeaviateStore(server.url, grpc_port=server.grpc_port, collection="Wire", dim=4)
        store.keyword_search("card", limit=3)
        request = server.grpc.requests_of("Search")[-1]

The HTTP schema double keeps the classes the client creates (filling in the settings a real
server adds, so `config.get()` parses them) and appends added properties, so an engine that
creates its collection and then reads it back sees what it sent.
"""

from __future__ import annotations

import copy
import json
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    batch_delete_pb2,
    batch_pb2,
    health_weaviate_pb2,
    properties_pb2,
    search_get_pb2,
    weaviate_pb2_grpc,
)

SERVER_VERSION = "1.34.0"

# What a Weaviate 1.34 server adds to a class it is given (defaults the client does not send).
_CLASS_DEFAULTS: dict[str, Any] = {
    "invertedIndexConfig": {
        "bm25": {"b": 0.75, "k1": 1.2},
        "cleanupIntervalSeconds": 60,
        "indexNullState": False,
        "indexPropertyLength": False,
        "indexTimestamps": False,
        "stopwords": {"additions": None, "preset": "en", "removals": None},
    },
    "multiTenancyConfig": {"autoTenantActivation": False, "autoTenantCreation": False, "enabled": False},
    "replicationConfig": {"asyncEnabled": False, "factor": 1, "deletionStrategy": "NoAutomatedResolution"},
    "shardingConfig": {
        "virtualPerPhysical": 128,
        "desiredCount": 1,
        "actualCount": 1,
        "desiredVirtualCount": 128,
        "actualVirtualCount": 128,
        "key": "_id",
        "strategy": "hash",
        "function": "murmur3",
    },
}
_HNSW_DEFAULTS: dict[str, Any] = {
    "skip": False,
    "cleanupIntervalSeconds": 300,
    "maxConnections": 32,
    "efConstruction": 128,
    "ef": -1,
    "dynamicEfMin": 100,
    "dynamicEfMax": 500,
    "dynamicEfFactor": 8,
    "vectorCacheMaxObjects": 1000000000000,
    "flatSearchCutoff": 40000,
    "distance": "cosine",
    "filterStrategy": "sweeping",
    "pq": {"enabled": False},
    "bq": {"enabled": False},
    "sq": {"enabled": False},
    "rq": {"enabled": False},
    "multivector": {"enabled": False, "aggregation": "maxSim", "muvera": {"enabled": False}},
}


def _merged(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def property_view(given: dict[str, Any]) -> dict[str, Any]:
    """A property as a server returns it: index flags and tokenization filled in."""
    text = given["dataType"][0] in ("text", "text[]")
    defaults: dict[str, Any] = {"indexFilterable": True, "indexSearchable": text, "indexRangeFilters": False}
    if text:
        defaults["tokenization"] = "word"
    return _merged(defaults, {k: v for k, v in given.items() if v is not None})


def server_view(created: dict[str, Any]) -> dict[str, Any]:
    """The class as a server would return it after being given `created`."""
    view = _merged(_CLASS_DEFAULTS, created)
    view["properties"] = [property_view(prop) for prop in view.get("properties") or []]
    for config in (view.get("vectorConfig") or {}).values():
        config["vectorIndexConfig"] = _merged(_HNSW_DEFAULTS, config.get("vectorIndexConfig") or {})
        config.setdefault("vectorIndexType", "hnsw")
        config.setdefault("vectorizer", {"none": {}})
    return view


# HTTP side -----------------------------------------------------------------------------------


@dataclass
class HttpRequest:
    method: str
    path: str
    body: Any


@dataclass
class HttpDouble:
    """The REST endpoints the client uses; `classes` is the schema, keyed by class name."""

    version: str = SERVER_VERSION
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[HttpRequest] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_to(self, method: str, path: str) -> list[HttpRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(HttpRequest(method, path, body))
            parts = [part for part in path.split("?")[0].split("/") if part]
            match method, parts:
                case "GET", ["v1", "meta"]:
                    return 200, {"hostname": "http://[::]:8080", "modules": {}, "version": self.version}
                case "GET", ["v1", ".well-known", "ready" | "live"]:
                    return 200, None
                case "GET", ["v1", "nodes", *_]:
                    return 200, {"nodes": [{"name": "node1", "status": "HEALTHY", "version": self.version}]}
                case "GET", ["v1", "schema", name]:
                    found = self.classes.get(name)
                    return (200, copy.deepcopy(found)) if found else (404, None)
                case "GET", ["v1", "schema"]:
                    return 200, {"classes": [copy.deepcopy(c) for c in self.classes.values()]}
                case "POST", ["v1", "schema"]:
                    if body["class"] in self.classes:
                        return 422, {"error": [{"message": f"class name {body['class']!r} already exists"}]}
                    self.classes[body["class"]] = server_view(body)
                    return 200, self.classes[body["class"]]
                case "POST", ["v1", "schema", name, "properties"]:
                    if name not in self.classes:
                        return 404, None
                    self.classes[name]["properties"].append(property_view(body))
                    return 200, body
                case "DELETE", ["v1", "schema", name]:
                    self.classes.pop(name, None)
                    return 200, None
            return 404, {"error": [{"message": f"the double does not serve {method} {path}"}]}


def _handler(double: HttpDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, reply = double.answer(self.command, self.path, body)
            data = b"" if reply is None else json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    return Handler


# gRPC side -----------------------------------------------------------------------------------

Reply = Any
ReplyFor = Callable[[Any], Any]


@dataclass
class Abort:
    """A queued reply that fails the call with a gRPC status instead of answering it."""

    code: grpc.StatusCode
    details: str


@dataclass
class Late:
    """A queued reply sent only after `seconds` (past the client's timeout, the call fails on its side)."""

    seconds: float
    reply: Any = None


@dataclass
class GrpcDouble(weaviate_pb2_grpc.WeaviateServicer):
    """Search, BatchObjects, BatchDelete and Aggregate answered from queued replies (or a function of the
    request); every request is kept in `requests` as (method, message)."""

    search_replies: list[Reply | ReplyFor] = field(default_factory=list)
    batch_replies: list[Reply | ReplyFor] = field(default_factory=list)
    delete_replies: list[Reply | ReplyFor] = field(default_factory=list)
    aggregate_replies: list[Reply | ReplyFor] = field(default_factory=list)
    aggregate_default: ReplyFor | None = None
    search_default: ReplyFor | None = None
    requests: list[tuple[str, Any]] = field(default_factory=list)
    # uuid -> the BatchObject the double accepted (not refused in its reply): bookkeeping of what the
    # client sent, for `stored_reply`; the double never ranks or filters these.
    stored: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_of(self, method: str) -> list[Any]:
        with self.lock:
            return [message for name, message in self.requests if name == method]

    def _next(
        self, method: str, request: Any, queue: list[Reply | ReplyFor], default: ReplyFor, context: Any = None
    ) -> Any:
        with self.lock:
            self.requests.append((method, request))
            reply = queue.pop(0) if queue else default
        if isinstance(reply, Late):
            time.sleep(reply.seconds)
            reply = reply.reply if reply.reply is not None else default
        if isinstance(reply, Abort):
            context.abort(reply.code, reply.details)
        return reply(request) if callable(reply) else reply

    def Search(self, request: Any, context: Any) -> Any:
        default = self.search_default or (lambda _: search_get_pb2.SearchReply())
        return self._next("Search", request, self.search_replies, default, context)

    def BatchObjects(self, request: Any, context: Any) -> Any:
        reply = self._next(
            "BatchObjects", request, self.batch_replies, lambda _: batch_pb2.BatchObjectsReply(), context
        )
        refused = {error.index for error in reply.errors}
        with self.lock:
            for index, obj in enumerate(request.objects):
                if index not in refused:
                    self.stored[obj.uuid] = obj
        return reply

    def BatchDelete(self, request: Any, context: Any) -> Any:
        return self._next("BatchDelete", request, self.delete_replies, lambda _: delete_reply())

    def Aggregate(self, request: Any, context: Any) -> Any:
        default = self.aggregate_default or (lambda _: aggregate_reply(0))
        return self._next("Aggregate", request, self.aggregate_replies, default)

    def stored_reply(self, request: Any) -> Any:
        """A Search reply (usable as a queued reply function) with the stored objects whose uuid or uri the
        request's filter names in a CONTAINS_ANY (as lookup, get and the stale-object query ask), in the
        order they were stored. Requests without such a filter get every stored object."""
        ids, uris = _named_in(request.filters) if request.HasField("filters") else (None, None)
        found = []
        with self.lock:
            objects = list(self.stored.values())
        for obj in objects:
            props = MessageToDict(obj.properties.non_ref_properties)
            if ids is None or obj.uuid in ids or props.get("uri") in (uris or set()):
                vector = unpack_vector(obj.vectors[0].vector_bytes) if obj.vectors else None
                found.append(
                    Found(obj.uuid, props, vector, vector_name=obj.vectors[0].name if obj.vectors else "default")
                )
        return search_reply(found)


def _named_in(filters: Any) -> tuple[set[str], set[str]]:
    ids: set[str] = set()
    uris: set[str] = set()
    for child in [filters, *filters.filters]:
        kind = child.WhichOneof("test_value")
        if kind != "value_text_array":
            continue
        target = child.target.property if child.HasField("target") else ""
        (ids if target == "_id" or list(child.on) == ["_id"] else uris if target == "uri" else set()).update(
            child.value_text_array.values
        )
    return ids, uris


def _health_handler() -> grpc.GenericRpcHandler:
    def check(request: Any, context: Any) -> Any:
        return health_weaviate_pb2.WeaviateHealthCheckResponse(
            status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING
        )

    return grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {
            "Check": grpc.unary_unary_rpc_method_handler(
                check,
                request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
                response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString,
            )
        },
    )


# both ----------------------------------------------------------------------------------------


@dataclass
class WeaviateDouble:
    http: HttpDouble
    grpc: GrpcDouble
    grpc_port: int
    grpc_server: Any = None
    _stopped: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.port}"

    def stop_grpc(self, grace_s: float | None = None) -> None:
        """The gRPC side goes away (a server restart begins): new calls fail with UNAVAILABLE. With grace_s
        (callable from inside a handler) the calls in flight still get their answers."""
        self._stopped = self.grpc_server.stop(grace_s)
        if grace_s is None:
            self._stopped.wait()

    def start_grpc(self) -> None:
        """A new gRPC server on the same port, over the same recorded requests and stored objects."""
        self._stopped.wait()
        self.grpc_server = _grpc_server(self.grpc, f"127.0.0.1:{self.grpc_port}")[0]


def _grpc_server(double: GrpcDouble, address: str) -> tuple[Any, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    weaviate_pb2_grpc.add_WeaviateServicer_to_server(double, server)
    server.add_generic_rpc_handlers((_health_handler(),))
    port = server.add_insecure_port(address)
    server.start()
    return server, port


@contextmanager
def serve_weaviate(version: str = SERVER_VERSION) -> Iterator[WeaviateDouble]:
    http_double = HttpDouble(version=version)
    http_server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(http_double))
    http_server.daemon_threads = True
    http_double.port = http_server.server_address[1]
    http_thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    http_thread.start()
    grpc_double = GrpcDouble()
    grpc_server, grpc_port = _grpc_server(grpc_double, "127.0.0.1:0")
    double = WeaviateDouble(http_double, grpc_double, grpc_port, grpc_server)
    try:
        yield double
    finally:
        double.grpc_server.stop(0)
        http_server.shutdown()
        http_server.server_close()


# replies -------------------------------------------------------------------------------------


def pack_vector(vector: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack_vector(data: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(data) // 4}f", data))


def _value(value: Any) -> Any:
    if isinstance(value, bool):
        return properties_pb2.Value(bool_value=value)
    if isinstance(value, int):
        return properties_pb2.Value(int_value=value)
    if isinstance(value, float):
        return properties_pb2.Value(number_value=value)
    if isinstance(value, datetime):
        return properties_pb2.Value(date_value=value.isoformat())
    if value is None:
        return properties_pb2.Value(null_value=0)
    return properties_pb2.Value(text_value=str(value))


@dataclass
class Found:
    """One object in a search reply."""

    id: str
    properties: dict[str, Any] = field(default_factory=dict)
    vector: Sequence[float] | None = None
    vector_name: str = "default"
    score: float | None = None
    explain_score: str | None = None
    distance: float | None = None


def search_reply(found: Sequence[Found]) -> Any:
    results = []
    for item in found:
        metadata = search_get_pb2.MetadataResult(
            id=item.id,
            id_as_bytes=uuid.UUID(item.id).bytes,
        )
        if item.score is not None:
            metadata.score, metadata.score_present = item.score, True
        if item.explain_score is not None:
            metadata.explain_score, metadata.explain_score_present = item.explain_score, True
        if item.distance is not None:
            metadata.distance, metadata.distance_present = item.distance, True
        if item.vector is not None:
            metadata.vectors.append(
                base_pb2.Vectors(
                    name=item.vector_name,
                    vector_bytes=pack_vector(item.vector),
                    type=base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32,
                )
            )
        props = properties_pb2.Properties(fields={k: _value(v) for k, v in item.properties.items()})
        results.append(
            search_get_pb2.SearchResult(
                metadata=metadata, properties=search_get_pb2.PropertiesResult(non_ref_props=props)
            )
        )
    return search_get_pb2.SearchReply(results=results, took=0.001)


def delete_reply(matches: int = 0, successful: int | None = None, failed: int = 0) -> Any:
    return batch_delete_pb2.BatchDeleteReply(
        took=0.001, matches=matches, successful=matches - failed if successful is None else successful, failed=failed
    )


def batch_reply(errors: dict[int, str] | None = None) -> Any:
    """Refusals by index into the request's objects."""
    return batch_pb2.BatchObjectsReply(
        took=0.001,
        errors=[batch_pb2.BatchObjectsReply.BatchError(index=i, error=e) for i, e in (errors or {}).items()],
    )


def aggregate_reply(count: int) -> Any:
    return aggregate_pb2.AggregateReply(single_result=aggregate_pb2.AggregateReply.Single(objects_count=count))


def grouped_reply(prop: str, counts: dict[str, int]) -> Any:
    groups = [
        aggregate_pb2.AggregateReply.Group(
            objects_count=n, grouped_by=aggregate_pb2.AggregateReply.Group.GroupedBy(path=[prop], text=value)
        )
        for value, n in counts.items()
    ]
    return aggregate_pb2.AggregateReply(grouped_results=aggregate_pb2.AggregateReply.Grouped(groups=groups))


def filter_tree(message: Any) -> Any:
    """A base_pb2.Filters as nested tuples, for readable assertions:
    (operator, target, value) for leaves, (operator, [children]) for AND / OR / NOT."""
    op = base_pb2.Filters.Operator.Name(message.operator).removeprefix("OPERATOR_")
    if message.filters:
        return (op, [filter_tree(child) for child in message.filters])
    target = message.target.property if message.HasField("target") else list(message.on)
    kind = message.WhichOneof("test_value")
    value: Any = getattr(message, kind) if kind else None
    if kind and kind.endswith("_array"):
        value = list(value.values)
    return (op, target, value)
