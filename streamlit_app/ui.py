"""What every page shares: the services built once per process, error display, and small widgets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import streamlit as st

from pipeline.assets import AssetView, player_span
from pipeline.config import Settings
from pipeline.errors import VlsearchError
from pipeline.feedback import FEEDBACK_FILE, FeedbackLog
from pipeline.highlight import escape
from pipeline.ingest import ImageLimits, ItemResult
from pipeline.overview import facet_values
from pipeline.records import Hit, SourceKind
from pipeline.results import clock
from pipeline.services import Services, build_services
from pipeline.uploads import UPLOAD_TYPES, max_upload_mb

log = logging.getLogger("vlsearch.app")
FACETS_TTL_S = 60
OPEN_LABEL = {SourceKind.PDF_PAGE: "Open page", SourceKind.VIDEO_FRAME: "Play"}  # what opens a page or frame hit


@st.cache_resource(show_spinner="Opening the collection and looking for models…")
def services() -> Services:
    """Store, OCR and models for the whole process: loading models per session would be far too slow."""
    return build_services(Settings())


@st.cache_resource
def _feedback_log(path: str) -> FeedbackLog:
    return FeedbackLog(Path(path))


def feedback_log() -> FeedbackLog:
    return _feedback_log(str(services().settings.data_dir / FEEDBACK_FILE))


@st.cache_data(ttl=FACETS_TTL_S, show_spinner=False)
def _facets(collection: str, count: int) -> dict[str, list[tuple[str, int]]]:
    # Keyed by the collection and its size, so an ingest shows new values at once; the TTL catches relabels.
    return facet_values(services().store)


def facets() -> dict[str, list[tuple[str, int]]]:
    """Filter choices per metadata column, cached briefly: reading every column on each rerun is wasteful."""
    settings = services().settings
    return _facets(f"{settings.store}:{settings.data_dir}:{settings.collection}", services().store.count())


def limits() -> ImageLimits:
    return services().ingestor().limits


def image_uploader(label: str, key: str, *, multiple: bool = False, help: str | None = None) -> Any:
    """An uploader limited to the accepted image types and the configured size (the pipeline checks again)."""
    return st.file_uploader(
        label,
        type=list(UPLOAD_TYPES),
        accept_multiple_files=multiple,
        max_upload_size=max_upload_mb(limits()),
        key=key,
        help=help,
    )


class ProgressBar:
    """An st.progress bar advanced by each ingest result (call it); `found` grows the total as PDFs and
    videos turn out to hold several pages or frames."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self._bar = st.progress(0.0, text=label)

    def __call__(self, result: ItemResult) -> None:
        self.done += 1
        text = f"{self.label} {self.done} of {self.total}: {escape(result.source)}"
        self._bar.progress(min(self.done / max(self.total, 1), 1.0), text=text)

    def found(self, more: int) -> None:
        self.total += more


def asset_picture(hit: Hit, view: AssetView, *, key: str) -> None:
    """The asset's picture, or for a video hit the player at its time window; a PDF page's document to download
    (or a link to the page when the document is at a URL); why the source cannot be opened when it cannot."""
    parent = view.parent
    if parent is not None and parent.kind == SourceKind.VIDEO_FRAME and parent.problem is None:
        start, end = player_span(hit)
        # end_time pauses the player once at the window's end; pressing play goes on from there.
        st.video(str(parent.path or parent.url), format=parent.mime, start_time=start, end_time=end)
        st.caption(f"Plays from {clock(start)}" + (f" and pauses at {clock(end)}" if end is not None else ""))
        return
    if view.image is not None:
        st.image(view.image, caption=view.note)
    if parent is None:
        return
    if parent.problem is not None:
        st.warning(parent.problem, icon=":material/warning:")
    elif parent.path is not None:
        st.download_button(
            f"Download {parent.name}", parent.path.read_bytes, file_name=parent.name, mime=parent.mime,
            key=f"{key}_download", on_click="ignore", icon=":material/download:",
        )
    elif parent.url is not None:
        st.link_button(f"Open page {hit.record.page} of {parent.name}", hit.record.uri, icon=":material/open_in_new:")


@contextmanager
def guard(action: str) -> Iterator[None]:
    """Show errors as messages, never as stack traces: ours say what to fix, unexpected ones go to the log."""
    try:
        yield
    except VlsearchError as error:
        st.error(str(error), icon=":material/error:")
    except Exception:
        log.exception("unexpected error while %s", action)
        st.error(f"Something went wrong while {action}. The details are in the server log.", icon=":material/error:")
