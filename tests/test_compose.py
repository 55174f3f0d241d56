"""docker-compose.yml as an operator starts it: loopback-only ports and no API key anyone could know."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<kind>:?[-?+])(?P<rest>[^}]*))?\}")
LOOPBACK = "127.0.0.1"


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def published_ports() -> list[tuple[str, str]]:
    return [(name, str(port)) for name, service in compose()["services"].items() for port in service.get("ports", [])]


def host_address(port: str) -> str:
    """The address a short-syntax port ("[address:]host:container") binds; a variable counts as its default."""
    parts = port.split(":")
    if len(parts) < 3:
        return "every interface"
    address = parts[0] if len(parts) == 3 else ":".join(parts[:-2])
    variable = VARIABLE.fullmatch(address)
    if variable is None:
        return address
    return variable["rest"] if variable["kind"] in (":-", "-") else f"unset {variable['name']}"


def test_every_published_port_listens_on_loopback_unless_the_operator_says_otherwise():
    ports = published_ports()
    assert {port.rsplit(":", 1)[1] for _, port in ports} >= {"8080", "50051", "8501"}
    exposed = [
        f"{service}: {port} binds {host_address(port)}" for service, port in ports if host_address(port) != LOOPBACK
    ]
    assert not exposed


def api_key_values() -> list[tuple[str, str]]:
    """Every value that carries the Weaviate API key, with where it is."""
    found = []
    for service_name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "API_KEY" in key or "ALLOWED_KEYS" in key:
                found.append((f"{service_name}.{key}", str(value)))
    return found


def test_no_api_key_has_a_default_and_compose_refuses_to_start_without_one():
    values = api_key_values()
    assert {where for where, _ in values} >= {
        "weaviate.AUTHENTICATION_APIKEY_ALLOWED_KEYS",
        "app.VLSEARCH_WEAVIATE_API_KEY",
        "app-gpu.VLSEARCH_WEAVIATE_API_KEY",
    }
    for where, value in values:
        variables = list(VARIABLE.finditer(value))
        assert variables, f"{where} is written into the file: {value!r}"
        for variable in variables:
            assert variable["kind"] == ":?", f"{where} must be required (${{NAME:?message}}), not {value!r}"
            assert "openssl rand" in variable["rest"], f"{where}: the message should say how to make a key"


@pytest.mark.parametrize(
    ("port", "address"),
    [
        ("8080:8080", "every interface"),
        ("127.0.0.1:8080:8080", LOOPBACK),
        ("${WEAVIATE_BIND_ADDRESS:-127.0.0.1}:8080:8080", LOOPBACK),
        ("${WEAVIATE_BIND_ADDRESS:-0.0.0.0}:8080:8080", "0.0.0.0"),
        ("${WEAVIATE_BIND_ADDRESS}:8080:8080", "unset WEAVIATE_BIND_ADDRESS"),
    ],
)
def test_the_port_reading_knows_what_binds_where(port, address):
    assert host_address(port) == address
