"""Text analysis for keyword search, applied to documents and queries alike.

Both engines' simple tokenizers split on whitespace and punctuation, which fails on two
things OCR produces all the time:
- Chinese has no spaces: a run like "登录失败" would be one token, so it is segmented with
  jieba and "登录" or "失败" find it.
- RapidOCR often drops the spaces between English words ("Connectionfailed"); long letter
  runs are split with wordninja and the parts are added beside the original token.
- It also glues a word to a number ("gnuplot5", "Error404"): the word (3+ letters) and the number
  are added beside the original token.

ANALYZER_VERSION names what search_tokens makes of a document. Stored keyword terms made by another
version are made again (the Lance engine does it when it opens the store), so a change here reaches
records ingested before it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import jieba
import wordninja

jieba.setLogLevel(logging.WARNING)

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"\w", re.UNICODE)
_LATIN_RUN = re.compile(r"[A-Za-z]{6,}")
# A word glued to a number, either way round ("gnuplot5", "Error404"); "5G" or "NB1003" (2 letters) stay whole.
_WORD_NUMBER = re.compile(r"\b(?:[A-Za-z]{3,}\d+|\d+[A-Za-z]{3,})\b")
_RUN = re.compile(r"[A-Za-z]+|\d+")
ANALYZER_VERSION = "2"  # 2: words glued to numbers are split


def search_tokens(text: str) -> str:
    """Space-separated search terms for ``text``."""
    if not text:
        return text
    if CJK.search(text):
        words = (word.strip() for word in jieba.cut_for_search(text))
        text = " ".join(word for word in words if word and _WORD.search(word))
    joined_parts = [part for run in _LATIN_RUN.findall(text) for part in _split_joined(run)]
    joined_parts += [part for glued in _WORD_NUMBER.findall(text) for part in _RUN.findall(glued)]
    return f"{text} {' '.join(joined_parts)}" if joined_parts else text


def _split_joined(run: str) -> list[str]:
    parts = wordninja.split(run)
    # A one-letter piece means the run was a name or code, not words glued together.
    return parts if len(parts) > 1 and all(len(part) >= 2 for part in parts) else []


def analysed_text(*fields: str) -> str:
    """One keyword-search document from several fields, each analysed on its own."""
    return " ".join(tokens for tokens in map(search_tokens, fields) if tokens)


def file_name(uri: str) -> str:
    """The last segment of a file path or URL, without query string or fragment (a PDF page's "#page=3")."""
    path = urlsplit(uri).path if "://" in uri else uri.split("#", 1)[0]
    return PurePosixPath(path.replace("\\", "/")).name


def label_text(uri: str, metadata: Mapping[str, str]) -> str:
    """What keyword search finds besides the text read and seen: metadata values and the file name (its stem:
    an extension such as "jpg" would match every image)."""
    return analysed_text(*metadata.values(), PurePosixPath(file_name(uri)).stem)
