"""The analyst dashboard and Home in headless Chromium, at a desktop (1400×1000) and a phone (390×844) viewport.

Over the sample tickets and receipt (tests/sample_collection.py) plus the seven sample products, each product
ingested on its own so that "newest first" has one right order. Before issue 18: the top hit showed "fused
1.000", "12 hits" was the limit, there was no next page, *Find similar* returned the image itself first,
*Details* jumped to the top, filters alone were refused and Home offered no next step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from pipeline.config import Settings
from pipeline.ingest.ingestor import Outcome
from pipeline.ingest.sources import read_manifest
from pipeline.services import build_services
from scripts.app_screenshots import (
    OPEN_ENV,
    RESULT_COUNT,
    STEP_TIMEOUT_MS,
    _settle,
    browser_page,
    running_app,
    search_analyst,
    show_home,
)
from tests.browser_marks import NEEDS_CHROMIUM
from tests.sample_collection import REDUCED_MODE_ENV, ROOT, SAMPLES, ingest_samples

ARTIFACTS = ROOT / "test-artifacts"
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]
PRODUCTS = [item for item in read_manifest(SAMPLES / "manifest.jsonl").items if item.metadata["category"] == "product"]
CARD_TITLE = re.compile(r"^(\d+)\. (.+)$")
SCORE_NAMES = ("rerank", "bm25", "vector distance", "fused")
SCROLL_TOLERANCE_PX = 40
# Words on the two PayFlow tickets, the coffee cup's file name and the receipt: four matches, two per page.
QUERY = "coffee card"
QUERY_WORDS = QUERY.split()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    NEEDS_CHROMIUM,
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = ingest_samples(tmp_path_factory.mktemp("analyst-browser"))
    services = build_services(Settings(data_dir=data_dir, models_enabled=False))
    for product in PRODUCTS:  # one at a time: each gets its own ingested_at
        assert services.ingestor().ingest([product]).count(Outcome.ADDED) == 1, product.uri
    services.close()
    with running_app(data_dir, ARTIFACTS / "streamlit-analyst.log", {**REDUCED_MODE_ENV, **OPEN_ENV}) as url:
        yield url


@contextmanager
def tab(viewport: dict[str, int]) -> Iterator[Page]:
    with browser_page() as page:
        page.set_viewport_size(viewport)
        yield page


def shot(page: Page, name: str, viewport: dict[str, int]) -> None:
    page.screenshot(path=ARTIFACTS / f"analyst-{name}-{'phone' if viewport == PHONE else 'desktop'}.png")


def search(page: Page, url: str, text: str, *, per_page: int) -> None:
    page.goto(f"{url}/analyst")
    page.get_by_label("Text query").fill(text)
    page.get_by_label("Results per page", exact=True).fill(str(per_page))
    page.get_by_role("button", name="Search").click()
    page.get_by_text(RESULT_COUNT).first.wait_for()
    _settle(page)
    shown = re.search(r"(\d+) shown", count_line(page))
    if shown:  # the count line can be drawn before every card is (a loaded machine): wait for them all
        expect(page.locator("[data-testid=stMain]").get_by_text(CARD_TITLE)).to_have_count(int(shown.group(1)))


def cards(page: Page) -> Locator:
    """The result cards, in rank order: the grid's columns that hold a card title."""
    return page.locator("[data-testid=stMain] [data-testid=stColumn]").filter(has=page.get_by_text(CARD_TITLE))


def card_titles(page: Page) -> list[str]:
    """Each card's title without its rank, checking the ranks run 1, 2, 3…"""
    titles = []
    for rank, text in enumerate(page.locator("[data-testid=stMain]").get_by_text(CARD_TITLE).all_inner_texts(), 1):
        numbered = CARD_TITLE.match(text)
        assert numbered and int(numbered.group(1)) == rank, text
        titles.append(numbered.group(2))
    return titles


def count_line(page: Page) -> str:
    return page.get_by_text(RESULT_COUNT).first.inner_text()


def table_labels(page: Page) -> list[str]:
    """The "hit" column of the Table tab, top to bottom, read from the grid's accessible copy of its cells (the
    grid draws on a canvas; the copy is hidden from view, hence CSS selectors and textContent)."""
    page.get_by_role("tab", name="Table and export").click()
    grid = page.locator("[data-testid=stDataFrame]")
    headers = grid.locator("[role=columnheader]")
    headers.first.wait_for(state="attached")
    names = headers.evaluate_all("cells => cells.map(cell => [cell.getAttribute('aria-colindex'), cell.textContent])")
    column = next(index for index, name in names if name.strip() == "hit")
    cells = grid.locator(f"[role=gridcell][aria-colindex='{column}']")
    return [text.strip() for text in cells.evaluate_all("cells => cells.map(cell => cell.textContent)")]


def scroll_position(page: Page) -> float:
    """How far the page is scrolled: Streamlit scrolls its main element, not the window; both are counted."""
    return float(page.evaluate("() => window.scrollY + document.querySelector('[data-testid=stMain]').scrollTop"))


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_search_counts_its_matches_and_each_card_says_where_it_ranks_and_why(
    app_url: str, viewport: dict[str, int]
) -> None:
    with tab(viewport) as page:
        search(page, app_url, QUERY, per_page=2)
        shot(page, "search", viewport)
        counted = re.match(r"^(\d+) matches · 2 shown$", count_line(page))
        assert counted and int(counted.group(1)) > 2, count_line(page)  # the count is of matches, not the page size
        total = int(counted.group(1))
        assert len(card_titles(page)) == 2
        for rank, card in enumerate(cards(page).all(), start=1):
            assert card.get_by_text(f"rank {rank} of {total}", exact=True).is_visible()
            why = card.get_by_text(re.compile(r"^Why: ")).inner_text()
            assert any(word in why.lower() for word in QUERY_WORDS), why
        assert not re.search(r"fused\s*1\.000", page.locator("[data-testid=stMain]").inner_text())

        titles = card_titles(page)
        assert table_labels(page) == titles  # one label for a hit everywhere


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_details_shows_every_score_in_a_dialog_and_closing_it_keeps_the_scroll_position(
    app_url: str, viewport: dict[str, int]
) -> None:
    with tab(viewport) as page:
        search(page, app_url, "product", per_page=12)
        fifth = cards(page).nth(4)
        title = card_titles(page)[4]
        details = fifth.get_by_role("button", name="Details")
        details.scroll_into_view_if_needed()
        scrolled = scroll_position(page)
        assert scrolled > 0  # the fifth card is below the first screen

        details.click()
        dialog = page.get_by_role("dialog")
        dialog.wait_for()
        _settle(page)
        shot(page, "details", viewport)
        assert dialog.get_by_text(title, exact=True).first.is_visible()
        assert dialog.get_by_text("rank 5 of 7", exact=True).is_visible()
        for name in SCORE_NAMES:
            expect(dialog.locator("table").get_by_text(name, exact=True)).to_have_count(1)
        assert scroll_position(page) == pytest.approx(scrolled, abs=SCROLL_TOLERANCE_PX)

        dialog.get_by_role("button", name="Close").click()
        dialog.wait_for(state="detached")
        _settle(page)
        assert scroll_position(page) == pytest.approx(scrolled, abs=SCROLL_TOLERANCE_PX)
        expect(details).to_be_in_viewport()


def test_load_more_appends_the_next_page_of_the_same_ranking(app_url: str) -> None:
    with tab(DESKTOP) as page:
        search(page, app_url, "product", per_page=3)
        first_page = card_titles(page)
        assert count_line(page) == "7 matches · 3 shown"

        for shown in (6, 7):
            page.get_by_role("button", name="Load 3 more").click()
            expect(cards(page)).to_have_count(shown, timeout=STEP_TIMEOUT_MS)
            _settle(page)
        titles = card_titles(page)
        shot(page, "load-more", DESKTOP)
        assert titles[:3] == first_page
        assert sorted(titles) == sorted(Path(product.uri).name for product in PRODUCTS)  # each once
        assert count_line(page) == "7 matches · 7 shown"
        expect(page.get_by_role("button", name=re.compile(r"^Load \d+ more"))).to_have_count(0)  # nothing left


def test_find_similar_leaves_out_the_image_itself(app_url: str) -> None:
    with tab(DESKTOP) as page:
        search_analyst(page, app_url, QUERY)
        source = card_titles(page)[0]
        cards(page).first.get_by_role("button", name="Details").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("button", name="Find similar").click()
        page.get_by_text(re.compile(rf"^similar to {re.escape(source)} ·")).wait_for()
        _settle(page)
        shot(page, "similar", DESKTOP)
        similar = card_titles(page)
        assert similar, "find similar returned nothing"
        assert source not in similar  # not first, and not anywhere


def choose(page: Page, multiselect: Locator, option: str) -> None:
    """Open a multiselect and pick `option`; a click that lands while Streamlit redraws the widget opens
    nothing, so it is repeated (a CI run once waited 90 s for a list that never opened)."""
    listed = page.get_by_role("option", name=option)
    for _ in range(3):
        multiselect.get_by_role("combobox").click()
        try:
            listed.wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            _settle(page)
    listed.click()


def test_filters_alone_list_the_sample_products_newest_first(app_url: str) -> None:
    with tab(DESKTOP) as page:
        page.goto(f"{app_url}/analyst")
        page.get_by_label("Text query").wait_for()
        _settle(page)
        page.locator("[data-testid=stExpander] summary").filter(has_text="Filters").click()
        category = page.locator("[data-testid=stMultiSelect]").filter(has_text="category")
        choose(page, category, f"product ({len(PRODUCTS)})")
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Search").click()
        page.get_by_text(RESULT_COUNT).first.wait_for()
        _settle(page)
        shot(page, "filters-only", DESKTOP)
        assert count_line(page) == f"{len(PRODUCTS)} records, newest first · {len(PRODUCTS)} shown"
        assert card_titles(page) == [Path(product.uri).name for product in reversed(PRODUCTS)]
        for card in cards(page).all():
            expect(card.get_by_text(re.compile(r"^added \d{4}-\d{2}-\d{2}$"))).to_have_count(1)


def test_reduced_mode_greys_out_alpha_and_fusion_and_says_why(app_url: str) -> None:
    with tab(PHONE) as page:
        page.goto(f"{app_url}/analyst")
        page.get_by_label("Text query").wait_for()
        _settle(page)
        expect(page.get_by_role("slider", name=re.compile(r"^alpha"))).to_be_disabled()
        fusion = page.get_by_role("radiogroup", name="Fusion").get_by_role("radio")
        assert fusion.count() >= 2
        for choice in fusion.all():
            expect(choice).to_be_disabled()
        expect(
            page.get_by_text(
                "OCR + keyword mode: alpha and fusion are greyed out because there are no vectors to weigh."
            )
        ).to_be_visible()
        page.get_by_role("button", name="Help for Fusion").hover()
        expect(page.get_by_text(re.compile(r"^Not used in OCR \+ keyword mode"))).to_be_visible()
        shot(page, "reduced-mode", PHONE)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_home_offers_example_queries_that_land_on_results(app_url: str, viewport: dict[str, int]) -> None:
    with tab(viewport) as page:
        show_home(page, app_url)
        expect(page.get_by_text("What to do next", exact=True)).to_be_visible()
        example = page.locator("[data-testid=stButtonGroup] button").first
        picked = example.inner_text()
        shot(page, "home", viewport)

        example.click()
        page.wait_for_url(re.compile(r"/analyst$"))
        page.get_by_text(RESULT_COUNT).first.wait_for()
        _settle(page)
        shot(page, "home-example", viewport)
        assert page.get_by_label("Text query").input_value() == picked
        assert card_titles(page), f"the example query {picked!r} found nothing"


def test_home_example_queries_are_distinct(app_url: str) -> None:
    with tab(DESKTOP) as page:
        show_home(page, app_url)
        examples = page.locator("[data-testid=stButtonGroup] button").all_inner_texts()
        assert examples
        assert len({example.lower() for example in examples}) == len(examples), examples


def test_an_empty_collection_says_no_images_yet(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with (
        running_app(empty, ARTIFACTS / "streamlit-empty.log", {**REDUCED_MODE_ENV, **OPEN_ENV}) as url,
        tab(PHONE) as page,
    ):
        show_home(page, url)
        expect(page.get_by_text("No images yet: add some", exact=True)).to_be_visible()
        shot(page, "empty-home", PHONE)
        page.goto(f"{url}/analyst")
        expect(page.get_by_text(re.compile(r"^No images yet"))).to_be_visible(timeout=STEP_TIMEOUT_MS)
        expect(page.get_by_text("Try other words")).to_have_count(0)
        expect(page.get_by_label("Text query")).to_have_count(0)
        shot(page, "empty-analyst", PHONE)
