"""The Insights page in headless Chromium over every sample (manifest metadata) and the customers' screenshots of
eight tickets ingested beside them (tests/data/query_screens, no metadata).

The figures were counted by hand from samples/manifest.jsonl: the latest ticket, SUP-1392 (PayFlow, PF-4090), is
dated 2026-02 and the one before it, SUP-1388 (Harbor Bank, HB-4302), 2026-01; so "this month" is 2026-02 and each
app and error code moved by one. Each customer's screenshot is a re-rendered, cropped copy of its ticket's screen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from pipeline.config import Settings
from pipeline.insights.report import InsightsRequest
from pipeline.insights.services import collection_insights
from pipeline.services import build_services
from scripts.app_screenshots import OPEN_ENV, RESULT_COUNT, _settle, browser_page, running_app
from tests.browser_marks import NEEDS_CHROMIUM
from tests.sample_collection import REDUCED_MODE_ENV, ROOT, ingest_all_samples

ARTIFACTS = ROOT / "test-artifacts"
TICKET_SCREEN = "payflow_card_declined_en_desktop_light.png"
CUSTOMER_SCREEN = "SUP-1042.jpg"
FIRST_VISIT_MS = 120_000  # fitting topics and drawing every section on a busy two-core machine
# value -> (this month, last month, change), per "count by" column
CHANGES = {
    "app": {"PayFlow": ("1", "0", "+1"), "Harbor Bank": ("0", "1", "-1")},
    "error_code": {"PF-4090": ("1", "0", "+1"), "HB-4302": ("0", "1", "-1")},
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    NEEDS_CHROMIUM,
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = ingest_all_samples(tmp_path_factory.mktemp("insights-browser"))
    # Compared beforehand, as a nightly `vlsearch insights` would: the page then draws everything on its first visit
    # (its "Compare more" branch is tests/test_insights_page.py's).
    services = build_services(Settings(data_dir=data_dir, models_enabled=False))
    assert collection_insights(services, InsightsRequest()).not_compared == 0
    services.close()
    with running_app(data_dir, ARTIFACTS / "streamlit-insights.log", {**REDUCED_MODE_ENV, **OPEN_ENV}) as url:
        yield url


@pytest.fixture
def page(app_url: str) -> Iterator[Page]:
    with browser_page() as opened:
        opened.goto(f"{app_url}/insights")
        drawn = opened.get_by_text(re.compile(r"^Topic \d+: ")).first  # the last section: everything is drawn
        drawn.wait_for(timeout=FIRST_VISIT_MS)
        _settle(opened)
        yield opened


def main(page: Page) -> Locator:
    return page.locator("[data-testid=stMain]")


def change_rows(page: Page, column: str) -> dict[str, tuple[str, ...]]:
    """The change table under "Change by <column>": value -> its cells."""
    heading = page.get_by_text(f"Change by {column}: 2026-02 against 2026-01", exact=True)
    table = page.locator("[data-testid=stColumn]").filter(has=heading).locator("[data-testid=stTable] table")
    rows = {}
    for row in table.locator("tbody tr").all():
        cells = [cell.strip() for cell in row.locator("th, td").all_inner_texts()]
        rows[cells[0]] = tuple(cells[1:])
    return rows


def group_card(page: Page, representative: str) -> Locator:
    """The bordered card of the group whose first member is `representative` (the innermost block holding it)."""
    title = page.get_by_text(re.compile(rf"^\d+\. \d+ near-identical images, like {re.escape(representative)}$"))
    return page.locator("[data-testid=stVerticalBlock]").filter(has=title).last


def test_volume_per_month_by_app_and_error_code_with_the_change(page: Page) -> None:
    page.screenshot(path=ARTIFACTS / "insights-volume.png")
    titles = [title.strip() for title in page.locator(".gtitle").all_text_contents()]
    assert titles == ["Assets per month by app", "Assets per month by error_code"]
    expect(main(page).get_by_text("PayFlow: 1 this month, 0 last month", exact=True)).to_be_visible()
    expect(main(page).get_by_text("PF-4090: 1 this month, 0 last month", exact=True)).to_be_visible()
    for column, expected in CHANGES.items():
        assert change_rows(page, column) == expected


def test_a_chart_downloads_as_csv(page: Page) -> None:
    with page.expect_download() as downloading:
        main(page).get_by_role("button", name="Download chart CSV").first.click()
    download = downloading.value
    assert download.suggested_filename == "insights-volume-app.csv"
    lines = (download.path().read_bytes()).decode("utf-8-sig").splitlines()
    assert lines[0] == "month,app,assets"
    assert "2026-02,PayFlow,1" in lines and "2026-01,Harbor Bank,1" in lines and "2024-01,PayFlow,1" in lines
    assert "2026-02,Harbor Bank,0" in lines


def test_a_ticket_screen_and_its_customers_screenshot_are_one_group_that_opens_as_a_search(page: Page) -> None:
    expect(main(page).get_by_text("Near-identical images: 8 groups", exact=True)).to_be_visible()
    card = group_card(page, TICKET_SCREEN)
    card.scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "insights-group.png")
    names = (
        card.locator("[data-testid=stColumn]")
        .filter(has=page.locator("img"))
        .locator("[data-testid=stCaptionContainer]")
    )
    assert sorted(name.strip() for name in names.all_inner_texts()) == sorted([TICKET_SCREEN, CUSTOMER_SCREEN])
    assert "declined" in card.get_by_text(re.compile(r"^Words they share: ")).inner_text()

    card.get_by_role("button", name="Open as search").click()
    page.wait_for_url(re.compile(r"/analyst$"))
    count = page.get_by_text(RESULT_COUNT).first
    count.wait_for()
    _settle(page)
    assert count.inner_text() == "2 records, newest first · 2 shown"
    titles = main(page).get_by_text(re.compile(r"^\d\. ")).all_inner_texts()
    # The ticket's card is labelled by its ticket id, the customer's screenshot by its file name.
    assert sorted(re.sub(r"^\d\. ", "", title) for title in titles) == ["SUP-1042", CUSTOMER_SCREEN]


def test_topics_are_labelled_by_their_words_and_list_their_members(page: Page) -> None:
    topics = main(page).get_by_text(re.compile(r"^Topic \d+: \w+"))
    assert topics.count() >= 2
    labels = topics.all_inner_texts()
    assert any("payflow" in label.lower() for label in labels), labels
    expander = main(page).get_by_text(re.compile(r"^All \d+ members$")).first
    expander.click()
    expect(main(page).locator("[data-testid=stDataFrame]").first).to_be_visible()
