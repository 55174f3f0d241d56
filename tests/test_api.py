"""The HTTP API against a real uvicorn server in reduced (OCR + keyword) mode, over the sample tickets: search and
lookup answer as the CLI and the lookup page do, assets and moderation go through their whole life, the service
routes report what the CLI reports. Access and bad inputs: test_api_access.py."""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from pipeline.access.audit import Action, open_audit_log
from pipeline.access.auth import Role
from pipeline.config import Settings
from pipeline.ingest.ingestor import Outcome
from pipeline.ingest.sources import collect, read_manifest
from pipeline.moderation.library import add_references
from pipeline.services import build_services
from pipeline.store.filter_builder import quote
from tests.api_server import bearer, cli, image_bytes, role_tokens, running_api
from tests.http_fixture import Reply, serve
from tests.near_duplicate_set import jpeg_40, open_image
from tests.sample_collection import QUERY_SCREENS, RECEIPT, SAMPLES, TICKETS

pytestmark = pytest.mark.slow  # the shared server's collection takes about a minute of OCR to build

SCREENS = sorted(QUERY_SCREENS.glob("*.jpg"))
REFERENCE = SAMPLES / "images" / "product_mug_white.jpg"
UNRELATED = SAMPLES / "images" / "photo_rocket_launch.jpg"


@dataclass(frozen=True)
class Api:
    url: str
    settings: Settings
    tokens: dict[Role, str]

    def client(self, role: Role = Role.ADMIN) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=bearer(self.tokens[role]), timeout=120)


def ingest_tickets(settings: Settings) -> None:
    """Every ticket a query screen names, the look-alike and the other sample tickets, and a receipt (no ticket),
    with their manifest metadata; and one known-content reference in the moderation library."""
    wanted = {path.stem for path in SCREENS} | set(TICKETS)
    items = [
        item
        for item in read_manifest(SAMPLES / "manifest.jsonl").items
        if item.metadata.get("ticket_id") in wanted or Path(item.uri) == RECEIPT
    ]
    services = build_services(settings)
    try:
        report = services.ingestor().ingest(items)
        assert report.count(Outcome.ADDED) == len(wanted) + 1, report.failures
        library = build_services(settings.model_copy(update={"collection": settings.moderation_collection}))
        try:
            references = add_references(library.ingestor(), collect([REFERENCE]), "counterfeit")
            assert references.count(Outcome.ADDED) == 1, references.failures
        finally:
            library.close()
    finally:
        services.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("api-data"), models_enabled=False, url_allow_loopback=True)
    ingest_tickets(settings)
    tokens = role_tokens(settings.data_dir)
    with running_api(settings) as url:
        yield Api(url, settings, tokens)


def cli_hits(api: Api, *args: str) -> list[dict[str, Any]]:
    result = cli(api.settings, "search", *args, "--json")
    assert result.exit_code == 0, result.stderr
    hits: list[dict[str, Any]] = json.loads(result.stdout)
    return hits


def recompressed_reference() -> bytes:
    buffer = io.BytesIO()
    jpeg_40(open_image(REFERENCE)).save(buffer, "JPEG")
    return buffer.getvalue()


def upload(client: httpx.Client, name: str, data: bytes, metadata: dict[str, object] | None = None) -> httpx.Response:
    form = {"metadata": json.dumps(metadata)} if metadata is not None else {}
    return client.post("/v1/assets", files={"file": (name, data)}, data=form)


# search and lookup -------------------------------------------------------------------------------------------------


def test_text_search_answers_the_hits_of_search_json(api: Api) -> None:
    with api.client(Role.SUPPORT) as client:
        answer = client.post("/v1/search", json={"text": "PF-4021 card declined", "limit": 5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["mode"] == "ocr+keyword"
    assert body["hits"] == cli_hits(api, "--text", "PF-4021 card declined", "--limit", "5")
    assert body["hits"][0]["metadata"]["ticket_id"] == "SUP-1042"


def test_a_filtered_search_answers_the_hits_of_search_json(api: Api) -> None:
    where = "language = 'zh'"
    with api.client(Role.SUPPORT) as client:
        answer = client.post("/v1/search", data={"text": "错误 失败", "where": where, "limit": "50"})
    assert answer.status_code == 200, answer.text
    hits = answer.json()["hits"]
    assert hits and all(hit["metadata"]["language"] == "zh" for hit in hits)
    assert hits == cli_hits(api, "--text", "错误 失败", "--where", where, "--limit", "50")


def test_image_search_as_a_file_part_and_as_base64_answers_the_hits_of_search_json(api: Api) -> None:
    screen = QUERY_SCREENS / "SUP-1042.jpg"
    data = screen.read_bytes()
    with api.client(Role.SUPPORT) as client:
        as_file = client.post("/v1/search", files={"image": (screen.name, data, "image/jpeg")}, data={"limit": "5"})
        as_base64 = client.post("/v1/search", json={"image": base64.b64encode(data).decode(), "limit": 5})
    assert as_file.status_code == 200 and as_base64.status_code == 200, (as_file.text, as_base64.text)
    expected = cli_hits(api, "--image", str(screen), "--limit", "5")
    assert as_file.json()["hits"] == expected
    assert as_base64.json()["hits"] == expected
    assert expected[0]["metadata"]["ticket_id"] == "SUP-1042"
    assert "PF-4021" in as_file.json()["ocr_text"]
    # The customer's screen was rendered again at another size and cropped, and still looks the same.
    pairs = expected[0]["scores"]["visual_pairs"]
    assert pairs >= 20 and f"looks the same: {pairs} matching keypoints" in expected[0]["reasons"]


@pytest.mark.parametrize("screen", SCREENS, ids=[path.stem for path in SCREENS])
def test_lookup_of_a_customer_screenshot_answers_its_ticket(api: Api, screen: Path) -> None:
    with api.client(Role.SUPPORT) as client:
        answer = client.post("/v1/lookup", files={"image": (screen.name, screen.read_bytes(), "image/jpeg")})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ticket"] is not None, [(c["ticket_id"], c["reason"]) for c in body["candidates"]]
    assert body["ticket"]["ticket_id"] == screen.stem and body["ticket"]["confident"]
    assert body["ticket"]["resolution"] and body["ticket"]["reason"]
    assert all(candidate["ticket_id"] for candidate in body["candidates"])  # the receipt is no ticket
    # The screen was rendered again and cropped: it still looks the same, and the evidence says by how much.
    pairs = body["ticket"]["evidence"]["looks_same"]
    assert pairs >= 20 and f"looks the same: {pairs} matching keypoints" in body["ticket"]["reason"]


def test_lookup_of_a_receipt_has_no_confident_ticket(api: Api) -> None:
    data = base64.b64encode(RECEIPT.read_bytes()).decode()
    with api.client(Role.SUPPORT) as client:
        answer = client.post("/v1/lookup", json={"image": data, "note": "what is this"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["ticket"] is None
    assert RECEIPT.name not in json.dumps(answer.json()["candidates"])


def test_lookup_without_a_screenshot_is_a_clear_error(api: Api) -> None:
    with api.client(Role.SUPPORT) as client:
        answer = client.post("/v1/lookup", json={"note": "PF-4021"})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "image" and "screenshot" in answer.json()["error"]["message"]


# assets ------------------------------------------------------------------------------------------------------------


def test_an_upload_is_added_then_unchanged_and_its_record_and_thumbnail_come_back(api: Api) -> None:
    data = image_bytes((320, 120), "lightyellow", "ORDER 7781")
    metadata = {"ticket_id": "SUP-9001", "priority": 2, "vip": True}
    with api.client(Role.ANALYST) as client:
        first = upload(client, "order.png", data, metadata)
        again = upload(client, "order.png", data, metadata)
        asset_id = first.json()["id"]
        record = client.get(f"/v1/assets/{asset_id}")
        thumbnail = client.get(f"/v1/assets/{asset_id}/thumbnail")
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "added" and first.json()["moderation"]["status"] == "clean"
    assert again.json()["outcome"] == "unchanged" and again.json()["id"] == asset_id
    assert record.status_code == 200
    shown = record.json()
    assert shown["id"] == asset_id
    assert shown["metadata"] == {"ticket_id": "SUP-9001", "priority": "2", "vip": "true"}
    assert not {"vector", "thumbnail"} & shown.keys()
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumbnail.content)).format == "JPEG"


def test_an_unknown_asset_is_404(api: Api) -> None:
    with api.client() as client:
        for answer in (client.get("/v1/assets/nope"), client.get("/v1/assets/nope/thumbnail")):
            assert answer.status_code == 404 and answer.json()["error"]["field"] == "asset_id"


def test_an_asset_by_url_is_fetched_and_stored_under_its_url(api: Api) -> None:
    with serve() as server, api.client(Role.ANALYST) as client:
        server.routes["/invoice.png"] = Reply(image_bytes((320, 120), "white", "INV-4021"), "image/png")
        answer = client.post("/v1/assets", json={"url": server.url("/invoice.png"), "metadata": {"source": "web"}})
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"] == "added" and answer.json()["moderation"] is None
        record = client.get(f"/v1/assets/{answer.json()['id']}").json()
        assert record["uri"] == server.url("/invoice.png") and record["metadata"] == {"source": "web"}


def test_a_broken_upload_is_422_naming_the_file(api: Api) -> None:
    with api.client(Role.ANALYST) as client:
        answer = upload(client, "broken.png", b"\x89PNG\r\n\x1a\n not really")
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "bad_input" and "broken.png" in error["message"] + str(error["field"])


def test_delete_by_moderator_or_admin_removes_the_asset_and_is_audited_and_an_analyst_is_refused(api: Api) -> None:
    audit = open_audit_log(api.settings.data_dir)
    for number, role in enumerate((Role.MODERATOR, Role.ADMIN)):
        with api.client(Role.ANALYST) as analyst, api.client(role) as remover:
            added = upload(analyst, f"doomed-{number}.png", image_bytes(colour=("red", "blue")[number])).json()["id"]
            refused = analyst.delete(f"/v1/assets/{added}")
            assert refused.status_code == 403
            assert "moderator" in refused.json()["error"]["message"] and "admin" in refused.json()["error"]["message"]
            deleted = remover.delete(f"/v1/assets/{added}")
            assert deleted.status_code == 200, deleted.text
            assert deleted.json()["id"] == added
            assert remover.get(f"/v1/assets/{added}").status_code == 404
        (event,) = [event for event in audit.events(action=Action.DESTRUCTIVE) if event.detail.get("id") == added]
        assert event.actor == f"token:{role.value}" and event.outcome == "ok"


# moderation --------------------------------------------------------------------------------------------------------


def test_an_unrelated_upload_checks_clean(api: Api) -> None:
    with api.client(Role.ANALYST) as client:
        answer = client.post("/v1/moderation/check", files={"file": (UNRELATED.name, UNRELATED.read_bytes())})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "clean", "matches": [], "item_id": None}


def test_moderation_check_queues_known_content_and_the_queue_follows_the_lease_and_state_rules(api: Api) -> None:
    with api.client(Role.ANALYST) as uploader:
        check = uploader.post("/v1/moderation/check", files={"file": ("mug.jpg", recompressed_reference())})
    assert check.status_code == 200, check.text
    verdict = check.json()
    assert verdict["status"] == "queued" and isinstance(verdict["item_id"], int)
    assert verdict["matches"] and verdict["matches"][0]["category"] == "counterfeit"
    assert any(match.get("reference_uri", "").endswith(REFERENCE.name) for match in verdict["matches"])
    item_id = verdict["item_id"]
    with api.client(Role.MODERATOR) as moderator, api.client(Role.ADMIN) as admin:
        listed = moderator.get("/v1/moderation/items")
        assert listed.status_code == 200 and item_id in [item["id"] for item in listed.json()]
        claimed = moderator.post(f"/v1/moderation/items/{item_id}/claim")
        assert claimed.status_code == 200, claimed.text
        taken = admin.post(f"/v1/moderation/items/{item_id}/claim")
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "claimed"
        decided = moderator.post(f"/v1/moderation/items/{item_id}/decision", json={"state": "approved", "note": "ok"})
        assert decided.status_code == 200, decided.text
        assert decided.json()["state"] == "approved"
        again = moderator.post(f"/v1/moderation/items/{item_id}/decision", json={"state": "removed"})
        assert 400 <= again.status_code < 500 and again.status_code != 404, again.text
        assert "error" in again.json()
        for unknown in ("/v1/moderation/items/999999/claim", "/v1/moderation/items/999999/decision"):
            answer = moderator.post(unknown, json={"state": "approved"})
            assert answer.status_code == 404 and answer.json()["error"]["field"] == "item_id"


def test_an_upload_sent_as_base64_without_a_name_is_checked_and_queued(api: Api) -> None:
    """The upload pipeline sends JSON; the image has no file name, so none can carry the type."""
    flipped = Image.open(io.BytesIO(recompressed_reference())).rotate(1)
    buffer = io.BytesIO()
    flipped.save(buffer, "JPEG")
    with api.client(Role.ANALYST) as uploader:
        check = uploader.post("/v1/moderation/check", json={"file": base64.b64encode(buffer.getvalue()).decode()})
    assert check.status_code == 200, check.text
    assert check.json()["status"] == "queued"


def test_an_asset_sent_as_base64_json_is_added(api: Api) -> None:
    data = base64.b64encode(image_bytes(colour="purple")).decode()
    with api.client(Role.ANALYST) as client:
        answer = client.post("/v1/assets", json={"file": data, "metadata": {"ticket_id": "SUP-9002"}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "added"


# service routes ----------------------------------------------------------------------------------------------------


def test_feedback_is_recorded_for_a_known_asset_only(api: Api) -> None:
    with api.client(Role.SUPPORT) as client:
        hit = client.post("/v1/search", json={"text": "PF-4021"}).json()["hits"][0]
        vote = client.post("/v1/feedback", json={"query": "PF-4021", "asset_id": hit["id"], "vote": 1})
        unknown = client.post("/v1/feedback", json={"query": "PF-4021", "asset_id": "nope", "vote": -1})
        sideways = client.post("/v1/feedback", json={"query": "PF-4021", "asset_id": hit["id"], "vote": 0})
    assert vote.status_code == 200 and vote.json() == {"recorded": True}
    assert unknown.status_code == 404
    assert sideways.status_code == 422 and sideways.json()["error"]["field"] == "vote"


def test_api_votes_move_the_hit_for_similar_queries_unless_learning_is_off(api: Api) -> None:
    query = {"text": "login failed", "limit": 5}
    with api.client(Role.SUPPORT) as client:
        before = client.post("/v1/search", json=query).json()["hits"]
        assert len(before) >= 2
        second = before[1]
        for role in (Role.SUPPORT, Role.ANALYST, Role.ADMIN):  # three tokens, three people
            with api.client(role) as voter:
                voted = voter.post("/v1/feedback", json={"query": "Failed login!", "asset_id": second["id"], "vote": 1})
                assert voted.status_code == 200
        after = client.post("/v1/search", json=query).json()["hits"]
        unlearned = client.post("/v1/search", json={**query, "learned": False}).json()["hits"]
    lifted = next(hit for hit in after if hit["id"] == second["id"])
    assert lifted["scores"]["voted_up"] == 3 and lifted["scores"]["learned"] > 0
    assert lifted["scores"]["fused"] == pytest.approx(second["scores"]["fused"] + lifted["scores"]["learned"])
    assert "boosted: 3 people marked it relevant for similar queries" in lifted["reasons"]
    assert unlearned == before
    assert cli_hits(api, "--text", "login failed", "--limit", "5", "--no-learned") == before


def test_insights_answer_what_insights_json_prints_with_tickets_per_month_by_app(api: Api) -> None:
    wanted = {path.stem for path in SCREENS} | set(TICKETS)
    # The manifest's tickets (other tests of this module add assets with tickets of their own).
    tickets = f"ticket_id IN ({', '.join(quote(ticket) for ticket in sorted(wanted))})"
    params = {"where": tickets, "by": ["app", "error_code"], "period": "month"}
    with api.client(Role.ANALYST) as client:
        answer = client.get("/v1/insights", params=params)
        unknown = client.get("/v1/insights", params={"by": "plan"})
        broken = client.get("/v1/insights", params={"where": "app ="})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    printed = cli(api.settings, "insights", "--where", tickets, "--by", "app", "--by", "error_code", "--json")
    assert printed.exit_code == 0, printed.stderr
    assert {**json.loads(printed.stdout), "topics_refitted": True} == body  # the API's request fitted them
    rows = [json.loads(line) for line in (SAMPLES / "manifest.jsonl").read_text().splitlines() if line.strip()]
    expected = Counter((row["created_at"][:7], row["app"]) for row in rows if row["ticket_id"] in wanted)
    by_app = body["volumes"][0]
    assert body["assets"] == len(wanted) and by_app["by"] == "app" and body["date_column"] == "created_at"
    counted = {
        (month, app): counts[position]
        for app, counts in by_app["counts"].items()
        for position, month in enumerate(by_app["periods"])
        if counts[position]
    }
    assert counted == expected
    assert body["volumes"][1]["by"] == "error_code" and body["current"] == max(month for month, _ in expected)
    assert unknown.status_code == 422 and "'plan'" in unknown.json()["error"]["message"]
    assert broken.status_code == 422 and broken.json()["error"]["field"] == "where"


def test_stats_are_those_of_stats_json(api: Api) -> None:
    with api.client(Role.SUPPORT) as client:
        answer = client.get("/v1/stats")
    result = cli(api.settings, "stats", "--json")
    assert result.exit_code == 0, result.stderr
    assert answer.json() == json.loads(result.stdout)


def test_healthz_and_readyz_say_up_and_the_reduced_mode_without_a_token(api: Api) -> None:
    assert httpx.get(f"{api.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["mode"] == "ocr+keyword" and ready.json()["assets"] > 0
    assert ready.json()["models"] == {"embedder": None, "captioner": None, "reranker": None}


def test_metrics_count_requests_per_route_and_ingest_outcomes(api: Api) -> None:
    with api.client(Role.ANALYST) as client:
        assert upload(client, "metrics.png", image_bytes(colour="green")).status_code == 200
        assert client.get("/v1/assets/nope").status_code == 404
    metrics = httpx.get(f"{api.url}/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'vlsearch_http_requests_total{method="POST",route="/v1/assets",status="200"}' in text
    assert 'vlsearch_http_requests_total{method="GET",route="/v1/assets/{asset_id}",status="404"}' in text
    assert 'vlsearch_http_request_seconds_bucket{le="0.002",method="POST",route="/v1/assets"}' in text
    assert 'vlsearch_ingest_outcomes_total{outcome="added"}' in text
