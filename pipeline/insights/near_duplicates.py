"""Groups of near-identical images: the same screen reported many times, the same photo uploaded again.

Two assets show the same screen when either
- their PDQ hashes are at most PDQ_SAME bits apart (the same picture rescaled or re-encoded; only hashes of
  PDQ quality PDQ_MIN_QUALITY or more count), or
- their keypoints agree on one transform (MIN_INLIERS pairs or more, as for "looks the same" in search) AND
  their text agrees: most of the words of the shorter text are in the other (MIN_SHARED_WORDS) and no
  error code of one contradicts the other's. Keypoints alone are not enough: screens of one app share its
  chrome and reach 30 to 100 agreeing pairs with a different error. On the samples, a customer's re-rendered,
  cropped screenshot shares 71 to 100 % of the words of its ticket's screen; two different screens at most 26 %.
  Pictures with (almost) no text are judged by keypoints alone.

Comparing is done once per asset (insights.cache): the asset's visual words find CANDIDATES candidates in the
store (store.visual_search, as search does) and its PDQ hash finds any within PDQ_SAME; each candidate is checked.
Groups are the connected sets of same-screen pairs among the assets in view.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import cv2

from pipeline.insights.cache import InsightsCache
from pipeline.insights.volume import Period, in_periods
from pipeline.keypoints import MIN_INLIERS, Features, agreeing_pairs, features
from pipeline.pdq_index import PdqIndex
from pipeline.records import AssetRecord, AssetSummary
from pipeline.search.highlight import terms
from pipeline.search.lookup import error_codes
from pipeline.store.base import Store
from pipeline.store.filter_builder import quote
from pipeline.store.filters import MAX_EXPRESSION_CHARS
from pipeline.store.visual_words import words_of

PDQ_SAME = 31  # the moderation library's default threshold (Meta's recommendation for PDQ)
PDQ_MIN_QUALITY = 50  # below this PDQ's own quality score, a hash says little (plain pictures hash alike)
CANDIDATES = 8
MIN_SHARED_WORDS = 0.5
MIN_WORDS = 3  # fewer words than this: a picture, judged by keypoints alone
COMPARE_BATCH = 50

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Group:
    """A set of assets showing the same screen; `filter` lists them all as a search filter."""

    representative: AssetSummary  # the earliest member
    members: list[AssetSummary]  # earliest first
    current: int  # members dated in the current period
    previous: int  # ... and in the one before
    words: list[str]  # words every member's text holds

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def growth(self) -> int:
        return self.current - self.previous

    @property
    def filter(self) -> str:
        """A search filter listing the members, earliest first, as many as a filter may hold (most groups: all)."""
        listed = [quote(self.members[0].uri)]
        for member in self.members[1:]:
            if len(_uris_in([*listed, quote(member.uri)])) > MAX_EXPRESSION_CHARS:
                break
            listed.append(quote(member.uri))
        return _uris_in(listed)


def _uris_in(quoted: list[str]) -> str:
    return f"uri IN ({', '.join(quoted)})"


def text_agrees(first: str, second: str) -> bool:
    """Whether two assets' texts say the same thing (see the module docstring)."""
    first_words, second_words = terms(first), terms(second)
    if min(len(first_words), len(second_words)) < MIN_WORDS:
        return max(len(first_words), len(second_words)) < MIN_WORDS
    first_codes = {code.upper() for code in error_codes(first)}
    second_codes = {code.upper() for code in error_codes(second)}
    if first_codes and second_codes and not first_codes & second_codes:
        return False
    shared = len(first_words & second_words) / min(len(first_words), len(second_words))
    return shared >= MIN_SHARED_WORDS


def compare_new(
    store: Store,
    cache: InsightsCache,
    summaries: Sequence[AssetSummary],
    *,
    budget_s: float | None = None,
    progress: Progress | None = None,
) -> int:
    """Compare the assets not compared before (oldest first by id) with the collection; returns how many remain
    when `budget_s` ran out (0 = all compared). Each batch is saved as it finishes, so stopping loses nothing."""
    known = cache.compared()
    gone = sorted(known - {summary.id for summary in summaries})
    if gone:
        cache.forget(gone)
    todo = [summary.id for summary in summaries if summary.id not in known]
    if not todo:
        return 0
    comparer = _Comparer(store, summaries)
    started = time.monotonic()
    done = 0
    for start in range(0, len(todo), COMPARE_BATCH):
        if budget_s is not None and time.monotonic() - started >= budget_s:
            break
        batch = todo[start : start + COMPARE_BATCH]
        cache.save_comparisons(batch, [pair for record in store.get(batch) for pair in comparer.same_as(record)])
        done += len(batch)
        if progress:
            progress(done, len(todo))
    return len(todo) - done


class _Comparer:
    """Finds and checks one asset's candidates; keeps recent features, since neighbours recur."""

    def __init__(self, store: Store, summaries: Sequence[AssetSummary]) -> None:
        self.store = store
        self.by_id = {summary.id: summary for summary in summaries}
        self.hashed = [summary.id for summary in summaries if _usable_pdq(summary.pdq, summary.pdq_quality)]
        self.pdq = PdqIndex([self.by_id[doc_id].pdq for doc_id in self.hashed])
        self.matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        self.seen: dict[str, Features | None] = {}

    def same_as(self, record: AssetRecord) -> list[tuple[str, str, str]]:
        """(this id, other id, evidence) for every asset showing the same screen as `record`."""
        if len(self.seen) > 20 * COMPARE_BATCH:
            self.seen.clear()
        found = _features(record)
        self.seen[record.id] = found
        candidates = {doc_id for doc_id, _ in self.store.visual_search(words_of(found), limit=CANDIDATES + 1)}
        close = (
            {self.hashed[row]: distance for row, distance in self.pdq.within(record.pdq, PDQ_SAME)}
            if _usable_pdq(record.pdq, record.pdq_quality)
            else {}
        )
        # Only assets still stored (a candidate may be gone), never the asset itself.
        candidates = {doc_id for doc_id in candidates | close.keys() if doc_id in self.by_id and doc_id != record.id}
        for other in self.store.get([doc_id for doc_id in candidates if doc_id not in self.seen]):
            self.seen[other.id] = _features(other)
        pairs = []
        for doc_id in sorted(candidates):
            evidence = _same_screen(
                found, self.seen.get(doc_id), close.get(doc_id), self.by_id[record.id], self.by_id[doc_id], self.matcher
            )
            if evidence:
                pairs.append((record.id, doc_id, evidence))
        return pairs


def _usable_pdq(value: str, quality: int) -> bool:
    return len(value) == 64 and quality >= PDQ_MIN_QUALITY


def _features(record: AssetRecord) -> Features | None:
    """The thumbnail's keypoints; None without a thumbnail or when it cannot be decoded (then PDQ alone judges)."""
    if not record.thumbnail:
        return None
    try:
        return features(record.thumbnail)
    except OSError:
        return None


def _same_screen(
    first: Features | None,
    second: Features | None,
    pdq_distance: int | None,
    first_summary: AssetSummary,
    second_summary: AssetSummary,
    matcher: cv2.DescriptorMatcher,
) -> str:
    """Why two assets show the same screen ("" when they do not)."""
    if pdq_distance is not None:
        return f"PDQ hashes {pdq_distance} bits apart"
    if first is None or second is None:
        return ""
    agreeing = agreeing_pairs(first, second, matcher, MIN_INLIERS)
    first_text = f"{first_summary.ocr_text} {first_summary.caption}"
    second_text = f"{second_summary.ocr_text} {second_summary.caption}"
    if agreeing >= MIN_INLIERS and text_agrees(first_text, second_text):
        return f"{agreeing} matching keypoints and the same words"
    return ""


def groups(
    summaries: Sequence[AssetSummary],
    pairs: Sequence[tuple[str, str, str]],
    *,
    days: Mapping[str, date | None],
    period: Period,
    current: date | None,
    previous: date | None,
) -> list[Group]:
    """The connected sets of same-screen pairs among `summaries` (dated by `days`: id -> day), largest first, then
    fastest growing."""
    by_id = {summary.id: summary for summary in summaries}
    parent = {doc_id: doc_id for doc_id in by_id}

    def root(doc_id: str) -> str:
        while parent[doc_id] != doc_id:
            parent[doc_id] = parent[parent[doc_id]]
            doc_id = parent[doc_id]
        return doc_id

    for first, second, _ in pairs:
        if first in by_id and second in by_id:
            parent[max(root(first), root(second))] = min(root(first), root(second))
    members: dict[str, list[AssetSummary]] = {}
    for doc_id in by_id:
        members.setdefault(root(doc_id), []).append(by_id[doc_id])
    found = []
    for group in members.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda member: (days.get(member.id) or date.max, member.id))
        in_current, in_previous = in_periods((days.get(member.id) for member in group), period, current, previous)
        found.append(
            Group(
                representative=group[0],
                members=group,
                current=in_current,
                previous=in_previous,
                words=sorted(set.intersection(*(terms(f"{member.ocr_text} {member.caption}") for member in group))),
            )
        )
    return sorted(found, key=lambda group: (-group.size, -group.growth, group.representative.id))
