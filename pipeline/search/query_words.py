"""The words of a typed query that say what it is about, for the keyword side of search.

BM25 weighs a term by how rare it is in the collection, and a question's own words ("how do I",
"find the", "如何", "的") are often rare in a collection of screenshots and manual pages: in "find the
intersection point of two paths", a page that says "find" once can outrank the page about intersections.
So question words, requests and function words are left out of the keyword query (not out of the vector
query: the embedder reads the whole question), unless nothing else is left. Negations ("no", "not",
"没有") and every word of an error code stay: error messages turn on them.
"""

from __future__ import annotations

import re

import jieba

from pipeline.store.analyzer import CJK

_EDGE_PUNCTUATION = re.compile(r"^\W+|\W+$")

# Question words, polite requests, pronouns and function words: what a question adds to its topic.
FILLER_EN = frozenset(
    """
    a an and are as at be been being but by can could did do does doing for from had has have how i if in into
    is it its me my of on or our please shall should so such that the their them then there these they this
    those to us was we were what when where which while who whom whose why will with would you your
    find show tell help want need looking way ways anyone somebody someone
    """.split()
)
FILLER_ZH = frozenset(
    """
    如何 怎么 怎样 怎么办 怎么样 为什么 为何 什么 哪里 哪儿 哪个 哪些 是否 吗 呢 吧 啊 呀 的 地 得 了 着 过 是
    我 我的 我们 你 你的 请问 请 一下 能 能否 可以 可不可以 需要 想 想要 应该 该 如果 和 与 及 在 把 被 给
    """.split()
)


def content_words(text: str) -> str:
    """`text` without its filler words (English and Chinese); the text itself when nothing else is left."""
    if CJK.search(text):
        words = [word for word in jieba.lcut(text) if word.strip()]
        kept = [word for word in words if word not in FILLER_ZH and _plain(word) not in FILLER_EN]
    else:
        words = text.split()
        kept = [word for word in words if _plain(word) not in FILLER_EN]
    if not any(_plain(word) for word in kept):
        return text
    return " ".join(kept)


def _plain(word: str) -> str:
    return _EDGE_PUNCTUATION.sub("", word).lower()
