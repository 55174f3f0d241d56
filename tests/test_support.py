"""The screenshot lookup: the keyword and rerank rules (pipeline/search/lookup.py), the helpdesk link setting, and
the page through AppTest: verdict first, ticket link encoded and escaped, weak candidates collapsed and shortened."""

import html
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import ValidationError
from streamlit.testing.v1 import AppTest

from pipeline.config import Settings
from pipeline.ingest.ingestor import Outcome
from pipeline.ingest.sources import read_manifest
from pipeline.models import Query, RerankDocument
from pipeline.records import Hit, Scores
from pipeline.search.highlight import terms
from pipeline.search.lookup import (
    MIN_SHARED_FRACTION,
    error_codes,
    judge,
    keyword_evidence,
    lookup_tickets,
    relevance_threshold,
    rerank_rule,
)
from pipeline.search.rerank import RerankStage
from pipeline.search.searcher import Searcher
from pipeline.services import build_services
from pipeline.store.lance_engine import LanceStore
from tests.sample_collection import QUERY_SCREENS, REDUCED_MODE_ENV, ROOT, SAMPLES
from tests.store_conformance import DIM, make_record

SCREEN = Image.new("RGB", (32, 32), "white")
CARD_TEXT = "PayFlow Checkout Payment failed Error PF-4021: Your card was declined by the issuer. Order #LC-20931"
LOOKALIKE_TEXT = (
    "PayFlow Checkout Duplicate payment blocked Error PF-4090: An identical payment was made. Order #LC-20931"
)
LOCKED_TEXT = "Nimbus ID 登录失败 错误代码NB-1003：密码错误次数过多，账户已锁定30分钟。"


class FixedOcr:
    name = "fixed-ocr"

    def __init__(self, text: str) -> None:
        self.text = text

    def read(self, image: Image.Image) -> str:
        return self.text


class ReadsTicket:
    """A reranker that is sure about documents containing `word` and about nothing else."""

    name = "reads-ticket"

    def __init__(self, word: str) -> None:
        self.word = word

    def score(self, query: Query, documents: list[RerankDocument]) -> list[float]:
        return [0.92 if self.word in document.ocr_text else 0.08 for document in documents]


def ticket(name: str, text: str, ticket_id: str, error_code: str = ""):
    return make_record(
        name, text, metadata={"ticket_id": ticket_id, "error_code": error_code, "resolution": f"fix for {ticket_id}"}
    )


@pytest.fixture
def store(tmp_path):
    store = LanceStore(tmp_path / "lance", dim=DIM)
    store.upsert(
        [
            ticket("card", CARD_TEXT, "SUP-1", "PF-4021"),
            ticket("lookalike", LOOKALIKE_TEXT, "SUP-2", "PF-4090"),
            ticket("locked", LOCKED_TEXT, "SUP-3", "NB-1003"),
            make_record("receipt", CARD_TEXT, metadata={"ticket_id": ""}, content="receipt"),  # same text, no ticket
        ]
    )
    store.optimize()
    return store


def lookup(store, screenshot_text: str, *, note: str = "", reranker=None, threshold: float = 0.5):
    stage = None if reranker is None else RerankStage(reranker, depth=10, batch_size=4, budget_s=60, max_file_bytes=1)
    searcher = Searcher(store, FixedOcr(screenshot_text), None, stage)
    return lookup_tickets(searcher, image=SCREEN, note=note, rerank=reranker is not None, min_probability=threshold)


def test_error_codes_even_when_ocr_glued_them_to_words():
    assert error_codes("ErrorPF-4021:Yourcard") == ["PF-4021"]
    assert error_codes("错误代码NB-1003：密码错误") == ["NB-1003"]
    assert error_codes("Sync E-SYNC-507 and ERR_TIMEOUT_408, again E-SYNC-507") == ["E-SYNC-507", "ERR_TIMEOUT_408"]
    assert error_codes("Total 84.90 on 2024-01-18, page 12") == []


def test_same_error_code_is_confident_even_with_few_shared_words():
    evidence = keyword_evidence("ErrorPF-4021 something else entirely", ticket("t", CARD_TEXT, "SUP-1", "PF-4021"))
    assert evidence.codes == ["PF-4021"] and evidence.confident()


def test_the_recorded_code_wins_over_codes_in_the_ticket_text():
    lookalike = ticket("t", LOOKALIKE_TEXT, "SUP-2", "PF-4090")
    evidence = keyword_evidence("Shipped: Order #LC-20931 arrives tomorrow morning", lookalike)  # an order number
    assert evidence.codes == [] and not evidence.confident()
    unrecorded = ticket("t", LOOKALIKE_TEXT, "SUP-2")
    assert keyword_evidence("Order #LC-20931 payment", unrecorded).codes == ["LC-20931"]


def test_half_of_the_words_is_confident():
    evidence = keyword_evidence("Payment failed card declined by the bank today", ticket("t", CARD_TEXT, "SUP-1"))
    assert evidence.fraction >= 0.5 and evidence.confident()
    assert evidence.shared_terms[:2] == ["declined", "payment"]  # longer words first


def test_few_shared_words_are_not_confident():
    assert not keyword_evidence("card", ticket("t", CARD_TEXT, "SUP-1")).confident()  # 1 of 1, fewer than 3
    assert not keyword_evidence("card declined snow rain wind sun moon", ticket("t", CARD_TEXT, "SUP-1")).confident()


def test_another_code_of_the_same_family_blocks_the_word_rule():
    screenshot = "PayFlow Checkout Payment failed Error PF-4021 Your card was declined. Order"
    evidence = keyword_evidence(screenshot, ticket("t", LOOKALIKE_TEXT, "SUP-2", "PF-4090"))
    assert evidence.fraction >= 0.5 and evidence.conflicting_code == "PF-4090" and not evidence.confident()


def test_words_cut_at_the_crop_edge_or_glued_by_ocr_count_as_shared():
    stored = ticket("t", "Change the Threshold, Settings and Notifications of your account, and from center", "SUP-7")
    screenshot = "eshold ettings otifications ccount andfromcenter"  # a tight crop, and OCR's glue
    evidence = keyword_evidence(screenshot, stored)
    assert {"eshold", "ettings", "otifications", "ccount", "andfromcenter"} <= set(evidence.shared_terms)
    assert evidence.fraction >= MIN_SHARED_FRACTION and evidence.confident()
    whole_words = terms(screenshot) & terms(stored.ocr_text)  # what counted before: not half of them
    assert len(whole_words) / evidence.query_terms < MIN_SHARED_FRACTION
    assert keyword_evidence("han", stored).shared_terms == []  # 3 letters: too short to tell a piece from chance


def test_a_screenshot_showing_another_error_code_is_not_that_ticket():
    inbox = "Inkwell Mail Inbox Sent Drafts Archive Quarterly report Team lunch Invoice March"
    attachment = ticket("t", f"{inbox} Error MX-552: The attachment is larger than 25 MB.", "SUP-8", "MX-552")
    other_error = f"{inbox} IMAP-550: The mailbox does not exist on the server."
    evidence = keyword_evidence(other_error, attachment)
    assert evidence.fraction >= 0.5  # the app's own words: more than half of the screen
    assert evidence.conflicting_code == "MX-552" and not evidence.confident()


def hits_of(*records_and_pairs: tuple) -> list[Hit]:
    return [Hit(record=record, scores=Scores(fused=1.0, visual_pairs=pairs)) for record, pairs in records_and_pairs]


def test_the_best_ticket_must_stand_clearly_above_the_next():
    quota = ticket("q", "SkyVault Sync paused storage is full upgrade your plan or manage files", "SUP-5")
    trash = ticket("t", "SkyVault Sync paused storage is full empty the trash or manage files", "SUP-6")
    screenshot = "SkyVault Sync paused storage is full manage files"

    too_close = judge(hits_of((quota, None), (trash, None)), screenshot, rule="keyword", min_probability=0.5)

    assert [match.confident for match in too_close] == [False, False]
    assert "too close to tell" in too_close[0].reason
    # Looking the same breaks the tie: only the first ticket's image agrees with the screenshot.
    looks = judge(hits_of((quota, 140), (trash, 30)), screenshot, rule="keyword", min_probability=0.5)
    assert [match.confident for match in looks] == [True, False]
    assert "looks the same: 140 matching keypoints" in looks[0].reason
    # But it never makes a ticket confident on its own: too few of the words are shared.
    alone = judge(
        hits_of(
            (quota, 300),
        ),
        "Weekly newsletter coffee beans",
        rule="keyword",
        min_probability=0.5,
    )
    assert not alone[0].confident


def test_lookup_finds_the_ticket_and_leaves_out_non_tickets(store):
    result = lookup(store, "Payment failed ErrorPF-4021: Your card was declined by the issuer.")
    assert result.best is not None and result.best.ticket_id == "SUP-1"
    assert result.best.resolution == "fix for SUP-1" and "same error code PF-4021" in result.best.reason
    assert [match.ticket_id for match in result.confident] == ["SUP-1"]
    assert "SUP-2" in [match.ticket_id for match in result.matches]
    assert all(match.ticket_id for match in result.matches)  # the receipt is not a ticket
    assert result.rule == "keyword" and result.query_codes == ["PF-4021"]


def test_lookup_without_a_confident_match(store):
    result = lookup(store, "Weekly newsletter: new coffee beans are in stock, card payments welcome")
    assert result.best is None and result.matches


def test_the_note_counts_as_part_of_the_query(store):
    assert lookup(store, "", note="customer quotes NB-1003").best.ticket_id == "SUP-3"


def test_with_a_reranker_its_probability_decides(store):
    result = lookup(store, "Payment failed card declined PF-4021", reranker=ReadsTicket("Duplicate"))
    assert result.rule == "rerank"
    assert [match.ticket_id for match in result.confident] == ["SUP-2"]
    assert result.best.reason == "reranker relevance 0.92 ≥ threshold 0.50"
    assert lookup(store, "Payment failed", reranker=ReadsTicket("Duplicate"), threshold=0.95).best is None


def test_a_collection_without_tickets_says_so(tmp_path):
    store = LanceStore(tmp_path / "lance", dim=DIM)
    store.upsert([make_record("mug", "coffee mug", metadata={"category": "product"})])
    result = lookup(store, "coffee mug")
    assert result.matches == [] and "no tickets" in result.notices[0]


def test_the_threshold_comes_from_settings_or_the_default():
    assert relevance_threshold(None) == 0.5 and relevance_threshold(0.8) == 0.8
    assert "at least **0.80**" in rerank_rule(0.8)


# the helpdesk link (VLSEARCH_TICKET_URL_TEMPLATE) -------------------------------------------------------------

HELPDESK = "https://helpdesk.example.com/tickets/{ticket_id}"
# Characters that mean something in a URL (space / # & *) and in Markdown or HTML (<b> * &).
ODD_ID = "SUP 7/#1 <b>x</b> & *y*"
ODD_ID_IN_URL = "SUP%207%2F%231%20%3Cb%3Ex%3C%2Fb%3E%20%26%20%2Ay%2A"


def test_the_ticket_id_is_url_encoded_into_the_template():
    settings = Settings(ticket_url_template=HELPDESK)
    assert settings.ticket_url(ODD_ID) == f"https://helpdesk.example.com/tickets/{ODD_ID_IN_URL}"
    assert Settings(ticket_url_template="https://hd.example.com/view?id={ticket_id}&tab=1").ticket_url("登录") == (
        "https://hd.example.com/view?id=%E7%99%BB%E5%BD%95&tab=1"
    )
    assert Settings().ticket_url("SUP-1") is None and Settings(ticket_url_template=" ").ticket_url("SUP-1") is None


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("javascript:alert(1)//{ticket_id}", "not an http(s) address"),
        ("/tickets/{ticket_id}", "not an http(s) address"),
        ("https://helpdesk.example.com/tickets/", "needs {ticket_id}"),
        ("https://helpdesk.example.com/{id}/{ticket_id}", "no other braces"),
        ("https://{ticket_id}.example.com/", "not the host"),
    ],
)
def test_a_template_that_cannot_link_to_a_ticket_is_refused(template, reason):
    with pytest.raises(ValidationError, match="ticket_url_template") as refused:
        Settings(ticket_url_template=template)
    assert reason in str(refused.value)


# the page ---------------------------------------------------------------------------------------------------

APP = ROOT / "streamlit_app" / "app.py"
CARD_FIX = "Customer's bank blocked the charge; advised them to call the issuer and retry with 3-D Secure."
LONG_FIX = "The first payment had succeeded, so the duplicate order was cancelled. " * 4 + "LAST-WORDS"
Looked = Callable[..., AppTest]


@pytest.fixture(scope="module")
def odd_tickets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The card-declined ticket under ODD_ID, its look-alike with a long resolution, in OCR + keyword mode."""
    folder = tmp_path_factory.mktemp("odd-tickets")
    images = SAMPLES / "images"
    shutil.copy(images / "payflow_card_declined_en_desktop_light.png", folder / "card.png")
    shutil.copy(images / "payflow_duplicate_payment_en_desktop_dark.png", folder / "duplicate.png")
    rows = [
        {"path": "card.png", "ticket_id": ODD_ID, "error_code": "PF-4021", "resolution": CARD_FIX},
        {"path": "duplicate.png", "ticket_id": "SUP-1392", "error_code": "PF-4090", "resolution": LONG_FIX},
    ]
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    data_dir = folder / "data"
    report = (
        build_services(Settings(data_dir=data_dir, models_enabled=False))
        .ingestor()
        .ingest(read_manifest(manifest).items)
    )
    assert report.count(Outcome.ADDED) == 2, report.failures
    return data_dir


@pytest.fixture
def looked_up(odd_tickets: Path, monkeypatch: pytest.MonkeyPatch, fresh_app_caches: None) -> Looked:
    """The lookup page after SUP-1042.jpg (a card-declined screenshot) was looked up, with these settings."""

    def look(**env: str) -> AppTest:
        monkeypatch.delenv("VLSEARCH_TICKET_URL_TEMPLATE", raising=False)
        for name, value in {
            **REDUCED_MODE_ENV,
            "VLSEARCH_AUTH": "off",
            "VLSEARCH_DATA_DIR": str(odd_tickets),
            **env,
        }.items():
            monkeypatch.setenv(name, value)
        app = AppTest.from_file(str(APP), default_timeout=120).run().switch_page("views/lookup.py").run()
        screenshot = (QUERY_SCREENS / "SUP-1042.jpg").read_bytes()
        app.file_uploader(key="lookup_screenshot").set_value(("SUP-1042.jpg", screenshot, "image/jpeg"))
        next(button for button in app.button if button.label == "Find matching tickets").click()
        app.run()
        assert not app.exception and not app.error
        return app

    return look


def in_page_order(node: Any, within: tuple[Any, ...] = ()) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """Every element as the page lays it out, top to bottom, with the blocks (expanders, columns) it sits in."""
    for child in getattr(node, "children", {}).values():
        yield child, within
        yield from in_page_order(child, (*within, child))


def shown(text: str) -> str:
    return html.unescape(text).replace("\u200b", "")


def expanders_around(within: tuple[Any, ...]) -> list[Any]:
    return [block for block in within if block.type == "expander"]


def first(elements: list[tuple[Any, tuple[Any, ...]]], wanted: Callable[[Any], bool]) -> int:
    return next(index for index, (element, _) in enumerate(elements) if wanted(element))


@pytest.mark.slow
def test_the_verdict_comes_before_the_customers_screenshot(looked_up):
    elements = list(in_page_order(looked_up().main))
    best = first(elements, lambda e: e.type == "subheader" and e.value.startswith("Best match"))
    resolution = first(elements, lambda e: e.type == "success")
    picture = first(elements, lambda e: e.type == "image" and "Customer's screenshot" in e.captions)
    assert best < resolution < picture  # on a phone the columns stack: the verdict is on the first screen
    assert shown(elements[resolution][0].value) == f"**Resolution:** {CARD_FIX}"
    ((ocr_text, within),) = [(e, w) for e, w in elements if e.type == "text"]  # the text read from the screenshot
    assert "Payment" in ocr_text.value
    assert [block.proto.expanded for block in expanders_around(within)] == [False]


@pytest.mark.slow
def test_weak_candidates_are_collapsed_and_shortened(looked_up):
    elements = list(in_page_order(looked_up().main))
    ((candidate, within),) = [(e, w) for e, w in elements if e.type == "subheader" and shown(e.value) == "SUP-1392"]
    (collapsed,) = expanders_around(within)
    assert collapsed.label == "Closest tickets below the cutoff (1)" and not collapsed.proto.expanded
    page = "\n".join(shown(str(e.value)) for e, _ in elements if e.type in ("markdown", "caption", "success"))
    assert "**Resolution there:** The first payment had succeeded" in page and " …" in page
    assert "LAST-WORDS" not in page  # the rest of a weak candidate's resolution is left out
    assert "Why not: the ticket's error code is PF-4090" in page


@pytest.mark.slow
def test_the_ticket_links_to_the_helpdesk_with_its_id_encoded(looked_up):
    app = looked_up(VLSEARCH_TICKET_URL_TEMPLATE=HELPDESK)
    links = {shown(link.proto.label): link.proto.url for link in app.link_button}
    assert links == {
        f"Open {ODD_ID}": f"https://helpdesk.example.com/tickets/{ODD_ID_IN_URL}",
        "Open SUP-1392": "https://helpdesk.example.com/tickets/SUP-1392",
    }
    assert all("<b>" not in link.proto.label for link in app.link_button)  # the id is shown as text
    (best,) = [heading for heading in app.subheader if heading.value.startswith("Best match")]
    assert "<b>" not in best.value and shown(best.value) == f"Best match: {ODD_ID}"
    copies = [
        json.loads(element.proto.json) for element, _ in in_page_order(app.main) if element.type == "bidi_component"
    ]
    assert {"text": CARD_FIX, "label": "Copy resolution"} in copies  # the copy button holds the full resolution


@pytest.mark.slow
def test_without_a_template_there_is_no_ticket_link(looked_up):
    app = looked_up()
    assert not app.link_button and app.subheader[0].value.startswith("Best match")
