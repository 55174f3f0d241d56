"""The JSON shape of insights, shared by `vlsearch insights --json` and GET /v1/insights."""

from __future__ import annotations

from pipeline.display.shapes import Shape
from pipeline.insights.near_duplicates import Group
from pipeline.insights.report import Insights, Topic
from pipeline.insights.volume import Volume
from pipeline.records import AssetSummary


class MemberShape(Shape):
    id: str
    uri: str
    metadata: dict[str, str]

    @classmethod
    def of(cls, summary: AssetSummary) -> MemberShape:
        return cls(id=summary.id, uri=summary.uri, metadata=summary.metadata)


class ChangeShape(Shape):
    value: str
    current: int
    previous: int
    delta: int


class VolumeShape(Shape):
    """Counts per period of the date column, one series per value of `by` (null: one series, "all")."""

    date_column: str
    by: str | None
    period: str
    periods: list[str]
    counts: dict[str, list[int]]
    current: str | None
    previous: str | None
    changes: list[ChangeShape]
    undated: int

    @classmethod
    def of(cls, volume: Volume) -> VolumeShape:
        return cls(
            date_column=volume.date_column,
            by=volume.by,
            period=volume.period.value,
            periods=volume.periods,
            counts=volume.counts,
            current=volume.current,
            previous=volume.previous,
            changes=[ChangeShape(**change.__dict__, delta=change.delta) for change in volume.changes],
            undated=volume.undated,
        )


class GroupShape(Shape):
    """Near-identical images; `filter` lists them as a search filter (the page opens it as a search)."""

    size: int
    current: int
    previous: int
    words: list[str]
    filter: str
    members: list[MemberShape]

    @classmethod
    def of(cls, group: Group) -> GroupShape:
        return cls(
            size=group.size,
            current=group.current,
            previous=group.previous,
            words=group.words,
            filter=group.filter,
            members=[MemberShape.of(member) for member in group.members],
        )


class TopicShape(Shape):
    """A cluster of the collection; `query` searches for it by its words."""

    number: int
    words: list[str]
    summary: str
    size: int
    current: int
    previous: int
    query: str
    examples: list[MemberShape]
    member_ids: list[str]

    @classmethod
    def of(cls, topic: Topic) -> TopicShape:
        return cls(
            number=topic.number,
            words=topic.words,
            summary=topic.summary,
            size=topic.size,
            current=topic.current,
            previous=topic.previous,
            query=topic.query,
            examples=[MemberShape.of(example) for example in topic.examples],
            member_ids=topic.member_ids,
        )


class InsightsShape(Shape):
    assets: int
    date_column: str
    date_columns: list[str]
    current: str | None
    previous: str | None
    volumes: list[VolumeShape]
    groups: list[GroupShape]
    group_count: int
    topics: list[TopicShape]
    topic_mode: str | None
    topics_refitted: bool
    not_compared: int
    notes: list[str]

    @classmethod
    def of(cls, found: Insights) -> InsightsShape:
        return cls(
            assets=found.assets,
            date_column=found.date_column,
            date_columns=found.date_columns,
            current=found.current,
            previous=found.previous,
            volumes=[VolumeShape.of(volume) for volume in found.volumes],
            groups=[GroupShape.of(group) for group in found.groups],
            group_count=found.group_count,
            topics=[TopicShape.of(topic) for topic in found.topics],
            topic_mode=found.topic_mode,
            topics_refitted=found.topics_refitted,
            not_compared=found.not_compared,
            notes=found.notes,
        )
