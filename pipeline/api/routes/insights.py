"""GET /v1/insights: what `vlsearch insights --json` prints, for dashboards and reports outside the app."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from pipeline.access.audit import Action, logged_query
from pipeline.access.auth import Permission, User
from pipeline.api.context import ApiContext, context
from pipeline.api.security import allowed
from pipeline.errors import BadInput
from pipeline.insights.report import InsightsRequest
from pipeline.insights.services import collection_insights
from pipeline.insights.shapes import InsightsShape
from pipeline.insights.volume import TOP_VALUES, Period

router = APIRouter(tags=["insights"])


@router.get("/v1/insights", response_model=InsightsShape, summary="Volume over time, near-identical groups, topics")
def get_insights(
    query: Annotated[str | None, Query(max_length=2000, description="only the assets this query finds")] = None,
    where: Annotated[str | None, Query(max_length=4000, description="only the assets this filter matches")] = None,
    date_column: Annotated[str | None, Query(description="the date to count by (default: detected)")] = None,
    by: Annotated[list[str] | None, Query(description="one volume per column, e.g. by=app&by=error_code")] = None,
    period: Period = Period.MONTH,
    until: Annotated[date | None, Query(description="the current period holds this day")] = None,
    top: Annotated[int, Query(ge=1, le=100)] = TOP_VALUES,
    user: User = Depends(allowed(Permission.SEARCH)),
    ctx: ApiContext = Depends(context),
) -> InsightsShape:
    request = InsightsRequest(
        query=query, where=where, date_column=date_column, by=tuple(by or ()), period=period, until=until, top=top
    )
    try:
        # New assets are compared for near-duplicates for VLSEARCH_INSIGHTS_COMPARE_S at most; the rest wait for the
        # next request (the answer's not_compared says how many), so a large ingest never makes one request slow.
        found = collection_insights(ctx.services, request, compare_budget_s=ctx.settings.insights_compare_s)
    except BadInput as error:
        if error.source.startswith("filter"):  # the parser names the expression; the caller knows it as `where`
            raise BadInput("where", str(error)) from error
        raise
    ctx.audit.record(Action.SEARCH, user=user, query=logged_query(query), where=where or "", insights=True, via="api")
    return InsightsShape.of(found)
