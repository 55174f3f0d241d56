"""What every page shares: the services built once per process, error display, and small widgets."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import streamlit as st

from pipeline.config import Settings
from pipeline.errors import VlsearchError
from pipeline.feedback import FEEDBACK_FILE, FeedbackLog
from pipeline.highlight import escape
from pipeline.ingest import ImageLimits, ItemResult
from pipeline.overview import facet_values
from pipeline.services import Services, build_services
from pipeline.uploads import UPLOAD_TYPES, max_upload_mb

log = logging.getLogger("vlsearch.app")
FACETS_TTL_S = 60


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


def progress_bar(total: int, label: str) -> Callable[[ItemResult], None]:
    """An st.progress bar advanced by each ingest result."""
    bar = st.progress(0.0, text=label)
    done = 0

    def advance(result: ItemResult) -> None:
        nonlocal done
        done += 1
        bar.progress(min(done / max(total, 1), 1.0), text=f"{label} {done} of {total}: {escape(result.source)}")

    return advance


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
