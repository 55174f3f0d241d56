"""Insights: volume over time by any metadata column with a date and the change from the previous period, groups of
near-identical images (the same screen reported again and again) and topics, each group or topic one click from its
members as a search, every chart and list as CSV."""

import time
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from pipeline.access.audit import Action, logged_query
from pipeline.access.auth import Permission
from pipeline.display.assets import fit_width
from pipeline.display.filters import column_filters
from pipeline.formatting import file_name
from pipeline.insights.export import changes_csv, groups_csv, topics_csv, volume_csv
from pipeline.insights.near_duplicates import Group
from pipeline.insights.report import Insights, InsightsRequest, Topic, date_columns
from pipeline.insights.services import collection_insights
from pipeline.insights.volume import INGESTED_AT, Period, Volume
from pipeline.records import AssetRecord
from pipeline.search.highlight import chart_text, escape
from streamlit_app import ui

DEFAULT_BY = ("app", "error_code")
THUMBS = 6  # member thumbnails shown per group or topic
THUMB_BOX = (150, 110)
CHANGES_SHOWN = 10
RISES_NAMED = 3
MEMBERS_LISTED = 500
THIS = {Period.DAY: "this day", Period.WEEK: "this week", Period.MONTH: "this month"}
LAST = {Period.DAY: "the day before", Period.WEEK: "last week", Period.MONTH: "last month"}
TOPIC_MODES = {"vectors": "by meaning (the stored vectors)", "text": "by OCR text and captions"}

user = ui.allowed(Permission.SEARCH, "insights")
st.title("Insights")


@st.cache_data(ttl=ui.FACETS_TTL_S, show_spinner=False)
def _date_columns(collection: str, count: int) -> list[str]:
    # Keyed by the collection and its size like the facets: an ingest shows a new date column at once.
    store = ui.services().store
    return date_columns(store, store.summaries())


def collection_key() -> str:
    settings = ui.services().settings
    return f"{settings.store}:{settings.data_dir}:{settings.collection}"


def combined(expression: str, picked: str | None) -> str | None:
    """The typed filter expression and the picked values, both narrowing."""
    parts = [part for part in (expression.strip(), picked or "") if part]
    return " AND ".join(f"({part})" for part in parts) if len(parts) > 1 else (parts[0] if parts else None)


def compare_more() -> None:
    st.session_state["insights_fresh"] = True


def computed(request: InsightsRequest) -> Insights:
    """The insights for `request`, kept for this session until the collection changes, a minute passes or more
    assets are to be compared; comparing runs VLSEARCH_INSIGHTS_COMPARE_S at most, with a progress bar."""
    key = (request, collection_key(), ui.services().store.count())
    kept = st.session_state.get("insights_result")
    fresh = st.session_state.pop("insights_fresh", False)
    if kept and kept["key"] == key and not fresh and time.monotonic() - kept["at"] < ui.FACETS_TTL_S:
        return kept["found"]
    bar = st.empty()

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Comparing new assets for near-duplicates: {done:,} of {total:,}")

    with (
        ui.audited(
            Action.SEARCH,
            user,
            page="insights",
            query=logged_query(request.query),
            filters=request.where or "",
            by=",".join(request.by),
        ) as outcome,
        st.spinner("Counting, grouping near-identical images and finding topics…"),
    ):
        if request.query:
            ui.spend_model_calls(user, image=False, rerank=False)
        services = ui.services()
        budget = services.settings.insights_compare_s  # then it shows what it has, with "Compare more"
        found = collection_insights(services, request, compare_budget_s=budget, progress=progress)
        outcome["assets"] = found.assets
    bar.empty()
    st.session_state["insights_result"] = {"key": key, "at": time.monotonic(), "found": found}
    return found


def records_of(found: Insights) -> dict[str, AssetRecord]:
    """The records whose thumbnails the groups and topics show, read in one call."""
    ids = [member.id for group in found.groups for member in group.members[:THUMBS]]
    ids += [example.id for topic in found.topics for example in topic.examples[:THUMBS]]
    return {record.id: record for record in ui.services().store.get(list(dict.fromkeys(ids)))}


def thumbnails(ids: list[str], records: dict[str, AssetRecord]) -> None:
    slots = st.columns(THUMBS)
    for slot, asset_id in zip(slots, ids[:THUMBS]):
        record = records.get(asset_id)
        if record is None or not record.thumbnail:
            continue
        slot.image(record.thumbnail, width=fit_width(record, max_width=THUMB_BOX[0], max_height=THUMB_BOX[1]))
        slot.caption(escape(file_name(record.uri)))  # Markdown: a file name from data is escaped


def open_as_search(label: str, key: str, *, text: str, where: str | None, what: str, help: str) -> None:
    """A button that runs the search on the Analyst dashboard (which reads `analyst_open` once)."""
    if st.button(label, key=key, icon=":material/manage_search:", help=help):
        st.session_state["analyst_open"] = {"text": text, "where": where, "label": what}
        st.switch_page("views/analyst.py")


def volume_section(found: Insights, volume: Volume, period: Period) -> None:
    by = volume.by or "all"
    title = f"Assets per {period.value}" + (f" by {volume.by}" if volume.by else "")
    if not volume.periods:
        st.info(f"{title}: none of the {found.assets:,} assets in view has a {escape(found.date_column)}.")
        return
    chart, changes = st.columns([3, 2])
    with chart:
        rows = pd.DataFrame(
            [
                {"period": label, "value": chart_text(value), "assets": counts[position]}
                for value, counts in volume.counts.items()
                for position, label in enumerate(volume.periods)
            ]
        )
        # Plotly reads HTML in titles, legends and hover text: every value from data is escaped for it.
        figure = px.bar(
            rows,
            x="period",
            y="assets",
            color="value",
            title=chart_text(title),
            labels={"period": period.value, "value": chart_text(by)},
        )
        figure.update_xaxes(type="category")
        st.plotly_chart(figure, key=f"insights_volume_chart_{by}")
        if volume.undated:
            st.caption(f"{volume.undated:,} assets in view have no {escape(found.date_column)} and are not counted.")
        ui.csv_download(
            "Download chart CSV",
            volume_csv(volume),
            file_name=f"insights-volume-{by}.csv",
            key=f"insights_volume_csv_{by}",
            help="Assets per period and value: the chart's data.",
        )
    with changes:
        st.markdown(f"**Change by {escape(by)}: {volume.current} against {volume.previous or 'nothing before'}**")
        rises = [change for change in volume.changes if change.delta > 0][:RISES_NAMED]
        if rises:
            st.caption(
                " · ".join(
                    escape(f"{change.value}: {change.current} {THIS[period]}, {change.previous} {LAST[period]}")
                    for change in rises
                )
            )
        if volume.changes:
            shown = volume.changes[:CHANGES_SHOWN]
            # st.table renders cells as Markdown: values come from data, so they are escaped.
            table = pd.DataFrame(
                {
                    f"{THIS[period]} ({volume.current})": [str(change.current) for change in shown],
                    f"{LAST[period]} ({volume.previous or '—'})": [str(change.previous) for change in shown],
                    "change": [f"{change.delta:+d}" if change.delta else "0" for change in shown],
                },
                index=[escape(change.value) for change in shown],
            )
            st.table(table, border="horizontal")
            if len(volume.changes) > len(shown):
                st.caption(f"{len(volume.changes) - len(shown)} more values in the changes CSV.")
        else:
            st.caption(f"Nothing in view is dated {volume.current} or {volume.previous}.")
        ui.csv_download(
            "Download changes CSV",
            changes_csv(volume),
            file_name=f"insights-change-{by}.csv",
            key=f"insights_changes_csv_{by}",
            help="Every value's count in the current and the previous period.",
        )


def group_card(number: int, group: Group, found: Insights, period: Period, records: dict[str, AssetRecord]) -> None:
    with st.container(border=True):
        name = file_name(group.representative.uri)
        st.markdown(f"**{number}. {group.size} near-identical images, like {escape(name)}**")
        st.caption(
            f"{group.current} {THIS[period]} ({found.current or '—'}), {group.previous} {LAST[period]} "
            f"({found.previous or '—'}) · growth {group.growth:+d}"
        )
        if group.words:
            st.caption(f"Words they share: {escape(', '.join(group.words))}")
        thumbnails([member.id for member in group.members], records)
        if group.size > THUMBS:
            st.caption(f"and {group.size - THUMBS} more")
        open_as_search(
            "Open as search",
            f"insights_group_open_{group.representative.id}",
            text="",
            where=group.filter,
            what=f"near-identical to {name}",
            help="Lists the group's images on the Analyst dashboard.",
        )


def topic_card(topic: Topic, found: Insights, period: Period, records: dict[str, AssetRecord]) -> None:
    with st.container(border=True):
        st.markdown(f"**Topic {topic.number}: {escape(', '.join(topic.words))}**")
        st.caption(
            f"{topic.size:,} assets · {topic.current} {THIS[period]} ({found.current or '—'}), {topic.previous} "
            f"{LAST[period]} ({found.previous or '—'}) · growth {topic.growth:+d}"
        )
        if topic.summary:
            st.markdown(escape(topic.summary))
        thumbnails([example.id for example in topic.examples], records)
        open_as_search(
            "Open as search",
            f"insights_topic_open_{topic.number}",
            text=topic.query,
            where=found.request.where,
            what=f"topic {topic.number}",
            help="Searches for the topic's words (with this page's filter) on the Analyst dashboard.",
        )
        members = st.expander(
            f"All {topic.size:,} members", key=f"insights_topic_members_{topic.number}", on_change="rerun"
        )
        if members.open:
            with members:
                listed = ui.services().store.get(topic.member_ids[:MEMBERS_LISTED])
                st.dataframe(
                    pd.DataFrame(
                        [{"name": file_name(record.uri), **record.metadata, "uri": record.uri} for record in listed]
                    ),
                    hide_index=True,
                    key=f"insights_topic_table_{topic.number}",
                )
                if topic.size > len(listed):
                    st.caption(f"The first {len(listed):,}; open the topic as a search for the rest.")


def groups_section(found: Insights, period: Period, records: dict[str, AssetRecord]) -> None:
    st.subheader(f"Near-identical images: {found.group_count:,} group{'' if found.group_count == 1 else 's'}")
    if found.not_compared:
        st.warning(
            f"{found.not_compared:,} assets not compared yet: the groups may grow once they are.",
            icon=":material/hourglass_top:",
        )
        st.button("Compare more", key="insights_compare_more", on_click=compare_more, icon=":material/play_arrow:")
    if not found.groups:
        st.caption("No two assets in view show the same screen or picture.")
        return
    order = st.radio("Rank by", ["size", "growth"], horizontal=True, key="insights_group_order")
    ranked = sorted(found.groups, key=lambda group: (-group.growth, -group.size)) if order == "growth" else found.groups
    ui.csv_download(
        "Download groups CSV",
        groups_csv(ranked),
        file_name="insights-groups.csv",
        key="insights_groups_csv",
        help="One row per member, with its group's figures.",
    )
    if found.group_count > len(ranked):
        st.caption(f"The {len(ranked)} largest of {found.group_count:,} groups.")
    for number, group in enumerate(ranked, start=1):
        group_card(number, group, found, period, records)


def topics_section(found: Insights, period: Period, records: dict[str, AssetRecord]) -> None:
    st.subheader("Topics")
    if not found.topics:
        st.caption("Too few assets in view to find topics.")
        return
    st.caption(
        f"Clusters of the collection found {TOPIC_MODES.get(found.topic_mode or '', '')}, each labelled by its most "
        "distinctive words" + (" and summed up by the captioner." if any(t.summary for t in found.topics) else ".")
    )
    ui.csv_download(
        "Download topics CSV",
        topics_csv(found.topics),
        file_name="insights-topics.csv",
        key="insights_topics_csv",
        help="Each topic's words, summary, size and its count in the current and the previous period.",
    )
    for topic in found.topics:
        topic_card(topic, found, period, records)


with ui.guard("reading insights"):
    services = ui.services()
    count = services.store.count()
    if count == 0:
        st.info(
            "No images yet: add some on the Home page, then see what they say here.", icon=":material/photo_library:"
        )
        st.page_link("views/home.py", label="Add images on Home", icon=":material/add_photo_alternate:")
        st.stop()
    facets = ui.facets()
    metadata = services.store.metadata_columns()
    dates = _date_columns(collection_key(), count)

    with st.form("insights_form"):
        text_column, where_column = st.columns(2)
        text = text_column.text_input(
            "Query (optional)", key="insights_text", placeholder="card declined", help="Only the query's hits."
        )
        expression = where_column.text_input(
            "Filter expression (optional)",
            key="insights_where",
            placeholder="category = 'billing' AND created_at >= '2025-01-01'",
            help="The filter grammar of docs/search.md; the value pickers below narrow it further.",
        )
        with st.expander("Filters", expanded=False):
            picked = ui.filter_widgets(column_filters(facets), "insights")
        date_column, by_column, period_column = st.columns([2, 3, 2])
        date_column.selectbox(
            "Date",
            dates,
            key="insights_date_column",
            help="The date assets are counted by: a metadata column of dates, or when each was ingested.",
        )
        by_column.multiselect(
            "Count by",
            metadata,
            default=[column for column in DEFAULT_BY if column in metadata],
            key="insights_by",
            help="One chart per column; none: one chart of everything.",
        )
        period_column.radio(
            "Period", [period.value for period in Period], index=2, horizontal=True, key="insights_period"
        )
        st.form_submit_button("Show insights", type="primary", icon=":material/insights:")

    period = Period(st.session_state["insights_period"])
    request = InsightsRequest(
        query=text.strip() or None,
        where=combined(expression, picked),
        date_column=st.session_state["insights_date_column"],
        by=tuple(st.session_state["insights_by"]),
        period=period,
    )
    found = computed(request)
    if found.assets == 0:
        st.warning("Nothing in view: no asset matches this query and filter. Try fewer filters or other words.")
        st.stop()
    described: list[Any] = [f"{found.assets:,} assets in view"]
    if request.query:
        described.append(f"query: {escape(request.query)}")
    described.append(f"filter: {escape(request.where or 'none')}")
    st.caption(" · ".join(described))
    for note in found.notes:
        st.caption(escape(note))
    if found.date_columns == [INGESTED_AT]:
        st.info(
            "No metadata column holds dates, so assets are counted by when they were ingested (ingested_at). A "
            "manifest column of ISO dates (such as created_at) counts them by their own dates.",
            icon=":material/event_busy:",
        )

    st.subheader(f"Volume per {period.value}")
    st.caption(
        f"Counted by {escape(found.date_column)}. The current {period.value} is the one of the latest date in view "
        f"({found.current or '—'}), compared with the one before ({found.previous or '—'})."
    )
    for volume in found.volumes:
        volume_section(found, volume, period)
    records = records_of(found)
    groups_section(found, period, records)
    topics_section(found, period, records)
