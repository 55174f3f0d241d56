"""Screenshot lookup: a customer's screenshot in, the past tickets with the same problem (and their fixes) out.

The verdict comes first (the best ticket, its resolution with a copy button and a link to the helpdesk), so on a
phone it is on the first screen; the customer's screenshot and its text follow, weak candidates stay collapsed."""

import textwrap

import streamlit as st

from pipeline.access.audit import Action, logged_query
from pipeline.access.auth import Permission
from pipeline.config import Settings
from pipeline.display.assets import asset_view
from pipeline.display.results import hit_label, hit_score_text
from pipeline.records import SourceKind
from pipeline.search.highlight import escape, highlight, to_html
from pipeline.search.lookup import KEYWORD_RULE, Lookup, TicketMatch, lookup_tickets, relevance_threshold, rerank_rule
from streamlit_app import ui

SHOWN_TERMS = 15
DETAIL_COLUMNS = ("category", "app", "created_at", "error_code", "language")
RESOLUTION_PREVIEW_CHARS = 120  # a weak candidate's resolution, shortened: it is a hint, not the answer
UPLOADER_KEY = "lookup_screenshot"
SUBMIT_KEY = "lookup_submit"

# A paste (Ctrl+V, or a paste menu) anywhere on the page, the note box included, that carries an image hands it to
# the page's uploader, so it goes through the same upload checks, and presses the lookup button once it is uploaded.
# Text-only pastes are left alone. The uploader and button are found by their keys' st-key-* classes.
PASTE_JS = """
export default function ({ data }) {
  const failed = '[data-testid="stFileChipIconError"]';
  const uploaded = (chip) => !chip.querySelector(`[data-testid="stFileChipIconSpinner"], ${failed}`);
  const submitWhenUploaded = (name, deadline) => {
    const chip = Array.from(document.querySelectorAll(`.st-key-${data.uploader} [data-testid="stFileChip"]`))
      .find((candidate) => (candidate.getAttribute("aria-label") || "").startsWith(`${name}, `));
    const button = document.querySelector(`.st-key-${data.submit} button`);
    if (chip && uploaded(chip) && button && !button.disabled) {
      button.click();
    } else if (Date.now() < deadline && !chip?.querySelector(failed)) {
      setTimeout(() => submitWhenUploaded(name, deadline), 100);
    }
  };
  const onPaste = (event) => {
    const image = Array.from(event.clipboardData?.files ?? []).find((file) => file.type.startsWith("image/"));
    const input = document.querySelector(`.st-key-${data.uploader} input[type=file]`);
    if (!image || !input) return;
    event.preventDefault();
    const extension = image.type.slice("image/".length).replace("jpeg", "jpg").replace(/[^a-z0-9].*$/, "");
    const name = `pasted-screenshot-${Date.now()}.${extension}`;  // unique: the chip of this paste is found by it
    const transfer = new DataTransfer();
    transfer.items.add(new File([image], name, { type: image.type }));
    input.files = transfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    submitWhenUploaded(name, Date.now() + data.timeout_ms);
  };
  document.addEventListener("paste", onPaste);
  return () => document.removeEventListener("paste", onPaste);
}
"""
PASTE_TIMEOUT_MS = 120_000

# The text goes in as data and is only ever set as textContent or copied; never parsed as HTML.
COPY_HTML = '<button type="button"><span class="icon">content_copy</span><span class="label"></span></button>'
COPY_CSS = """
button { display: inline-flex; gap: 0.4rem; align-items: center; padding: 0.25rem 0.75rem; min-height: 2.5rem;
  font: inherit; font-size: 0.875rem; color: var(--st-text-color); background: var(--st-background-color);
  border: 1px solid var(--st-border-color); border-radius: var(--st-base-radius); cursor: pointer; }
button:hover { border-color: var(--st-primary-color); color: var(--st-primary-color); }
.icon { font-family: "Material Symbols Rounded"; font-size: 1.125rem; line-height: 1; }
"""
COPY_JS = """
export default function ({ parentElement, data }) {
  const button = parentElement.querySelector("button");
  const label = button.querySelector(".label");
  label.textContent = data.label;
  button.setAttribute("aria-label", data.label);
  const copy = async (text) => {
    if (navigator.clipboard?.writeText) return navigator.clipboard.writeText(text);
    const area = document.createElement("textarea");  // plain http: no Clipboard API, the older command still works
    area.value = text;
    document.body.appendChild(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    if (!copied) throw new Error("copy refused");
  };
  button.onclick = async () => {
    try {
      await copy(data.text);
      label.textContent = "Copied";
    } catch {
      label.textContent = "Could not copy: select the text instead";
    }
    setTimeout(() => { label.textContent = data.label; }, 2500);
  };
}
"""

paste_into_uploader = st.components.v2.component("vlsearch_lookup_paste", js=PASTE_JS)
copy_button = st.components.v2.component("vlsearch_copy_text", html=COPY_HTML, css=COPY_CSS, js=COPY_JS)

user = ui.allowed(Permission.SEARCH, "lookup")
st.title("Screenshot lookup")
st.caption(
    "Paste a customer's screenshot (Ctrl+V, ⌘V) or drop it: see the past ticket with the same problem and its fix."
)


def ticket_actions(match: TicketMatch, settings: Settings) -> None:
    """Copy the resolution, open the ticket in the helpdesk (a new tab), side by side."""
    with st.container(horizontal=True, gap="small"):
        if match.resolution:
            copy_button(
                key=f"lookup_copy_{match.hit.record.id}",
                data={"text": match.resolution, "label": "Copy resolution"},
                width="content",
            )
        ticket_link(match, settings)


def ticket_link(match: TicketMatch, settings: Settings) -> None:
    """The ticket in the helpdesk (VLSEARCH_TICKET_URL_TEMPLATE), opened in a new tab; nothing when unset."""
    url = settings.ticket_url(match.ticket_id)
    if url is not None:
        st.link_button(f"Open {escape(match.ticket_id)}", url, icon=":material/open_in_new:")


def details_line(match: TicketMatch) -> None:
    metadata = match.hit.record.metadata
    st.markdown(
        " · ".join(f"{column} **{escape(metadata[column])}**" for column in DETAIL_COLUMNS if metadata.get(column))
    )


def ticket_card(match: TicketMatch, lookup: Lookup, settings: Settings, *, best: bool) -> None:
    """A confident match: its link and resolution first, then why it matched and the ticket's own screenshot."""
    record = match.hit.record
    with st.container(border=True):
        title = escape(match.ticket_id)
        st.subheader(f"Best match: {title}" if best else title)
        ticket_actions(match, settings)
        if match.resolution:
            st.success(f"**Resolution:** {escape(match.resolution)}", icon=":material/task_alt:")
        st.markdown(f"**Why:** {escape(match.reason)}")
        if record.source_kind != SourceKind.IMAGE:
            st.caption(escape(hit_label(match.hit)))
        details_line(match)
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
        with st.expander("The ticket's screenshot and its text, shared words marked"):
            if record.thumbnail:
                st.image(record.thumbnail)
            st.markdown(to_html(highlight(record.ocr_text, lookup.query_text)), unsafe_allow_html=True)


def candidate_card(match: TicketMatch, settings: Settings) -> None:
    """A ticket below the cutoff, kept short: it is probably a different problem."""
    with st.container(border=True):
        st.subheader(escape(match.ticket_id))
        details_line(match)
        if match.resolution:
            preview = textwrap.shorten(match.resolution, RESOLUTION_PREVIEW_CHARS, placeholder=" …")
            st.markdown(f"**Resolution there:** {escape(preview)}")
        st.caption(f"Why not: {escape(match.reason)} · {hit_score_text(match.hit)}")
        ticket_link(match, settings)


def verdict(lookup: Lookup, settings: Settings) -> None:
    """The best match (or that there is none), other confident ones, then the weak candidates collapsed."""
    if lookup.best is None:
        st.warning(
            "**No confident match.** No past ticket passes the cutoff; treat this as a new problem.",
            icon=":material/help:",
        )
    for index, match in enumerate(lookup.confident):
        ticket_card(match, lookup, settings, best=index == 0)
    unsure = [match for match in lookup.matches if not match.confident]
    if unsure:
        with st.expander(f"Closest tickets below the cutoff ({len(unsure)})", icon=":material/unfold_more:"):
            for match in unsure:
                candidate_card(match, settings)


def customer_screenshot(image: bytes, lookup: Lookup) -> None:
    st.image(image, caption="Customer's screenshot")
    if lookup.query_codes:
        st.markdown("Error codes read: " + ", ".join(f"**{escape(code)}**" for code in lookup.query_codes))
    with st.expander("Text read from the customer's screenshot"):
        st.text(lookup.ocr_text or "(no text found)")


with ui.guard("looking up the screenshot"):
    services = ui.services()
    settings = services.settings
    rerank = services.rerank_by_default()
    threshold = relevance_threshold(settings.min_relevance)

    with st.form("lookup_form", border=False):
        upload_column, note_column = st.columns([3, 2])
        with upload_column:
            upload = ui.image_uploader(
                "Customer's screenshot",
                UPLOADER_KEY,
                help="Paste it (Ctrl+V or ⌘V anywhere on this page, the note box included), drag it here or browse.",
            )
        note = note_column.text_input(
            "Note (optional)", key="lookup_note", placeholder="What the customer wrote, an error code they quoted…"
        )
        submitted = st.form_submit_button(
            "Find matching tickets", key=SUBMIT_KEY, type="primary", icon=":material/search:"
        )

    if submitted:
        st.session_state.pop("lookup_result", None)
        if upload is None:
            st.warning("Add the customer's screenshot first: paste it, drop it or browse.")
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
        # On a phone the columns stack in this order: the verdict first, the customer's screenshot below it.
        verdict_column, screenshot_column = st.columns([2, 1])
        with verdict_column:
            verdict(lookup, settings)
            for notice in lookup.notices:  # how the search ran: after the verdict, not in its way
                st.info(notice, icon=":material/info:")
        with screenshot_column:
            customer_screenshot(shown["image"], lookup)

    with st.expander("How a confident match is decided"):
        if rerank:
            st.markdown(rerank_rule(threshold))
        st.markdown(KEYWORD_RULE)
        st.caption("Only assets with a ticket id are searched. The best match is the highest-ranked confident one.")

paste_into_uploader(
    key="lookup_paste", data={"uploader": UPLOADER_KEY, "submit": SUBMIT_KEY, "timeout_ms": PASTE_TIMEOUT_MS}
)
