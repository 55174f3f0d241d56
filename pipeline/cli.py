"""Command line: `python -m pipeline ingest | search | stats` (a stable contract, see ARCHITECTURE §7)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.access.cli import tokens_app, users_app
from pipeline.config import Settings
from pipeline.display.results import hit_label, match_text, window_text
from pipeline.display.shapes import HitShape
from pipeline.errors import BadInput, VlsearchError
from pipeline.images import read_image_file
from pipeline.ingest.ingestor import IngestReport, ItemResult, Outcome, ingest_collected
from pipeline.ingest.sources import Collected, SourcePolicy, collect
from pipeline.insights.cli import insights_command
from pipeline.logs import LEVELS, configure_logging
from pipeline.moderation.cli import moderate_app
from pipeline.search.explain import why
from pipeline.search.searcher import NEWEST, SearchResult
from pipeline.services import Services, build_services
from pipeline.store import build_store
from pipeline.store.base import Fusion

if TYPE_CHECKING:
    from pipeline.search.evaluation import LearnedGroup
    from pipeline.search.feedback import Vote

app = typer.Typer(add_completion=False, no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

CollectionOption = Annotated[
    Optional[str], typer.Option("--collection", help="collection (table) name; default VLSEARCH_COLLECTION")
]


@app.callback()
def options(
    log_level: Annotated[
        Optional[str],
        typer.Option(
            help=f"log to stderr from this level on: {', '.join(LEVELS)} (default VLSEARCH_LOG_LEVEL, warning)"
        ),
    ] = None,
) -> None:
    """vlsearch: image-and-text hybrid search."""
    try:
        configure_logging((log_level or _configured_log_level()).lower())
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--log-level") from error


def _configured_log_level() -> str:
    try:
        return Settings().log_level
    except ValidationError:
        return "warning"  # the command itself reports the invalid settings


def _services(ctx: typer.Context, collection: str | None) -> Services:
    """The wired collaborators for one command; closed when the command ends."""
    overrides: dict[str, Any] = {"collection": collection} if collection else {}
    settings = Settings(**overrides)
    for notice in settings.earlier_version_notices():
        err.print(f"[yellow]warning:[/yellow] {escape(notice)}")
    services = build_services(settings)
    ctx.call_on_close(services.close)
    return services


def _fail(error: VlsearchError) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(str(error))}")
    return typer.Exit(2)


@app.command()
def ingest(
    ctx: typer.Context,
    inputs: Annotated[
        Optional[list[str]],
        typer.Argument(metavar="PATH|URL", help="files, folders (recursive) or http(s) URLs", show_default=False),
    ] = None,
    manifest: Annotated[Optional[Path], typer.Option(help="JSONL or CSV: path or url + metadata columns")] = None,
    collection: CollectionOption = None,
) -> None:
    """Ingest images: OCR, caption and embed them, then store them. Unchanged files are skipped."""
    try:
        # Paths given here are the user's own; manifest rows stay below the manifest's folder or a root.
        collected = collect(inputs or [], manifest, SourcePolicy.from_settings(Settings()))
    except BadInput as error:
        raise _fail(error) from error
    if not collected.items and not collected.problems:
        err.print("nothing to ingest: give files, folders, http(s) URLs or --manifest")
        raise typer.Exit(2)
    try:
        services = _services(ctx, collection)
        report = _run_ingest(services, collected)
    except VlsearchError as error:
        raise _fail(error) from error
    _print_summary(report, services)
    if report.count(Outcome.FAILED) and not any(
        report.count(outcome) for outcome in (Outcome.ADDED, Outcome.UPDATED, Outcome.UNCHANGED)
    ):
        raise typer.Exit(1)


def _run_ingest(services: Services, collected: Collected) -> IngestReport:
    columns = (
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        total = len(collected.items) + len(collected.problems)
        task = progress.add_task("", total=total)

        def advance(result: ItemResult) -> None:
            progress.update(task, advance=1, description=escape(Path(result.source).name[:40]))

        def grow(more: int) -> None:  # a PDF's pages or a video's frames
            nonlocal total
            total += more
            progress.update(task, total=total)

        return ingest_collected(services.ingestor(), collected, progress=advance, found=grow)


def _print_summary(report: IngestReport, services: Services) -> None:
    summary = report.summary()
    out.print(
        f"added {summary['added']}, updated {summary['updated']}, unchanged {summary['unchanged']}, "
        f"failed {summary['failed']}  ->  {services.store.count()} assets in "
        f"{services.store.engine} ({services.models.mode} mode)"
    )
    for failure in report.failures:
        out.print(f"  [red]failed[/red] {escape(failure.source)}: {escape(failure.reason)}")


@app.command()
def search(
    ctx: typer.Context,
    text: Annotated[Optional[str], typer.Option("--text", help="what to look for")] = None,
    image: Annotated[Optional[Path], typer.Option("--image", help="an image to look up (its text and look)")] = None,
    alpha: Annotated[Optional[float], typer.Option(help="0 = keyword only, 1 = vector only")] = None,
    limit: Annotated[int, typer.Option(help="number of hits")] = 10,
    offset: Annotated[int, typer.Option(min=0, help="hits to skip: the next page starts at offset + limit")] = 0,
    where: Annotated[
        Optional[str],
        typer.Option(help="filter, e.g. \"category = 'billing'\"; alone, it lists what it matches, newest first"),
    ] = None,
    fusion: Annotated[Optional[Fusion], typer.Option(help="relative (default) or ranked")] = None,
    rerank: Annotated[
        Optional[bool],
        typer.Option("--rerank/--no-rerank", help="rerank the top hits with the model (default: on with a GPU)"),
    ] = None,
    min_relevance: Annotated[
        Optional[float], typer.Option(help="with rerank: drop hits whose relevance probability is below this")
    ] = None,
    allow_unreranked: Annotated[
        bool,
        typer.Option(
            "--allow-unreranked", help="when --min-relevance cannot be applied (no reranker), return every hit"
        ),
    ] = False,
    learned: Annotated[
        bool,
        typer.Option(
            "--learned/--no-learned", help="move hits people voted on for the same or similar queries (default: on)"
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print hits as JSON")] = False,
    collection: CollectionOption = None,
) -> None:
    """Hybrid search by text, by image, or both; with only --where, browse what the filter matches, newest first."""
    try:
        services = _services(ctx, collection)
        settings = services.settings
        decoded = (
            read_image_file(
                image,
                max_bytes=settings.max_file_bytes,
                max_pixels=settings.max_image_pixels,
                query_size=services.query_size(),  # read small: OCR and the models never see more
            )
            if image
            else None
        )
        result = services.searcher().search(
            text=text,
            image=decoded.image if decoded else None,
            alpha=settings.alpha if alpha is None else alpha,
            limit=limit,
            where=where,
            fusion=fusion or Fusion(settings.fusion),
            rerank=settings.rerank if rerank is None else rerank,
            min_relevance=settings.min_relevance if min_relevance is None else min_relevance,
            offset=offset,
            image_sha=decoded.sha256 if decoded else "",
            learned=learned,
        )
    except VlsearchError as error:
        raise _fail(error) from error
    if result.cutoff_not_applied and min_relevance is not None and not allow_unreranked:
        # A script asking for a cutoff must not get unfiltered hits with exit 0.
        raise _fail(BadInput("--min-relevance", f"{result.cutoff_not_applied}; add --allow-unreranked to get them"))
    if as_json:
        for notice in result.notices:
            err.print(f"[yellow]note:[/yellow] {escape(notice)}")
        hits = [HitShape.of_hit(hit, result.keyword_text).model_dump() for hit in result.hits]
        sys.stdout.write(json.dumps(hits, ensure_ascii=False, indent=2) + "\n")
        return
    if not result.hits and services.store.count() == 0:
        err.print("the collection is empty: add images first, e.g. vlsearch ingest --manifest samples/manifest.jsonl")
    _print_hits(result, offset)


def _print_hits(result: SearchResult, offset: int) -> None:
    for notice in result.notices:
        err.print(f"[yellow]note:[/yellow] {escape(notice)}")
    if result.ocr_text:
        out.print(f"[dim]text read from the query image:[/dim] {escape(result.ocr_text.replace(chr(10), ' ')[:200])}")
    if not result.hits:
        out.print(
            "no hits" if not result.dropped_below_cutoff else "no confident match: every hit was below the cutoff"
        )
        if offset and result.total:
            out.print(f"[dim]{result.total} matches in all; this page starts past them (offset {offset})[/dim]")
        return
    for rank, hit in enumerate(result.hits, start=offset + 1):
        record, scores = hit.record, hit.scores
        # One figure that reads the same in every query (see match_text), then the per-side scores.
        figures = [match_text(hit, rank, result.total, result.order)]
        if hit.window is not None:
            figures.append(window_text(hit.window))
        if scores.bm25 is not None:
            figures.append(f"bm25 {scores.bm25:.2f}")
        if scores.vector_distance is not None:
            figures.append(f"vector distance {scores.vector_distance:.3f}")
        if scores.visual_pairs is not None:
            figures.append(f"{scores.visual_pairs} keypoints agree")
        if scores.learned is not None:
            figures.append(f"learned {scores.learned:+.3f}")
        out.print(f"[bold]{rank}. {escape(hit_label(hit))}[/bold]  [dim]{', '.join(figures)}[/dim]")
        metadata = " · ".join(f"{key}={_clip(value, 60)}" for key, value in record.metadata.items() if value)
        if metadata:
            out.print(f"   {escape(metadata)}")
        snippet = _clip(record.caption or record.ocr_text, 160)
        if snippet:
            out.print(f"   [italic]{escape(snippet)}[/italic]")
        reasons = why(hit, result.keyword_text)
        if reasons:
            out.print(f"   [dim]why:[/dim] {escape('; '.join(reasons))}")
    shown = f"hits {offset + 1}-{offset + len(result.hits)}"
    counted = f" of {result.total} matches" if result.total is not None else ""
    if result.order == NEWEST:
        out.print(f"[dim]{shown}{counted}, newest first[/dim]")
        return
    reranked = f", {result.reranked} reranked" if result.reranked else ""
    out.print(f"[dim]{shown}{counted}; alpha {result.alpha:g}, {result.fusion} fusion{reranked}[/dim]")


def _clip(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


Engine = Literal["lancedb", "weaviate"]


@app.command()
def migrate(
    to: Annotated[Engine, typer.Option("--to", help="target engine")],
    source: Annotated[Engine, typer.Option("--from", help="source engine")] = "lancedb",
    batch_size: Annotated[int, typer.Option(min=1, help="records per batch")] = 200,
    collection: CollectionOption = None,
) -> None:
    """Copy a collection to another engine without recomputing OCR, captions or vectors (resumable)."""
    from pipeline.store.migrate import MigrationReport
    from pipeline.store.migrate import migrate as copy_collection

    if to == source:
        err.print(f"--from and --to are both {to}: nothing to do")
        raise typer.Exit(2)
    overrides: dict[str, Any] = {"collection": collection} if collection else {}
    done, total = 0, 0

    def advance(report: MigrationReport) -> None:
        nonlocal done
        done = report.done
        progress.update(task, completed=done)

    try:
        origin = build_store(Settings(**overrides, store=source))
        target = build_store(Settings(**overrides, store=to))
        with Progress(TextColumn("[bold]migrate"), BarColumn(), MofNCompleteColumn(), console=err) as progress:
            total = origin.count()
            task = progress.add_task("", total=total)
            report = copy_collection(origin, target, batch_size=batch_size, progress=advance)
    except VlsearchError as error:
        if total:
            err.print(f"stopped after {done:,} of {total:,} records; run the same command again to resume")
        raise _fail(error) from error
    out.print(
        f"copied {report.copied}, already there {report.skipped}, gone from the source {report.vanished}, "
        f"failed {len(report.failed)}  ->  {target.count()} assets in {target.engine}"
    )
    for uri, reason in report.failed:
        out.print(f"  [red]failed[/red] {escape(uri)}: {escape(reason)}")
    if report.failed:
        raise typer.Exit(1)


@app.command()
def stats(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
    collection: CollectionOption = None,
) -> None:
    """How many assets, and which models produced them."""
    try:
        services = _services(ctx, collection)
        figures = services.stats()
    except VlsearchError as error:
        raise _fail(error) from error
    if as_json:
        sys.stdout.write(json.dumps(figures, ensure_ascii=False, indent=2) + "\n")
        return
    for key, value in figures.items():
        out.print(f"[bold]{key}[/bold]: {escape(str(value))}")


@app.command("eval")
def evaluate_retrieval(
    ctx: typer.Context,
    qrels: Annotated[Optional[Path], typer.Option(help="relevance judgments, JSONL (see docs/cli.md)")] = None,
    feedback: Annotated[
        bool,
        typer.Option(
            "--feedback",
            help="learn from half of the votes (thumbs up / down), judge by the other half: learning off / on rows",
        ),
    ] = False,
    split_seed: Annotated[int, typer.Option(help="with --feedback: which half of the queries' votes is learned")] = 0,
    alpha: Annotated[str, typer.Option(help="alpha values to try, comma-separated")] = "0,0.25,0.5,0.75,1",
    fusion: Annotated[str, typer.Option(help="fusion types to try: relative, ranked or both")] = "relative,ranked",
    rerank: Annotated[
        Optional[bool], typer.Option("--rerank/--no-rerank", help="only with / without rerank (default: both)")
    ] = None,
    limit: Annotated[int, typer.Option(help="hits per query (10 or more; ranks past 10 count for MRR only)")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print rows and per-query scores as JSON")] = False,
    collection: CollectionOption = None,
) -> None:
    """Retrieval quality (Recall@1/5/10, MRR, nDCG@10) of several search configurations on judged queries."""
    from rich import box
    from rich.table import Table

    from pipeline.images import ImageLimits
    from pipeline.search.evaluation import (
        CUTOFFS,
        NDCG_DEPTH,
        config_grid,
        evaluate,
        evaluation_json,
        learned_groups,
        parse_alphas,
        parse_fusions,
        queries_from_votes,
        read_qrels,
        split_votes,
        stored_image_finder,
    )
    from pipeline.search.learned import FixedVotes

    if qrels is None and not feedback:
        err.print("nothing to evaluate: give --qrels FILE, --feedback or both")
        raise typer.Exit(2)
    try:
        configs = config_grid(
            parse_alphas(alpha),
            parse_fusions(fusion),
            [False, True] if rerank is None else [rerank],
            [False, True] if feedback else [False],
        )
        queries = read_qrels(qrels) if qrels else []
        services = _services(ctx, collection)
        if services.store.count() == 0:
            err.print("the collection is empty: ingest first, e.g. vlsearch ingest --manifest samples/manifest.jsonl")
            raise typer.Exit(2)
        notes: list[str] = []
        learned: list[Vote] = []
        if feedback:
            votes = services.feedback_log().votes(collection=services.settings.collection)
            learned, held_out = split_votes(votes, seed=split_seed)
            judged, notes = queries_from_votes(held_out, stored_image_finder(services.store))
            queries += judged
            notes.insert(0, _split_note(learned, held_out, split_seed))
        if not queries:
            err.print(
                "no judged queries: the held-out half of the feedback log has no usable votes "
                "(try another --split-seed)"
                if feedback
                else "no judged queries"
            )
            raise typer.Exit(2)
        settings = services.settings
        evaluation = evaluate(
            services.searcher(FixedVotes(learned)),  # without --feedback, learning is off in every row
            queries,
            configs,
            limit=limit,
            image_limits=ImageLimits(settings.max_file_bytes, settings.max_image_pixels),
        )
    except VlsearchError as error:
        raise _fail(error) from error
    evaluation.notes[:0] = notes
    for note in evaluation.notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}")
    if as_json:
        sys.stdout.write(json.dumps(evaluation_json(evaluation), ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(
        title=f"{evaluation.queries} judged queries, {limit} hits each; best: highest nDCG@{NDCG_DEPTH}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    switches = ("fusion", "rerank", "learned") if feedback else ("fusion", "rerank")
    for name in ("alpha", *switches, *(f"R@{k}" for k in CUTOFFS), "MRR", f"nDCG@{NDCG_DEPTH}"):
        table.add_column(name, justify="left" if name in switches else "right", no_wrap=True)
    table.add_column("")
    best = evaluation.best
    for row in evaluation.rows:
        config = row.config
        figures = (
            ["—"] * (len(CUTOFFS) + 2)
            if row.skipped
            else [*(f"{row.recall[k]:.3f}" for k in CUTOFFS), f"{row.mrr:.3f}", f"{row.ndcg:.3f}"]
        )
        is_best = row in best
        table.add_row(
            "any" if row.merged else f"{config.alpha:g}",
            "any" if row.merged else config.fusion.value,
            "on" if config.rerank else "off",
            *(["on" if config.learned else "off"] if feedback else []),
            *figures,
            escape("; ".join(part for part in ("best" if is_best else "", row.note) if part)),
            style="bold" if is_best else None,
        )
    out.print(table)
    groups = learned_groups(evaluation)
    if groups:
        _print_learned_groups(groups)


def _split_note(learned: list[Vote], held_out: list[Vote], seed: int) -> str:
    def queries(votes: list[Vote]) -> int:
        return len({(vote.query_text, vote.query_image_sha) for vote in votes})

    return (
        f"learned from {len(learned)} votes on {queries(learned)} queries; judged by the {len(held_out)} votes on the "
        f"other {queries(held_out)} queries (--split-seed {seed})"
    )


def _print_learned_groups(groups: list[LearnedGroup]) -> None:
    """Learning off -> on for the queries that found learned votes and for the rest (which it cannot change)."""
    from rich import box
    from rich.table import Table

    from pipeline.search.evaluation import NDCG_DEPTH

    table = Table(
        title="learned boost before -> after, by whether a similar query was learned",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for name in ("alpha", "fusion", "rerank", "queries", "n", "changed", "R@1", "MRR", f"nDCG@{NDCG_DEPTH}"):
        table.add_column(name, justify="left" if name in ("fusion", "rerank", "queries") else "right", no_wrap=True)
    for group in groups:
        (recall_before, mrr_before, ndcg_before), (recall_after, mrr_after, ndcg_after) = group.before, group.after
        table.add_row(
            f"{group.config.alpha:g}",
            group.config.fusion.value,
            "on" if group.config.rerank else "off",
            group.group,
            str(group.queries),
            str(group.changed),
            f"{recall_before[1]:.3f} -> {recall_after[1]:.3f}",
            f"{mrr_before:.3f} -> {mrr_after:.3f}",
            f"{ndcg_before:.3f} -> {ndcg_after:.3f}",
        )
    out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on; open mode (VLSEARCH_AUTH=off) needs loopback")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="processes, each with its own models")] = 1,
) -> None:
    """Run the HTTP API for helpdesks, upload pipelines and Weaviate (docs/api.md); OpenAPI at /docs."""
    import uvicorn

    from pipeline.access.tokens import open_tokens
    from pipeline.api.security import CREATE_TOKEN, is_loopback

    try:
        settings = Settings()
    except ValidationError as error:
        err.print(f"[red]error:[/red] invalid settings: {escape(str(error))}")
        raise typer.Exit(2) from error
    if settings.auth == "off":
        if not is_loopback(host):
            err.print(
                f"[red]error:[/red] VLSEARCH_AUTH=off serves every request as admin, so only on a loopback address "
                f"(--host 127.0.0.1), not {escape(host)}; give integrations tokens instead: {CREATE_TOKEN}"
            )
            raise typer.Exit(2)
        err.print("[yellow]warning:[/yellow] open mode (VLSEARCH_AUTH=off): requests without a token act as admin")
    elif not [token for token in open_tokens(settings.data_dir).tokens() if token.revoked_at is None]:
        err.print(f"[yellow]warning:[/yellow] no API tokens yet, so every request gets 401: {CREATE_TOKEN}")
    out.print(f"vlsearch API on http://{escape(host)}:{port} (OpenAPI: /docs), data dir {settings.data_dir}")
    uvicorn.run(
        "pipeline.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        proxy_headers=False,  # the client's address comes from X-Forwarded-For per VLSEARCH_TRUSTED_PROXIES
    )


audit_app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="The audit trails (audit.sqlite, moderation.sqlite)."
)


@audit_app.command("verify")
def audit_verify(
    expect_head: Annotated[
        Optional[list[str]],
        typer.Option(
            "--expect-head",
            metavar="HASH",
            help="a head hash recorded earlier (from --json): it must still be on one of the chains (repeatable)",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the report, with each file's head hash, as JSON")
    ] = False,
) -> None:
    """Check the hash chains of the audit log and the moderation decisions: exit 0 intact, 1 broken, 2 error."""
    from pipeline.access.audit import AUDIT_FILE, AuditLog
    from pipeline.access.chain import is_hash
    from pipeline.moderation.queue import ReviewQueue
    from pipeline.moderation.services import QUEUE_FILE

    heads = [head.strip().lower() for head in expect_head or []]
    for head in heads:
        if not is_hash(head):
            raise _fail(BadInput(f"--expect-head {head!r}", "not a head hash (64 hex digits, from audit verify)"))
    try:
        data_dir = Settings().data_dir
        files = ((data_dir / AUDIT_FILE, AuditLog), (data_dir / QUEUE_FILE, ReviewQueue))
        reports = [opener(path).verify(heads) for path, opener in files if path.exists()]
    except VlsearchError as error:
        raise _fail(error) from error
    except ValidationError as error:
        err.print(f"[red]error:[/red] invalid settings: {escape(str(error))}")
        raise typer.Exit(2) from error
    absent = [str(path) for path, _ in files if not path.exists()]
    unmatched = [head for head in heads if not any(head in report.heads_found for report in reports)]
    intact = all(report.intact for report in reports) and not unmatched
    if as_json:
        report_json = {
            "intact": intact,
            "files": [report.to_json() for report in reports],
            "absent": absent,
            "expected_heads": [{"hash": head, "found": head not in unmatched} for head in heads],
        }
        sys.stdout.write(json.dumps(report_json, indent=2) + "\n")
    else:
        for report in reports:
            problem = report.problem
            if problem is None:
                out.print(
                    f"{escape(str(report.file))} ({report.table}): {report.rows} rows, intact; head {report.head}"
                )
            else:
                out.print(
                    f"{escape(str(report.file))} ({report.table}): [red]broken[/red] at {problem.table} row "
                    f"{problem.row_id}: {escape(problem.reason)}"
                )
        for path in absent:
            out.print(f"{escape(path)}: not there, nothing to check")
        for head in unmatched:
            out.print(f"[red]expected head {head} is on no chain[/red]: rows up to it were rewritten or removed")
    if not intact:
        raise typer.Exit(1)


app.command("insights")(insights_command)
app.add_typer(moderate_app, name="moderate")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(audit_app, name="audit")


def main() -> None:
    app()
