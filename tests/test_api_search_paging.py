"""POST /v1/search with a filter alone (newest first), an offset, and the total of matches, in reduced mode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pipeline.access.auth import Role
from pipeline.config import Settings
from tests.api_server import bearer, cli, role_tokens, running_api
from tests.sample_collection import ingest_samples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Settings]]:
    """SUP-1042 and SUP-1392 (billing), SUP-1057 (login) and a receipt, behind the API."""
    settings = Settings(data_dir=ingest_samples(tmp_path_factory.mktemp("api-paging")), models_enabled=False)
    tokens = role_tokens(settings.data_dir)
    with running_api(settings) as url, httpx.Client(base_url=url, headers=bearer(tokens[Role.SUPPORT])) as http:
        yield http, settings


def cli_hits(settings: Settings, *args: str) -> list[dict[str, Any]]:
    result = cli(settings, "search", *args, "--json")
    assert result.exit_code == 0, result.stderr
    hits: list[dict[str, Any]] = json.loads(result.stdout)
    return hits


def test_a_filter_alone_browses_newest_first_in_pages_with_a_total(client):
    http, settings = client
    pages = [
        http.post("/v1/search", json={"where": "category = 'billing'", "limit": 1, "offset": offset}).json()
        for offset in (0, 1, 2)
    ]
    assert [page["order"] for page in pages] == ["newest"] * 3 and [page["total"] for page in pages] == [2] * 3
    tickets = [hit["metadata"]["ticket_id"] for page in pages for hit in page["hits"]]
    assert sorted(tickets) == ["SUP-1042", "SUP-1392"]
    assert pages[1]["hits"] == cli_hits(settings, "--where", "category = 'billing'", "--limit", "1", "--offset", "1")


def test_a_ticket_id_is_found_by_keywords_and_the_matches_are_counted(client):
    http, _ = client
    body = http.post("/v1/search", json={"text": "SUP-1042", "limit": 1}).json()
    assert body["order"] == "relevance" and body["hits"][0]["metadata"]["ticket_id"] == "SUP-1042"
    assert body["total"] >= 1  # every ticket id shares the "SUP" term, so the others count as matches too


def test_no_query_and_no_filter_and_a_negative_offset_are_refused(client):
    http, _ = client
    assert http.post("/v1/search", json={"limit": 3}).status_code == 422
    assert http.post("/v1/search", json={"text": "card", "offset": -1}).status_code == 422
