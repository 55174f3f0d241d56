"""What every page shares: the services built once per process, who is signed in and what they may do, the
audit log and per-session limits, error display, and small widgets."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import streamlit as st

from pipeline.access.audit import Action, AuditLog, Outcome, events_csv, open_audit_log
from pipeline.access.auth import (
    AuthMode,
    Permission,
    Role,
    SignInAuditFilter,
    SignInThrottle,
    User,
    UsersFile,
    client_address,
    oidc_user,
    parse_role,
    require,
    resolve_mode,
    role_mapping,
    sign_in,
)
from pipeline.access.limits import ModelCallBudgets, search_model_calls
from pipeline.config import Settings
from pipeline.display.assets import AssetView, player_span
from pipeline.display.filters import ColumnFilter, FilterKind, filter_where
from pipeline.display.overview import example_queries, facet_values
from pipeline.errors import AuthNotConfigured, LimitReached, PermissionDenied, SignInFailed, VlsearchError
from pipeline.formatting import clock
from pipeline.images import DecodedImage, ImageLimits
from pipeline.ingest.ingestor import ItemResult
from pipeline.ingest.uploads import UPLOAD_TYPES, check_upload, max_upload_mb
from pipeline.records import Hit, SourceKind
from pipeline.search.feedback import FeedbackLog
from pipeline.search.highlight import escape
from pipeline.services import Services, build_services

log = logging.getLogger("vlsearch.app")
SIGNED_IN = "auth_user"  # session-state key: the local user's name (OIDC identity lives in st.user)
OIDC_AUDITED = "auth_oidc_audited"
OPEN_USER = User("local", Role.ADMIN, AuthMode.OFF)
FACETS_TTL_S = 60
MAX_LOGGED_NAME = 100  # a name typed into the sign-in form, as the audit log keeps it
OPEN_LABEL = {SourceKind.PDF_PAGE: "Open page", SourceKind.VIDEO_FRAME: "Play"}  # what opens a page or frame hit


@st.cache_resource(show_spinner="Opening the collection and looking for models…", on_release=Services.close)
def services() -> Services:
    """Store, OCR and models for the whole process: loading models per session would be far too slow.
    Closed when the cache lets it go (st.cache_resource.clear(), or the server stopping)."""
    return build_services(Settings())


def feedback_log() -> FeedbackLog:
    """The votes search learns from (the services' own log, so a vote counts in the next search)."""
    return services().feedback_log()


@st.cache_data(ttl=FACETS_TTL_S, show_spinner=False)
def _facets(collection: str, count: int) -> dict[str, list[tuple[str, int]]]:
    # Keyed by the collection and its size, so an ingest shows new values at once; the TTL catches relabels.
    return facet_values(services().store)


def facets() -> dict[str, list[tuple[str, int]]]:
    """Filter choices per metadata column, cached briefly: reading every column on each rerun is wasteful."""
    settings = services().settings
    return _facets(f"{settings.store}:{settings.data_dir}:{settings.collection}", services().store.count())


@st.cache_data(ttl=FACETS_TTL_S, show_spinner=False)
def _examples(collection: str, count: int) -> list[str]:
    return example_queries(services().store, facets())


def examples() -> list[str]:
    """Example queries drawn from the collection (a few hundred records read), cached like the facets."""
    settings = services().settings
    return _examples(f"{settings.store}:{settings.data_dir}:{settings.collection}", services().store.count())


def limits() -> ImageLimits:
    return services().ingestor().limits


def query_image(upload: Any) -> DecodedImage:
    """An uploaded query image, checked like any upload and decoded scaled down to VLSEARCH_QUERY_MAX_PIXELS
    (a JPEG straight at a reduced scale), so OCR and the models never see more."""
    return check_upload(upload.name, upload.getvalue(), limits(), services().query_size())


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
    # Captions, messages and button labels are Markdown, and file names and uris come from data: all escaped.
    if view.image is not None:
        st.image(view.image, caption=escape(view.note))
    if parent is None:
        return
    if parent.problem is not None:
        st.warning(escape(parent.problem), icon=":material/warning:")
    elif parent.path is not None:
        st.download_button(
            f"Download {escape(parent.name)}",
            parent.path.read_bytes,
            file_name=parent.name,
            mime=parent.mime,
            key=f"{key}_download",
            on_click="ignore",
            icon=":material/download:",
        )
    elif parent.url is not None:
        st.link_button(
            f"Open page {hit.record.page} of {escape(parent.name)}", hit.record.uri, icon=":material/open_in_new:"
        )


def filter_widgets(filters: list[ColumnFilter], prefix: str) -> str | None:
    """One widget per metadata column, suited to its values (keys `{prefix}_filter_{column}`); the filter
    expression they make together."""
    choices: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    ranges: dict[str, Any] = {}
    slots = st.columns(4)
    for index, column_filter in enumerate(filters):
        column = column_filter.column
        key, label = f"{prefix}_filter_{column}", escape(column)  # a widget label is Markdown
        slot = slots[index % 4]
        if column_filter.kind == FilterKind.CHOICE:
            counts = dict(column_filter.values)
            choices[column] = slot.multiselect(
                label,
                list(counts),
                key=key,
                format_func=lambda value, counts=counts: f"{value[:60]} ({counts[value]})",
                help="Records in the collection holding each value.",
            )
        elif column_filter.kind == FilterKind.TEXT:
            texts[column] = slot.text_input(
                label, key=key, placeholder=f"contains… e.g. {column_filter.values[0][0][:30]}",
                help=f"{len(column_filter.values):,}+ distinct values: type part of one.",
            )  # fmt: skip
        elif column_filter.kind == FilterKind.DATE_RANGE:
            low, high = column_filter.low, column_filter.high
            picked = slot.date_input(label, value=(low, high), key=key, help="From and to, both days included.")
            if isinstance(picked, tuple) and len(picked) == 2 and picked != (low, high):
                ranges[column] = picked
        elif isinstance(column_filter.low, float) and isinstance(column_filter.high, float):
            low_number, high_number = column_filter.low, column_filter.high
            if low_number < high_number:
                picked = slot.slider(label, low_number, high_number, (low_number, high_number), key=key)
                if tuple(picked) != (low_number, high_number):
                    ranges[column] = tuple(picked)
    return filter_where(choices, texts, ranges)


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


# access control -------------------------------------------------------------------------------


@st.cache_resource
def settings() -> Settings:
    """Settings without the services: signing in must not wait for the models to load."""
    return Settings()


@st.cache_resource
def _audit_log(data_dir: str) -> AuditLog:
    return open_audit_log(Path(data_dir))


def audit_log() -> AuditLog:
    return _audit_log(str(settings().data_dir))


@st.cache_resource
def _throttle(max_failures: int, lockout_s: float, max_lockout_s: float) -> SignInThrottle:
    return SignInThrottle(max_failures, lockout_s, max_lockout_s)


def throttle() -> SignInThrottle:
    """One per process, so a lockout holds across browser tabs and sessions."""
    return _throttle(settings().sign_in_max_failures, settings().sign_in_lockout_s, settings().sign_in_max_lockout_s)


@st.cache_resource
def sign_in_audit_filter() -> SignInAuditFilter:
    """One per process: guesses at random names get a bounded number of audit rows, whichever tab they come from."""
    return SignInAuditFilter()


def request_address() -> str:
    """The address this session's sign-in attempts count under (see client_address; VLSEARCH_TRUSTED_PROXIES)."""
    return client_address(st.context.headers, st.context.ip_address, settings().trusted_proxies)


def users_file() -> UsersFile:
    return _users_file(str(settings().users_path))


@st.cache_resource
def _users_file(path: str) -> UsersFile:
    return UsersFile(Path(path))


def auth_mode() -> AuthMode:
    oidc = st.secrets.load_if_toml_exists() and "auth" in st.secrets
    return resolve_mode(settings().auth, oidc_configured=oidc, users_file=settings().users_path)


def current_user() -> User | None:
    """Who this session belongs to, read afresh each run so a changed or removed role applies at once."""
    mode = auth_mode()
    if mode == AuthMode.OIDC and not st.user.is_logged_in:
        return None
    name = st.session_state.get(SIGNED_IN)
    user = _user_from(mode, name, st.user.to_dict() if mode == AuthMode.OIDC else {}, users_file(), settings())
    if mode == AuthMode.OIDC and not st.session_state.get(OIDC_AUDITED):
        audit_log().record(Action.SIGN_IN, user=user, mode=mode.value)
        st.session_state[OIDC_AUDITED] = True
    if mode == AuthMode.LOCAL and user is None:
        st.session_state.pop(SIGNED_IN, None)
    return user


def _user_from(
    mode: AuthMode, name: str | None, claims: dict[str, Any], users: UsersFile, config: Settings
) -> User | None:
    """The user a session is at this moment: the users file's account, or the OIDC identity's mapped role."""
    if mode == AuthMode.OFF:
        return OPEN_USER
    if mode == AuthMode.OIDC:
        default = config.oidc_default_role
        return oidc_user(
            claims,
            role_mapping(config, users),
            parse_role(default, "VLSEARCH_OIDC_DEFAULT_ROLE") if default else None,
            require_verified=config.oidc_require_verified_email,
        )
    account = users.account(name) if name else None
    return None if account is None else User(account.name, account.role, mode)


def gate() -> User | None:
    """The signed-in user, or None when nobody is; stops the run after saying why when nobody can be (no way to
    sign in is configured, a broken users file, an OIDC account without a role)."""
    try:
        return current_user()
    except AuthNotConfigured as error:
        st.title("vlsearch")
        st.error(str(error), icon=":material/lock:")
    except SignInFailed as error:
        if not st.session_state.get(OIDC_AUDITED):
            audit_log().record(
                Action.SIGN_IN, actor=str(st.user.get("email", "")), outcome=Outcome.REFUSED, reason=str(error)
            )
            st.session_state[OIDC_AUDITED] = True
        st.error(str(error), icon=":material/no_accounts:")
        if st.button("Sign out", key="auth_sign_out", icon=":material/logout:"):
            st.logout()
    except VlsearchError as error:
        st.error(str(error), icon=":material/error:")
    st.stop()
    raise AssertionError("st.stop() ends the run")


def allowed(permission: Permission, page: str) -> User:
    """The signed-in user when their role allows `permission`; otherwise the page says why, audits it and stops."""
    user = current_user()
    try:
        return require(user, permission)
    except PermissionDenied as error:
        audit_log().record(Action.OPEN_PAGE, user=user, outcome=Outcome.REFUSED, page=page, reason=str(error))
        st.error(str(error), icon=":material/block:")
        st.stop()
        raise AssertionError("st.stop() ends the run") from error


# every action re-checks the role when it runs -------------------------------------------------------


def session_name() -> str:
    """The name this session signed in under, whatever its role is now (for the audit log of a refusal)."""
    if auth_mode() == AuthMode.OFF:
        return OPEN_USER.name
    return str(st.session_state.get(SIGNED_IN) or st.user.get("email") or "")


def user_now() -> User | None:
    """This session's user with the role the users file or the OIDC mapping gives them at this moment; None when
    the account is gone or has lost its role. Actions call this, not the page's `user`: a button callback runs
    with what the page's previous run knew, and `vlsearch users set-role` may have changed it since."""
    try:
        return current_user()
    except SignInFailed:
        return None


def authorize(permission: Permission, action: Action, **detail: Any) -> User:
    """Every state-changing action calls this as it runs: the user as they are now, when their role allows
    `permission`; otherwise the refusal is written to the audit log (as `action` with `detail`) and
    PermissionDenied raised, which guard() shows as a message naming the role needed."""
    name = session_name()
    user = user_now()
    try:
        return require(user, permission)
    except PermissionDenied as error:
        audit_log().record(action, user=user, actor=name, outcome=Outcome.REFUSED, reason=str(error), **detail)
        raise


def role_lookup(user: User) -> Callable[[], User | None]:
    """How to find `user`'s role later, outside a script run (a deferred download runs in a server thread with no
    session state): the users file or the OIDC mapping is read again each time it is called."""
    users, config = users_file(), settings()
    claims = st.user.to_dict() if user.mode == AuthMode.OIDC else {}

    def lookup() -> User | None:
        try:
            return _user_from(user.mode, user.name, claims, users, config)
        except SignInFailed:
            return None

    return lookup


def audit_csv_export(
    user: User, lookup: Callable[[], User | None], audit: AuditLog, *, action: Action | None, actor: str | None
) -> Callable[[], bytes]:
    """The audit page's CSV as a deferred download: the role is checked, and the export audited, when the button
    is pressed (not when the page was drawn), so an admin demoted since cannot take the log away."""

    def export() -> bytes:
        now = lookup()
        try:
            require(now, Permission.READ_AUDIT)
        except PermissionDenied as error:
            audit.record(
                Action.EXPORT, user=now, actor=user.name, outcome=Outcome.REFUSED, page="audit", export="csv",
                reason=str(error),
            )  # fmt: skip
            raise
        events = audit.events(action=action, actor=actor)
        audit.record(Action.EXPORT, user=now, page="audit", export="csv", events=len(events))
        return events_csv(events)

    return export


def sign_in_page() -> None:
    """The sign-in form (local users) or the identity provider's button (OIDC)."""
    st.title("Sign in to vlsearch")
    with guard("signing in"):
        if auth_mode() == AuthMode.OIDC:
            if st.button("Sign in with your organisation's account", type="primary", icon=":material/login:"):
                st.login()
            return
        with st.form("auth_form", clear_on_submit=True):
            name = st.text_input("User name", key="auth_name")
            password = st.text_input("Password", type="password", key="auth_password")
            submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
        if submitted:
            address = request_address()
            try:
                user = sign_in(users_file(), throttle(), name, password, address)
            except SignInFailed as error:
                actor = name.strip()[:MAX_LOGGED_NAME]
                not_logged = sign_in_audit_filter().admit(actor, error)
                if not_logged is not None:
                    more = {"not_logged": not_logged} if not_logged else {}
                    audit_log().record(
                        Action.SIGN_IN, actor=actor, outcome=Outcome.FAILED, reason=str(error), address=address, **more
                    )
                raise
            audit_log().record(Action.SIGN_IN, user=user, mode=user.mode.value, address=address)
            st.session_state[SIGNED_IN] = user.name
            st.rerun()


def account_sidebar(user: User) -> None:
    """Who is signed in, with what role, and the way out; a warning when nobody has to sign in."""
    with st.sidebar:
        if user.mode == AuthMode.OFF:
            st.warning(
                "Access control is off (VLSEARCH_AUTH=off): anyone who can open this app is admin.",
                icon=":material/lock_open:",
            )
            return
        st.caption(f"Signed in as **{escape(user.name)}** · {user.role}")
        if st.button("Sign out", key="auth_sign_out", icon=":material/logout:"):
            audit_log().record(Action.SIGN_OUT, user=user)
            st.session_state.pop(SIGNED_IN, None)
            if user.mode == AuthMode.OIDC:
                st.logout()
            st.rerun()


@contextmanager
def audited(action: Action, user: User, **detail: Any) -> Iterator[dict[str, Any]]:
    """Record `action` when the block ends: ok with what the block put in the yielded dict, refused or failed
    with the reason when it raised."""
    outcome: dict[str, Any] = {}
    try:
        yield outcome
    except (PermissionDenied, LimitReached) as error:
        audit_log().record(action, user=user, outcome=Outcome.REFUSED, reason=str(error), **detail)
        raise
    except VlsearchError as error:
        audit_log().record(action, user=user, outcome=Outcome.FAILED, reason=str(error), **detail)
        raise
    audit_log().record(action, user=user, **detail, **outcome)


@st.cache_resource
def _model_call_budgets(max_calls: int, window_s: float) -> ModelCallBudgets:
    return ModelCallBudgets(max_calls, window_s)


def spend_model_calls(user: User, *, image: bool, rerank: bool) -> None:
    """Count a search against the user's model-call allowance; LimitReached when it is used up. Kept per user
    name for the whole process, so opening another tab or session does not start a fresh allowance."""
    budgets = _model_call_budgets(settings().max_model_calls_per_session, settings().model_calls_window_s)
    calls = search_model_calls(embedder=services().models.embedder is not None, image=image, rerank=rerank)
    budgets.of(user.name).spend(calls)


def csv_download(label: str, content: bytes, *, file_name: str, key: str, help: str) -> None:
    """A button that saves `content` as a CSV file without running the page again."""
    st.download_button(
        label,
        content,
        file_name=file_name,
        mime="text/csv",
        key=key,
        on_click="ignore",
        icon=":material/download:",
        help=help,
    )
