"""`python -m pipeline moderate ...`: the known-content library, scanning uploads, and the review queue."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.access.audit import open_audit_log
from pipeline.config import Settings
from pipeline.errors import VlsearchError
from pipeline.ingest.ingestor import ItemResult
from pipeline.ingest.sources import SourcePolicy, collect
from pipeline.moderation.export import write_decisions_csv
from pipeline.moderation.library import add_references, categories_of, load_references
from pipeline.moderation.queue import ReviewQueue, State, iso_time
from pipeline.moderation.removal import Removed, content_remover, remove_queued_content
from pipeline.moderation.scan import ScanResult
from pipeline.moderation.services import Moderation, build_moderation, open_queue
from pipeline.moderation.shapes import QueueItemShape
from pipeline.services import build_services
from pipeline.store import build_store

moderate_app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Content moderation: known-content library and review queue."
)
library_app = typer.Typer(no_args_is_help=True, help="The library of known-bad reference images.")
moderate_app.add_typer(library_app, name="library")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

Reviewer = Annotated[str, typer.Option("--reviewer", help="who is reviewing (recorded in the audit log)")]


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        err.print(f"[red]error:[/red] invalid settings: {escape(str(error))}")
        raise typer.Exit(2) from error


def _moderation(ctx: typer.Context) -> Moderation:
    """Moderation over the configured collections; its stores are closed when the command ends."""
    services = build_services(_settings())
    moderation = build_moderation(services)
    ctx.call_on_close(services.close)
    ctx.call_on_close(moderation.library.close)
    return moderation


def _queue() -> ReviewQueue:
    return open_queue(_settings())


def _fail(error: VlsearchError) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(str(error))}")
    return typer.Exit(2)


def _progress(verb: str) -> Progress:
    columns = (
        TextColumn(f"[bold]{verb}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    return Progress(*columns, console=err)


@library_app.command("add")
def library_add(
    ctx: typer.Context,
    paths: Annotated[Optional[list[Path]], typer.Argument(help="reference images or folders (recursive)")] = None,
    manifest: Annotated[
        Optional[Path], typer.Option(help="JSONL or CSV: path or url, policy_category and any other metadata")
    ] = None,
    category: Annotated[
        Optional[str], typer.Option("--category", help="policy category for the paths (and manifest rows without one)")
    ] = None,
) -> None:
    """Add reference images to the known-content library; each needs a policy category."""
    try:
        collected = collect(paths or [], manifest, SourcePolicy.from_settings(_settings()))
        if not collected.items and not collected.problems:
            err.print("nothing to add: give reference images, folders or --manifest")
            raise typer.Exit(2)
        moderation = _moderation(ctx)
        with _progress("library") as progress:
            task = progress.add_task("", total=len(collected.items) + len(collected.problems))

            def advance(result: ItemResult) -> None:
                progress.update(task, advance=1, description=escape(Path(result.source).name[:40]))

            report = add_references(moderation.library.ingestor(), collected, category, advance)
        references = load_references(moderation.library.store)
    except VlsearchError as error:
        raise _fail(error) from error
    summary = report.summary()
    per_category = ", ".join(f"{name} {count}" for name, count in categories_of(references).items())
    out.print(
        f"added {summary['added']}, updated {summary['updated']}, unchanged {summary['unchanged']}, "
        f"failed {summary['failed']}  ->  {len(references)} references in {moderation.library.settings.collection}"
        + (f" ({per_category})" if per_category else "")
    )
    for failure in report.failures:
        out.print(f"  [red]failed[/red] {escape(failure.source)}: {escape(failure.reason)}")
    if report.failures and len(report.failures) == len(report.results):
        raise typer.Exit(1)


@moderate_app.command()
def scan(
    ctx: typer.Context, paths: Annotated[list[Path], typer.Argument(help="uploads: image files or folders (recursive)")]
) -> None:
    """Match uploads against the library and the keyword rules; queue the ones that match for review."""
    try:
        collected = collect(paths)
        moderation = _moderation(ctx)
        scanner = moderation.scanner()
        for note in scanner.matcher.notes:
            err.print(f"[dim]note:[/dim] {escape(note)}")
        with _progress("scan") as progress:
            task = progress.add_task("", total=len(collected.items))

            def report(result: ScanResult) -> None:
                progress.update(task, advance=1, description=escape(Path(result.source).name[:40]))
                out.print(_scan_line(result))

            results = scanner.scan(collected.items, report)
    except VlsearchError as error:
        raise _fail(error) from error
    failed = [ScanResult(problem.source, error=problem.reason) for problem in collected.problems]
    failed += [result for result in results if result.error]
    matched = [result for result in results if result.matches]
    new = sum(1 for result in matched if result.queued and result.queued.created)
    clean = sum(1 for result in results if not result.matches and not result.error)
    out.print(
        f"scanned {len(results)}: matched {len(matched)} ({new} newly queued, {len(matched) - new} already queued), "
        f"clean {clean}, failed {len(failed)}"
    )
    for failure in failed:
        out.print(f"  [red]failed[/red] {escape(failure.source)}: {escape(failure.error)}")
    if failed and not matched and not clean:
        raise typer.Exit(1)


def _scan_line(result: ScanResult) -> str:
    name = escape(result.source)
    if result.error:
        return f"[red]failed [/red] {name}: {escape(result.error)}"
    if not result.matches:
        return f"[green]clean  [/green] {name}"
    best = result.matches[0]
    queued = result.queued
    where = (
        f"item {queued.item_id} ({'new' if queued.created else f'already queued, {queued.state}'})" if queued else ""
    )
    more = f" +{len(result.matches) - 1} more" if len(result.matches) > 1 else ""
    return f"[red]matched[/red] {name}  {escape(best.category)}  {escape(best.describe())}{more}  -> {where}"


@moderate_app.command("list")
def list_items(
    state: Annotated[Optional[State], typer.Option(help="only items in this state")] = None,
    category: Annotated[Optional[str], typer.Option(help="only items with a match in this policy category")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print items as JSON")] = False,
) -> None:
    """Queued items, oldest first, with why they matched."""
    try:
        items = _queue().items(state=state, category=category)
    except VlsearchError as error:
        raise _fail(error) from error
    if as_json:
        shapes = [QueueItemShape.of(item).model_dump() for item in items]
        sys.stdout.write(json.dumps(shapes, ensure_ascii=False, indent=2) + "\n")
        return
    if not items:
        out.print("no items")
        return
    for item in items:
        who = f"claimed by {item.claimed_by}" if item.claimed_by else (f"by {item.reviewer}" if item.reviewer else "")
        heading = f"[bold]{item.id}[/bold] {item.state:<9} {escape(item.category):<12} {escape(item.uri)}"
        out.print(f"{heading}  [dim]{escape(who)}[/dim]")
        for match in item.matches:
            out.print(f"    {escape(match.category)}: {escape(match.describe())}")


@moderate_app.command()
def claim(item_id: Annotated[int, typer.Argument(help="queue item id")], reviewer: Reviewer) -> None:
    """Claim an item for review (a lease; another reviewer can take it once it expires)."""
    try:
        item = _queue().claim(item_id, reviewer)
    except VlsearchError as error:
        raise _fail(error) from error
    out.print(f"item {item.id} claimed by {escape(item.claimed_by or '')} until {iso_time(item.lease_expires_at or 0)}")


@moderate_app.command()
def decide(
    item_id: Annotated[int, typer.Argument(help="queue item id")],
    state: Annotated[State, typer.Option("--state", help="approved, removed or escalated")],
    reviewer: Reviewer,
    note: Annotated[str, typer.Option(help="why (kept in the audit log)")] = "",
) -> None:
    """Decide an item (claiming it if it is free); the decision and its audit row are written together. Removing
    deletes the content first: its assets leave the collection and its upload file the uploads folder."""
    try:
        queue = _queue()
        removed = _remove_content(queue, item_id, reviewer) if state == State.REMOVED else None
        item = queue.decide(item_id, state, reviewer, note)
    except VlsearchError as error:
        raise _fail(error) from error
    out.print(f"item {item.id} {item.state} by {escape(item.reviewer or '')}")
    if removed is not None:
        out.print(f"removed content: {escape(removed.describe())}")


def _remove_content(queue: ReviewQueue, item_id: int, reviewer: str) -> Removed:
    """As the app's Remove does (pipeline.moderation.removal), audited under the reviewer's name."""
    settings = _settings()
    store = build_store(settings)
    try:
        remover = content_remover(store, settings)
        return remove_queued_content(
            queue, remover, open_audit_log(settings.data_dir), item_id, reviewer, user=None, via="cli"
        )
    finally:
        store.close()


@moderate_app.command()
def export(
    output: Annotated[
        Optional[Path], typer.Option("--output", help="CSV file to write; default standard output")
    ] = None,
) -> None:
    """Every decision from the audit log as CSV, oldest first."""
    try:
        entries = _queue().audit_log()
        if output is None:
            write_decisions_csv(entries, sys.stdout)
            return
        with output.open("w", newline="", encoding="utf-8") as stream:
            rows = write_decisions_csv(entries, stream)
    except VlsearchError as error:
        raise _fail(error) from error
    except OSError as error:
        err.print(f"[red]error:[/red] {escape(str(output))}: cannot write ({escape(error.strerror or str(error))})")
        raise typer.Exit(2) from error
    err.print(f"wrote {rows} decisions to {escape(str(output))}")
