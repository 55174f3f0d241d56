"""A hostile collection in a real browser: manifest values and file names written as Markdown images and links, raw
HTML and javascript: URLs, all pointing at a server on 127.0.0.1 that records every connection. The home page, the
analyst dashboard (results, Details, an opened PDF page, the chart with the values on its axis), the screenshot
lookup and the audit log's export are shown in headless Chromium; the browser must fetch nothing from that server
and the page must hold no link or image pointing at it: every string from data is shown as text.
"""

from __future__ import annotations

import json
import re
import shutil
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Page

from pipeline.config import Settings
from pipeline.ingest.ingestor import Outcome
from pipeline.ingest.sources import read_manifest
from pipeline.services import build_services
from scripts.app_screenshots import OPEN_ENV, RESULT_COUNT, browser_page, running_app
from tests.browser_marks import NEEDS_CHROMIUM
from tests.media_fixtures import make_text_pdf
from tests.sample_collection import QUERY_SCREENS, REDUCED_MODE_ENV, ROOT, SAMPLES

ARTIFACTS = ROOT / "test-artifacts"
QUERY = "visa card total"
ZERO_WIDTH = "\u200b"  # escape() puts one after ":" and "@" so that URLs in data never become links
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

pytestmark = [
    pytest.mark.browser,
    NEEDS_CHROMIUM,
]


@dataclass
class Recorder:
    """A TCP server on 127.0.0.1 that notes every connection (HTTP or a TLS hello) and answers HTTP with an image."""

    host: str = ""
    seen: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    found = Recorder()

    class Note(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(2)
            try:
                first = self.request.recv(2048)
            except OSError:
                first = b""
            found.seen.append(first.split(b"\r\n", 1)[0].decode("latin-1") or "(a connection)")
            if first[:4] in (b"GET ", b"HEAD"):
                head = f"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {len(PNG_1PX)}\r\n\r\n"
                self.request.sendall(head.encode() + PNG_1PX)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Note)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    found.host = f"127.0.0.1:{server.server_address[1]}"
    yield found
    server.shutdown()
    server.server_close()


def hostile_values(host: str) -> dict[str, str]:
    """Metadata values that would fetch from, or link to, `host` if rendered as Markdown or HTML."""
    return {
        "ticket_id": f"SUP-1042 ![beacon](http://{host}/beacon.png?viewer=staff)",
        "resolution": f"[Reset your password](http://{host}/reset) or see http://{host}/bare and <http://{host}/auto>",
        "category": f'<a href="http://{host}/chart">billing</a>',
        "app": f'<img src="http://{host}/raw.png">PayFlow',
        "language": "[click me](javascript:alert(document.cookie)) <a href='javascript:alert(1)'>en</a>",
        "created_at": f"![relative](//{host}/protocol-relative.png)",
        "error_code": "PF-4021",
    }


def hostile_names(host: str) -> dict[str, str]:
    """File names (no "/" in a name, so the image URL has no slashes: `https:host` is still https://host)."""
    return {
        "ticket": f"![f](https:{host}).png",
        "lookalike": f"<img src=https:{host}>.png",
        "receipt": f"[Reset your password](https:{host}).png",
        "pdf": f"![p](https:{host}).pdf",
        "upload": f"![u](https:{host}) <img src=https:{host}>.png",
    }


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory, recorder: Recorder) -> Iterator[str]:
    """Two tickets, a receipt and a PDF under hostile names with hostile metadata, ingested in OCR + keyword mode."""
    folder = tmp_path_factory.mktemp("hostile")
    names, values = hostile_names(recorder.host), hostile_values(recorder.host)
    images = SAMPLES / "images"
    shutil.copy(images / "payflow_card_declined_en_desktop_light.png", folder / names["ticket"])
    shutil.copy(images / "payflow_duplicate_payment_en_desktop_dark.png", folder / names["lookalike"])
    shutil.copy(images / "text_receipt_grocery.png", folder / names["receipt"])
    make_text_pdf(folder / names["pdf"], ["Visa card total due: 42.00"])
    rows = [
        {"path": names["ticket"], **values},
        {"path": names["lookalike"], **values, "ticket_id": f'<a href="http://{recorder.host}/t">SUP-1392</a>'},
        {"path": names["receipt"], "category": f"![c](http://{recorder.host}/category.png)"},
        {"path": names["pdf"], "category": f'<img src="http://{recorder.host}/pdf.png">'},
    ]
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    data_dir = folder / "data"
    services = build_services(Settings(data_dir=data_dir, models_enabled=False))
    report = services.ingestor().ingest(read_manifest(manifest).items)
    assert report.count(Outcome.ADDED) == len(rows), report.failures
    with running_app(data_dir, ARTIFACTS / "streamlit-hostile.log", {**REDUCED_MODE_ENV, **OPEN_ENV}) as url:
        yield url


# what the page must not hold ---------------------------------------------------------------------------------

LINKS_AND_IMAGES = """() => {
    const attribute = (element, name) =>
        element.getAttribute(name) || element.getAttributeNS('http://www.w3.org/1999/xlink', name) || '';
    const found = [];
    for (const a of document.querySelectorAll('a')) found.push(['a', attribute(a, 'href')]);
    for (const image of document.querySelectorAll('img, image, video, source, iframe')) {
        found.push([image.tagName, attribute(image, 'src') || attribute(image, 'href')]);
    }
    return found;
}"""


def assert_nothing_points_at(page: Page, host: str, where: str) -> None:
    for tag, target in page.evaluate(LINKS_AND_IMAGES):
        assert host not in target and not target.lower().startswith("javascript:"), f"{where}: <{tag}> {target}"


def settle(page: Page) -> None:
    """Streamlit is done with the run and every image has loaded or failed (a fetch from the recorder fails)."""
    busy = "[data-testid=stStatusWidget], [data-testid=stSkeleton]"
    page.wait_for_function(
        f"() => !document.querySelector('{busy}') && Array.from(document.images).every(i => i.complete)"
    )


def shown(text: str) -> str:
    return text.replace(ZERO_WIDTH, "")


def test_a_hostile_collection_is_shown_as_text_and_makes_the_browser_fetch_nothing(
    app_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    host, values, names = recorder.host, hostile_values(recorder.host), hostile_names(recorder.host)
    with browser_page() as page:
        # home, with an upload whose name is hostile (and whose bytes are broken, so it is listed as not ingested)
        page.goto(app_url)
        page.get_by_text("Model mode").wait_for()
        upload = tmp_path / names["upload"]
        upload.write_bytes((SAMPLES / "images" / "text_receipt_grocery.png").read_bytes()[:2000])
        page.locator("input[type=file]").set_input_files(str(upload))
        page.locator("[data-testid=stFileChip]").wait_for()
        page.get_by_role("button", name="Ingest uploads").click()
        page.get_by_text("Not ingested").wait_for()
        settle(page)
        assert_nothing_points_at(page, host, "home")

        # the analyst dashboard: results, a ticket's Details, the PDF page opened, the chart by category
        page.goto(f"{app_url}/analyst")
        page.get_by_label("Text query").fill(QUERY)
        page.get_by_role("button", name="Search").click()
        page.get_by_text(RESULT_COUNT).first.wait_for()
        settle(page)
        assert_nothing_points_at(page, host, "results")

        page.get_by_role("button", name="Details").first.click()
        page.get_by_text("Metadata", exact=True).wait_for()
        settle(page)
        assert_nothing_points_at(page, host, "details")
        tables = shown(" ".join(page.locator("[data-testid=stTable]").all_inner_texts()))  # scores, metadata
        assert values["resolution"] in tables and values["app"] in tables  # shown as the text it is

        page.keyboard.press("Escape")  # Details is a dialog: close it, then open the PDF hit's page from its card
        page.get_by_role("dialog").wait_for(state="detached")
        page.get_by_role("button", name="Open page").click()
        page.get_by_text(re.compile(r"^page 1 of ")).wait_for()
        settle(page)
        assert_nothing_points_at(page, host, "pdf page")
        download = page.get_by_role("button", name=re.compile("^Download "))
        assert f"Download {names['pdf']}" in shown(download.inner_text())  # after the icon's ligature

        page.keyboard.press("Escape")  # the page opened in a dialog too
        page.get_by_role("dialog").wait_for(state="detached")
        page.get_by_role("tab", name="Charts").click()
        page.locator(".js-plotly-plot .xtick").first.wait_for()
        settle(page)
        assert_nothing_points_at(page, host, "charts")
        ticks = page.locator(".js-plotly-plot .xtick").all_text_contents()
        assert values["category"] in ticks  # the axis shows the value's characters, not a link

        # the screenshot lookup, whose best match is the hostile ticket
        page.goto(f"{app_url}/lookup")
        page.locator("input[type=file]").set_input_files(str(QUERY_SCREENS / "SUP-1042.jpg"))
        page.locator("[data-testid=stFileChip]").wait_for()
        page.get_by_role("button", name="Find matching tickets").click()
        heading = page.get_by_text(re.compile(r"^Best match: ")).first
        heading.wait_for()
        settle(page)
        assert_nothing_points_at(page, host, "lookup")
        assert shown(heading.inner_text()) == f"Best match: {values['ticket_id']}"

        # the audit log's CSV, made when the button is pressed
        page.goto(f"{app_url}/audit")
        button = page.get_by_role("button", name=re.compile(r"^Download CSV"))
        button.wait_for()
        with page.expect_download() as downloading:
            button.click()
        exported = Path(downloading.value.path()).read_text(encoding="utf-8-sig")
        assert QUERY in exported  # the searches above, made by pressing the button after the role was checked

        page.wait_for_timeout(500)  # anything still in flight reaches the recorder
    assert recorder.seen == []
