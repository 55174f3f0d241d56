"""Keyword rules and policy questions: matching semantics, the rules file, and OCR text of the sample flyers."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pipeline.errors import BadInput
from pipeline.images import read_image_file
from pipeline.moderation.matching import KeywordRule, Match, Rule, Upload
from pipeline.moderation.rules import SHIPPED_RULES, load_rules, rules_path
from pipeline.ocr import RapidOcrEngine

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "images"
SPAM_FLYERS = ["text_promo_free_iphone_spam.png", "text_promo_lottery_spam_zh.png"]
# Text images that are not spam; the receipt says "FREE RANGE EGGS", the notice is Chinese.
NOT_SPAM = ["text_receipt_grocery.png", "text_notice_water_outage_zh.png", "text_shop_sign_noodle_house.jpg"]


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "moderation_rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def rules(tmp_path):
    return load_rules(
        write_rules(
            tmp_path,
            """
[categories.spam]
question = "Is this spam?"
keywords = ["win", "click now", "中奖", "免费 领取"]

[categories.counterfeit]
question = "Is this a fake?"
keywords = ["replica", "高仿"]
""",
        )
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("WIN a phone", {"spam": ("win",)}),
        ("Winners chosen at random", {}),  # whole words only
        ("open the window", {}),
        ("win-win!", {"spam": ("win",)}),
        ("CLICK\nNOW to claim", {"spam": ("click now",)}),  # across a line break, any case
        ("ＣＬＩＣＫ ＮＯＷ", {"spam": ("click now",)}),  # full-width letters
        ("恭喜您中奖啦", {"spam": ("中奖",)}),  # Chinese: anywhere in the text
        ("免 费领取 iPhone", {"spam": ("免费 领取",)}),  # OCR's stray spaces do not matter
        ("赢win奖", {"spam": ("win",)}),  # Chinese characters are word boundaries for English
        ("Replica watches, 高仿 包", {"counterfeit": ("replica", "高仿")}),
        ("win a replica", {"spam": ("win",), "counterfeit": ("replica",)}),
    ],
)
def test_keyword_semantics(rules, text, expected):
    assert {hit.category: hit.keywords for hit in rules.keyword_hits(text)} == expected


def test_a_category_without_a_question_in_the_file_gets_a_generic_one(rules):
    assert rules.question("spam") == "Is this spam?"
    assert rules.question("violence") == "Does this image show violence content?"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not toml = = 1", "not valid TOML"),
        ("[other]\nx = 1", r"needs at least one \[categories.NAME\] table"),
        ('[categories."bad name"]\nquestion = "q?"', "policy category 'bad name' must be letters"),
        ("[categories.spam]\nkeywords = ['x']", "'question' must be a non-empty string"),
        ('[categories.spam]\nquestion = "q?"\nkeywords = "x"', "'keywords' must be a list"),
        ('[categories.spam]\nquestion = "q?"\nwords = []', "unknown key"),
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_file_and_the_problem(tmp_path, text, problem):
    path = write_rules(tmp_path, text)
    with pytest.raises(BadInput, match=problem) as raised:
        load_rules(path)
    assert str(path) in str(raised.value)


def test_rules_file_lookup_prefers_configured_then_data_dir_then_shipped(tmp_path):
    assert rules_path(None, tmp_path) == SHIPPED_RULES
    local = write_rules(tmp_path, "")
    assert rules_path(None, tmp_path) == local
    assert rules_path(tmp_path / "mine.toml", tmp_path) == tmp_path / "mine.toml"
    with pytest.raises(BadInput, match="mine.toml: moderation rules file not found"):
        load_rules(tmp_path / "mine.toml")


@pytest.fixture(scope="module")
def ocr_text() -> dict[str, str]:
    engine = RapidOcrEngine()
    return {
        name: engine.read(read_image_file(SAMPLES / name, max_bytes=10**8, max_pixels=10**8).image)
        for name in SPAM_FLYERS + NOT_SPAM
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "found"),
    [
        (
            "text_promo_free_iphone_spam.png",
            {"congratulations", "lucky visitor", "you have been selected", "click now"},
        ),
        ("text_promo_lottery_spam_zh.png", {"恭喜您", "中奖", "免费领取", "抽中", "立即点击", "添加客服微信"}),
    ],
)
def test_the_shipped_rules_flag_the_spam_flyers_by_their_ocr_text(ocr_text, name, found):
    matches = KeywordRule(load_rules(SHIPPED_RULES)).find(_upload_with_text(ocr_text[name]))
    assert [(match.rule, match.category) for match in matches] == [(Rule.KEYWORD, "spam")]
    assert found <= set(matches[0].detail.split(", ")), matches[0].detail
    assert matches[0].score == len(matches[0].detail.split(", "))


@pytest.mark.slow
@pytest.mark.parametrize("name", NOT_SPAM)
def test_the_shipped_rules_leave_other_text_images_alone(ocr_text, name):
    assert KeywordRule(load_rules(SHIPPED_RULES)).find(_upload_with_text(ocr_text[name])) == []


class FixedText:
    """An OCR stand-in for rules that only read text."""

    name = "fixed"

    def __init__(self, text: str) -> None:
        self.text = text

    def read(self, image: Image.Image) -> str:
        return self.text


def _upload_with_text(text: str) -> Upload:
    return Upload(Image.new("RGB", (8, 8)), FixedText(text))


def test_keyword_matches_serialise_for_the_queue(rules):
    (match,) = KeywordRule(rules).find(_upload_with_text("click now"))
    assert Match.from_json(match.to_json()) == match
    assert match.describe() == "keyword: keywords 1 (click now)"
