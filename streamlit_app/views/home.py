"""Home: what is in the collection, which engine and model mode serve it, and a panel to add images."""

import streamlit as st

from pipeline.access.audit import Action
from pipeline.access.audit import Outcome as AuditOutcome
from pipeline.access.auth import Permission, require
from pipeline.display.overview import INGEST_COMMAND, collection_overview, model_state
from pipeline.errors import BadInput
from pipeline.ingest.ingestor import IngestReport, Outcome, ingest_collected
from pipeline.ingest.local_files import ROOTS_SETTING
from pipeline.ingest.sources import Collected, SourcePolicy, collect_below_roots
from pipeline.ingest.uploads import UPLOADS_FOLDER, keep_first_names, save_uploads
from pipeline.moderation.services import moderate_uploads
from pipeline.search.highlight import escape
from streamlit_app import ui

user = ui.allowed(Permission.SEARCH, "home")
st.title("vlsearch")
st.caption("Search a private collection of images by meaning and by the text inside them.")


def show_report(report: IngestReport, known: dict[str, str]) -> None:
    """The ingest's counts and failures; uploads of images already in the collection named as such (`known`:
    uploaded name -> the name the collection keeps), rather than a bare "unchanged"."""
    summary = report.summary()
    columns = st.columns(len(summary))
    for column, (outcome, count) in zip(columns, summary.items()):
        column.metric(outcome, count)
    duplicate = "same content as "  # the ingest's reason for a second copy in one batch
    already = [
        {
            "file": result.source,
            "already in the collection as": known.get(result.source) or result.reason[len(duplicate) :],
        }
        for result in report.results
        if result.outcome == Outcome.UNCHANGED and (result.source in known or result.reason.startswith(duplicate))
    ]
    if already:
        st.markdown("**Already in the collection** (the same image: kept once, under its first name)")
        st.dataframe(already, hide_index=True, key="home_known")
    if report.failures:
        st.markdown("**Not ingested**")
        st.dataframe(
            [{"file": failure.source, "reason": failure.reason} for failure in report.failures],
            hide_index=True,
            key="home_failures",
        )


with ui.guard("reading the collection"):
    services = ui.services()
    overview = collection_overview(services)
    assets, engine, mode = st.columns(3)
    assets.metric("Assets", f"{overview.count:,}")
    engine.metric("Engine", overview.engine, help=f"{overview.engine_kind}: {overview.location}")
    mode.metric("Model mode", overview.mode)
    st.caption(escape(model_state(overview)))
    with st.expander("About the models and this collection"):
        st.markdown(f"**{overview.mode} mode.** {overview.mode_meaning}")
        st.caption(
            f"{overview.with_vector:,} assets with vectors, {overview.with_caption:,} with captions · rerank "
            f"{'available' if overview.rerank_available else 'unavailable'} · metadata columns: "
            f"{escape(', '.join(overview.metadata_columns)) or 'none'} · data directory: "
            f"{escape(overview.data_dir)} (VLSEARCH_DATA_DIR)"
        )
        for notice in overview.notices:
            st.info(notice, icon=":material/info:")

    if overview.count > 0:
        st.subheader("What to do next")
        examples = ui.examples()
        if examples:
            st.markdown("**Search the collection**, for example:")
            picked = st.pills("Example queries", examples, key="home_example", label_visibility="collapsed")
            if picked:
                st.session_state["analyst_example"] = picked
                st.session_state["analyst_text"] = picked
                st.session_state.pop("home_example", None)
                st.switch_page("views/analyst.py")
        next_steps = st.columns(3)
        next_steps[0].page_link("views/analyst.py", label="Search and filter", icon=":material/query_stats:")
        next_steps[1].page_link(
            "views/lookup.py", label="Look up a customer's screenshot", icon=":material/support_agent:"
        )
        if user.may(Permission.MODERATE):
            next_steps[2].page_link("views/moderation.py", label="Review the moderation queue", icon=":material/gavel:")
    else:
        st.subheader("No images yet: add some")
        st.markdown(
            "Add images with the panel below, or ingest a folder or a manifest from a shell in the project "
            "folder (a manifest is JSONL or CSV with a `path` or `url` per image plus metadata columns such as "
            "`ticket_id`, which the dashboard's filters and the screenshot lookup use):"
        )
        st.code(
            f"export VLSEARCH_DATA_DIR={overview.data_dir}\n{INGEST_COMMAND}\nvlsearch ingest ~/screenshots",
            language="bash",
        )

    if not user.may(Permission.INGEST):
        st.stop()  # adding images is for analysts and admins
    st.subheader("Add images")
    upload_tab, folder_tab = st.tabs(["Upload", "Folder on the server"])
    with upload_tab, st.form("home_upload_form", clear_on_submit=True):
        files = ui.image_uploader("Images", "home_upload_files", multiple=True)
        upload_clicked = st.form_submit_button("Ingest uploads", type="primary")
    policy = SourcePolicy.from_settings(services.settings)
    roots = ", ".join(str(root) for root in policy.roots)
    folder, folder_clicked = "", False
    with folder_tab:
        if not policy.roots:
            st.info(
                "Ingesting a folder on the server is off: no folders are open to it. An administrator turns it on "
                f"by setting `{ROOTS_SETTING}` to the folders that may be read (comma-separated, e.g. "
                f"`{ROOTS_SETTING}=/srv/screenshots`) and restarting the app; or ingest from a shell with "
                "`vlsearch ingest FOLDER`.",
                icon=":material/folder_off:",
            )
        else:
            with st.form("home_folder_form"):
                folder = st.text_input(
                    "Folder path",
                    key="home_folder_path",
                    placeholder=str(policy.roots[0]),
                    help=f"A folder below {escape(roots)} on the machine that runs this app, read recursively "
                    f"(a relative path is taken from {policy.roots[0]}). Links out of these folders are not followed.",
                )
                folder_clicked = st.form_submit_button("Ingest folder", type="primary")
            st.caption(f"Folders open to ingest ({ROOTS_SETTING}): {escape(roots)}")

    with ui.guard("ingesting"):
        collected: Collected | None = None
        source = ""
        if upload_clicked and files:
            ui.authorize(Permission.INGEST, Action.INGEST, source=f"{len(files)} uploads")  # the role as it is now
            uploads = [(file.name, file.getvalue()) for file in files]
            collected = save_uploads(uploads, services.settings.data_dir / UPLOADS_FOLDER, ui.limits())
            st.session_state["home_known"] = keep_first_names(collected, services.store)
            source = f"{len(uploads)} uploads"
        elif folder_clicked and folder.strip():
            require(user, Permission.INGEST)
            st.session_state["home_known"] = {}
            source = folder.strip()
            try:
                collected = collect_below_roots(source, policy)
            except BadInput as refused:  # outside the ingest roots, or not a folder
                ui.audit_log().record(
                    Action.INGEST, user=user, outcome=AuditOutcome.REFUSED, reason=str(refused), source=source
                )
                st.error(escape(str(refused)))
        elif upload_clicked or folder_clicked:
            st.warning("Choose images to upload or type a folder path first.")

        if collected is not None and not collected.items and not collected.problems:
            st.warning(f"No files found in {escape(folder.strip())}.")
        elif collected is not None:
            total = len(collected.items) + len(collected.problems)
            bar = ui.ProgressBar(total, "Ingesting")
            with ui.audited(Action.INGEST, user, source=source) as outcome:
                report = ingest_collected(services.ingestor(), collected, bar, found=bar.found)
                outcome.update(report.summary())
            st.session_state["home_report"] = report

            # Every upload is checked by moderation too, as the API does; a match waits in the review queue.
            st.session_state["home_moderation"] = moderate_uploads(services, collected.items) if upload_clicked else ""
            if report.count(Outcome.ADDED) or report.count(Outcome.UPDATED):
                st.rerun()  # the figures above are from before the ingest

    if "home_report" in st.session_state:
        st.markdown("**Last ingest**")
        if st.session_state.get("home_moderation"):
            st.info(escape(st.session_state["home_moderation"]), icon=":material/shield:")
        show_report(st.session_state["home_report"], st.session_state.get("home_known", {}))
