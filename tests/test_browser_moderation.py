"""The moderation desk in headless Chromium: the keyboard flow a reviewer uses all day, and sensitive pictures.

Keys typed into a text box stay in the text box (before: typing a name, Enter, then a letter claimed the item for
10 minutes); outside text boxes A, X, E and S work, and X only asks to confirm the removal.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageFilter, ImageStat
from playwright.sync_api import Page, expect

from pipeline.config import Settings
from pipeline.images import thumbnail_jpeg
from pipeline.moderation.matching import Match, Rule
from pipeline.moderation.queue import ReviewQueue, State
from pipeline.moderation.services import open_queue
from scripts.app_screenshots import OPEN_ENV, _settle, browser_page, running_app
from tests.browser_marks import NEEDS_CHROMIUM
from tests.near_duplicate_set import open_image
from tests.sample_collection import REDUCED_MODE_ENV, ROOT, SAMPLES

ARTIFACTS = ROOT / "test-artifacts"
QUEUED = (  # item 1 is sensitive (violence has `sensitive = true` in the shipped rules)
    ("photo_rocket_launch.jpg", "violence", "kill you"),
    ("text_promo_lottery_spam_zh.png", "spam", "中奖"),
    ("product_sneaker_red.jpg", "counterfeit", "replica"),
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    NEEDS_CHROMIUM,
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("moderation-browser")
    queue = open_queue(Settings(data_dir=data_dir, models_enabled=False))
    for n, (name, category, keyword) in enumerate(QUEUED, start=1):
        queue.enqueue(
            uri=f"/uploads/{name}",
            sha256=f"{n:064x}",
            thumbnail=thumbnail_jpeg(open_image(SAMPLES / "images" / name)),
            matches=[Match(Rule.KEYWORD, category, 1.0, detail=keyword)],
        )
    return data_dir


@pytest.fixture(scope="module")
def desk(data_dir: Path) -> Iterator[tuple[str, ReviewQueue]]:
    with running_app(data_dir, ARTIFACTS / "streamlit-moderation.log", {**REDUCED_MODE_ENV, **OPEN_ENV}) as url:
        yield f"{url}/moderation", open_queue(Settings(data_dir=data_dir))


@pytest.fixture(scope="module")
def page(desk: tuple[str, ReviewQueue]) -> Iterator[Page]:
    """One reviewer's browser tab, kept across the tests below (they follow one another like a shift at the desk)."""
    with browser_page() as tab:
        tab.goto(desk[0])
        tab.get_by_label("Reviewer").wait_for()
        _settle(tab)
        yield tab


def detail(jpeg: bytes) -> float:
    """Mean edge strength of a picture: what a viewer makes shapes out of."""
    with Image.open(io.BytesIO(jpeg)) as image:
        return float(ImageStat.Stat(image.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0])


def picture_source(page: Page) -> str:
    return page.locator("[data-testid=stImage] img").first.get_attribute("src") or ""


def shown_picture(page: Page) -> bytes:
    """The picture as the browser decoded it from what the server sent (not what CSS makes of it), as PNG."""
    data_url = page.evaluate(
        """() => {
            const image = document.querySelector('[data-testid=stImage] img');
            const canvas = document.createElement('canvas');
            canvas.width = image.naturalWidth;
            canvas.height = image.naturalHeight;
            canvas.getContext('2d').drawImage(image, 0, 0);
            return canvas.toDataURL('image/png');
        }"""
    )
    return base64.b64decode(data_url.split(",", 1)[1])


def heading(page: Page, text: str) -> None:
    expect(page.get_by_text(re.compile(rf"^{re.escape(text)}"))).to_be_visible()
    _settle(page)


def press(page: Page, label: str) -> None:
    """Click a button once the rerun has replaced the previous run's elements (a stale copy may linger a moment)."""
    button = page.get_by_role("button", name=label, exact=True)
    expect(button).to_have_count(1)
    button.click()


def test_keys_typed_into_text_boxes_decide_and_claim_nothing(page, desk):
    _, queue = desk
    reviewer = page.get_by_label("Reviewer")
    reviewer.click()
    page.keyboard.type("alice")
    page.keyboard.press("Enter")
    heading(page, "Item 1 · violence")
    for key in "axes":  # every shortcut letter, with the focus still in the name box
        page.keyboard.press(key)
    _settle(page)
    assert reviewer.input_value() == "aliceaxes"
    note = page.get_by_label("Note (kept in the audit log)")
    note.click()
    page.keyboard.type("sxa")
    _settle(page)
    assert note.input_value() == "sxa"
    assert not queue.audit_log() and not queue.claims()  # nothing decided, nothing claimed
    reviewer.fill("alice")
    reviewer.press("Enter")
    heading(page, "Item 1 · violence")
    page.screenshot(path=ARTIFACTS / "moderation-keys-in-text-boxes.png")


def test_a_sensitive_picture_reaches_the_browser_blurred_until_revealed(page):
    original = thumbnail_jpeg(open_image(SAMPLES / "images" / "photo_rocket_launch.jpg"))
    blurred = picture_source(page)
    assert detail(shown_picture(page)) < detail(original) / 5
    press(page, "Reveal")
    expect(page.get_by_role("button", name="Reveal")).to_have_count(0)
    page.wait_for_function(
        "blurred => document.querySelector('[data-testid=stImage] img').getAttribute('src') !== blurred", arg=blurred
    )
    _settle(page)
    assert detail(shown_picture(page)) > detail(original) / 2


def test_shortcuts_work_outside_text_boxes_and_remove_asks_first(page, desk):
    _, queue = desk
    page.get_by_role("heading", name="Moderation queue").click()  # the focus leaves the text boxes
    page.keyboard.press("s")
    heading(page, "Item 2 · spam")
    page.keyboard.press("x")
    expect(page.get_by_text(re.compile(r"^Remove item 2\?"))).to_be_visible()
    page.keyboard.press("x")  # a second X does not remove either
    _settle(page)
    assert queue.get(2).state == State.PENDING and not queue.audit_log()
    page.screenshot(path=ARTIFACTS / "moderation-confirm-remove.png")
    press(page, "Yes, remove")
    heading(page, "Item 3 · counterfeit")
    assert queue.get(2).state == State.REMOVED
    page.keyboard.press("a")
    heading(page, "Nothing left for you to review — 1 pending: 1 skipped by you.")
    assert queue.get(3).state == State.APPROVED
    press(page, "Undo skip")
    heading(page, "Item 1 · violence")
