"""Who may call the HTTP API and what it refuses, against a real uvicorn server in reduced mode with small limits:
tokens, the role matrix, the audit trail, open mode, rate limiting, bad inputs and body limits; concurrent searches
during uploads; the OpenAPI document; `serve` refusing open mode off loopback."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from openapi_spec_validator import validate
from typer.testing import CliRunner

from pipeline.access.audit import Action, open_audit_log
from pipeline.access.auth import Role
from pipeline.access.tokens import open_tokens
from pipeline.cli import app as cli_app
from pipeline.config import Settings
from pipeline.moderation.matching import Match, Rule
from pipeline.moderation.services import open_queue
from tests.api_server import bearer, image_bytes, role_tokens, running_api

MAX_FILE_BYTES = 100_000
MAX_PIXELS = 1_000_000
MAX_BODY_BYTES = 300_000
NOT_UNDER_V1 = {"/healthz", "/readyz", "/metrics", "/vectorize", "/meta"}


@dataclass(frozen=True)
class Api:
    url: str
    settings: Settings
    tokens: dict[Role, str]

    def client(self, role: Role | None = Role.ADMIN) -> httpx.Client:
        headers = bearer(self.tokens[role]) if role is not None else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("api-access"),
        models_enabled=False,
        max_file_bytes=MAX_FILE_BYTES,
        max_image_pixels=MAX_PIXELS,
        api_max_body_bytes=MAX_BODY_BYTES,
    )
    tokens = role_tokens(settings.data_dir)
    with running_api(settings) as url:
        yield Api(url, settings, tokens)


def error_of(answer: httpx.Response, status: int) -> dict[str, object]:
    """The JSON error of a refused request, after checking its status and shape."""
    assert answer.status_code == status, answer.text
    assert "Traceback" not in answer.text
    error: dict[str, object] = answer.json()["error"]
    assert set(error) == {"code", "message", "field"} and error["message"]
    return error


def queued_item(settings: Settings, n: int) -> int:
    """A pending review item, put straight into the server's queue."""
    match = Match(Rule.KEYWORD, "spam", 1.0, detail=f"item {n}")
    sha = f"{n:064x}"
    return open_queue(settings).enqueue(uri=f"/uploads/{n}.png", sha256=sha, thumbnail=b"t", matches=[match]).item_id


# tokens ------------------------------------------------------------------------------------------------------------


def test_without_a_token_the_answer_is_401_with_a_bearer_challenge(api: Api) -> None:
    with api.client(None) as client:
        answer = client.post("/v1/search", json={"text": "x"})
    error = error_of(answer, 401)
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "tokens create" in str(error["message"])


def test_an_unknown_or_revoked_token_is_401_and_the_refusal_is_audited(api: Api) -> None:
    store = open_tokens(api.settings.data_dir)
    secret = store.create("leaver", Role.SUPPORT)
    with httpx.Client(base_url=api.url, headers=bearer(secret)) as client:
        assert client.post("/v1/search", json={"text": "x"}).status_code == 200
        store.revoke("leaver")
        revoked = client.post("/v1/search", json={"text": "x"})
    unknown = httpx.post(f"{api.url}/v1/search", json={"text": "x"}, headers=bearer("vls_" + "A" * 43))
    for answer in (revoked, unknown):
        error_of(answer, 401)
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    refusals = open_audit_log(api.settings.data_dir).events(action=Action.SIGN_IN)
    assert len([event for event in refusals if event.outcome == "refused"]) >= 2


# the role matrix ---------------------------------------------------------------------------------------------------

ALLOWED = {
    "search": {Role.SUPPORT, Role.ANALYST, Role.MODERATOR, Role.ADMIN},
    "add asset": {Role.ANALYST, Role.ADMIN},
    "delete asset": {Role.MODERATOR, Role.ADMIN},
    "list items": {Role.MODERATOR, Role.ADMIN},
    "claim": {Role.MODERATOR, Role.ADMIN},
    "decide": {Role.MODERATOR, Role.ADMIN},
    "check": {Role.ANALYST, Role.ADMIN},
    "feedback": {Role.SUPPORT, Role.ANALYST, Role.MODERATOR, Role.ADMIN},
    "stats": {Role.SUPPORT, Role.ANALYST, Role.MODERATOR, Role.ADMIN},
}
COLOURS = {Role.SUPPORT: "navy", Role.ANALYST: "olive", Role.MODERATOR: "maroon", Role.ADMIN: "teal"}


def act(api: Api, client: httpx.Client, action: str, role: Role, n: int) -> httpx.Response:
    """Do `action` for real: each role on its own asset or queue item, so every allowed call can succeed."""
    png = image_bytes(colour=COLOURS[role])
    if action in ("delete asset", "feedback"):
        with api.client(Role.ADMIN) as admin:
            asset_id = admin.post("/v1/assets", files={"file": (f"{role}.png", png)}).json()["id"]
    match action:
        case "search":
            return client.post("/v1/search", json={"text": "anything"})
        case "add asset":
            return client.post("/v1/assets", files={"file": (f"{role}.png", png)})
        case "delete asset":
            return client.delete(f"/v1/assets/{asset_id}")
        case "list items":
            return client.get("/v1/moderation/items")
        case "claim":
            return client.post(f"/v1/moderation/items/{queued_item(api.settings, n)}/claim")
        case "decide":
            item = queued_item(api.settings, n)
            return client.post(f"/v1/moderation/items/{item}/decision", json={"state": "approved"})
        case "check":
            return client.post("/v1/moderation/check", files={"file": (f"{role}.png", png)})
        case "feedback":
            return client.post("/v1/feedback", json={"query": "anything", "asset_id": asset_id, "vote": 1})
        case "stats":
            return client.get("/v1/stats")
    raise AssertionError(action)


@pytest.mark.parametrize("action", ALLOWED)
def test_each_role_may_do_what_its_permissions_allow_and_is_told_which_role_may(api: Api, action: str) -> None:
    for number, role in enumerate(Role):
        with api.client(role) as client:
            answer = act(api, client, action, role, n=1000 * (list(ALLOWED).index(action) + 1) + number)
        if role in ALLOWED[action]:
            assert answer.status_code == 200, (role, answer.text)
        else:
            error = error_of(answer, 403)
            assert f"token:{role.value} is {role.value}" in str(error["message"])
            assert all(allowed.value in str(error["message"]) for allowed in ALLOWED[action] - {Role.ADMIN})


def test_searches_writes_and_refusals_are_audited_under_the_tokens_name(api: Api) -> None:
    with api.client(Role.SUPPORT) as support, api.client(Role.ANALYST) as analyst:
        assert support.post("/v1/search", json={"text": "audited query"}).status_code == 200
        assert support.post("/v1/assets", files={"file": ("x.png", image_bytes())}).status_code == 403
        assert analyst.post("/v1/assets", files={"file": ("audit.png", image_bytes(colour="pink"))}).status_code == 200
    audit = open_audit_log(api.settings.data_dir)
    searches = audit.events(action=Action.SEARCH, actor="token:support")
    assert any(event.detail.get("via") == "api" for event in searches)
    refusals = [event for event in audit.events(actor="token:support") if event.outcome == "refused"]
    assert refusals and "/v1/assets" in json.dumps(refusals[0].detail)
    ingests = audit.events(action=Action.INGEST, actor="token:analyst")
    assert any(event.detail.get("source") == "audit.png" for event in ingests)


# open mode and rate limits -----------------------------------------------------------------------------------------


def test_open_mode_serves_loopback_callers_without_a_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models_enabled=False, auth="off")
    with running_api(settings) as url:
        answer = httpx.post(f"{url}/v1/search", json={"text": "anything"})
        stats = httpx.get(f"{url}/v1/stats")
    assert answer.status_code == 200, answer.text
    assert stats.status_code == 200 and stats.json()["count"] == 0


def test_over_the_request_allowance_the_answer_is_429_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models_enabled=False, api_requests_per_minute=3)
    secret = open_tokens(tmp_path).create("busy", Role.SUPPORT)
    with running_api(settings) as url, httpx.Client(base_url=url, headers=bearer(secret)) as client:
        answers = [client.post("/v1/search", json={"text": "again"}) for _ in range(4)]
    assert [answer.status_code for answer in answers[:3]] == [200, 200, 200]
    error_of(answers[3], 429)
    assert int(answers[3].headers["Retry-After"]) >= 1


# bad inputs --------------------------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


BAD_SEARCHES = {
    "malformed JSON": ({"content": b'{"text": "unclosed'}, "body"),
    "not an object": ({"json": ["text"]}, "body"),
    "wrong type": ({"json": {"text": "x", "limit": "many"}}, "limit"),
    "out of range": ({"json": {"text": "x", "alpha": 2}}, "alpha"),
    "unknown field": ({"json": {"text": "x", "colour": "red"}}, "colour"),
    "not base64": ({"json": {"image": "%%%not base64%%%"}}, "image"),
    "broken image": ({"json": {"image": b64(b"GIF89a broken")}}, "image"),
    "too many bytes": ({"json": {"image": b64(image_bytes((200, 200), fmt="BMP"))}}, "image"),
    "too many pixels": ({"json": {"image": b64(image_bytes((1100, 1000)))}}, "image"),
    "bad where": ({"json": {"text": "x", "where": "colour = 'red'"}}, "where"),
    "unclosed where": ({"json": {"text": "x", "where": "category = 'billing"}}, "where"),
}


@pytest.mark.parametrize("request_args, field", BAD_SEARCHES.values(), ids=list(BAD_SEARCHES))
def test_a_bad_search_is_a_422_json_error_naming_the_field(
    api: Api, request_args: dict[str, object], field: str
) -> None:
    with api.client(Role.SUPPORT) as client:
        answer = client.post("/v1/search", **request_args)  # type: ignore[arg-type]
    error = error_of(answer, 422)
    assert field in str(error["field"]) + str(error["message"])


def test_a_broken_file_part_is_a_422_naming_the_file(api: Api) -> None:
    with api.client(Role.SUPPORT) as client:
        answer = client.post("/v1/search", files={"image": ("shot.png", b"\x89PNG\r\n\x1a\nbroken")})
    error = error_of(answer, 422)
    assert "shot.png" in str(error["field"]) + str(error["message"])


def test_a_body_over_the_limit_is_413_whether_its_length_is_declared_or_chunked(api: Api) -> None:
    too_big = b"x" * (MAX_BODY_BYTES + 1)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(too_big), 65536):
            yield too_big[start : start + 65536]

    with api.client(Role.ANALYST) as client:
        declared = client.post("/v1/search", content=too_big, headers={"content-type": "application/json"})
        chunked = client.post("/v1/assets", content=chunks(), headers={"content-type": "application/json"})
    for answer in (declared, chunked):
        error = error_of(answer, 413)
        assert error["code"] == "too_large" and f"{MAX_BODY_BYTES:,}" in str(error["message"])
    assert "transfer-encoding" not in declared.request.headers
    assert chunked.request.headers["transfer-encoding"] == "chunked"


# many clients at once ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_searches_during_uploads_all_succeed_and_no_asset_is_lost(api: Api) -> None:
    store = open_tokens(api.settings.data_dir)
    searcher, uploader = store.create("load-search", Role.SUPPORT), store.create("load-ingest", Role.ANALYST)
    with api.client(Role.ADMIN) as admin:
        before = admin.get("/v1/stats").json()["count"]
    uploads = [image_bytes((96, 64), colour=f"#{n * 20:02x}40{255 - n * 20:02x}", text=f"C{n}") for n in range(6)]
    upload_answers: list[httpx.Response] = []

    def upload_all() -> None:
        with httpx.Client(base_url=api.url, headers=bearer(uploader), timeout=120) as client:
            for n, data in enumerate(uploads):
                upload_answers.append(client.post("/v1/assets", files={"file": (f"load-{n}.png", data)}))

    def search(n: int) -> httpx.Response:
        with httpx.Client(base_url=api.url, headers=bearer(searcher), timeout=120) as client:
            return client.post("/v1/search", json={"text": f"C{n % 6} load", "limit": 5})

    ingest = threading.Thread(target=upload_all)
    ingest.start()
    with ThreadPoolExecutor(max_workers=32) as pool:
        searches = list(pool.map(search, range(32)))
    ingest.join()
    assert [answer.status_code for answer in searches] == [200] * 32, [a.text for a in searches if a.is_error]
    assert [answer.json()["outcome"] for answer in upload_answers] == ["added"] * len(uploads)
    with api.client(Role.ADMIN) as admin:
        assert admin.get("/v1/stats").json()["count"] == before + len(uploads)
        ids = [answer.json()["id"] for answer in upload_answers]
        assert all(admin.get(f"/v1/assets/{asset_id}").status_code == 200 for asset_id in ids)


# documents and the command -----------------------------------------------------------------------------------------


def test_the_openapi_document_validates_and_every_route_is_versioned(api: Api) -> None:
    document = httpx.get(f"{api.url}/openapi.json").json()
    validate(document)
    unversioned = [
        path
        for path in document["paths"]
        if not path.startswith("/v1/") and path not in NOT_UNDER_V1 and not path.startswith("/.well-known/")
    ]
    assert unversioned == []
    assert {"/v1/search", "/v1/lookup", "/v1/assets", "/v1/moderation/check", "/v1/feedback"} <= set(document["paths"])
    docs = httpx.get(f"{api.url}/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")


def test_an_unknown_route_is_a_json_404(api: Api) -> None:
    assert error_of(httpx.get(f"{api.url}/v1/nothing-here"), 404)["code"] == "not_found"


def test_serve_refuses_open_mode_on_a_public_address_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(args))  # must never be reached
    env = {"VLSEARCH_AUTH": "off", "VLSEARCH_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0"], env=env)
    assert result.exit_code == 2, result.output
    assert "VLSEARCH_AUTH=off" in result.stderr and "0.0.0.0" in result.stderr and "loopback" in result.stderr
    assert started == []
