"""Analyst dashboard: hybrid search with filters, every score shown, facets, export and relevance feedback."""

import pandas as pd
import plotly.express as px
import streamlit as st
from PIL import Image

from pipeline.access.audit import Action, logged_query
from pipeline.access.auth import Permission
from pipeline.display.assets import asset_title, asset_view, fit_width
from pipeline.display.results import BASE_COLUMNS, SCORE_COLUMNS, facet_counts, hit_rows, hit_score_text, results_csv
from pipeline.records import Hit
from pipeline.search.feedback import query_id
from pipeline.search.highlight import chart_text, escape, highlight, to_html
from pipeline.search.searcher import Searcher
from pipeline.store.base import Fusion
from pipeline.store.filter_builder import build_where
from streamlit_app import ui

GRID_COLUMNS = 3
MAX_SHOWN = 100  # hits a page of cards stays readable with; VLSEARCH_MAX_RESULTS may lower it
SNIPPET_CHARS = 220
THUMB_BOX = (256, 170)
VOTE_BY_THUMB = {0: -1, 1: 1}
THUMB_BY_VOTE = {vote: thumb for thumb, vote in VOTE_BY_THUMB.items()}

user = ui.allowed(Permission.SEARCH, "analyst")
st.title("Analyst dashboard")


def search(
    searcher: Searcher, *, text: str, image: Image.Image | None, image_sha: str, label: str, where: str | None
) -> None:
    """Run the query with the form's settings (counted against the session's model calls, and audited) and keep
    the result for the reruns that follow."""
    rerank = bool(st.session_state.get("analyst_rerank"))
    with ui.audited(
        Action.SEARCH, user, page="analyst", query=logged_query(text), image=image_sha, filters=where or ""
    ) as outcome:
        ui.spend_model_calls(user, image=image is not None, rerank=rerank)
        result = searcher.search(
            text=text or None,
            image=image,
            alpha=st.session_state["analyst_alpha"],
            limit=int(st.session_state["analyst_limit"]),
            where=where,
            fusion=Fusion(st.session_state["analyst_fusion"]),
            rerank=rerank,
        )
        outcome["results"] = len(result.hits)
    st.session_state["analyst_search"] = {
        "text": text,
        "image_sha": image_sha,
        "label": label,
        "where": where,
        "result": result,
    }
    st.session_state.pop("analyst_selected", None)


def select(asset_id: str | None) -> None:
    st.session_state["analyst_selected"] = asset_id


def vote_widget(hit: Hit, query: dict, stored: dict[str, int]) -> None:
    """Thumbs up / down, written to the feedback log when it differs from what is stored."""
    key = f"analyst_vote_{query_id(query['text'], query['image_sha'])}_{hit.record.id}"
    previous = stored.get(hit.record.id)
    thumb = st.feedback("thumbs", key=key, default=THUMB_BY_VOTE[previous] if previous else None)
    if thumb is not None and VOTE_BY_THUMB[thumb] != stored.get(hit.record.id):
        ui.authorize(Permission.SEARCH, Action.FEEDBACK, page="analyst", asset=hit.record.id)  # the role as it is now
        ui.feedback_log().record(
            query_text=query["text"],
            query_image_sha=query["image_sha"],
            asset_id=hit.record.id,
            vote=VOTE_BY_THUMB[thumb],
        )
        stored[hit.record.id] = VOTE_BY_THUMB[thumb]


def result_card(rank: int, hit: Hit, keyword_text: str, query: dict, stored: dict[str, int]) -> None:
    record = hit.record
    with st.container(border=True):
        if record.thumbnail:
            st.image(record.thumbnail, width=fit_width(record, max_width=THUMB_BOX[0], max_height=THUMB_BOX[1]))
        st.markdown(f"**{rank}. {escape(asset_title(hit))}**")
        if record.caption:
            st.caption(escape(record.caption))
        if record.ocr_text:
            snippet = highlight(record.ocr_text, keyword_text, max_chars=SNIPPET_CHARS)
            st.markdown(to_html(snippet, inline=True), unsafe_allow_html=True)
        st.caption(hit_score_text(hit))
        votes, details = st.columns([1, 1], vertical_alignment="center")
        with votes:
            vote_widget(hit, query, stored)
        details.button(
            ui.OPEN_LABEL.get(record.source_kind, "Details"),
            key=f"analyst_details_{record.id}",
            on_click=select,
            args=(record.id,),
        )


def detail_section(searcher: Searcher, hit: Hit, keyword_text: str) -> None:
    record = hit.record
    view = asset_view(record, max_file_bytes=ui.limits().max_bytes)
    with st.container(border=True):
        heading, close = st.columns([6, 1])
        heading.subheader(escape(asset_title(hit)))
        close.button("Close", key="analyst_close", on_click=select, args=(None,))
        picture, fields = st.columns([3, 2])
        with picture:
            ui.asset_picture(hit, view, key="analyst_detail")
        with fields:
            st.caption(hit_score_text(hit))
            if record.caption:
                st.markdown(f"**Caption** {escape(record.caption)}")
            st.markdown("**Metadata**")
            st.table(field_table(sorted(record.metadata.items())), border="horizontal", hide_header=True)
            st.markdown("**Fields**")
            st.table(field_table(view.fields), border="horizontal", hide_header=True)
            similar = st.button(
                "Find similar", key="analyst_similar", icon=":material/image_search:", disabled=view.image is None
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
            label=f"similar to {asset_title(hit)}",
            where=st.session_state["analyst_search"]["where"],
        )
        st.rerun()


def field_table(rows: list[tuple[str, str]]) -> pd.Series:
    """Names and values for st.table, which renders its cells as Markdown: both come from data, so both are
    escaped (a manifest value `![](http://host/beacon.png)` must stay text, not make the browser fetch it)."""
    return pd.Series({escape(name): escape(value) for name, value in rows}, dtype=str)


def charts(hits: list[Hit], columns: list[str]) -> None:
    rows = pd.DataFrame(hit_rows(hits))
    by_column, scores = st.columns(2)
    with by_column:
        if columns:
            column = st.selectbox(
                "Results by",
                columns,
                key="analyst_facet_column",
                index=columns.index("category") if "category" in columns else 0,
            )
            counts = facet_counts(hits, column)
            figure = px.bar(  # Plotly reads HTML (links too) in labels and hover text: every value is escaped for it
                x=[chart_text(value) for value, _ in counts],
                y=[count for _, count in counts],
                labels={"x": chart_text(column), "y": "hits"},
                title=f"Results by {chart_text(column)}",
            )
            st.plotly_chart(figure, key="analyst_facet_chart")
        else:
            st.caption("No metadata columns to group by.")
    with scores:
        present = [name for name in SCORE_COLUMNS if rows[name].notna().any()]
        score = st.selectbox("Score", present, key="analyst_score_column")
        figure = px.histogram(rows, x=score, nbins=20, title=f"Distribution of {score} scores")
        st.plotly_chart(figure, key="analyst_score_chart")


with ui.guard("searching"):
    services = ui.services()
    settings = services.settings
    facets = ui.facets()
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
            help="Weight of vector similarity against BM25. Without an embedding model search is keyword only.",
        )
        most = min(MAX_SHOWN, settings.max_results)
        limit_column.number_input(
            "Results",
            1,
            most,
            min(12, most),
            key="analyst_limit",
            help=f"At most {most} (VLSEARCH_MAX_RESULTS caps it)",
        )
        fusion_column.radio(
            "Fusion",
            [fusion.value for fusion in Fusion],
            horizontal=True,
            key="analyst_fusion",
            index=[fusion.value for fusion in Fusion].index(settings.fusion),
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
        selections: dict[str, list[str]] = {}
        with st.expander("Filters", expanded=False):
            filter_columns = st.columns(4)
            for index, (column, values) in enumerate(facets.items()):
                counts = dict(values)
                selections[column] = filter_columns[index % 4].multiselect(
                    escape(column),  # a widget label is Markdown
                    list(counts),
                    key=f"analyst_filter_{column}",
                    format_func=lambda value, counts=counts: f"{value[:60]} ({counts[value]})",
                )
        submitted = st.form_submit_button("Search", type="primary", icon=":material/search:")
    if not rerank_available:
        st.caption("Rerank is off: no reranker model is loaded, so hits keep their fused order (see Home).")

    if submitted:
        st.session_state.pop("analyst_search", None)
        image = ui.query_image(image_file) if image_file else None
        label = " + ".join(part for part in (text.strip(), image_file.name if image_file else "") if part)
        search(
            services.searcher(),
            text=text.strip(),
            image=image.image if image else None,
            image_sha=image.sha256 if image else "",
            label=label,
            where=build_where(selections),
        )

    query = st.session_state.get("analyst_search")
    if query is None:
        st.info("Type a query or add an image, then press Search. Filters narrow the results by metadata.")
    else:
        result = query["result"]
        hits = result.hits
        for notice in result.notices:
            st.info(notice, icon=":material/info:")
        st.caption(
            f"{len(hits)} hits for {escape(query['label'])} · effective alpha {result.alpha:g}"
            f" · {result.fusion} fusion"
            f"{f' · reranked {result.reranked}' if result.reranked else ''}"
            f" · filter: {escape(query['where'] or 'none')}"
        )
        if result.ocr_text:
            with st.expander("Text read from the query image"):
                st.text(result.ocr_text)
        selected = next((hit for hit in hits if hit.record.id == st.session_state.get("analyst_selected")), None)
        if selected is not None:
            detail_section(services.searcher(), selected, result.keyword_text)
        if not hits:
            st.warning("No hits. Try other words or fewer filters.")
        else:
            grid_tab, charts_tab, table_tab = st.tabs(["Results", "Charts", "Table and export"])
            with grid_tab:
                stored = ui.feedback_log().votes_for(query_text=query["text"], query_image_sha=query["image_sha"])
                for start in range(0, len(hits), GRID_COLUMNS):
                    row = hits[start : start + GRID_COLUMNS]
                    for offset, (column, hit) in enumerate(zip(st.columns(GRID_COLUMNS), row)):
                        with column:
                            result_card(start + offset + 1, hit, result.keyword_text, query, stored)
            with charts_tab:
                charts(hits, list(facets))
            with table_tab:
                st.download_button(
                    "Download CSV",
                    results_csv(hits),
                    file_name="vlsearch-results.csv",
                    mime="text/csv",
                    key="analyst_csv",
                    on_click="ignore",
                    icon=":material/download:",
                )
                table = pd.DataFrame(hit_rows(hits))
                metadata = [column for column in table.columns if column not in BASE_COLUMNS]
                located = [column for column in ("page", "window") if table[column].notna().any()]
                st.dataframe(
                    table,
                    hide_index=True,
                    key="analyst_table",
                    column_order=["rank", "source", *located, *SCORE_COLUMNS, *metadata, "caption", "uri", "id"],
                )
