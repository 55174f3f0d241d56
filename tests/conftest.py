"""Shared fixtures: the tiny random-weight Qwen3-VL checkpoint and settings that point at it; a users file."""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.access.auth import Role, UsersFile
from pipeline.config import Settings
from tests.tiny_qwen import build_tiny_qwen3vl


def pytest_configure(config: pytest.Config) -> None:
    """Point the platform's user folders at a scratch folder for the whole run, subprocesses included, so that no
    test reads or writes the real per-user data directory or config file (Settings' defaults)."""
    home = Path(tempfile.mkdtemp(prefix="vlsearch-tests-home-"))
    for variable in ("XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        os.environ[variable] = str(home / variable.lower())
    os.environ.pop("VLSEARCH_CONFIG", None)


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen3-VL checkpoint directory, built once per test session."""
    return build_tiny_qwen3vl(tmp_path_factory.mktemp("tiny-qwen3-vl"))


def tiny_model_settings(checkpoint: Path, data_dir: Path, **overrides: Any) -> Settings:
    """Settings that use the tiny checkpoint for every model role, on CPU, with small images."""
    fields: dict[str, Any] = {
        "data_dir": data_dir,
        "models_enabled": True,
        "embed_model": str(checkpoint),
        "caption_model": str(checkpoint),
        "rerank_model": str(checkpoint),
        "embed_dim": 32,
        "device": "cpu",
        "model_batch_size": 4,
        "caption_max_new_tokens": 8,
        "model_max_pixels": 128 * 128,
    }
    return Settings(**{**fields, **overrides})


@pytest.fixture
def tiny_settings(tiny_qwen_dir: Path, tmp_path: Path) -> Settings:
    return tiny_model_settings(tiny_qwen_dir, tmp_path / "data")


PASSWORDS = {"ann": "ann-secret-1", "sam": "sam-secret-1", "mo": "mo-secret-12", "ana": "ana-secret-1"}
ROLES = {"ann": Role.ADMIN, "sam": Role.SUPPORT, "mo": Role.MODERATOR, "ana": Role.ANALYST}


@pytest.fixture(scope="session")
def users_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A users file with one user per role, password PASSWORDS[name] (Argon2 is slow on purpose: written once)."""
    path = tmp_path_factory.mktemp("users") / "users.json"
    users = UsersFile(path)
    for name, role in ROLES.items():
        users.add(name, role, PASSWORDS[name])
    return path


@pytest.fixture
def fresh_app_caches() -> Iterator[None]:
    """Each app test builds its own services from its own environment, as a new server process would."""
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()
