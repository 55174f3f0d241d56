"""docker-compose.yml, docker-compose.cluster.yml and docker-compose.vectorizer.yml as an operator starts them:
images pinned, loopback-only ports, no API key anyone could know, (cluster) three nodes that join each other, and
(vectorizer) Weaviate's multi2vec-clip module pointed at a vlsearch API that only the compose network reaches."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
CLUSTER_FILE = ROOT / "docker-compose.cluster.yml"
VECTORIZER_FILE = ROOT / "docker-compose.vectorizer.yml"
COMPOSE_FILES = (COMPOSE_FILE, CLUSTER_FILE, VECTORIZER_FILE)
EVERY_FILE = pytest.mark.parametrize("path", COMPOSE_FILES, ids=["single node", "cluster", "vectorizer"])
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<kind>:?[-?+])(?P<rest>[^}]*))?\}")
LOOPBACK = "127.0.0.1"


def compose(path: Path = COMPOSE_FILE) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def published_ports(path: Path = COMPOSE_FILE) -> list[tuple[str, str]]:
    return [
        (name, str(port)) for name, service in compose(path)["services"].items() for port in service.get("ports", [])
    ]


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


@EVERY_FILE
def test_every_published_port_listens_on_loopback_unless_the_operator_says_otherwise(path):
    ports = published_ports(path)
    assert {port.rsplit(":", 1)[1] for _, port in ports} >= {"8080", "50051"}
    host_ports = [port.rsplit(":", 2)[-2] for _, port in ports]
    assert len(host_ports) == len(set(host_ports)), f"two services publish the same host port: {host_ports}"
    exposed = [
        f"{service}: {port} binds {host_address(port)}" for service, port in ports if host_address(port) != LOOPBACK
    ]
    assert not exposed


def api_key_values(path: Path = COMPOSE_FILE) -> list[tuple[str, str]]:
    """Every value that carries the Weaviate API key, with where it is."""
    found = []
    for service_name, service in compose(path)["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "API_KEY" in key or "ALLOWED_KEYS" in key:
                found.append((f"{service_name}.{key}", str(value)))
    return found


KEYED = {
    COMPOSE_FILE: {
        "weaviate.AUTHENTICATION_APIKEY_ALLOWED_KEYS",
        "app.VLSEARCH_WEAVIATE_API_KEY",
        "app-gpu.VLSEARCH_WEAVIATE_API_KEY",
    },
    CLUSTER_FILE: {f"weaviate-node{n}.AUTHENTICATION_APIKEY_ALLOWED_KEYS" for n in (1, 2, 3)},
    VECTORIZER_FILE: {"weaviate.AUTHENTICATION_APIKEY_ALLOWED_KEYS"},
}


@EVERY_FILE
def test_no_api_key_has_a_default_and_compose_refuses_to_start_without_one(path):
    values = api_key_values(path)
    assert {where for where, _ in values} >= KEYED[path]
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


def weaviate_services(path: Path) -> dict[str, dict]:
    return {name: service for name, service in compose(path)["services"].items() if "weaviate" in service["image"]}


@EVERY_FILE
def test_every_image_is_pinned_to_a_version(path):
    for name, service in compose(path)["services"].items():
        image = service.get("image")
        assert image, f"{name} has no image"
        if "build" in service:
            continue  # built here from the Dockerfile
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert re.fullmatch(r"\d+\.\d+\.\d+", tag) or "@sha256:" in image, f"{name}: {image} is not pinned"


def test_every_file_runs_the_same_weaviate_version():
    images = {service["image"] for path in COMPOSE_FILES for service in weaviate_services(path).values()}
    assert len(images) == 1, images


@EVERY_FILE
def test_weaviate_requires_the_key_and_takes_filesystem_backups(path):
    for name, service in weaviate_services(path).items():
        env = {key: str(value) for key, value in service["environment"].items()}
        assert env["AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED"] == "false", name
        assert env["AUTHENTICATION_APIKEY_ENABLED"] == "true", name
        assert env["BACKUP_FILESYSTEM_PATH"], name
        mounts = {volume.split(":")[1] for volume in service["volumes"]}
        assert {env["BACKUP_FILESYSTEM_PATH"], env["PERSISTENCE_DATA_PATH"]} <= mounts, name
    cluster = weaviate_services(CLUSTER_FILE).values()
    assert all("backup-filesystem" in str(s["environment"]["ENABLE_MODULES"]).split(",") for s in cluster)


def test_the_three_cluster_nodes_join_each_other():
    nodes = weaviate_services(CLUSTER_FILE)
    assert len(nodes) == 3
    env = {name: {key: str(value) for key, value in service["environment"].items()} for name, service in nodes.items()}
    hostnames = {name: node["CLUSTER_HOSTNAME"] for name, node in env.items()}
    assert sorted(hostnames) == sorted(hostnames.values()), "each CLUSTER_HOSTNAME should be its service name"
    for name, node in env.items():
        assert set(node["RAFT_JOIN"].split(",")) == set(hostnames.values()), f"{name}: RAFT_JOIN {node['RAFT_JOIN']}"
        assert node["RAFT_BOOTSTRAP_EXPECT"] == "3", name
        assert node["CLUSTER_GOSSIP_BIND_PORT"] and node["CLUSTER_DATA_BIND_PORT"], name
        assert node["CLUSTER_GOSSIP_BIND_PORT"] != node["CLUSTER_DATA_BIND_PORT"], name
    joined = {name: node.get("CLUSTER_JOIN") for name, node in env.items()}
    seeds = [name for name, target in joined.items() if not target]
    assert len(seeds) == 1, f"one node starts the gossip ring, the others join it: {joined}"
    (seed,) = seeds
    for name, target in joined.items():
        if target:
            for address in target.split(","):
                host, _, port = address.partition(":")
                assert host in env and host != name, f"{name} joins {address}, not another node"
                assert port == env[host]["CLUSTER_GOSSIP_BIND_PORT"], f"{name} joins {address}, not its gossip port"
    assert all(target == f"{seed}:{env[seed]['CLUSTER_GOSSIP_BIND_PORT']}" for target in joined.values() if target)
    volumes = [volume.split(":")[0] for service in nodes.values() for volume in service["volumes"]]
    data = [volume for volume in volumes if volume.endswith("-data")]
    assert len(set(data)) == 3, f"each node needs its own data volume: {data}"


def test_the_cluster_profile_has_replication_factor_three_and_the_default_one():
    with (ROOT / "weaviate" / "collection.toml").open("rb") as handle:
        definition = tomllib.load(handle)
    assert definition["cluster"]["replication_factor"] == 1
    assert definition["profiles"]["cluster"]["cluster"]["replication_factor"] == 3


def vectorizer_services() -> tuple[dict, str, dict]:
    """(Weaviate, the name of the vlsearch service, that service) of docker-compose.vectorizer.yml."""
    services = compose(VECTORIZER_FILE)["services"]
    (weaviate,) = weaviate_services(VECTORIZER_FILE).values()
    (name,) = [name for name, service in services.items() if "build" in service]
    return weaviate, name, services[name]


def test_the_vectorizer_weaviate_sends_multi2vec_clip_to_the_vlsearch_api():
    weaviate, api_name, api = vectorizer_services()
    env = {key: str(value) for key, value in weaviate["environment"].items()}
    assert "multi2vec-clip" in env["ENABLE_MODULES"].split(",")
    command = api["command"]
    assert command[:4] == ["python", "-m", "pipeline", "serve"]
    port = command[command.index("--port") + 1]
    assert env["CLIP_INFERENCE_API"] == f"http://{api_name}:{port}"
    # The module waits for the inference service's readiness when Weaviate starts: the API must be up first.
    assert weaviate["depends_on"][api_name]["condition"] == "service_healthy"
    assert f"127.0.0.1:{port}/.well-known/ready" in " ".join(api["healthcheck"]["test"])


def test_the_vectorizer_api_is_reachable_only_inside_the_compose_network_and_starts_on_its_own():
    weaviate, _, api = vectorizer_services()
    command = api["command"]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # other containers reach it by its service name
    assert not api.get("ports"), "its vectorizer routes take no token: publish no port"
    # `serve` refuses open mode on 0.0.0.0; the /v1 routes keep their tokens, /vectorize needs none.
    assert str((api.get("environment") or {}).get("VLSEARCH_AUTH", "auto")) != "off"
    # Weaviate waits for the API, so the API must not wait for Weaviate.
    assert not api.get("depends_on")
