"""Access control: roles and permissions, the users file and its CLI, sign-in with lockout, OIDC role mapping,
and the app refusing what a role may not do (pages left out of the navigation, refused calls, audited)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from pipeline.access.audit import Action, Outcome, open_audit_log
from pipeline.access.auth import (
    PERMISSIONS,
    UNKNOWN_ADDRESS,
    AuthMode,
    Permission,
    Role,
    SignInAuditFilter,
    SignInThrottle,
    User,
    UsersFile,
    client_address,
    oidc_user,
    require,
    resolve_mode,
    sign_in,
)
from pipeline.cli import app as cli
from pipeline.config import Settings
from pipeline.errors import AuthNotConfigured, BadInput, PermissionDenied, SignInFailed
from pipeline.images import thumbnail_jpeg
from pipeline.moderation.desk import ReviewDesk
from pipeline.moderation.matching import Match, Rule
from pipeline.moderation.queue import State
from pipeline.moderation.services import open_queue
from tests.conftest import PASSWORDS
from tests.near_duplicate_set import open_image
from tests.sample_collection import REDUCED_MODE_ENV, SAMPLES

pytestmark = pytest.mark.usefixtures("fresh_app_caches")

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "streamlit_app" / "app.py"
MODERATION_PAGE = ROOT / "streamlit_app" / "views" / "moderation.py"
OIDC_SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "a-long-random-cookie-secret-for-tests",
        "client_id": "vlsearch",
        "client_secret": "client-secret",
        "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration",
    }
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def users_dir(users_json: Path) -> Path:
    return users_json.parent


@pytest.fixture
def data_dir(users_dir: Path, tmp_path: Path) -> Path:
    """A fresh data dir holding the users file and a queue with one keyword-matched upload."""
    (tmp_path / "users.json").write_bytes((users_dir / "users.json").read_bytes())
    open_queue(Settings(data_dir=tmp_path)).enqueue(
        uri="/uploads/flyer.png",
        sha256="2" * 64,
        thumbnail=thumbnail_jpeg(open_image(SAMPLES / "images" / "text_promo_lottery_spam_zh.png")),
        matches=[Match(Rule.KEYWORD, "spam", 2.0, detail="中奖")],
    )
    return tmp_path


@pytest.fixture
def env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(data_dir))
    monkeypatch.delenv("VLSEARCH_AUTH", raising=False)
    for name, value in REDUCED_MODE_ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def app_as(name: str | None, script: Path = APP) -> AppTest:
    app = AppTest.from_file(str(script), default_timeout=60)
    if name is not None:
        app.session_state["auth_user"] = name
    return app.run()


def click(app: AppTest, label: str) -> AppTest:
    next(button for button in app.button if button.label == label).click()
    return app.run()


def sign_in_form(app: AppTest, name: str, password: str) -> AppTest:
    app.text_input(key="auth_name").set_value(name)
    app.text_input(key="auth_password").set_value(password)
    return click(app, "Sign in")


def events(data_dir: Path, action: Action) -> list[tuple[str, Outcome]]:
    return [(event.actor, event.outcome) for event in open_audit_log(data_dir).events(action=action)]


# roles and permissions ---------------------------------------------------------------------------


def test_each_role_may_do_what_its_job_needs_and_no_more():
    assert PERMISSIONS[Role.SUPPORT] == {Permission.SEARCH}
    assert PERMISSIONS[Role.ANALYST] == {Permission.SEARCH, Permission.INGEST}
    assert PERMISSIONS[Role.MODERATOR] == {Permission.SEARCH, Permission.MODERATE, Permission.DESTRUCTIVE}
    assert PERMISSIONS[Role.ADMIN] == set(Permission)


def test_require_names_the_user_and_the_roles_that_would_do():
    support = User("sam", Role.SUPPORT, AuthMode.LOCAL)
    with pytest.raises(
        PermissionDenied, match="not allowed to moderate: sam is support, and it needs the moderator or admin role"
    ):
        require(support, Permission.MODERATE)
    with pytest.raises(PermissionDenied, match="nobody is signed in"):
        require(None, Permission.SEARCH)
    assert require(support, Permission.SEARCH) is support


def test_without_users_file_or_oidc_the_app_does_not_run_open(tmp_path):
    with pytest.raises(AuthNotConfigured, match="python -m pipeline users add NAME --role admin"):
        resolve_mode("auto", oidc_configured=False, users_file=tmp_path / "users.json")
    with pytest.raises(AuthNotConfigured, match=r"\[auth\] section"):
        resolve_mode("oidc", oidc_configured=False, users_file=tmp_path / "users.json")
    assert resolve_mode("off", oidc_configured=False, users_file=tmp_path / "users.json") == AuthMode.OFF
    assert resolve_mode("auto", oidc_configured=True, users_file=tmp_path / "users.json") == AuthMode.OIDC


# the users file ----------------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_hashes_and_verified(users_dir):
    users = UsersFile(users_dir / "users.json")
    stored = json.loads((users_dir / "users.json").read_text())
    assert stored["users"]["mo"]["password"].startswith("$argon2id$")
    assert PASSWORDS["mo"] not in (users_dir / "users.json").read_text()
    assert (users_dir / "users.json").stat().st_mode & 0o777 == 0o600
    assert users.verify("mo", PASSWORDS["mo"]) == User("mo", Role.MODERATOR, AuthMode.LOCAL)
    for name, password in (("mo", PASSWORDS["ann"]), ("nobody", PASSWORDS["mo"])):
        with pytest.raises(SignInFailed, match="^wrong user name or password$"):  # the same for both
            users.verify(name, password)


def test_repeated_failures_lock_the_name_out_then_it_can_sign_in_again(users_dir):
    users = UsersFile(users_dir / "users.json")
    clock = Clock()
    throttle = SignInThrottle(max_failures=3, lockout_s=60, clock=clock)
    for _ in range(3):
        with pytest.raises(SignInFailed, match="wrong user name or password"):
            sign_in(users, throttle, "ann", "guess-guess")
    with pytest.raises(
        SignInFailed, match="too many failed sign-ins for 'ann' from an unknown address: try again in 60 s"
    ):
        sign_in(users, throttle, "ann", PASSWORDS["ann"])  # even the right password waits
    assert sign_in(users, throttle, "sam", PASSWORDS["sam"]).name == "sam"  # other names are not affected
    clock.now += 61
    assert sign_in(users, throttle, "ann", PASSWORDS["ann"]).role == Role.ADMIN
    with pytest.raises(SignInFailed, match="wrong"):
        sign_in(users, throttle, "ann", "guess-guess")  # a success cleared the count: one failure is not a lockout
    assert sign_in(users, throttle, "ann", PASSWORDS["ann"]).name == "ann"


ATTACKER, ANN_AT_HER_DESK = "203.0.113.66", "198.51.100.7"


def test_failures_from_one_address_do_not_lock_the_name_out_at_another(users_dir):
    """A stranger failing on purpose as admin must not lock admin out of their own address."""
    users = UsersFile(users_dir / "users.json")
    throttle = SignInThrottle(max_failures=3, lockout_s=60, clock=Clock())
    for _ in range(3):
        with pytest.raises(SignInFailed, match="wrong user name or password"):
            sign_in(users, throttle, "ann", "guess-guess", ATTACKER)
    with pytest.raises(SignInFailed, match="too many failed sign-ins for 'ann'") as locked:
        sign_in(users, throttle, "ann", PASSWORDS["ann"], ATTACKER)
    assert sign_in(users, throttle, "ann", PASSWORDS["ann"], ANN_AT_HER_DESK).name == "ann"
    assert str(locked.value) == f"too many failed sign-ins for 'ann' from {ATTACKER}: try again in 60 s"


def test_each_further_failure_doubles_the_lockout_up_to_the_cap_and_a_success_resets_it():
    clock = Clock()
    throttle = SignInThrottle(max_failures=2, lockout_s=60, max_lockout_s=300, clock=clock)
    for _ in range(2):
        throttle.check("ann", ATTACKER)
        throttle.failed("ann", ATTACKER)
    waits = []
    for _ in range(4):
        for _ in range(3):  # attempts during a lockout are refused, not counted: they do not prolong it
            with pytest.raises(SignInFailed) as raised:
                throttle.check("ann", ATTACKER)
        waits.append(round(raised.value.retry_after_s))
        clock.now += raised.value.retry_after_s + 1  # wait it out, then fail once more
        throttle.check("ann", ATTACKER)
        throttle.failed("ann", ATTACKER)
    assert waits == [60, 120, 240, 300]
    clock.now += 301
    throttle.succeeded("ann", ATTACKER)
    throttle.failed("ann", ATTACKER)
    throttle.check("ann", ATTACKER)  # one failure after a success is no lockout


def test_the_sign_in_address_is_the_connections_unless_a_trusted_proxy_appended_it():
    written_by_the_client = {"X-Forwarded-For": ANN_AT_HER_DESK}
    assert client_address(written_by_the_client, ATTACKER, trusted_proxies=0) == ATTACKER  # header ignored
    assert client_address({}, None, trusted_proxies=0) == UNKNOWN_ADDRESS
    behind_one_proxy = {"x-forwarded-for": f"{ANN_AT_HER_DESK}, {ATTACKER}"}  # the proxy appended the last entry
    assert client_address(behind_one_proxy, "10.0.0.2", trusted_proxies=1) == ATTACKER
    assert client_address(behind_one_proxy, "10.0.0.2", trusted_proxies=2) == ANN_AT_HER_DESK
    assert client_address({"X-Forwarded-For": "<script>"}, "10.0.0.2", trusted_proxies=1) == "10.0.0.2"
    assert client_address({}, "10.0.0.2", trusted_proxies=1) == "10.0.0.2"  # no header: the connection's


class CountingHasher(PasswordHasher):
    """Argon2id at small cost that counts what it computes."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=64, parallelism=1)
        self.verifications = 0
        self.hashes = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verifications += 1
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.hashes += 1
        return super().hash(password, salt=salt)


def test_names_that_do_not_exist_cost_no_argon2_check(users_dir):
    hasher = CountingHasher()
    users = UsersFile(users_dir / "users.json", hasher)
    throttle = SignInThrottle(max_failures=5, lockout_s=60)
    for _ in range(50):
        with pytest.raises(SignInFailed, match="^wrong user name or password$") as raised:
            sign_in(users, throttle, f"guess-{secrets.token_hex(6)}", "password-1", ATTACKER)
        assert raised.value.unknown_name
    assert hasher.verifications == 0 and hasher.hashes <= 1  # at most one hash, to learn how long a check takes
    with pytest.raises(SignInFailed, match="^wrong user name or password$") as raised:
        sign_in(users, throttle, "ann", "not-her-password", ATTACKER)  # a real name: a real check
    assert hasher.verifications == 1 and not raised.value.unknown_name


def test_guesses_at_unknown_names_are_audited_once_per_name_and_in_bounded_numbers():
    clock = Clock()
    audit = SignInAuditFilter(per_window=3, window_s=600, clock=clock)
    unknown = SignInFailed("wrong user name or password", unknown_name=True)
    # a, b and c are written; the second a, then d and e are left out, and c's row counts the a before it
    assert [audit.admit(name, unknown) for name in "abacde"] == [0, 0, None, 1, None, None]
    assert audit.admit("ann", SignInFailed("wrong user name or password")) == 0  # a real name: always written
    locked = SignInFailed("too many failed sign-ins", retry_after_s=30)
    assert [audit.admit("ann", locked) for _ in range(3)] == [0, None, None]
    clock.now += 600
    assert audit.admit("f", unknown) == 2  # the next window's first row says how many were left out (d, e)
    assert audit.admit("g", unknown) == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"users": {"ann": ', "not valid JSON: Expecting value at line 1 column 19"),
        ('["ann"]', 'expected an object with a "users" object'),
        ('{"users": {"ann": {"role": "boss", "password": "$argon2id$x"}}}', "'boss' is not a role"),
        ('{"users": {"ann": {"role": "admin", "password": "hunter2"}}}', "not an Argon2 hash"),
        ('{"users": {"ann": {"password": "$argon2id$x"}}}', 'each user needs a "role" and a "password"'),
        ('{"users": {"a b": {"role": "admin", "password": "$argon2id$x"}}}', "users.a b: use 1-64 letters"),
        ('{"users": {}, "roles": {"example.com": "owner"}}', "roles.example.com: 'owner' is not a role"),
    ],
)
def test_a_broken_users_file_is_an_error_naming_the_file_and_the_fault(tmp_path, content, reason):
    path = tmp_path / "users.json"
    path.write_text(content)
    with pytest.raises(BadInput) as raised:
        UsersFile(path).roles()
    assert str(path) in str(raised.value) and reason in str(raised.value)


def test_users_cli_adds_lists_changes_and_removes_users(tmp_path, monkeypatch):
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    added = runner.invoke(cli, ["users", "add", "ann", "--role", "admin", "--password-stdin"], input="ann-secret-1\n")
    assert added.exit_code == 0, added.output
    assert "added ann (admin)" in added.output
    prompted = runner.invoke(cli, ["users", "add", "bo", "--role", "analyst"], input="bo-secret-1\nbo-secret-1\n")
    assert prompted.exit_code == 0, prompted.output
    assert UsersFile(tmp_path / "users.json").verify("bo", "bo-secret-1").role == Role.ANALYST

    assert runner.invoke(cli, ["users", "set-role", "bo", "--role", "moderator"]).exit_code == 0
    assert runner.invoke(cli, ["users", "list"]).output.split("\n")[:2] == ["ann\tadmin", "bo\tmoderator"]

    refused = runner.invoke(cli, ["users", "remove", "ann"])
    assert refused.exit_code == 2 and "only admin" in refused.output
    short = runner.invoke(cli, ["users", "add", "cy", "--role", "support", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "password: 5 characters" in short.output
    wrong_role = runner.invoke(cli, ["users", "add", "cy", "--role", "root", "--password-stdin"], input="cy-secret-1\n")
    assert wrong_role.exit_code == 2
    assert "'root' is not a role (one of analyst, support, moderator, admin)" in wrong_role.output
    assert runner.invoke(cli, ["users", "remove", "bo"]).exit_code == 0
    assert set(UsersFile(tmp_path / "users.json").accounts()) == {"ann"}


# OIDC ----------------------------------------------------------------------------------------------


def test_oidc_roles_come_from_the_email_then_its_domain_then_the_default():
    roles = {"boss@example.com": Role.ADMIN, "example.com": Role.SUPPORT}
    assert oidc_user({"email": "Boss@Example.com", "email_verified": True}, roles, None).role == Role.ADMIN
    assert oidc_user({"email": "kim@example.com", "email_verified": True}, roles, None).role == Role.SUPPORT
    assert oidc_user({"email": "lee@other.org", "email_verified": True}, roles, Role.ANALYST).role == Role.ANALYST
    with pytest.raises(SignInFailed, match="lee@other.org has no role in vlsearch"):
        oidc_user({"email": "lee@other.org", "email_verified": True}, roles, None)
    with pytest.raises(SignInFailed, match="has not verified kim@example.com"):
        oidc_user({"email": "kim@example.com", "email_verified": False}, roles, None)


@pytest.mark.parametrize(
    ("claims", "refusal"),
    [
        ({"email_verified": "false"}, "the identity provider has not verified kim@example.com"),
        ({"email_verified": "true"}, "sent email_verified = 'true' for kim@example.com, not the boolean true"),
        ({}, "did not say that kim@example.com is verified"),
        ({"email_verified": False}, "the identity provider has not verified kim@example.com"),
        ({"email_verified": True}, None),
    ],
)
def test_only_an_email_verified_claim_of_boolean_true_gets_a_role(claims, refusal):
    roles = {"example.com": Role.SUPPORT}
    identity = {"email": "kim@example.com", **claims}
    if refusal is None:
        assert oidc_user(identity, roles, Role.ANALYST).role == Role.SUPPORT
    else:
        with pytest.raises(SignInFailed, match=refusal):
            oidc_user(identity, roles, Role.ANALYST)  # not even the default role


def test_a_provider_that_never_sends_the_claim_can_be_admitted_by_setting():
    roles = {"example.com": Role.SUPPORT}
    assert oidc_user({"email": "kim@example.com"}, roles, None, require_verified=False).role == Role.SUPPORT
    with pytest.raises(SignInFailed, match="has not verified"):  # a claim that says no still says no
        oidc_user({"email": "kim@example.com", "email_verified": "false"}, roles, None, require_verified=False)


def test_oidc_sign_in_maps_the_identity_to_a_role_in_the_app(env, data_dir):
    env.setenv("VLSEARCH_OIDC_ROLES", "example.com=moderator")
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.secrets = OIDC_SECRETS
    app.user = {"is_logged_in": False}
    app.run()
    assert app.title[0].value == "Sign in to vlsearch"
    assert [button.label for button in app.button] == ["Sign in with your organisation's account"]

    app.user = {"is_logged_in": True, "email": "kim@example.com", "email_verified": True}
    app.run().switch_page("views/moderation.py").run()  # a moderator has the moderation page
    assert app.title[0].value == "Moderation queue" and not app.exception
    assert "kim" in app.sidebar.caption[0].value and "moderator" in app.sidebar.caption[0].value
    app.run()
    assert events(data_dir, Action.SIGN_IN) == [("kim@example.com", Outcome.OK)]  # once per session

    app.user = {"is_logged_in": True, "email": "lee@other.org", "email_verified": True}
    app.run()
    assert "lee@other.org has no role in vlsearch" in app.error[0].value


def test_the_app_says_why_an_unverified_oidc_address_gets_no_role(env, data_dir):
    env.setenv("VLSEARCH_OIDC_ROLES", "example.com=admin")
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.secrets = OIDC_SECRETS
    app.user = {"is_logged_in": True, "email": "kim@example.com", "email_verified": "true"}  # a string, not true
    app.run()
    assert "not the boolean true vlsearch needs, so it gets no role" in app.error[0].value
    assert not app.title and [button.label for button in app.button] == ["Sign out"]  # no page, only the way out
    assert events(data_dir, Action.SIGN_IN) == [("kim@example.com", Outcome.REFUSED)]


# the app -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sign_in_guesses_at_random_names_write_a_bounded_number_of_audit_rows(env, data_dir):
    app = app_as(None)
    for _ in range(30):
        app = sign_in_form(app, f"guess-{secrets.token_hex(6)}", "password-1")
        assert app.error[0].value == "wrong user name or password"
    app = sign_in_form(app, "ann", "not-her-password")
    rows = open_audit_log(data_dir).events(action=Action.SIGN_IN)
    assert len(rows) == 20 + 1  # SignInAuditFilter's 20 per window, and every failure under a real name
    assert (rows[0].actor, rows[0].outcome) == ("ann", Outcome.FAILED)
    assert rows[1].actor.startswith("guess-") and rows[1].detail["address"] == UNKNOWN_ADDRESS


def test_the_app_says_how_to_set_up_sign_in_when_none_is(env, tmp_path):
    env.setenv("VLSEARCH_DATA_DIR", str(tmp_path / "empty"))
    app = app_as(None)
    assert "no sign-in is configured" in app.error[0].value
    assert "VLSEARCH_AUTH=off" in app.error[0].value
    assert not app.text_input  # no form to guess passwords in


def test_sign_in_form_refuses_a_wrong_password_and_audits_both_outcomes(env, data_dir):
    app = app_as(None)
    assert app.title[0].value == "Sign in to vlsearch"
    app = sign_in_form(app, "ann", "not-her-password")
    assert app.error[0].value == "wrong user name or password"
    app = sign_in_form(app, "ann", PASSWORDS["ann"])
    assert app.title[0].value == "vlsearch" and not app.exception
    assert app.sidebar.caption[0].value == "Signed in as **ann** · admin"
    assert events(data_dir, Action.SIGN_IN) == [("ann", Outcome.OK), ("ann", Outcome.FAILED)]  # newest first

    app = click(app, "Sign out")
    assert app.title[0].value == "Sign in to vlsearch"
    assert events(data_dir, Action.SIGN_OUT) == [("ann", Outcome.OK)]


def test_support_cannot_reach_moderation_and_a_direct_visit_is_refused_and_audited(env, data_dir):
    app = app_as("sam")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page("views/moderation.py")  # not in the navigation at all

    page = app_as("sam", MODERATION_PAGE)  # the page's own check, as if reached some other way
    assert page.error[0].value == "not allowed to moderate: sam is support, and it needs the moderator or admin role"
    assert not page.button and not page.title
    assert events(data_dir, Action.OPEN_PAGE) == [("sam", Outcome.REFUSED)]
    assert open_queue(Settings(data_dir=data_dir)).get(1).state == State.PENDING


def test_a_removed_user_loses_access_on_the_next_run(env, data_dir):
    app = app_as("ana")
    assert app.title[0].value == "vlsearch"
    UsersFile(data_dir / "users.json").remove("ana")
    app.run()
    assert app.title[0].value == "Sign in to vlsearch"


def test_a_moderator_decides_under_their_signed_in_name(env, data_dir):
    app = app_as("mo")
    app.switch_page("views/moderation.py").run()
    assert app.subheader[0].value == "Item 1 · spam"  # shown to mo without typing a name
    app = click(click(app, "Remove"), "Yes, remove")  # Remove asks to confirm first
    assert not app.exception and app.success[0].value == "Item 1: removed."
    item = open_queue(Settings(data_dir=data_dir)).get(1)
    assert (item.state, item.reviewer) == (State.REMOVED, "mo")
    (decision,) = open_audit_log(data_dir).events(action=Action.DECISION)
    assert (decision.actor, decision.role, decision.outcome) == ("mo", "moderator", Outcome.OK)
    assert decision.detail == {"item": 1, "reviewer": "mo", "from_state": "pending", "to_state": "removed", "note": ""}


def test_the_review_desk_refuses_a_decision_without_the_role_and_audits_it(data_dir):
    queue = open_queue(Settings(data_dir=data_dir))
    audit = open_audit_log(data_dir)
    analyst = User("ana", Role.ANALYST, AuthMode.LOCAL)
    with pytest.raises(PermissionDenied, match="ana is analyst, and it needs the moderator or admin role"):
        ReviewDesk(queue, audit, analyst, "ana").decide(1, State.REMOVED, "spam")
    with pytest.raises(PermissionDenied):
        ReviewDesk(queue, audit, analyst, "ana").claim_next()
    assert queue.get(1).state == State.PENDING and queue.get(1).claimed_by is None and not queue.audit_log()
    refusals = audit.events(action=Action.DECISION)
    assert [(event.actor, event.outcome, event.detail["step"]) for event in refusals] == [
        ("ana", Outcome.REFUSED, "claim"),
        ("ana", Outcome.REFUSED, "decide"),
    ]
    admin = User("ann", Role.ADMIN, AuthMode.LOCAL)
    assert ReviewDesk(queue, audit, admin, "ann").decide(1, State.ESCALATED).item.state == State.ESCALATED
