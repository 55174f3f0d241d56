"""API tokens: a token authenticates as its integration with its role until revoked, its secret is shown once and
never stored, bad names and roles are refused with the reason, the CLI lists no secret, creation and revocation
are audited, and one store serves many threads at once."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.access.audit import Action, open_audit_log
from pipeline.access.auth import AuthMode, Permission, Role, User, require
from pipeline.access.cli import tokens_app
from pipeline.access.tokens import TOKEN_PREFIX, TOKENS_FILE, TokenStore, open_tokens
from pipeline.errors import BadInput, PermissionDenied


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> TokenStore:
    return TokenStore(tmp_path / TOKENS_FILE, clock=clock)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The data dir the CLI uses."""
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """umask 022, under which files come out 0644 unless vlsearch makes them private."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def test_a_token_authenticates_as_its_integration_with_its_role(store):
    secret = store.create("zendesk", Role.SUPPORT)
    assert secret.startswith(TOKEN_PREFIX)

    token = store.authenticate(secret)
    assert token is not None and token.name == "zendesk" and token.role == Role.SUPPORT
    assert token.user() == User("token:zendesk", Role.SUPPORT, AuthMode.TOKEN)
    assert require(token.user(), Permission.SEARCH) == token.user()
    with pytest.raises(PermissionDenied):
        require(token.user(), Permission.INGEST)


def test_last_use_is_recorded_at_most_once_a_minute(store, clock):
    secret = store.create("zendesk", Role.SUPPORT)
    assert store.tokens()[0].last_used_at is None
    first_use = clock.now
    store.authenticate(secret)
    clock.now += 30
    assert store.authenticate(secret).last_used_at == first_use
    assert store.tokens()[0].last_used_at == first_use
    clock.now += 30
    store.authenticate(secret)
    assert store.tokens()[0].last_used_at == first_use + 60


def test_the_secret_is_shown_once_and_never_stored(tmp_path, store):
    secrets = [store.create(f"integration-{n}", Role.ANALYST) for n in range(3)]
    assert len(set(secrets)) == 3
    stored = b"".join(path.read_bytes() for path in tmp_path.glob(f"{TOKENS_FILE}*"))
    assert stored, "the token store wrote nothing"
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret[len(TOKEN_PREFIX) :].encode() not in stored


def test_a_revoked_token_is_refused_and_its_name_can_be_used_again(store):
    old = store.create("zendesk", Role.ADMIN)
    revoked = store.revoke("zendesk")
    assert revoked.revoked_at is not None and revoked.role == Role.ADMIN
    assert store.authenticate(old) is None

    new = store.create("zendesk", Role.SUPPORT)
    assert store.authenticate(old) is None
    assert store.authenticate(new).role == Role.SUPPORT
    assert [(token.role, token.revoked_at is None) for token in store.tokens()] == [
        (Role.ADMIN, False),
        (Role.SUPPORT, True),
    ]


def test_a_revocation_reaches_a_store_opened_separately(tmp_path, store):
    """What another process (the API server) sees: its own store on the same file."""
    secret = store.create("zendesk", Role.SUPPORT)
    server = open_tokens(tmp_path)
    assert server.authenticate(secret).name == "zendesk"
    store.revoke("zendesk")
    assert server.authenticate(secret) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [("zendesk", "already revoked"), ("jira", "no such token")],
)
def test_revoking_an_unknown_or_revoked_token_names_it(store, name, reason):
    store.create("zendesk", Role.SUPPORT)
    store.revoke("zendesk")
    with pytest.raises(BadInput, match=f"token '{name}': .*{reason}"):
        store.revoke(name)


def test_a_second_unrevoked_token_of_one_name_is_refused(store):
    first = store.create("zendesk", Role.SUPPORT)
    with pytest.raises(BadInput, match="token 'zendesk': already exists; revoke it first"):
        store.create("zendesk", Role.ADMIN)
    assert store.authenticate(first).role == Role.SUPPORT
    assert len(store.tokens()) == 1


@pytest.mark.parametrize("name", ["", "-leading-dash", "has space", "token:zendesk", "x" * 65])
def test_a_bad_token_name_is_refused_with_the_rule(store, name):
    with pytest.raises(BadInput, match="use 1-64 letters, digits"):
        store.create(name, Role.SUPPORT)
    assert store.tokens() == []


def test_unknown_and_malformed_secrets_are_refused(store):
    secret = store.create("zendesk", Role.SUPPORT)
    forged = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    non_ascii = TOKEN_PREFIX + "é" * (len(secret) - len(TOKEN_PREFIX))
    for attempt in ["", secret[len(TOKEN_PREFIX) :], secret + "x", secret[:-1], forged, "VLS_" + secret[4:], non_ascii]:
        assert store.authenticate(attempt) is None, attempt
    assert store.tokens()[0].last_used_at is None


def test_eight_threads_share_one_store(store):
    """The API server checks tokens from many threads while an admin creates more: no errors, no lost tokens, and
    of eight threads racing to create one name exactly one wins."""
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    winners: list[str] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            secret = store.create(f"integration-{n}", Role.ANALYST)
            for _ in range(20):
                token = store.authenticate(secret)
                assert token is not None and token.name == f"integration-{n}"
            try:
                winners.append(store.create("shared", Role.SUPPORT))
            except BadInput:
                pass
        except BaseException as error:  # collected: an exception in a thread would otherwise pass silently
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(winners) == 1 and store.authenticate(winners[0]).name == "shared"
    assert sorted(token.name for token in store.tokens()) == sorted([*(f"integration-{n}" for n in range(8)), "shared"])


@pytest.mark.usefixtures("usual_umask")
def test_the_token_store_is_private_to_its_user(tmp_path):
    data_dir = tmp_path / "data"
    store = open_tokens(data_dir)
    store.authenticate(store.create("zendesk", Role.SUPPORT))
    paths = [data_dir, *data_dir.glob(f"{TOKENS_FILE}*")]
    assert len(paths) > 1
    assert {path.name: stat.S_IMODE(path.stat().st_mode) & 0o077 for path in paths} == {path.name: 0 for path in paths}


# command line ----------------------------------------------------------------------------------


def test_the_cli_creates_lists_and_revokes_tokens_and_audits_them(data_dir):
    runner = CliRunner()
    created = runner.invoke(tokens_app, ["create", "--name", "zendesk", "--role", "Support"])
    assert created.exit_code == 0, created.output
    assert "it will not be shown again" in created.output
    secret = created.stdout.strip()  # alone on stdout, so TOKEN=$(vlsearch tokens create ...) captures just it
    assert open_tokens(data_dir).authenticate(secret).role == Role.SUPPORT

    listed = runner.invoke(tokens_app, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert secret not in listed.output
    [entry] = json.loads(listed.output)
    assert set(entry) == {"name", "role", "created_at", "last_used_at", "revoked_at"}
    assert entry["name"] == "zendesk" and entry["role"] == "support" and entry["revoked_at"] is None
    assert entry["last_used_at"].endswith("+00:00")

    revoked = runner.invoke(tokens_app, ["revoke", "zendesk"])
    assert revoked.exit_code == 0 and "revoked token zendesk" in revoked.output
    assert open_tokens(data_dir).authenticate(secret) is None
    [line] = runner.invoke(tokens_app, ["list"]).output.splitlines()
    name, role, created_at, last_used_at, revoked_at = line.split("\t")
    assert (name, role) == ("zendesk", "support") and revoked_at != "-"

    events = open_audit_log(data_dir).events()
    assert [(event.action, event.detail["token"], event.detail["role"]) for event in events] == [
        (Action.TOKEN_REVOKE, "zendesk", "support"),
        (Action.TOKEN_CREATE, "zendesk", "support"),
    ]
    assert all(event.actor.startswith("cli") for event in events)
    assert secret not in (data_dir / "audit.sqlite").read_bytes().decode("latin-1")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["create", "--name", "zendesk", "--role", "root"], "error: --role: 'root' is not a role (one of analyst"),
        (["create", "--name", "has space", "--role", "support"], "error: token name 'has space': use 1-64 letters"),
        (["revoke", "jira"], "error: token 'jira': no such token"),
    ],
)
def test_the_cli_refuses_bad_input_with_the_reason(data_dir, arguments, message):
    result = CliRunner().invoke(tokens_app, arguments)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert open_tokens(data_dir).tokens() == []
    assert open_audit_log(data_dir).events() == []


def test_the_cli_refuses_a_duplicate_name(data_dir):
    runner = CliRunner()
    assert runner.invoke(tokens_app, ["create", "--name", "zendesk", "--role", "support"]).exit_code == 0
    again = runner.invoke(tokens_app, ["create", "--name", "zendesk", "--role", "admin"])
    assert again.exit_code == 2 and "error: token 'zendesk': already exists" in again.output
    assert [token.role for token in open_tokens(data_dir).tokens()] == [Role.SUPPORT]
