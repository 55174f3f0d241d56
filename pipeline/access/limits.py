"""Limits on what one request, one user or one process may ask for, each refused with a message that names the
limit and the setting that raises it. Upload size and image pixels are checked where files are decoded
(pipeline/images.py, pipeline/ingest/uploads.py); query length and result count here, for the CLI and the app
alike; the model-call allowance per user and the number of model-heavy queries running at once here too."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pipeline.config import Settings
from pipeline.errors import BadInput, Busy, LimitReached

MAX_CONCURRENT_QUERIES: int = Settings.model_fields["max_concurrent_queries"].default
QUERY_SLOT_WAIT_S = 1.0  # a query that finds every slot taken waits this long for one before it is told "busy"
FIRST_RETRY_HINT_S = 5.0  # "try again in" before any query has finished to measure by


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


@dataclass(frozen=True)
class Counted:
    """What an allowance counts and the setting that sizes it, for the message that refuses one more."""

    what: str
    setting: str


MODEL_CALLS = Counted("model calls", "VLSEARCH_MAX_MODEL_CALLS_PER_SESSION, counted per user")
API_REQUESTS = Counted("requests", "VLSEARCH_API_REQUESTS_PER_MINUTE, counted per API token, else per client address")


class ModelCallBudget:
    """At most `max_calls` model calls in any `window_s` (a sliding window), for one user (`owner`), so one user
    cannot keep the shared models busy for everyone. Thread-safe: a user's tabs run in threads of one process."""

    def __init__(
        self,
        max_calls: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        owner: str = "this user",
        counted: Counted | None = None,
    ) -> None:
        self.max_calls = max_calls
        self.window_s = window_s
        self.clock = clock
        self.owner = owner
        self.counted = counted or MODEL_CALLS
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def remaining(self) -> int:
        with self._lock:
            self._forget_old(self.clock())
            return self.max_calls - len(self._calls)

    def spend(self, calls: int = 1) -> None:
        """Count `calls` now, or refuse all of them with LimitReached when they do not fit in the window."""
        with self._lock:
            now = self.clock()
            self._forget_old(now)
            if len(self._calls) + calls > self.max_calls:
                wait = self._calls[0] + self.window_s - now if self._calls else self.window_s
                raise LimitReached(
                    f"{self.owner} has used the {self.max_calls} {self.counted.what} allowed per "
                    f"{_duration(self.window_s)} ({self.counted.setting}); try again in {_duration(wait)}",
                    retry_after_s=wait,
                )
            self._calls.extend([now] * calls)

    def _forget_old(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - self.window_s:
            self._calls.popleft()


class ModelCallBudgets:
    """One ModelCallBudget per user name, kept for the whole process (the app holds it in st.cache_resource), so
    a new browser tab or session of the same user continues their allowance instead of starting a fresh one."""

    def __init__(
        self,
        max_calls: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        counted: Counted | None = None,
    ) -> None:
        self.max_calls = max_calls
        self.window_s = window_s
        self.clock = clock
        self.counted = counted or MODEL_CALLS
        self._budgets: dict[str, ModelCallBudget] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelCallBudgets:
        return cls(settings.max_model_calls_per_session, settings.model_calls_window_s)

    def of(self, user_name: str) -> ModelCallBudget:
        with self._lock:
            budget = self._budgets.get(user_name)
            if budget is None:
                budget = ModelCallBudget(self.max_calls, self.window_s, self.clock, user_name, self.counted)
                self._budgets[user_name] = budget
            return budget


class QuerySlots:
    """At most `max_concurrent` model-heavy queries (query OCR, embedding, rerank) at once in this process.

    Each of them holds hundreds of megabytes and several CPU cores for seconds; letting them pile up makes every
    one slow and can exhaust memory. A query that finds every slot taken waits `wait_s` for one, then gets Busy
    with a hint of when to retry (how long a query has recently held a slot)."""

    def __init__(
        self, max_concurrent: int, wait_s: float = QUERY_SLOT_WAIT_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_concurrent = max_concurrent
        self.wait_s = wait_s
        self.clock = clock
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._typical_hold_s = FIRST_RETRY_HINT_S

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Run the block in a slot, or raise Busy when none frees up within `wait_s`."""
        if not self._slots.acquire(timeout=self.wait_s):
            wait = self._typical_hold_s
            raise Busy(
                f"busy: the server already runs {self.max_concurrent} model searches at once, its limit "
                f"(VLSEARCH_MAX_CONCURRENT_QUERIES); try again in {_duration(wait)}",
                retry_after_s=wait,
            )
        started = self.clock()
        try:
            yield
        finally:
            held = self.clock() - started
            self._typical_hold_s = 0.8 * self._typical_hold_s + 0.2 * max(held, 1.0)
            self._slots.release()


_PROCESS_SLOTS: dict[int, QuerySlots] = {}
_PROCESS_SLOTS_LOCK = threading.Lock()


def process_query_slots(max_concurrent: int = MAX_CONCURRENT_QUERIES) -> QuerySlots:
    """The slots every Searcher of this process shares (Searchers are built per request, the limit is not)."""
    with _PROCESS_SLOTS_LOCK:
        slots = _PROCESS_SLOTS.get(max_concurrent)
        if slots is None:
            slots = _PROCESS_SLOTS[max_concurrent] = QuerySlots(max_concurrent)
        return slots


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    return f"{round(seconds / 60)} min"
