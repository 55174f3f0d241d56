"""`python -m pipeline insights`: volume over time, near-identical groups and topics, as tables, JSON or CSV."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pipeline.config import Settings
from pipeline.errors import BadInput, VlsearchError
from pipeline.insights.export import csv_files
from pipeline.insights.report import Insights, InsightsRequest
from pipeline.insights.services import collection_insights
from pipeline.insights.shapes import InsightsShape
from pipeline.insights.volume import TOP_VALUES, Volume, check_period
from pipeline.services import build_services

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
SHOWN_PERIODS = 6


def insights_command(
    ctx: typer.Context,
    query: Annotated[Optional[str], typer.Option("--query", help="only the assets this query finds")] = None,
    where: Annotated[Optional[str], typer.Option(help="only the assets this filter matches")] = None,
    date_column: Annotated[
        Optional[str], typer.Option(help="the date to count by (default: the first metadata column of dates)")
    ] = None,
    by: Annotated[Optional[list[str]], typer.Option("--by", help="a chart per column, e.g. --by app")] = None,
    period: Annotated[str, typer.Option(help="day, week or month")] = "month",
    until: Annotated[
        Optional[str], typer.Option(help="the current period holds this day (default: the latest date in view)")
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=100, help="values per chart, groups and topics")] = TOP_VALUES,
    compare_for: Annotated[
        Optional[float],
        typer.Option(
            min=0, help="compare new assets for near-duplicates for at most this many seconds (default: all of them)"
        ),
    ] = None,
    csv_dir: Annotated[
        Optional[Path], typer.Option("--csv", help="also write every chart and list as CSV here")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print everything as JSON")] = False,
    collection: Annotated[Optional[str], typer.Option("--collection", help="collection name")] = None,
) -> None:
    """What the collection says: assets per period by a column, groups of near-identical images, topics."""
    try:
        overrides: dict[str, Any] = {"collection": collection} if collection else {}
        settings = Settings(**overrides)
    except ValidationError as error:
        err.print(f"[red]error:[/red] invalid settings: {escape(str(error))}")
        raise typer.Exit(2) from error
    try:
        request = InsightsRequest(
            query=query,
            where=where,
            date_column=date_column,
            by=tuple(by or ()),
            period=check_period(period),
            until=_day(until),
            top=top,
        )
        services = build_services(settings)
        ctx.call_on_close(services.close)
        with Progress(
            TextColumn("comparing new assets for near-duplicates"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("compare", total=None)
            found = collection_insights(
                services,
                request,
                compare_budget_s=compare_for,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except VlsearchError as error:
        err.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(1) from error
    for note in found.notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}")
    if found.not_compared:
        err.print(
            f"[yellow]note:[/yellow] {found.not_compared} assets are not compared for near-duplicates yet (their "
            "groups may be missing): run `vlsearch insights` again to go on"
        )
    if csv_dir is not None:
        csv_dir.mkdir(parents=True, exist_ok=True)
        for name, content in csv_files(found).items():
            (csv_dir / name).write_bytes(content)
        err.print(f"CSV written to {escape(str(csv_dir))}")
    if as_json:
        sys.stdout.write(json.dumps(InsightsShape.of(found).model_dump(), ensure_ascii=False, indent=2) + "\n")
        return
    _print(found)


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise BadInput(f"--until {value!r}", "not a date (YYYY-MM-DD)") from error


def _print(found: Insights) -> None:
    out.print(
        f"[bold]{found.assets} assets[/bold] in view, counted by {escape(found.date_column)} per "
        f"{found.request.period.value}; current {found.current or '—'}, previous {found.previous or '—'}"
    )
    for volume in found.volumes:
        out.print(_volume_table(volume))
    groups = Table(
        title=f"Near-identical images: {found.group_count} groups", title_justify="left", box=box.SIMPLE_HEAD
    )
    for column in ("size", found.current or "current", found.previous or "previous", "words", "members"):
        groups.add_column(
            column, justify="left" if column in ("words", "members") else "right", no_wrap=column != "members"
        )
    for group in found.groups:
        members = ", ".join(Path(member.uri).name for member in group.members[:4])
        more = f" (+{group.size - 4} more)" if group.size > 4 else ""
        groups.add_row(
            str(group.size),
            str(group.current),
            str(group.previous),
            escape(" ".join(group.words)),
            escape(members + more),
        )
    out.print(groups)
    mode = {"vectors": "by vectors", "text": "by OCR text and captions"}.get(found.topic_mode or "", "none")
    topics = Table(title=f"Topics ({mode})", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("topic", "size", found.current or "current", found.previous or "previous", "words", "summary"):
        topics.add_column(column, justify="right" if column not in ("words", "summary") else "left")
    for topic in found.topics:
        topics.add_row(
            str(topic.number),
            str(topic.size),
            str(topic.current),
            str(topic.previous),
            escape(", ".join(topic.words)),
            escape(topic.summary),
        )
    out.print(topics)


def _volume_table(volume: Volume) -> Table:
    shown = volume.periods[-SHOWN_PERIODS:]
    table = Table(
        title=f"Assets per {volume.period.value}"
        + (f" by {volume.by}" if volume.by else "")
        + (f" ({volume.undated} without a date)" if volume.undated else ""),
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column(volume.by or "", no_wrap=True)
    for period in shown:
        table.add_column(period, justify="right")
    table.add_column("change", justify="right")
    change = {item.value: item.delta for item in volume.changes}
    for value, counts in volume.counts.items():
        delta = change.get(value, 0)
        table.add_row(escape(value), *(str(count) for count in counts[-len(shown) :]), f"{delta:+d}" if delta else "0")
    return table
