"""The app in a real browser: `streamlit run` over a few ingested samples, driven by Playwright in headless Chromium.

Screenshots of each page land in test-artifacts/ (kept by CI as artifacts, ignored by git).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from scripts.app_screenshots import (
    OPEN_ENV,
    browser_page,
    lookup_screenshot,
    running_app,
    search_analyst,
    show_home,
)
from tests.browser_marks import NEEDS_CHROMIUM
from tests.sample_collection import QUERY_SCREENS, REDUCED_MODE_ENV, ROOT, ingest_samples

ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    NEEDS_CHROMIUM,
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = ingest_samples(tmp_path_factory.mktemp("browser-data"))
    with running_app(data_dir, ARTIFACTS / "streamlit.log", {**REDUCED_MODE_ENV, **OPEN_ENV}) as url:
        yield url


def test_search_and_screenshot_lookup_in_the_browser(app_url: str) -> None:
    with browser_page() as page:
        show_home(page, app_url)
        model_state = page.get_by_text(re.compile(r"^OCR \+ keyword mode:")).first
        model_state.wait_for()
        assert model_state.is_visible()
        page.screenshot(path=ARTIFACTS / "home.png")

        search_analyst(page, app_url, "visa card total")
        assert page.get_by_text(re.compile(r"^\d+\. SUP-1042$")).is_visible()
        assert page.get_by_text(re.compile(r"^rank 1 of \d+$")).first.is_visible()
        page.screenshot(path=ARTIFACTS / "analyst.png")

        heading = lookup_screenshot(page, app_url, QUERY_SCREENS / "SUP-1042.jpg")
        page.screenshot(path=ARTIFACTS / "lookup.png")
        assert heading == "Best match: SUP-1042"
        assert page.get_by_text("Resolution:").first.is_visible()
