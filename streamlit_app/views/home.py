"""Home: what is in the collection, which engine and model mode serve it, and a panel to add images."""

import streamlit as st

from pipeline.access.audit import Action
from pipeline.access.audit import Outcome as AuditOutcome
from pipeline.access.auth import Permission, require
from pipeline.display.overview import INGEST_COMMAND, collection_overview
from pipeline.errors import BadInput
from pipeline.ingest.ingestor import IngestReport, Outcome, ingest_collected
from pipeline.ingest.local_files import ROOTS_SETTING
from pipeline.ingest.sources import Collected, SourcePolicy, collect_below_roots
from pipeline.ingest.uploads import UPLOADS_FOLDER, save_uploads
from pipeline.search.highlight import escape
from streamlit_app import ui

user = ui.allowed(Permission.SEARCH, "home")
st.title("vlsearch")
st.caption("Search a private collection of images by meaning and by the text inside them.")


def show_report(report: IngestReport) -> None:
    summary = report.summary()
    columns = st.columns(len(summary))
    for column, (outcome, count) in zip(columns, summary.items()):
        column.metric(outcome, count)
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
    st.caption(f"Data directory: {escape(overview.data_dir)} (VLSEARCH_DATA_DIR)")
    st.markdown(f"**{overview.mode} mode.** {overview.mode_meaning}")
    st.caption(
        f"{overview.with_vector:,} assets with vectors, {overview.with_caption:,} with captions · rerank "
        f"{'available' if overview.rerank_available else 'unavailable'} · metadata columns: "
        f"{escape(', '.join(overview.metadata_columns)) or 'none'}"
    )
    for notice in overview.notices:
        st.info(notice, icon=":material/info:")

    if overview.count == 0:
        st.subheader("The collection is empty")
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
            source = f"{len(uploads)} uploads"
        elif folder_clicked and folder.strip():
            require(user, Permission.INGEST)
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
            if report.count(Outcome.ADDED) or report.count(Outcome.UPDATED):
                st.rerun()  # the figures above are from before the ingest

    if "home_report" in st.session_state:
        st.markdown("**Last ingest**")
        show_report(st.session_state["home_report"])
