"""Screenshot lookup: a customer's screenshot in, the past tickets with the same problem (and their fixes) out."""

import streamlit as st

from pipeline.access.audit import Action, logged_query
from pipeline.access.auth import Permission
from pipeline.display.assets import asset_view
from pipeline.display.results import hit_label, hit_score_text
from pipeline.records import SourceKind
from pipeline.search.highlight import escape, highlight, to_html
from pipeline.search.lookup import KEYWORD_RULE, Lookup, TicketMatch, lookup_tickets, relevance_threshold, rerank_rule
from streamlit_app import ui

SHOWN_TERMS = 15
DETAIL_COLUMNS = ("category", "app", "created_at", "error_code", "language")

user = ui.allowed(Permission.SEARCH, "lookup")
st.title("Screenshot lookup")
st.caption("Drop the screenshot a customer sent: see past tickets that show the same problem and how they were solved.")


def ticket_card(match: TicketMatch, lookup: Lookup, *, best: bool) -> None:
    record = match.hit.record
    with st.container(border=True):
        picture, body = st.columns([1, 3])
        if record.thumbnail:
            picture.image(record.thumbnail)
        with body:
            title = escape(match.ticket_id)
            st.subheader(f"Best match: {title}" if best else title)
            if record.source_kind != SourceKind.IMAGE:
                st.caption(escape(hit_label(match.hit)))
            details = [
                f"{column} **{escape(record.metadata[column])}**"
                for column in DETAIL_COLUMNS
                if record.metadata.get(column)
            ]
            st.markdown(" · ".join(details))
            if match.resolution and match.confident:
                st.success(f"**Resolution:** {escape(match.resolution)}", icon=":material/task_alt:")
            elif match.resolution:
                st.markdown(f"**Resolution there:** {escape(match.resolution)}")
            st.markdown(f"**Why:** {escape(match.reason)}")
            evidence = match.evidence
            if evidence.codes:
                st.markdown(
                    "Error code " + ", ".join(f"<mark>{escape(code)}</mark>" for code in evidence.codes),
                    unsafe_allow_html=True,
                )
            if evidence.shared_terms:
                more = len(evidence.shared_terms) - SHOWN_TERMS
                shown = ", ".join(evidence.shared_terms[:SHOWN_TERMS]) + (f" … and {more} more" if more > 0 else "")
                st.caption(f"Shared words: {escape(shown)}")
            st.caption(hit_score_text(match.hit))
        opener = ui.OPEN_LABEL.get(record.source_kind)
        if opener and st.toggle(opener, key=f"lookup_open_{record.id}"):
            ui.asset_picture(
                match.hit, asset_view(record, max_file_bytes=ui.limits().max_bytes), key=f"lookup_{record.id}"
            )
        with st.expander("Ticket screenshot text, shared words marked"):
            st.markdown(to_html(highlight(record.ocr_text, lookup.query_text)), unsafe_allow_html=True)


with ui.guard("looking up the screenshot"):
    services = ui.services()
    settings = services.settings
    rerank = services.rerank_by_default()
    threshold = relevance_threshold(settings.min_relevance)

    with st.form("lookup_form"):
        upload_column, note_column = st.columns([3, 2])
        with upload_column:
            upload = ui.image_uploader(
                "Customer's screenshot",
                "lookup_screenshot",
                help="Drag it here or browse; save a pasted image to a file first.",
            )
        note = note_column.text_area(
            "Note (optional)",
            key="lookup_note",
            height=110,
            placeholder="What the customer wrote, an error code they quoted…",
        )
        submitted = st.form_submit_button("Find matching tickets", type="primary", icon=":material/search:")

    with st.expander("How a confident match is decided"):
        if rerank:
            st.markdown(rerank_rule(threshold))
        st.markdown(KEYWORD_RULE)
        st.caption("Only assets with a ticket id are searched. The best match is the highest-ranked confident one.")

    if submitted:
        st.session_state.pop("lookup_result", None)
        if upload is None:
            st.warning("Add the customer's screenshot first.")
        else:
            screenshot = ui.query_image(upload)
            with ui.audited(
                Action.SEARCH, user, page="lookup", query=logged_query(note), image=screenshot.sha256
            ) as outcome:
                ui.spend_model_calls(user, image=True, rerank=rerank)
                lookup = lookup_tickets(
                    services.searcher(),
                    image=screenshot.image,
                    note=note,
                    alpha=settings.alpha,
                    rerank=rerank,
                    min_probability=threshold,
                )
                outcome["results"] = len(lookup.matches)
            st.session_state["lookup_result"] = {"image": upload.getvalue(), "lookup": lookup}

    shown = st.session_state.get("lookup_result")
    if shown is not None:
        lookup: Lookup = shown["lookup"]
        for notice in lookup.notices:
            st.info(notice, icon=":material/info:")
        screenshot_column, matches_column = st.columns([1, 2])
        with screenshot_column:
            st.image(shown["image"], caption="Customer's screenshot")
            st.markdown("**Text read from it**")
            with st.container(height=320):
                st.text(lookup.ocr_text or "(no text found)")
            if lookup.query_codes:
                st.markdown("Error codes: " + ", ".join(f"**{escape(code)}**" for code in lookup.query_codes))
        with matches_column:
            if lookup.best is None:
                st.warning(
                    "**No confident match.** No past ticket passes the cutoff; treat this as a new problem.",
                    icon=":material/help:",
                )
            for index, match in enumerate(lookup.confident):
                ticket_card(match, lookup, best=index == 0)
            unsure = [match for match in lookup.matches if not match.confident]
            if unsure:
                st.markdown(f"**Closest tickets below the cutoff ({len(unsure)})**")
            for match in unsure:
                ticket_card(match, lookup, best=False)
