"""Which query terms a hit's text contains, and where, so pages can show why a hit matched.

Terms come from analyzer.search_tokens for the query and the text alike, the analysis the
keyword index uses: Chinese is segmented into words, words OCR glued together
("Paymentfailed") are split, and matching ignores case. A term is highlighted only where it
occurs as a word of the text, or as a part of a glued run that the analyzer split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.store.analyzer import CJK, search_tokens

MIN_TERM_CHARS = 2
_TERM = re.compile(r"[^\W_]+")
_LATIN_WORD = re.compile(r"[A-Za-z0-9]+")
_LETTERS = re.compile(r"[A-Za-z]+")
_JOINER = re.compile(r"[-_]")
# HTML specials and what Markdown (with Streamlit's $math$ and :directives[]) would interpret, as entities;
# a zero-width space after ":" and "@" keeps URLs and e-mail addresses read from untrusted images from
# turning into links.
_ESCAPES = str.maketrans(
    {char: f"&#{ord(char)};" for char in "&<>\"'\\`*_{}[]()#+-.!|~$="} | {":": "&#58;\u200b", "@": "&#64;\u200b"}
)
_WWW = re.compile(r"(www)(&#46;)", re.IGNORECASE)
_CHART_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


@dataclass(frozen=True)
class Segment:
    text: str
    matched: bool = False


def terms(text: str) -> set[str]:
    """Distinct lower-cased search terms of at least two characters, as the keyword index sees them."""
    return set(term_sequence(text))


def term_sequence(text: str) -> list[str]:
    """The same terms in the order they come (parts of glued words after the text), repeats kept."""
    return [term for term in _TERM.findall(search_tokens(text).lower()) if len(term) >= MIN_TERM_CHARS]


def matched_terms(text: str, query: str) -> list[str]:
    """Query terms that occur in the text, sorted."""
    return sorted(terms(query) & terms(text))


def highlight(text: str, query: str, *, max_chars: int | None = None) -> list[Segment]:
    """The text cut into matched and unmatched segments; with max_chars, a window around the first match."""
    wanted = terms(query) & terms(text)
    spans = _merge(_spans(text, wanted), text)
    start, end = 0, len(text)
    if max_chars is not None and len(text) > max_chars:
        first = spans[0][0] if spans else 0
        start = max(0, min(first - max_chars // 4, len(text) - max_chars))
        end = start + max_chars
    segments: list[Segment] = [Segment("…")] if start > 0 else []
    position = start
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start >= span_end:
            continue
        if span_start > position:
            segments.append(Segment(text[position:span_start]))
        segments.append(Segment(text[span_start:span_end], matched=True))
        position = span_end
    if position < end:
        segments.append(Segment(text[position:end]))
    if end < len(text):
        segments.append(Segment("…"))
    return segments


def to_html(segments: list[Segment], *, inline: bool = False) -> str:
    """Markup for st.markdown(unsafe_allow_html=True): text escaped for HTML and Markdown, matches in <mark>.

    Line breaks become <br>, or " · " when inline (one-line snippets in a result grid).
    """
    newline = " · " if inline else "<br>"
    parts = []
    for segment in segments:
        escaped = escape(segment.text).replace("\n", newline)
        parts.append(f"<mark>{escaped}</mark>" if segment.matched else escaped)
    return "".join(parts)


def escape(text: str) -> str:
    """Untrusted text (OCR, metadata) made inert for st.markdown: no HTML, no Markdown, no math, no links."""
    return _WWW.sub("\\1\u200b\\2", text.translate(_ESCAPES))


def chart_text(text: str) -> str:
    """Untrusted text made inert for Plotly (axis labels, titles, hover text): Plotly reads a subset of HTML there,
    links included, so its specials become entities, which Plotly shows as the characters themselves."""
    return text.translate(_CHART_ESCAPES)


def _spans(text: str, wanted: set[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for term in (term for term in wanted if CJK.search(term)):
        spans.extend(found.span() for found in re.finditer(re.escape(term), text, re.IGNORECASE))
    for word in _LATIN_WORD.finditer(text):
        if word.group().lower() in wanted:
            spans.append(word.span())
            continue
        for run in _LETTERS.finditer(word.group()):
            spans.extend(_glued_parts(run.group(), word.start() + run.start(), wanted))
    return spans


def _glued_parts(run: str, offset: int, wanted: set[str]) -> list[tuple[int, int]]:
    """Spans of the wanted parts the analyzer split a glued run into ("Paymentfailed" -> payment, failed)."""
    parts = search_tokens(run).split()[1:]
    spans, cursor, lowered = [], 0, run.lower()
    for part in parts:
        index = lowered.find(part.lower(), cursor)
        if index < 0:
            continue
        cursor = index + len(part)
        if part.lower() in wanted:
            spans.append((offset + index, offset + cursor))
    return spans


def _merge(spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Sorted, overlaps joined, and matches one dash or underscore apart joined (PF + 4021 -> PF-4021)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and (start <= merged[-1][1] or (start == merged[-1][1] + 1 and _JOINER.match(text, merged[-1][1]))):
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
