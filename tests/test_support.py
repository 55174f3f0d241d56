import pytest
from PIL import Image

from pipeline.models import Query, RerankDocument
from pipeline.search.lookup import error_codes, keyword_evidence, lookup_tickets, relevance_threshold, rerank_rule
from pipeline.search.rerank import RerankStage
from pipeline.search.searcher import Searcher
from pipeline.store.lance_engine import LanceStore
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
    assert evidence.codes == ["PF-4021"] and evidence.confident


def test_the_recorded_code_wins_over_codes_in_the_ticket_text():
    lookalike = ticket("t", LOOKALIKE_TEXT, "SUP-2", "PF-4090")
    evidence = keyword_evidence("Shipped: Order #LC-20931 arrives tomorrow morning", lookalike)  # an order number
    assert evidence.codes == [] and not evidence.confident
    unrecorded = ticket("t", LOOKALIKE_TEXT, "SUP-2")
    assert keyword_evidence("Order #LC-20931 payment", unrecorded).codes == ["LC-20931"]


def test_half_of_the_words_is_confident():
    evidence = keyword_evidence("Payment failed card declined by the bank today", ticket("t", CARD_TEXT, "SUP-1"))
    assert evidence.fraction >= 0.5 and evidence.confident
    assert evidence.shared_terms[:2] == ["declined", "payment"]  # longer words first


def test_few_shared_words_are_not_confident():
    assert not keyword_evidence("card", ticket("t", CARD_TEXT, "SUP-1")).confident  # 1 of 1, fewer than 3
    assert not keyword_evidence("card declined snow rain wind sun moon", ticket("t", CARD_TEXT, "SUP-1")).confident


def test_another_code_of_the_same_family_blocks_the_word_rule():
    screenshot = "PayFlow Checkout Payment failed Error PF-4021 Your card was declined. Order"
    evidence = keyword_evidence(screenshot, ticket("t", LOOKALIKE_TEXT, "SUP-2", "PF-4090"))
    assert evidence.fraction >= 0.5 and evidence.conflicting_code == "PF-4090" and not evidence.confident


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
