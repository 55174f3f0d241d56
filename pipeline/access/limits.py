"""Limits on what one request or one app session may ask for, each refused with a message that names the limit
and the setting that raises it. Upload size and image pixels are checked where files are decoded
(pipeline/images.py, pipeline/ingest/uploads.py); query length and result count here, for the CLI and the app alike."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from pipeline.config import Settings
from pipeline.errors import BadInput, LimitReached


def check_query_text(text: str | None, max_chars: int) -> None:
    if text is not None and len(text) > max_chars:
        raise BadInput(
            "query", f"{len(text):,} characters is over the limit of {max_chars:,} (VLSEARCH_MAX_QUERY_CHARS)"
        )


def check_result_limit(limit: int, max_results: int) -> None:
    if limit < 1:
        raise BadInput("limit", f"{limit}: ask for at least 1 result")
    if limit > max_results:
        raise BadInput("limit", f"{limit} results is over the limit of {max_results} (VLSEARCH_MAX_RESULTS)")


def search_model_calls(*, embedder: bool, image: bool, rerank: bool) -> int:
    """Model calls a search costs: embedding the query or reading a query image (one), reranking (one more)."""
    return int(embedder or image) + int(rerank)


class ModelCallBudget:
    """At most `max_calls` model calls in any `window_s` (a sliding window): one per app session, so one user
    cannot keep the shared models busy for everyone."""

    def __init__(self, max_calls: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_calls = max_calls
        self.window_s = window_s
        self.clock = clock
        self._calls: deque[float] = deque()

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelCallBudget:
        return cls(settings.max_model_calls_per_session, settings.model_calls_window_s)

    def remaining(self) -> int:
        self._forget_old(self.clock())
        return self.max_calls - len(self._calls)

    def spend(self, calls: int = 1) -> None:
        """Count `calls` now, or refuse all of them with LimitReached when they do not fit in the window."""
        now = self.clock()
        self._forget_old(now)
        if len(self._calls) + calls > self.max_calls:
            wait = self._calls[0] + self.window_s - now if self._calls else self.window_s
            raise LimitReached(
                f"this session has used its {self.max_calls} model calls per {_duration(self.window_s)} "
                f"(VLSEARCH_MAX_MODEL_CALLS_PER_SESSION); try again in {_duration(wait)}",
                retry_after_s=wait,
            )
        self._calls.extend([now] * calls)

    def _forget_old(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - self.window_s:
            self._calls.popleft()


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    return f"{round(seconds / 60)} min"
