"""Moderation queue: review uploads that resemble known-bad content, beside the references they matched."""

import logging

import pandas as pd
import plotly.express as px
import streamlit as st

from pipeline.access.auth import AuthMode, Permission, Role
from pipeline.moderation.desk import ReviewDesk, blurred_jpeg
from pipeline.moderation.library import reference_thumbnails
from pipeline.moderation.matching import Match
from pipeline.moderation.queue import OPEN_STATES, TRANSITIONS, QueueItem, State, iso_time
from pipeline.moderation.removal import content_remover
from pipeline.moderation.services import Moderation, build_moderation
from pipeline.search.highlight import escape
from streamlit_app import ui

log = logging.getLogger(__name__)

ALL = "all"
# Streamlit ignores single-key shortcuts while a text box, text area or select has focus ("R" is its rerun key).
SHORTCUTS = {State.APPROVED: "A", State.REMOVED: "X", State.ESCALATED: "E"}
LABELS = {State.APPROVED: "Approve", State.REMOVED: "Remove", State.ESCALATED: "Escalate"}
ICONS = {State.APPROVED: ":material/check:", State.REMOVED: ":material/delete:", State.ESCALATED: ":material/flag:"}
SKIPPED = "moderation_skipped"  # item ids this reviewer skipped, in order (Undo skip brings back the last)
PREFERRED = "moderation_preferred"  # an item whose skip was undone: shown next while it is still free
CONFIRM_REMOVE = "moderation_confirm_remove"  # the item whose Remove waits for "Yes, remove"
REVEALED = "moderation_revealed"  # sensitive items this reviewer chose to see unblurred

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


def skipped() -> list[int]:
    return list(st.session_state.get(SKIPPED, []))


def decide(item_id: int, state: State) -> None:
    """Button callback: runs before the rerun, so the page then shows the next item."""
    st.session_state.pop(CONFIRM_REMOVE, None)
    with ui.guard("saving the decision"):
        decision = desk().decide(item_id, state, st.session_state.get("moderation_note", ""))
        st.session_state["moderation_note"] = ""
        st.session_state["moderation_done"] = f"Item {item_id}: {state}."
        if decision.removed is not None:
            st.session_state["moderation_removed_content"] = decision.removed.describe()


def ask_to_remove(item_id: int) -> None:
    """Remove deletes content and is final: the button (or X) only asks; "Yes, remove" decides."""
    st.session_state[CONFIRM_REMOVE] = item_id


def cancel_remove() -> None:
    st.session_state.pop(CONFIRM_REMOVE, None)


def claim(item_id: int) -> None:
    with ui.guard("claiming the item"):
        item = desk().claim(item_id)
        st.session_state["moderation_done"] = f"Item {item_id} is yours until {iso_time(item.lease_expires_at or 0)}."


def release(item_id: int) -> None:
    with ui.guard("releasing the claim"):
        holder = desk().release(item_id)
        st.session_state["moderation_done"] = f"Item {item_id}: claim by {holder} released."


def skip(item_id: int) -> None:
    st.session_state.pop(CONFIRM_REMOVE, None)
    with ui.guard("skipping the item"):
        desk().skip(item_id)
        st.session_state[SKIPPED] = [*skipped(), item_id]
        st.session_state["moderation_note"] = ""  # a note is about one item, not the next
        st.session_state.pop(PREFERRED, None)


def undo_skip() -> None:
    """Bring back the last skipped item: it is shown next if nobody has claimed it meanwhile."""
    remaining = skipped()
    if remaining:
        st.session_state[PREFERRED] = remaining.pop()
        st.session_state[SKIPPED] = remaining


def show_skipped() -> None:
    st.session_state[SKIPPED] = []
    st.session_state.pop(PREFERRED, None)


def reveal(item_id: int, categories: list[str]) -> None:
    with ui.guard("revealing the item"):
        desk().reveal(item_id, categories)
        st.session_state[REVEALED] = {*st.session_state.get(REVEALED, set()), item_id}
        log.info("moderation item %s revealed unblurred (%s)", item_id, ", ".join(categories))


def picture(thumbnail: bytes, hidden: bool) -> bytes:
    """Sensitive pictures leave the server blurred until the reviewer reveals the item."""
    return blurred_jpeg(thumbnail) if hidden else thumbnail


def match_card(match: Match, thumbnails: dict[str, bytes], hidden: bool) -> None:
    with st.container(border=True):
        image, body = st.columns([1, 3])
        if match.reference_id in thumbnails:
            image.image(picture(thumbnails[match.reference_id], hidden))
        body.markdown(f"**{escape(match.category)}** · `{match.rule}`")
        body.caption(escape(match.describe()))


def claim_line(item: QueueItem, reviewer: str) -> None:
    """Who holds the item: the claim is explicit (Claim) or taken by the first decision, never by showing it."""
    holder = item.holder(moderation().queue.clock())
    if holder == reviewer:
        st.caption(f"claimed by you until {iso_time(item.lease_expires_at or 0)}")
    else:
        st.caption("not claimed: Claim holds it for you; a decision claims it too")


def remove_confirmation(item: QueueItem) -> None:
    with st.container(border=True):
        st.warning(
            f"Remove item {item.id}? Its content is deleted from the collection and the decision is final.",
            icon=":material/warning:",
        )
        yes, no = st.columns(2)
        yes.button(
            "Yes, remove",
            key="moderation_confirm_remove_yes",
            type="primary",
            icon=ICONS[State.REMOVED],
            on_click=decide,
            args=(item.id, State.REMOVED),
            width="stretch",
        )
        no.button("Cancel", key="moderation_confirm_remove_no", on_click=cancel_remove, width="stretch")


def review(item: QueueItem, reviewer: str) -> None:
    categories = list(dict.fromkeys(match.category for match in item.matches))
    hidden = moderation().rules.is_sensitive(categories) and item.id not in st.session_state.get(REVEALED, set())
    ids = [match.reference_id for match in item.matches if match.reference_id]
    thumbnails = reference_thumbnails(moderation().library.store, ids)
    st.subheader(f"Item {item.id} · {escape(item.category)}")
    upload, references = st.columns([2, 3])
    with upload:
        st.image(picture(item.thumbnail, hidden), caption=escape(item.uri))
        if hidden:
            st.button(
                "Reveal",
                key="moderation_reveal",
                icon=":material/visibility:",
                help=f"Sensitive category ({', '.join(categories)}): blurred until revealed; revealing is audited.",
                on_click=reveal,
                args=(item.id, categories),
            )
        st.caption(f"queued {iso_time(item.created_at)} · {item.state} · sha256 {item.sha256[:12]}…")
        claim_line(item, reviewer)
    with references:
        st.markdown(f"**Why it was queued** ({len(item.matches)} match{'es' if len(item.matches) > 1 else ''})")
        for match in item.matches:
            match_card(match, thumbnails, hidden)
    st.text_input("Note (kept in the audit log)", key="moderation_note")
    confirming = st.session_state.get(CONFIRM_REMOVE) == item.id
    buttons = st.columns(5)
    for column, state in zip(buttons, (State.APPROVED, State.REMOVED, State.ESCALATED), strict=False):
        if state in TRANSITIONS[item.state]:
            column.button(
                LABELS[state],
                key=f"moderation_{state}",
                icon=ICONS[state],
                shortcut=SHORTCUTS[state],
                type="primary" if state == State.REMOVED else "secondary",
                on_click=ask_to_remove if state == State.REMOVED else decide,
                args=(item.id,) if state == State.REMOVED else (item.id, state),
                disabled=confirming and state == State.REMOVED,
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
    if item.holder(moderation().queue.clock()) == reviewer:
        buttons[4].button(
            "Release", key="moderation_release", icon=":material/lock_open:", on_click=release, args=(item.id,)
        )
    else:
        buttons[4].button("Claim", key="moderation_claim", icon=":material/lock:", on_click=claim, args=(item.id,))
    if confirming:
        remove_confirmation(item)
    st.caption("Keys (outside text boxes): A approve · X remove (asks to confirm) · E escalate · S skip")


def skipped_line() -> None:
    """What this reviewer skipped, with a way back: a skip is only for this session and can be undone."""
    passed = skipped()
    if not passed:
        return
    text, back, everything = st.columns([3, 1, 1])
    text.caption(f"Skipped by you: {', '.join(f'item {item_id}' for item_id in passed)}")
    back.button("Undo skip", key="moderation_undo_skip", icon=":material/undo:", on_click=undo_skip)
    everything.button("Show skipped", key="moderation_show_skipped", on_click=show_skipped)


def claims_panel(reviewer: str) -> None:
    """Live claims this user may end: their own, or (admins) anyone's, e.g. a reviewer who left with items held."""
    claims = moderation().queue.claims()
    mine_only = user.role != Role.ADMIN
    releasable = [item for item in claims if not mine_only or item.claimed_by == reviewer]
    if not releasable:
        return
    with st.expander(f"{'Your claims' if mine_only else 'Claims'} ({len(releasable)})"):
        labels = {
            item.id: f"item {item.id} · {item.claimed_by} until {iso_time(item.lease_expires_at or 0)}"
            for item in releasable
        }
        chosen = st.selectbox("Claim", list(labels), format_func=labels.__getitem__, key="moderation_claim_choice")
        st.button(
            "Release claim",
            key="moderation_release_claim",
            icon=":material/lock_open:",
            help="Admins can release anyone's claim; the release is audited.",
            on_click=release,
            args=(chosen,),
        )


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
    reviewer = desk().reviewer.strip()
    state = state_column.selectbox("State", [*State, ALL], key="moderation_state")
    category = category_column.selectbox("Category", [ALL, *queue.categories()], key="moderation_category")
    chosen_state = None if state == ALL else State(state)
    chosen_category = None if category == ALL else category

    done = st.session_state.pop("moderation_done", None)
    if done:
        st.success(done, icon=":material/task_alt:")
    removed = st.session_state.pop("moderation_removed_content", None)
    if removed:
        st.info(f"Removed content: {escape(removed)}.", icon=":material/delete:")

    if chosen_state in OPEN_STATES:
        if not reviewer:
            st.info(
                "Enter your name as reviewer to start: your decisions and claims are kept under it.",
                icon=":material/badge:",
            )
        else:
            item = desk().next_item(
                state=chosen_state,
                category=chosen_category,
                skip=skipped(),
                prefer=st.session_state.get(PREFERRED),
            )
            if item is None:
                waiting = desk().waiting(state=chosen_state, category=chosen_category, skip=skipped())
                where = f" in {escape(chosen_category)}" if chosen_category else ""
                st.success(f"Nothing left for you to review{where} — {waiting.describe()}.", icon=":material/done_all:")
            else:
                review(item, reviewer)
            skipped_line()
    claims_panel(reviewer)

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
