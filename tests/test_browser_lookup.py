"""The screenshot lookup in headless Chromium, as a support agent uses it: paste the customer's screenshot from the
clipboard and read the verdict on the first screen, on a phone (390×844) and on a desktop (1400×1000); copy the
resolution; open the ticket in the helpdesk.

The paste is a real `paste` ClipboardEvent carrying the image file in its DataTransfer, dispatched where the focus is,
as the browser does for Ctrl+V.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page

from scripts.app_screenshots import OPEN_ENV, browser_page, running_app
from tests.browser_marks import NEEDS_CHROMIUM
from tests.sample_collection import QUERY_SCREENS, REDUCED_MODE_ENV, ROOT, ingest_samples

ARTIFACTS = ROOT / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1400, "height": 1000}
HELPDESK = "https://helpdesk.example.com/tickets/{ticket_id}"
CARD_DECLINED_FIX = "Customer's bank blocked the charge as suspected fraud"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    NEEDS_CHROMIUM,
]

# Ctrl+V as the browser delivers it: a paste event on the focused element, the clipboard's image as a file.
PASTE = """([payload, mime, text]) => {
  const transfer = new DataTransfer();
  if (payload) {
    const bytes = Uint8Array.from(atob(payload), (char) => char.charCodeAt(0));
    transfer.items.add(new File([bytes], "image", { type: mime }));
  }
  if (text) transfer.setData("text/plain", text);
  const paste = new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true });
  (document.activeElement || document.body).dispatchEvent(paste);
  return paste.defaultPrevented;
}"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = ingest_samples(tmp_path_factory.mktemp("lookup-browser-data"))
    env = {**REDUCED_MODE_ENV, **OPEN_ENV, "VLSEARCH_TICKET_URL_TEMPLATE": HELPDESK}
    with running_app(data_dir, ARTIFACTS / "streamlit-lookup.log", env) as url:
        yield url


def open_lookup(page: Page, url: str, viewport: dict[str, int]) -> None:
    page.set_viewport_size(viewport)
    page.goto(f"{url}/lookup")
    page.get_by_text("Customer's screenshot").first.wait_for()
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")


def paste_image(page: Page, image: Path, mime: str = "image/jpeg") -> None:
    """Paste the image, again until the page takes it (prevents the browser's own paste): its paste handler is
    ready a moment after the page is drawn, as it is for a person."""
    page.wait_for_function(PASTE, arg=[base64.b64encode(image.read_bytes()).decode(), mime, ""], polling=250)


def verdict_heading(page: Page) -> Locator:
    heading = page.get_by_text(re.compile(r"^(Best match: .+|No confident match\..*)$")).first
    heading.wait_for()
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget], [data-testid=stSkeleton]')"
        " && Array.from(document.images).every(image => image.complete && image.naturalWidth)"
    )
    return heading


def assert_on_first_screen(element: Locator, viewport: dict[str, int]) -> None:
    box = element.bounding_box()
    assert box is not None, "not drawn"
    assert 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"], f"{box} is not on the first screen"


@pytest.mark.parametrize(
    ("viewport", "screen"),
    [(PHONE, "SUP-1042"), (DESKTOP, "SUP-1042"), (PHONE, "SUP-1057")],
    ids=["phone", "desktop", "phone-chinese"],
)
def test_a_pasted_screenshot_shows_the_verdict_on_the_first_screen(
    app_url: str, viewport: dict[str, int], screen: str
) -> None:
    with browser_page() as page:
        open_lookup(page, app_url, viewport)
        paste_image(page, QUERY_SCREENS / f"{screen}.jpg")
        heading = verdict_heading(page)  # the lookup ran by itself once the pasted image was uploaded
        page.screenshot(path=ARTIFACTS / f"lookup-paste-{screen}-{viewport['width']}.png")
        assert heading.inner_text() == f"Best match: {screen}"
        assert_on_first_screen(heading, viewport)
        assert_on_first_screen(page.get_by_text("Resolution:").first, viewport)
        assert_on_first_screen(page.get_by_role("link", name=f"Open {screen}"), viewport)
        uploaded = page.locator(".st-key-lookup_screenshot [data-testid=stFileChip]")
        assert re.match(r"pasted-screenshot-\d+\.jpg, ", uploaded.get_attribute("aria-label") or "")


def test_a_text_paste_is_left_to_the_browser(app_url: str) -> None:
    with browser_page() as page:
        open_lookup(page, app_url, DESKTOP)
        paste_image(page, QUERY_SCREENS / "SUP-1042.jpg")  # the page's paste handler is listening
        verdict_heading(page)
        page.get_by_label("Note (optional)").focus()
        assert not page.evaluate(PASTE, ["", "", "customer quotes PF-4021"])  # text goes into the note as usual
        assert page.locator(".st-key-lookup_screenshot [data-testid=stFileChip]").count() == 1


def test_the_agent_copies_the_resolution_and_opens_the_ticket(app_url: str) -> None:
    with browser_page() as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)
        open_lookup(page, app_url, PHONE)
        paste_image(page, QUERY_SCREENS / "SUP-1042.jpg")
        verdict_heading(page)

        page.get_by_role("button", name="Copy resolution").first.click()
        page.get_by_text("Copied").wait_for()
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied.startswith(CARD_DECLINED_FIX) and copied.endswith("retry with 3-D Secure.")

        link = page.get_by_role("link", name="Open SUP-1042")
        assert link.get_attribute("href") == "https://helpdesk.example.com/tickets/SUP-1042"
        assert link.get_attribute("target") == "_blank"
