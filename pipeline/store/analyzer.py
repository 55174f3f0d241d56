"""Text analysis for keyword search: Chinese is segmented into words, other text passes through.

Both engines' simple tokenizers split on whitespace and punctuation, which leaves a run of
Chinese characters as one token; segmenting with jieba first makes "登录失败" findable by
"登录" or "失败". Documents and queries go through the same function.
"""

from __future__ import annotations

import logging
import re

import jieba

jieba.setLogLevel(logging.WARNING)

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"\w", re.UNICODE)


def search_tokens(text: str) -> str:
    """Space-separated search terms for ``text``."""
    if not text or not _CJK.search(text):
        return text
    words = (word.strip() for word in jieba.cut_for_search(text))
    return " ".join(word for word in words if word and _WORD.search(word))
