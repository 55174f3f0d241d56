from __future__ import annotations

import dataclasses

from pipeline.records import Hit, Scores
from pipeline.search.explain import why
from tests.store_conformance import make_record

TICKET = make_record(
    "payflow_card_declined",
    "Payment failed PF-4021 Your card was declined",
    caption="a checkout page with a red error banner",
    metadata={"ticket_id": "SUP-1042", "error_code": "PF-4021", "resolution": "Customer's bank blocked the charge"},
)


def test_an_error_code_and_the_words_of_the_text_and_caption():
    reasons = why(Hit(record=TICKET), "PF-4021 card declined banner")
    assert reasons[0] == "same error code PF-4021"
    assert "words in the image text: declined, card" in reasons  # the code's parts are not listed again
    assert "words in the caption: banner" in reasons


def test_a_metadata_field_is_named_with_its_value_or_the_words_it_holds():
    assert why(Hit(record=TICKET), "SUP-1042") == ["metadata ticket_id = SUP-1042"]
    assert why(Hit(record=TICKET), "bank charge") == ["metadata resolution contains charge, bank"]


def test_the_file_name_and_a_visual_near_duplicate():
    assert why(Hit(record=TICKET), "payflow") == ["file name payflow_card_declined.png"]
    near = Hit(record=TICKET, scores=Scores(fused=1.0, vector_distance=0.01))
    assert why(near, "") == ["visual near-duplicate (vector distance 0.010)"]
    assert why(Hit(record=TICKET, scores=Scores(fused=1.0, vector_distance=0.4)), "") == []


def test_nothing_shared_gives_no_reason_and_case_does_not_matter():
    assert why(Hit(record=TICKET), "zebra crossing") == []
    assert why(Hit(record=dataclasses.replace(TICKET, metadata={"app": "PayFlow"})), "payflow") == [
        "metadata app = PayFlow",
        "file name payflow_card_declined.png",
    ]
