"""Drive the Streamlit app in headless Chromium: the browser test uses it, and it refreshes docs/screenshots.

    python scripts/app_screenshots.py                # over data/demo (run `make demo` once first)
    python scripts/app_screenshots.py --data-dir D --out DIR

It starts `streamlit run streamlit_app/app.py` on a free localhost port, shows the home page,
runs a search on the analyst page and looks up a customer's screenshot, saving a PNG of each.
Uses the distro Chromium (apt-get install chromium fonts-noto-cjk), so no `playwright install`.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
VIEWPORT = {"width": 1440, "height": 1500}
START_TIMEOUT_S = 90
STEP_TIMEOUT_MS = 90_000
QUERY_TEXT = "card declined payment failed"
OPEN_ENV = {"VLSEARCH_AUTH": "off"}
QUERY_SCREEN = ROOT / "tests" / "data" / "query_screens" / "SUP-1042.jpg"
# The dashboard's count line: "37 matches · 12 shown", "5 records, newest first · 5 shown", "top 12 shown (…)".
RESULT_COUNT = re.compile(r"^(\d[\d,]* (match|matches|record|records)\b.*· \d+ shown|top \d+ shown.*)$")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_app(data_dir: Path, log_file: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """`streamlit run` over data_dir on a free port; yields its URL once healthy, stops it afterwards."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "streamlit_app/app.py",
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]
    environment = {**os.environ, "VLSEARCH_DATA_DIR": str(data_dir), **(env or {})}
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, process, log_file)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def browser_page() -> Iterator[Page]:
    """A page in headless distro Chromium."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(STEP_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def show_home(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_text("Model mode").wait_for()
    _settle(page)


def search_analyst(page: Page, url: str, text: str) -> None:
    """Run a text search and wait for the result grid."""
    page.goto(f"{url}/analyst")
    page.get_by_label("Text query").fill(text)
    page.get_by_role("button", name="Search").click()
    page.get_by_text(RESULT_COUNT).first.wait_for()
    _settle(page)


def lookup_screenshot(page: Page, url: str, image: Path) -> str:
    """Upload a customer's screenshot, run the lookup and return the best-match heading."""
    page.goto(f"{url}/lookup")
    page.locator("input[type=file]").set_input_files(str(image))
    page.locator("[data-testid=stFileChip]").wait_for()  # the upload has reached the server
    page.get_by_role("button", name="Find matching tickets").click()
    heading = page.get_by_text(re.compile(r"^(Best match: .+|No confident match\..*)$")).first
    heading.wait_for()
    _settle(page)
    return heading.inner_text()


def capture(url: str, out_dir: Path) -> str:
    """Screenshots of the three pages (home.png, analyst.png, lookup.png); returns the lookup's heading."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with browser_page() as page:
        show_home(page, url)
        page.screenshot(path=out_dir / "home.png")
        search_analyst(page, url, QUERY_TEXT)
        page.screenshot(path=out_dir / "analyst.png")
        heading = lookup_screenshot(page, url, QUERY_SCREEN)
        page.screenshot(path=out_dir / "lookup.png")
    return heading


def _settle(page: Page) -> None:
    """Wait until Streamlit has finished the script run, replaced every placeholder and drawn every image."""
    busy = "[data-testid=stStatusWidget], [data-testid=stSkeleton]"
    drawn = "Array.from(document.images).every(image => image.complete && image.naturalWidth)"
    page.wait_for_function(f"() => !document.querySelector('{busy}') && {drawn}")


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}; see {log_file}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"streamlit did not answer at {url} within {START_TIMEOUT_S} s; see {log_file}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    # Sign-in is off for the screenshots: they show the pages, not the sign-in form.
    with running_app(args.data_dir.resolve(), ROOT / "test-artifacts" / "streamlit.log", OPEN_ENV) as url:
        print(capture(url, args.out))


if __name__ == "__main__":
    main()
