"""Moderation queue: review uploads that resemble known-bad content, beside the references they matched."""

import pandas as pd
import plotly.express as px
import streamlit as st

from pipeline.access.auth import AuthMode, Permission
from pipeline.moderation.desk import ReviewDesk
from pipeline.moderation.library import reference_thumbnails
from pipeline.moderation.matching import Match
from pipeline.moderation.queue import OPEN_STATES, TRANSITIONS, QueueItem, State, iso_time
from pipeline.moderation.removal import content_remover
from pipeline.moderation.services import Moderation, build_moderation
from pipeline.search.highlight import escape
from streamlit_app import ui

ALL = "all"
SHORTCUTS = {State.APPROVED: "A", State.REMOVED: "X", State.ESCALATED: "E"}  # "R" is Streamlit's rerun key
LABELS = {State.APPROVED: "Approve", State.REMOVED: "Remove", State.ESCALATED: "Escalate"}
ICONS = {State.APPROVED: ":material/check:", State.REMOVED: ":material/delete:", State.ESCALATED: ":material/flag:"}

user = ui.allowed(Permission.MODERATE, "moderation")
st.title("Moderation queue")
st.caption("Uploads that resemble known-bad content. Decide each one; every decision is kept in the audit log.")


@st.cache_resource(show_spinner="Opening the moderation queue…")
def moderation() -> Moderation:
    return build_moderation(ui.services())


def desk() -> ReviewDesk:
    """The queue as this user may use it at this moment: built for each action with the role read again (a button
    callback would otherwise act with the page's previous run's user). The reviewer is the signed-in name (typed
    in only when sign-in is off); a Remove decision deletes the content from the main collection."""
    typed = st.session_state.get("moderation_reviewer", "")
    services = ui.services()
    return ReviewDesk(
        moderation().queue,
        ui.audit_log(),
        ui.user_now(),
        typed if user.mode == AuthMode.OFF else user.name,
        content_remover(services.store, services.settings),
    )


def decide(item_id: int, state: State) -> None:
    """Button callback: runs before the rerun, so the page then shows the next item."""
    with ui.guard("saving the decision"):
        decision = desk().decide(item_id, state, st.session_state.get("moderation_note", ""))
        st.session_state["moderation_note"] = ""
        st.session_state["moderation_done"] = f"Item {item_id}: {state}."
        if decision.removed is not None:
            st.session_state["moderation_removed"] = decision.removed.describe()


def skip(item_id: int) -> None:
    with ui.guard("skipping the item"):
        desk().release(item_id)
        st.session_state.setdefault("moderation_skipped", set()).add(item_id)


def match_card(match: Match, thumbnails: dict[str, bytes]) -> None:
    with st.container(border=True):
        picture, body = st.columns([1, 3])
        if match.reference_id in thumbnails:
            picture.image(thumbnails[match.reference_id])
        body.markdown(f"**{escape(match.category)}** · `{match.rule}`")
        body.caption(escape(match.describe()))


def review(item: QueueItem, thumbnails: dict[str, bytes]) -> None:
    st.subheader(f"Item {item.id} · {escape(item.category)}")
    upload, references = st.columns([2, 3])
    with upload:
        st.image(item.thumbnail, caption=escape(item.uri))
        st.caption(f"queued {iso_time(item.created_at)} · {item.state} · sha256 {item.sha256[:12]}…")
        if item.lease_expires_at:
            st.caption(f"claimed by you until {iso_time(item.lease_expires_at)}")
    with references:
        st.markdown(f"**Why it was queued** ({len(item.matches)} match{'es' if len(item.matches) > 1 else ''})")
        for match in item.matches:
            match_card(match, thumbnails)
    st.text_input("Note (kept in the audit log)", key="moderation_note")
    buttons = st.columns(4)
    for column, state in zip(buttons, (State.APPROVED, State.REMOVED, State.ESCALATED), strict=False):
        if state in TRANSITIONS[item.state]:
            column.button(
                LABELS[state],
                key=f"moderation_{state}",
                icon=ICONS[state],
                shortcut=SHORTCUTS[state],
                type="primary" if state == State.REMOVED else "secondary",
                on_click=decide,
                args=(item.id, state),
                width="stretch",
            )
    buttons[3].button(
        "Skip",
        key="moderation_skip",
        icon=":material/skip_next:",
        shortcut="S",
        on_click=skip,
        args=(item.id,),
        width="stretch",
    )
    st.caption("Keys: A approve · X remove · E escalate · S skip")


def activity_chart(rows: list[tuple[str, str, int]]) -> None:
    if not rows:
        return
    frame = pd.DataFrame(rows, columns=["day", "event", "count"])
    figure = px.bar(frame, x="day", y="count", color="event", barmode="group", title="Queued and decided per day (UTC)")
    st.plotly_chart(figure, key="moderation_activity")


with ui.guard("reading the moderation queue"):
    queue = moderation().queue
    counts = queue.counts()
    for column, state in zip(st.columns(len(State)), State, strict=True):
        column.metric(state.value.capitalize(), counts[state])

    reviewer_column, state_column, category_column = st.columns(3)
    if user.mode == AuthMode.OFF:
        reviewer_column.text_input("Reviewer", key="moderation_reviewer", placeholder="your name")
    else:
        reviewer_column.text_input("Reviewer", value=user.name, disabled=True, help="the signed-in user")
    reviewer = desk().reviewer
    state = state_column.selectbox("State", [*State, ALL], key="moderation_state")
    category = category_column.selectbox("Category", [ALL, *queue.categories()], key="moderation_category")
    chosen_state = None if state == ALL else State(state)
    chosen_category = None if category == ALL else category

    done = st.session_state.pop("moderation_done", None)
    if done:
        st.success(done, icon=":material/task_alt:")
    removed = st.session_state.pop("moderation_removed", None)
    if removed:
        st.info(f"Removed content: {escape(removed)}.", icon=":material/delete:")

    if chosen_state in OPEN_STATES:
        if not reviewer.strip():
            st.info(
                "Enter your name as reviewer to start: items are claimed in your name while you review them.",
                icon=":material/badge:",
            )
        else:
            item = desk().claim_next(
                state=chosen_state,
                category=chosen_category,
                skip=st.session_state.get("moderation_skipped", set()),
            )
            if item is None:
                st.success(f"Nothing left to review here ({chosen_state}).", icon=":material/done_all:")
            else:
                ids = [match.reference_id for match in item.matches if match.reference_id]
                review(item, reference_thumbnails(moderation().library.store, ids))

    items = queue.items(state=chosen_state, category=chosen_category)
    st.markdown(f"**Queue** ({len(items)} item{'' if len(items) == 1 else 's'})")
    st.dataframe(
        [
            {
                "id": entry.id,
                "state": str(entry.state),
                "category": entry.category,
                "rules": ", ".join(dict.fromkeys(match.rule.value for match in entry.matches)),
                "upload": entry.uri,
                "claimed by": entry.claimed_by or "",
                "reviewer": entry.reviewer or "",
                "note": entry.note,
                "queued": iso_time(entry.created_at),
            }
            for entry in items
        ],
        hide_index=True,
        key="moderation_items",
    )
    activity_chart(queue.activity())
