"""The Streamlit pages through streamlit.testing's AppTest, over a small collection in OCR + keyword mode."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.config import Settings
from pipeline.display.results import hit_label
from pipeline.search.feedback import FEEDBACK_FILE, FeedbackLog
from pipeline.store import build_store
from tests.media_fixtures import make_text_pdf, make_text_video
from tests.media_records import frame_record, image_record, page_record
from tests.sample_collection import QUERY_SCREENS, RECEIPT, REDUCED_MODE_ENV, SAMPLES, ingest_samples

pytestmark = pytest.mark.usefixtures("fresh_app_caches")

APP = Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py"
TIMEOUT_S = 120
QUERY = "visa card total"
CARD_SCREEN = SAMPLES / "images" / "payflow_card_declined_en_desktop_light.png"
TRUNCATED_PNG = CARD_SCREEN.read_bytes()[:2000]

OpenPage = Callable[..., AppTest]
OPEN_MODE_ENV = {"VLSEARCH_AUTH": "off"}  # these tests are about the pages; tests/test_auth.py signs in


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ingest_samples(tmp_path_factory.mktemp("app-data"))


@pytest.fixture
def open_page(monkeypatch: pytest.MonkeyPatch) -> OpenPage:
    def open_(data_dir: Path, page: str | None = None, **env: str) -> AppTest:
        monkeypatch.setenv("VLSEARCH_DATA_DIR", str(data_dir))
        for name, value in {**REDUCED_MODE_ENV, **OPEN_MODE_ENV, **env}.items():
            monkeypatch.setenv(name, value)
        app = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S).run()
        if page is not None:
            app.switch_page(page).run()
        assert not app.exception
        return app

    return open_


def texts(app: AppTest) -> str:
    """Everything the page wrote, unescaped (zero-width spaces that keep ":" from starting an emoji dropped),
    one element per line."""
    kinds = ("title", "subheader", "markdown", "caption", "info", "warning", "error", "success", "code", "text")
    written = (html.unescape(str(element.value)) for kind in kinds for element in getattr(app, kind))
    return "\n".join(written).replace("\u200b", "")


def click(app: AppTest, label: str) -> AppTest:
    next(button for button in app.button if button.label == label).click()
    return app.run()


def shown(markdown: str) -> str:
    """Escaped text (entities, zero-width spaces) as the reader sees it."""
    return html.unescape(markdown).replace("\u200b", "")


def shown_table(table: Any) -> dict[str, str]:
    """An st.table of names and values (both escaped: its cells are Markdown) as the reader sees it."""
    return {shown(name): shown(value) for name, value in table.value.iloc[:, 0].to_dict().items()}


def captions_of_images(app: AppTest) -> list[str]:
    return [shown(caption) for image in app.image for caption in image.captions]


def upload(app: AppTest, key: str, name: str, data: bytes, mime: str = "image/png") -> None:
    app.file_uploader(key=key).set_value((name, data, mime))


def search(open_page: OpenPage, collection: Path, text: str = QUERY) -> AppTest:
    app = open_page(collection, "views/analyst.py")
    app.text_input(key="analyst_text").set_value(text)
    return click(app, "Search")


def hits_of(app: AppTest) -> list:
    """The hits the dashboard shows (every page loaded so far)."""
    return app.session_state["analyst_search"]["hits"]


def open_tab(app: AppTest, tab: str) -> AppTest:
    """Switch the results to `tab` (their content is only drawn for the open tab)."""
    app.session_state["analyst_tabs"] = tab
    return app.run()


# home ------------------------------------------------------------------------------------------


def test_home_shows_collection_engine_and_mode(open_page, collection):
    app = open_page(collection)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics == {"Assets": "4", "Engine": "LanceDB", "Model mode": "OCR + keyword"}
    page = texts(app)
    # The model state in one line; what is missing and why is folded away, with the data directory.
    assert "OCR + keyword mode: search by the words in images and their metadata, not by meaning" in page
    assert "details in docs/search.md#reduced-mode" in page
    assert "No captions, no vectors" in page and "VLSEARCH_MODELS_ENABLED=false" in page
    assert f"data directory: {collection} (VLSEARCH_DATA_DIR)" in page
    assert [expander.label for expander in app.expander] == ["About the models and this collection"]


def test_home_suggests_queries_drawn_from_the_collection(open_page, collection):
    app = open_page(collection)
    assert "What to do next" in texts(app)
    (examples,) = app.button_group
    # Shared words of the OCR text, then frequent values of columns with a few values; not a date or an id.
    assert {"PayFlow", "billing"} <= set(examples.options) and "2024-01-18" not in examples.options
    word = examples.options[0]
    examples.set_value(word).run()
    assert not app.exception
    assert app.text_input(key="analyst_text").value == word
    assert len(hits_of(app)) >= 2 and f"rank 1 of {app.session_state['analyst_search']['total']}" in texts(app)


def test_home_names_a_collection_left_in_data_by_an_earlier_version(open_page, collection, tmp_path, monkeypatch):
    (tmp_path / "old" / "data" / "lancedb").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "old")
    page = texts(open_page(collection))
    assert f"a collection from an earlier vlsearch is at {tmp_path / 'old' / 'data'}" in page
    assert f"export VLSEARCH_DATA_DIR={tmp_path / 'old' / 'data'}" in page


def test_empty_collection_shows_how_to_add_data(open_page, tmp_path):
    app = open_page(tmp_path / "empty")
    page = texts(app)
    assert "No images yet: add some" in page and "What to do next" not in page
    assert "vlsearch ingest --manifest samples/manifest.jsonl" in page
    assert f"export VLSEARCH_DATA_DIR={tmp_path / 'empty'}" in page
    assert not app.error


def test_home_upload_ingests_good_files_and_lists_the_bad_ones(open_page, tmp_path):
    app = open_page(tmp_path / "data")
    app.file_uploader(key="home_upload_files").set_value(
        [("card.png", CARD_SCREEN.read_bytes(), "image/png"), ("broken.png", TRUNCATED_PNG, "image/png")]
    )
    app = click(app, "Ingest uploads")
    assert not app.exception
    assert {metric.label: metric.value for metric in app.metric}["Assets"] == "1"
    (failures,) = app.dataframe
    rows = failures.value.to_dict("records")
    assert [row["file"] for row in rows] == ["broken.png"] and "corrupt or truncated" in rows[0]["reason"]
    assert len(list((tmp_path / "data" / "uploads").glob("*.png"))) == 1


def test_an_upload_keeps_its_name_and_a_second_name_for_the_same_image_is_reported(open_page, tmp_path):
    app = open_page(tmp_path / "data")
    upload(app, "home_upload_files", "checkout-declined.png", CARD_SCREEN.read_bytes())
    app = click(app, "Ingest uploads")
    app.file_uploader(key="home_upload_files").set_value([("IMG_0001.png", CARD_SCREEN.read_bytes(), "image/png")])
    app = click(app, "Ingest uploads")
    assert not app.exception
    (known,) = app.dataframe
    assert known.value.to_dict("records") == [
        {"file": "IMG_0001.png", "already in the collection as": "checkout-declined.png"}
    ]
    app = search(open_page, tmp_path / "data", "declined")
    assert [hit.record.metadata["file_name"] for hit in hits_of(app)] == ["checkout-declined.png"]
    assert "1. checkout-declined.png" in texts(app)


def test_an_empty_collection_says_so_on_the_dashboard(open_page, tmp_path):
    app = open_page(tmp_path / "empty", "views/analyst.py")
    assert "No images yet: add some on the Home page" in texts(app) and "Try other words" not in texts(app)
    assert not app.button  # no search form over nothing


# analyst dashboard -----------------------------------------------------------------------------


def test_search_shows_hits_with_every_score_and_highlights(open_page, collection):
    app = search(open_page, collection)
    assert not app.exception and not app.error
    hits = hits_of(app)
    assert {hit.record.metadata["ticket_id"] for hit in hits} >= {"SUP-1042", "SUP-1392"}
    page = texts(app)
    total = app.session_state["analyst_search"]["total"]
    assert total is not None and total >= len(hits)
    assert f"{total} matches · {len(hits)} shown" in page
    # Without a reranker: each card says its place in this query's order, never a per-query "fused 1.000".
    assert f"rank 1 of {total}" in page and f"rank {len(hits)} of {total}" in page and "fused 1.000" not in page
    assert "Ranked relative to this query" in page
    assert any(line.startswith("Why: words in the image text:") and "visa" in line for line in page.splitlines())
    assert any("<mark>" in element.value for element in app.markdown)
    assert len(app.feedback) == len(hits)
    app = open_tab(app, "Table and export")
    assert app.get("download_button") and not app.feedback  # the cards are not drawn under another tab
    (table,) = app.dataframe
    labels = table.value["label"].tolist()
    assert labels[0] == "SUP-1042" and "text_receipt_grocery.png" in labels  # as on the cards
    assert all(f"{rank}. {label}" in page for rank, label in enumerate(labels, start=1))


def test_a_metadata_filter_narrows_the_results(open_page, collection):
    app = search(open_page, collection)
    assert len(hits_of(app)) >= 3
    app.multiselect(key="analyst_filter_category").set_value(["document"])
    app = click(app, "Search")
    assert [Path(hit.record.uri).name for hit in hits_of(app)] == [RECEIPT.name]
    assert "filter: category IN ('document')" in texts(app)


def test_thumbs_up_is_stored_and_survives_a_new_log(open_page, collection):
    app = search(open_page, collection)
    first = hits_of(app)[0].record.id
    app.feedback[0].set_value(1).run()
    assert not app.exception
    votes = FeedbackLog(collection / FEEDBACK_FILE).votes(collection="assets")
    assert [(vote.query_text, vote.asset_id, vote.vote) for vote in votes if vote.asset_id == first] == [
        (QUERY, first, 1)
    ]
    assert [vote.voter for vote in votes if vote.asset_id == first] != [""]  # the signed-in user's vote


def test_details_show_every_score_and_find_similar_leaves_the_image_out(open_page, collection):
    app = search(open_page, collection)
    first = hits_of(app)[0]
    app.button(key=f"analyst_details_{first.record.id}").click().run()
    assert "Find similar" in [button.label for button in app.button]
    scores, metadata, fields = (shown_table(table) for table in app.table)
    assert scores["bm25"].endswith("(keyword score; higher is better, unbounded)") and scores["rerank"] == "—"
    assert scores["fused"].endswith("(every side combined, scaled within this query)")
    assert scores["looks the same"] == "—"  # a text query: no picture to compare
    assert metadata["resolution"] == first.record.metadata["resolution"] and fields["uri"] == first.record.uri
    app = click(app, "Find similar")
    assert not app.exception and not app.error
    assert "similar to SUP-1042" in texts(app)
    assert first.record.sha256 not in {hit.record.sha256 for hit in hits_of(app)}
    assert "SUP-1392" in {hit.record.metadata.get("ticket_id") for hit in hits_of(app)}  # the look-alike


def test_filters_suit_their_columns(open_page, collection):
    app = open_page(collection, "views/analyst.py")
    assert app.multiselect(key="analyst_filter_category").options == ["billing (2)", "document (1)", "login (1)"]
    assert app.text_input(key="analyst_filter_ticket_id")  # one value per record: typed, not picked
    assert app.date_input(key="analyst_filter_created_at").value == (dt.date(2024, 1, 18), dt.date(2026, 2, 26))
    app.text_input(key="analyst_filter_ticket_id").set_value("1042")
    app.text_input(key="analyst_text").set_value("payment")
    app = click(app, "Search")
    assert [hit.record.metadata["ticket_id"] for hit in hits_of(app)] == ["SUP-1042"]
    assert "filter: (ticket_id LIKE '%1042%')" in texts(app)


def test_filters_alone_browse_the_collection_newest_first(open_page, collection):
    app = open_page(collection, "views/analyst.py")
    app.date_input(key="analyst_filter_created_at").set_value((dt.date(2024, 1, 1), dt.date(2024, 12, 31)))
    app = click(app, "Search")
    assert not app.exception and not app.error
    assert {hit.record.metadata["ticket_id"] for hit in hits_of(app)} == {"SUP-1042", "SUP-1057"}
    page = texts(app)
    assert "2 records, newest first · 2 shown" in page and "added " in page and "Try other words" not in page


def test_reduced_mode_greys_out_alpha_and_fusion_and_says_why(open_page, collection):
    app = open_page(collection, "views/analyst.py")
    alpha, fusion = app.slider(key="analyst_alpha"), app.radio(key="analyst_fusion")
    assert alpha.disabled and fusion.disabled
    assert "no vectors" in alpha.help and "no vectors" in fusion.help


def test_load_more_asks_the_next_page(open_page, collection):
    app = open_page(collection, "views/analyst.py")
    app.number_input(key="analyst_limit").set_value(1)
    app.text_input(key="analyst_text").set_value(QUERY)
    app = click(app, "Search")
    first = hits_of(app)
    total = app.session_state["analyst_search"]["total"]
    app = click(app, "Load 1 more")
    assert not app.exception
    shown = app.session_state["analyst_search"]["hits"]
    assert len(shown) == 2 and shown[0].record.id == first[0].record.id and shown[1].record.id != first[0].record.id
    assert f"{total} matches · 2 shown" in texts(app) and "rank 2 of" in texts(app)


def test_charts_count_every_match_not_only_those_shown(open_page, collection):
    app = open_page(collection, "views/analyst.py")
    app.number_input(key="analyst_limit").set_value(1)
    app.text_input(key="analyst_text").set_value(QUERY)
    app = click(app, "Search")
    app = open_tab(app, "Charts")
    assert not app.exception
    query = app.session_state["analyst_search"]
    assert len(query["hits"]) == 1 and len(query["chart_hits"]) == query["total"] > 1


def test_an_image_search_says_which_hit_looks_the_same(open_page, collection):
    app = open_page(collection, "views/analyst.py")
    upload(app, "analyst_image", "SUP-1042.jpg", (QUERY_SCREENS / "SUP-1042.jpg").read_bytes(), "image/jpeg")
    app = click(app, "Search")
    assert not app.exception and not app.error
    first = hits_of(app)[0]
    pairs = first.scores.visual_pairs
    assert first.record.metadata["ticket_id"] == "SUP-1042" and pairs is not None
    assert any(
        line.startswith("Why:") and f"looks the same: {pairs} matching keypoints" in line
        for line in texts(app).splitlines()
    )


def test_broken_image_upload_is_a_clear_error(open_page, collection):
    app = open_page(collection, "views/analyst.py")
    upload(app, "analyst_image", "broken.png", TRUNCATED_PNG)
    app = click(app, "Search")
    assert not app.exception
    (error,) = app.error
    assert error.value.startswith("broken.png: corrupt or truncated image")


# pages and videos in the analyst dashboard ----------------------------------------------------------

GUIDE_URL = "https://docs.example.com/guide.pdf"


@pytest.fixture(scope="module")
def media_collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real PDF and video on disk, a PDF at a URL and an image, stored as records of pages and frames."""
    files = tmp_path_factory.mktemp("media")
    manual = make_text_pdf(files / "manual.pdf", ["Welcome", "Open the laptop lid by the hinge", "Warranty"])
    desk = make_text_video(files / "desk.mp4", [("person at desk", 3.0), ("laptop lid open", 3.0)], fps=5)
    data_dir = files / "data"
    store = build_store(Settings(data_dir=data_dir, models_enabled=False))
    store.upsert(
        [page_record(str(manual), page, text) for page, text in ((1, "Welcome"), (2, "Open the laptop lid"))]
        + [frame_record(str(desk), t, "person at desk" if t < 3 else "laptop lid open") for t in range(6)]
        + [page_record(GUIDE_URL, 4, "laptop lid replacement"), image_record("sticker", "laptop sticker")]
    )
    store.optimize()
    return data_dir


def open_hit(app: AppTest, label: str) -> AppTest:
    """Press the open button of the hit whose label is `label`."""
    (hit,) = [hit for hit in hits_of(app) if label in hit_label(hit)]
    app.button(key=f"analyst_details_{hit.record.id}").click().run()
    assert not app.exception and not app.error
    return app


def test_hits_name_the_page_and_the_time_window(open_page, media_collection):
    app = search(open_page, media_collection, "laptop lid")
    assert not app.exception and not app.error
    page = texts(app)
    assert "desk.mp4, 00:00:03–00:00:06" in page and "manual.pdf, page 2" in page and "guide.pdf, page 4" in page
    assert (
        sum(hit.record.parent_uri is not None and hit.record.parent_uri.endswith("desk.mp4") for hit in hits_of(app))
        == 1
    )  # one hit for the video
    assert {"Open page", "Play", "Details"} <= {button.label for button in app.button}


def test_play_starts_the_video_at_its_window(open_page, media_collection):
    app = open_hit(search(open_page, media_collection, "laptop lid"), "desk.mp4")
    (video,) = app.get("video")
    assert (video.proto.start_time, video.proto.end_time) == (3, 6) and video.proto.url
    assert "Plays from 00:00:03 and pauses at 00:00:06" in texts(app)
    scores = shown_table(app.table[0])
    assert scores["video window"].startswith("window score ") and scores["video window"].endswith("over 3 frames")


def test_open_page_shows_the_page_and_offers_the_pdf(open_page, media_collection):
    app = open_hit(search(open_page, media_collection, "laptop lid"), "manual.pdf")
    assert "page 2 of manual.pdf" in captions_of_images(app)
    assert "Download manual.pdf" in [shown(button.label) for button in app.get("download_button")]


def test_a_page_of_a_pdf_at_a_url_links_to_the_page(open_page, media_collection):
    app = open_hit(search(open_page, media_collection, "laptop lid"), "guide.pdf")
    assert "stored thumbnail (guide.pdf is at a URL, not on this server)" in captions_of_images(app)
    (link,) = app.link_button
    assert link.proto.url == f"{GUIDE_URL}#page=4" and shown(link.proto.label) == "Open page 4 of guide.pdf"


# screenshot lookup -----------------------------------------------------------------------------


def test_lookup_finds_the_ticket_of_a_customer_screenshot(open_page, collection):
    app = open_page(collection, "views/lookup.py")
    upload(app, "lookup_screenshot", "SUP-1042.jpg", (QUERY_SCREENS / "SUP-1042.jpg").read_bytes(), "image/jpeg")
    app = click(app, "Find matching tickets")
    assert not app.exception and not app.error
    headings = [html.unescape(heading.value) for heading in app.subheader]
    assert headings[0] == "Best match: SUP-1042"
    assert "SUP-1392" in headings[1:]  # the look-alike is listed, below the cutoff
    page = texts(app)
    assert "Resolution:" in page and "same error code PF-4021" in page
    assert "Payment" in page  # the text read from the screenshot
    assert "**same words**: at least 50%" in page  # the rule is explained


def test_lookup_says_when_no_ticket_is_a_confident_match(open_page, collection):
    app = open_page(collection, "views/lookup.py")
    upload(app, "lookup_screenshot", RECEIPT.name, RECEIPT.read_bytes())
    app = click(app, "Find matching tickets")
    assert not app.exception
    assert "No confident match" in texts(app)
    assert not any(heading.value.startswith("Best match") for heading in app.subheader)
    assert RECEIPT.name not in texts(app)  # the receipt itself is no ticket


def test_lookup_refuses_an_image_over_the_pixel_limit(open_page, collection):
    app = open_page(collection, "views/lookup.py", VLSEARCH_MAX_IMAGE_PIXELS="100000")
    upload(app, "lookup_screenshot", "SUP-1042.jpg", (QUERY_SCREENS / "SUP-1042.jpg").read_bytes(), "image/jpeg")
    app = click(app, "Find matching tickets")
    assert not app.exception
    (error,) = app.error
    assert error.value.startswith("SUP-1042.jpg: too many pixels") and "limit 100,000" in error.value
