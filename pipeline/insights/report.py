"""Insights over the assets in view (a query's hits and/or a filter's matches): volume over time, groups of
near-identical images and topics, in one call for the page, the CLI and the API."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from PIL import Image

from pipeline.insights.cache import InsightsCache
from pipeline.insights.near_duplicates import Group, Progress, compare_new, groups
from pipeline.insights.topics import TopicModel, VectorsOf, distinctive, topics_for
from pipeline.insights.volume import (
    INGESTED_AT,
    TOP_VALUES,
    Period,
    Volume,
    day_of,
    in_periods,
    parse_day,
    period_start,
    volume,
)
from pipeline.models import Captioner
from pipeline.records import AssetSummary
from pipeline.store.base import Store, check_column

log = logging.getLogger(__name__)

DATE_SAMPLE = 1000
DATE_SHARE = 0.8  # a column is a date column when this share of its values (of a sample) are dates
EXAMPLES = 6
SUMMARY_MEMBERS = 4
TILE = 256

Matching = Callable[[str, str | None], list[str]]  # (query, filter) -> ids of the query's hits


@dataclass(frozen=True)
class InsightsRequest:
    query: str | None = None
    where: str | None = None
    date_column: str | None = None  # None: the first metadata column holding dates, else ingested_at
    by: tuple[str, ...] = ()  # one volume chart per column; none = one chart of everything
    period: Period = Period.MONTH
    until: date | None = None  # the current period holds this day (default: the latest dated asset in view)
    top: int = TOP_VALUES  # values per chart, groups and topics listed


@dataclass(frozen=True)
class Topic:
    number: int
    words: list[str]
    summary: str  # one line from the captioner over a few members ("" without one)
    size: int  # members in view
    current: int
    previous: int
    examples: list[AssetSummary]
    member_ids: list[str]

    @property
    def query(self) -> str:
        """The topic as a search: its words."""
        return " ".join(self.words)

    @property
    def growth(self) -> int:
        return self.current - self.previous


@dataclass
class Insights:
    request: InsightsRequest
    assets: int  # in view
    date_column: str
    date_columns: list[str]  # the columns that hold dates, for a picker
    current: str | None  # the current period's label (the volumes': "2026-02")
    previous: str | None
    volumes: list[Volume]
    groups: list[Group]
    group_count: int
    topics: list[Topic]
    topic_mode: str | None  # "vectors", "text" or None (too few assets)
    topics_refitted: bool
    not_compared: int  # assets not yet compared for near-duplicates (the budget ran out)
    notes: list[str] = field(default_factory=list)


def date_columns(store: Store, summaries: Sequence[AssetSummary]) -> list[str]:
    """Metadata columns whose values are dates (ISO 8601), then ingested_at."""
    sample = summaries[:: max(1, len(summaries) // DATE_SAMPLE)]
    found = []
    for column in store.metadata_columns():
        values = [summary.metadata[column] for summary in sample if summary.metadata.get(column)]
        if values and sum(parse_day(value) is not None for value in values) >= DATE_SHARE * len(values):
            found.append(column)
    return [*found, INGESTED_AT]


def insights(
    store: Store,
    cache: InsightsCache,
    request: InsightsRequest,
    *,
    matching: Matching | None = None,
    vectors_of: VectorsOf | None = None,
    captioner: Captioner | None = None,
    compare_budget_s: float | None = None,
    progress: Progress | None = None,
) -> Insights:
    """Insights for `request`; compares new assets for near-duplicates first (within `compare_budget_s`)."""
    everything = store.summaries()
    in_view = store.summaries(where=request.where) if request.where else everything
    notes = []
    if request.query and request.query.strip():
        if matching is None:
            raise ValueError("a query needs a way to search")
        hits = set(matching(request.query, request.where))
        in_view = [summary for summary in in_view if summary.id in hits]
        notes.append(f"the query's best {len(hits)} hits are in view")
    columns = date_columns(store, everything)
    date_column = request.date_column or columns[0]
    if date_column != INGESTED_AT:
        check_column(date_column, store.metadata_columns())
    for column in request.by:
        check_column(column, store.metadata_columns())
    date_of = day_of(date_column)
    dated = [(date_of(summary), summary) for summary in in_view]
    latest = max((day for day, _ in dated if day), default=None)
    anchor = request.until or latest
    current = period_start(anchor, request.period) if anchor else None
    previous = period_start(current - timedelta(days=1), request.period) if current else None
    volumes = [
        volume(
            [(day, summary.metadata.get(column, "") if column else "all") for day, summary in dated],
            date_column=date_column,
            by=column,
            period=request.period,
            until=anchor,
            top=request.top,
        )
        for column in (request.by or (None,))
    ]
    not_compared = compare_new(store, cache, everything, budget_s=compare_budget_s, progress=progress)
    days = {summary.id: day for day, summary in dated}
    found_groups = groups(
        in_view, cache.same_screen_pairs(), days=days, period=request.period, current=current, previous=previous
    )
    model, topic_of, refitted = topics_for(everything, cache, vectors_of)
    found_groups = [replace(group, words=distinctive(set(group.words), model)) for group in found_groups]
    topics = _topics(model, topic_of, dated, request, current, previous)
    if model is not None:
        said = cache.topic_summaries()
        topics = [
            replace(topic, summary=said.get(topic.number, ""))
            if topic.number in said or captioner is None
            else _summarised(topic, store, cache, captioner)
            for topic in topics[: request.top]
        ]
    return Insights(
        request=request,
        assets=len(in_view),
        date_column=date_column,
        date_columns=columns,
        current=volumes[0].current,
        previous=volumes[0].previous,
        volumes=volumes,
        groups=found_groups[: request.top],
        group_count=len(found_groups),
        topics=topics[: request.top],
        topic_mode=model.mode if model else None,
        topics_refitted=refitted,
        not_compared=not_compared,
        notes=notes,
    )


def _topics(
    model: TopicModel | None,
    topic_of: dict[str, int],
    dated: Sequence[tuple[date | None, AssetSummary]],
    request: InsightsRequest,
    current: date | None,
    previous: date | None,
) -> list[Topic]:
    if model is None:
        return []
    members: dict[int, list[tuple[date | None, AssetSummary]]] = {}
    for day, summary in dated:
        if summary.id in topic_of:
            members.setdefault(topic_of[summary.id], []).append((day, summary))
    topics = []
    for number, found in members.items():
        in_current, in_previous = in_periods((day for day, _ in found), request.period, current, previous)
        topics.append(
            Topic(
                number=number,
                words=model.labels[number],
                summary="",
                size=len(found),
                current=in_current,
                previous=in_previous,
                examples=[summary for _, summary in found[:EXAMPLES]],
                member_ids=[summary.id for _, summary in found],
            )
        )
    return sorted(topics, key=lambda topic: (-topic.size, -topic.growth, topic.number))


def _summarised(topic: Topic, store: Store, cache: InsightsCache, captioner: Captioner) -> Topic:
    """The topic with the captioner's one line about a contact sheet of a few members, kept until the next fit."""
    tiles = [tile for record in store.get(topic.member_ids[:SUMMARY_MEMBERS]) if (tile := _tile(record.thumbnail))]
    if not tiles:
        return topic
    sheet = Image.new("RGB", (TILE * 2, TILE * ((len(tiles) + 1) // 2)), "white")
    for place, tile in enumerate(tiles):
        sheet.paste(tile, (TILE * (place % 2), TILE * (place // 2)))
    try:
        lines = next(iter(captioner.caption([sheet])), "").strip().splitlines()
    except (RuntimeError, ValueError, OSError) as error:  # the topics stand without it; tried again next time
        log.warning("could not sum up topic %d with the captioner: %s", topic.number, error)
        return topic
    summary = lines[0] if lines else ""
    cache.save_topic_summary(topic.number, summary)
    return replace(topic, summary=summary)


def _tile(thumbnail: bytes) -> Image.Image | None:
    if not thumbnail:
        return None
    try:
        with Image.open(io.BytesIO(thumbnail)) as image:
            return image.convert("RGB").resize((TILE, TILE))
    except OSError:
        return None
