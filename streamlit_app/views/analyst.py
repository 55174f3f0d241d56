"""Analyst dashboard: hybrid search with filters, a match figure and a reason per hit, every score in Details,
paging, facets over all matches, export and relevance feedback."""

from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st
from PIL import Image

from pipeline.access.audit import Action, logged_query
from pipeline.access.auth import Permission
from pipeline.display.assets import asset_view, fit_width
from pipeline.display.filters import column_filters
from pipeline.display.results import (
    BASE_COLUMNS,
    NEWEST,
    RELATIVE_ORDER_NOTE,
    SCORE_COLUMNS,
    count_text,
    facet_counts,
    hit_label,
    hit_rows,
    match_text,
    results_csv,
    score_rows,
    why_text,
    without_asset,
)
from pipeline.records import Hit
from pipeline.search.explain import why
from pipeline.search.feedback import query_id
from pipeline.search.highlight import chart_text, escape, highlight, to_html
from pipeline.search.searcher import Searcher
from pipeline.store.base import Fusion
from streamlit_app import ui

GRID_COLUMNS = 3
MAX_SHOWN = 100  # hits a page of cards stays readable with; VLSEARCH_MAX_RESULTS may lower it
CHART_BOUND = 1000  # matches the charts count at most
SNIPPET_CHARS = 220
THUMB_BOX = (256, 170)
VOTE_BY_THUMB = {0: -1, 1: 1}
THUMB_BY_VOTE = {vote: thumb for thumb, vote in VOTE_BY_THUMB.items()}
TABS = ("Results", "Charts", "Table and export")
REDUCED_HELP = (
    "Not used in OCR + keyword mode: without an embedding model there are no vectors, so hits are ranked by "
    "BM25 over the words alone (see Home)."
)

user = ui.allowed(Permission.SEARCH, "analyst")
st.title("Analyst dashboard")


def run_search(searcher: Searcher, query: dict[str, Any], *, offset: int, limit: int, rerank: bool) -> Any:
    """One page of the query's ranking, counted against the session's model calls and audited."""
    image = query["image"]
    with ui.audited(
        Action.SEARCH,
        user,
        page="analyst",
        query=logged_query(query["text"]),
        image=query["image_sha"],
        filters=query["where"] or "",
        offset=offset,
    ) as outcome:
        ui.spend_model_calls(user, image=image is not None, rerank=rerank)
        result = searcher.search(
            text=query["text"] or None,
            image=image,
            alpha=query["alpha"],
            limit=limit,
            offset=offset,
            where=query["where"],
            fusion=query["fusion"],
            rerank=rerank,
            image_sha=query["image_sha"],
        )
        outcome["results"] = len(result.hits)
    return result


def search(
    searcher: Searcher,
    *,
    text: str,
    image: Image.Image | None,
    image_sha: str,
    label: str,
    where: str | None,
    exclude_sha: str = "",
) -> None:
    """Run the query with the form's settings and keep it, its first page and where the next page starts for the
    reruns that follow. `exclude_sha`: an image left out of its own "find similar"."""
    query: dict[str, Any] = {
        "text": text,
        "image": image,
        "image_sha": image_sha,
        "label": label,
        "where": where,
        "alpha": st.session_state["analyst_alpha"],
        "fusion": Fusion(st.session_state["analyst_fusion"]),
        "rerank": bool(st.session_state.get("analyst_rerank")),
        "limit": int(st.session_state["analyst_limit"]),
        "exclude_sha": exclude_sha,
    }
    result = run_search(
        searcher, query, offset=0, limit=query["limit"] + (1 if exclude_sha else 0), rerank=query["rerank"]
    )
    hits, consumed = without_asset(result.hits, query["limit"], sha256=exclude_sha)
    left_out = len(result.hits[:consumed]) - len(hits)
    query.update(
        result=result,
        hits=hits,
        next_offset=consumed,
        total=None if result.total is None else max(0, result.total - left_out),
        chart_hits=None,
    )
    st.session_state["analyst_search"] = query
    st.session_state.pop("analyst_selected", None)


def load_more(searcher: Searcher) -> None:
    """The next page of the same ranking, added below the hits shown."""
    query = st.session_state["analyst_search"]
    asked = query["limit"] + (1 if query["exclude_sha"] else 0)
    result = run_search(searcher, query, offset=query["next_offset"], limit=asked, rerank=query["rerank"])
    hits, consumed = without_asset(result.hits, query["limit"], sha256=query["exclude_sha"])
    query["hits"] = query["hits"] + hits
    query["next_offset"] += consumed
    query["exhausted"] = len(result.hits) < asked


def select(asset_id: str | None) -> None:
    st.session_state["analyst_selected"] = asset_id


def vote_widget(hit: Hit, query: dict, stored: dict[str, int]) -> None:
    """Thumbs up / down, written to the feedback log when it differs from what is stored: the signed-in user's vote
    in this collection, with the query's vector when a model made one (so similar queries learn from it)."""
    key = f"analyst_vote_{query_id(query['text'], query['image_sha'])}_{hit.record.id}"
    previous = stored.get(hit.record.id)
    thumb = st.feedback("thumbs", key=key, default=THUMB_BY_VOTE[previous] if previous else None)
    if thumb is not None and VOTE_BY_THUMB[thumb] != stored.get(hit.record.id):
        ui.authorize(Permission.SEARCH, Action.FEEDBACK, page="analyst", asset=hit.record.id)  # the role as it is now
        embedder = ui.services().models.embedder
        vector = query["result"].query_vector
        ui.feedback_log().record(
            collection=ui.services().settings.collection,
            query_text=query["text"],
            query_image_sha=query["image_sha"],
            asset_id=hit.record.id,
            vote=VOTE_BY_THUMB[thumb],
            voter=user.name,
            query_vector=vector,
            embed_model=embedder.name if embedder is not None and vector is not None else "",
        )
        stored[hit.record.id] = VOTE_BY_THUMB[thumb]


def reason_line(hit: Hit, query: dict, keyword_text: str) -> str:
    return why_text(why(hit, keyword_text), hit, image_query=query["image"] is not None)


def result_card(rank: int, hit: Hit, query: dict, keyword_text: str, stored: dict[str, int]) -> None:
    record = hit.record
    with st.container(border=True):
        if record.thumbnail:
            st.image(record.thumbnail, width=fit_width(record, max_width=THUMB_BOX[0], max_height=THUMB_BOX[1]))
        st.markdown(f"**{rank}. {escape(hit_label(hit))}**")
        st.caption(escape(match_text(hit, rank, query["total"], query["result"].order)))
        reasons = reason_line(hit, query, keyword_text)
        if reasons:
            st.caption(f"Why: {escape(reasons)}")
        if record.caption:
            st.caption(escape(record.caption))
        if record.ocr_text:
            snippet = highlight(record.ocr_text, keyword_text, max_chars=SNIPPET_CHARS)
            st.markdown(to_html(snippet, inline=True), unsafe_allow_html=True)
        votes, details = st.columns([1, 1], vertical_alignment="center")
        with votes:
            vote_widget(hit, query, stored)
        details.button(
            ui.OPEN_LABEL.get(record.source_kind, "Details"),
            key=f"analyst_details_{record.id}",
            on_click=select,
            args=(record.id,),
        )


@st.dialog("Details", width="large", on_dismiss=lambda: select(None))
def details_dialog(searcher: Searcher, hit: Hit, rank: int, query: dict, keyword_text: str) -> None:
    """The asset large with every field and score, over the results (which keep their scroll position)."""
    record = hit.record
    view = asset_view(record, max_file_bytes=ui.limits().max_bytes)
    st.subheader(escape(hit_label(hit)))
    picture, fields = st.columns([3, 2])
    with picture:
        ui.asset_picture(hit, view, key="analyst_detail")
    with fields:
        st.markdown(f"**{escape(match_text(hit, rank, query['total'], query['result'].order))}**")
        reasons = reason_line(hit, query, keyword_text)
        if reasons:
            st.caption(f"Why: {escape(reasons)}")
        st.markdown("**Scores**")
        st.table(field_table(score_rows(hit)), border="horizontal", hide_header=True)
        if record.caption:
            st.markdown(f"**Caption** {escape(record.caption)}")
        st.markdown("**Metadata**")
        st.table(field_table(sorted(record.metadata.items())), border="horizontal", hide_header=True)
        st.markdown("**Fields**")
        st.table(field_table(view.fields), border="horizontal", hide_header=True)
        similar = st.button(
            "Find similar",
            key="analyst_similar",
            icon=":material/image_search:",
            disabled=view.image is None,
            help="Search with this image; the image itself (and any copy of it) is left out of the results.",
        )
    if record.ocr_text:
        st.markdown("**OCR text**")
        st.markdown(to_html(highlight(record.ocr_text, keyword_text)), unsafe_allow_html=True)
    if similar:
        search(
            searcher,
            text="",
            image=view.image,
            image_sha=record.sha256,
            label=f"similar to {hit_label(hit)}",
            where=query["where"],
            exclude_sha=record.sha256,
        )
        st.rerun()


def field_table(rows: list[tuple[str, str]]) -> pd.Series:
    """Names and values for st.table, which renders its cells as Markdown: both come from data, so both are
    escaped (a manifest value `![](http://host/beacon.png)` must stay text, not make the browser fetch it)."""
    return pd.Series({escape(name): escape(value) for name, value in rows}, dtype=str)


def chart_hits(searcher: Searcher, query: dict) -> list[Hit]:
    """Every match of the query up to CHART_BOUND (or VLSEARCH_MAX_RESULTS), in fused order: facets count the
    matches, not only the hits shown. Read once per query, when the Charts tab is first opened."""
    if query["chart_hits"] is None:
        bound = min(CHART_BOUND, ui.services().settings.max_results)
        result = run_search(searcher, query, offset=0, limit=bound, rerank=False)
        query["chart_hits"] = [hit for hit in result.hits if hit.record.sha256 != query["exclude_sha"]]
    return list(query["chart_hits"])


def charts(hits: list[Hit], columns: list[str]) -> None:
    st.caption(f"Over the first {len(hits):,} matches of the query (at most {CHART_BOUND:,}), not only those shown.")
    rows = pd.DataFrame(hit_rows(hits))
    by_column, scores = st.columns(2)
    with by_column:
        if columns:
            column = st.selectbox(
                "Matches by",
                columns,
                key="analyst_facet_column",
                index=columns.index("category") if "category" in columns else 0,
            )
            counts = facet_counts(hits, column)
            figure = px.bar(  # Plotly reads HTML (links too) in labels and hover text: every value is escaped for it
                x=[chart_text(value) for value, _ in counts],
                y=[count for _, count in counts],
                labels={"x": chart_text(column), "y": "matches"},
                title=f"Matches by {chart_text(column)}",
            )
            st.plotly_chart(figure, key="analyst_facet_chart")
        else:
            st.caption("No metadata columns to group by.")
    with scores:
        present = [name for name in SCORE_COLUMNS if rows[name].notna().any()]
        score = st.selectbox("Score", present, key="analyst_score_column")
        figure = px.histogram(rows, x=score, nbins=20, title=f"Distribution of {score} scores")
        st.plotly_chart(figure, key="analyst_score_chart")


def results(searcher: Searcher, query: dict, columns: list[str]) -> None:
    result = query["result"]
    hits: list[Hit] = query["hits"]
    for notice in result.notices:
        st.info(notice, icon=":material/info:")
    st.markdown(f"**{escape(count_text(len(hits), query['total'], result.order))}**")
    st.caption(
        f"{escape(query['label'] or 'browsing by filters')} · effective alpha {result.alpha:g} · {result.fusion} fusion"
        f"{f' · reranked {result.reranked}' if result.reranked else ''} · filter: {escape(query['where'] or 'none')}"
    )
    if result.ocr_text:
        with st.expander("Text read from the query image"):
            st.text(result.ocr_text)
    if not hits:
        if query["where"] and not query["text"] and query["image"] is None:
            st.warning("No records match these filters. Widen a range or pick other values.")
        elif query["where"]:
            st.warning("No matches with these filters. Try fewer filters or other words.")
        else:
            st.warning("No matches. Try other words, or fewer of them.")
        return
    if result.order != NEWEST and all(hit.scores.rerank is None for hit in hits):
        st.caption(RELATIVE_ORDER_NOTE)
    ranked = list(enumerate(hits, start=1))
    selected = next(
        ((rank, hit) for rank, hit in ranked if hit.record.id == st.session_state.get("analyst_selected")), None
    )
    if selected is not None:
        details_dialog(searcher, selected[1], selected[0], query, result.keyword_text)
    grid_tab, charts_tab, table_tab = st.tabs(TABS, key="analyst_tabs", on_change="rerun")
    if grid_tab.open:
        with grid_tab:
            stored = ui.feedback_log().votes_for(
                collection=ui.services().settings.collection,
                query_text=query["text"],
                query_image_sha=query["image_sha"],
                voter=user.name,
            )
            for start in range(0, len(hits), GRID_COLUMNS):
                for column, (rank, hit) in zip(st.columns(GRID_COLUMNS), ranked[start : start + GRID_COLUMNS]):
                    with column:
                        result_card(rank, hit, query, result.keyword_text, stored)
            more = query["total"] is None or len(hits) < query["total"]
            if more and not query.get("exhausted") and len(result.hits) >= query["limit"]:
                st.button(
                    f"Load {query['limit']} more",
                    key="analyst_load_more",
                    icon=":material/expand_more:",
                    on_click=load_more,
                    args=(searcher,),
                )
    if charts_tab.open:
        with charts_tab:
            charts(chart_hits(searcher, query), columns)
    if table_tab.open:
        with table_tab:
            ui.csv_download(
                "Download CSV",
                results_csv(hits),
                file_name="vlsearch-results.csv",
                key="analyst_csv",
                help="The hits loaded so far, with every score and metadata column.",
            )
            table = pd.DataFrame(hit_rows(hits))
            metadata = [column for column in table.columns if column not in BASE_COLUMNS]
            located = [column for column in ("page", "window") if table[column].notna().any()]
            visual = ["visual_pairs"] if table["visual_pairs"].notna().any() else []
            learned = ["learned", "voted_up", "voted_down"] if table["learned"].notna().any() else []
            st.dataframe(
                table,
                hide_index=True,
                key="analyst_table",
                column_order=[
                    "rank",
                    "label",
                    *located,
                    *SCORE_COLUMNS,
                    *visual,
                    *learned,
                    *metadata,
                    "caption",
                    "uri",
                    "id",
                ],
                column_config={"label": "hit"},
            )


with ui.guard("searching"):
    services = ui.services()
    settings = services.settings
    if services.store.count() == 0:
        st.info("No images yet: add some on the Home page, then search them here.", icon=":material/photo_library:")
        st.page_link("views/home.py", label="Add images on Home", icon=":material/add_photo_alternate:")
        st.stop()
    facets = ui.facets()
    reduced = services.models.embedder is None
    rerank_available = services.models.reranker is not None

    with st.form("analyst_query_form"):
        text_column, image_column = st.columns([3, 2])
        text = text_column.text_input("Text query", key="analyst_text", placeholder="card declined · 登录失败")
        with image_column:
            image_file = ui.image_uploader("Image query (optional)", "analyst_image")
        alpha_column, limit_column, fusion_column, rerank_column = st.columns([3, 1, 2, 2])
        alpha_column.slider(
            "alpha: 0 = keyword only, 1 = vector only",
            0.0,
            1.0,
            settings.alpha,
            0.05,
            key="analyst_alpha",
            disabled=reduced,
            help=REDUCED_HELP if reduced else "Weight of vector similarity against BM25.",
        )
        most = min(MAX_SHOWN, settings.max_results)
        limit_column.number_input(
            "Results per page",
            1,
            most,
            min(12, most),
            key="analyst_limit",
            help=f"At most {most} (VLSEARCH_MAX_RESULTS caps it); *Load more* asks the next page.",
        )
        fusion_column.radio(
            "Fusion",
            [fusion.value for fusion in Fusion],
            horizontal=True,
            key="analyst_fusion",
            index=[fusion.value for fusion in Fusion].index(settings.fusion),
            disabled=reduced,
            help=REDUCED_HELP if reduced else "How the keyword and vector rankings are combined (docs/search.md).",
        )
        rerank_column.toggle(
            "Rerank",
            value=services.rerank_by_default(),
            disabled=not rerank_available,
            key="analyst_rerank",
            help="Qwen3-VL judges the top hits and orders them by relevance probability."
            if rerank_available
            else "Unavailable: no reranker model is loaded (VLSEARCH_RERANK_MODEL), so hits keep their fused order.",
        )
        with st.expander("Filters", expanded=False):
            where = ui.filter_widgets(column_filters(facets), "analyst")
        submitted = st.form_submit_button("Search", type="primary", icon=":material/search:")
    if reduced:
        st.caption("OCR + keyword mode: alpha and fusion are greyed out because there are no vectors to weigh.")
    if not rerank_available:
        st.caption("Rerank is off: no reranker model is loaded, so hits keep their fused order (see Home).")

    if submitted:
        st.session_state.pop("analyst_search", None)
        if not text.strip() and image_file is None and where is None:
            st.warning("Type a query, add an image or set a filter first.", icon=":material/edit:")
        else:
            image = ui.query_image(image_file) if image_file else None
            label = " + ".join(part for part in (text.strip(), image_file.name if image_file else "") if part)
            search(
                services.searcher(),
                text=text.strip(),
                image=image.image if image else None,
                image_sha=image.sha256 if image else "",
                label=label,
                where=where,
            )

    example = st.session_state.pop("analyst_example", None)  # an example query picked on Home
    if example and not submitted:
        search(services.searcher(), text=example, image=None, image_sha="", label=example, where=None)
    opened = st.session_state.pop("analyst_open", None)  # a group or topic opened from Insights: text, where, label
    if opened and not submitted:
        search(services.searcher(), image=None, image_sha="", **opened)

    query = st.session_state.get("analyst_search")
    if query is None and not submitted:
        st.info(
            "Type a query or add an image, then press Search. Filters alone list the matching records, newest first."
        )
    elif query is not None:
        results(services.searcher(), query, list(facets))
