"""The installed project as a new user meets it: the `vlsearch` console script, one data location whatever the
current directory, the config file, the log level, and the package data a wheel must carry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipeline.config import Settings

ROOT = Path(__file__).resolve().parent.parent
VLSEARCH = Path(sys.executable).with_name("vlsearch")


def vlsearch(*args: str, cwd: Path, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The console script, run from `cwd`, with the platform's user folders under `home` and no VLSEARCH_*."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("VLSEARCH_")}
    variables = {
        **clean,
        "XDG_DATA_HOME": str(home / "share"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "VLSEARCH_MODELS_ENABLED": "false",
        **env,
    }
    return subprocess.run(
        [str(VLSEARCH), *args], cwd=cwd, env=variables, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_settings_default_to_the_platform_user_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("VLSEARCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Settings().data_dir == tmp_path / "share" / "vlsearch"
    (tmp_path / "config" / "vlsearch").mkdir(parents=True)
    (tmp_path / "config" / "vlsearch" / "vlsearch.toml").write_text('collection = "from_the_config_file"\n')
    assert Settings().collection == "from_the_config_file"
    monkeypatch.setenv("VLSEARCH_CONFIG", str(tmp_path / "elsewhere.toml"))
    (tmp_path / "elsewhere.toml").write_text('collection = "named_by_the_variable"\n')
    assert Settings().collection == "named_by_the_variable"


def test_an_earlier_versions_data_folder_and_config_file_are_named(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "new")
    assert settings.earlier_version_notices(cwd=tmp_path) == []
    (tmp_path / "data" / "lancedb").mkdir(parents=True)
    (tmp_path / "vlsearch.toml").write_text("")
    data_notice, config_notice = settings.earlier_version_notices(cwd=tmp_path)
    assert f"a collection from an earlier vlsearch is at {tmp_path / 'data'}" in data_notice
    assert f"export VLSEARCH_DATA_DIR={tmp_path / 'data'}" in data_notice
    assert f"export VLSEARCH_CONFIG={tmp_path / 'vlsearch.toml'}" in config_notice
    # Pointing at the old folder is using it: nothing to warn about.
    assert Settings(data_dir=tmp_path / "data").earlier_version_notices(cwd=tmp_path)[:1] == [config_notice]


@pytest.mark.slow
def test_stats_works_from_any_directory_and_names_the_data_directory(tmp_path: Path, home: Path) -> None:
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    result = vlsearch("stats", "--json", cwd=elsewhere, home=home)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["data_dir"] == str(home / "share" / "vlsearch")
    assert figures["count"] == 0 and figures["mode"] == "ocr+keyword"
    assert not (elsewhere / "data").exists()  # nothing is created relative to the current directory


@pytest.mark.slow
def test_the_reduced_mode_warning_is_one_short_line_and_the_log_level_is_a_choice(tmp_path: Path, home: Path) -> None:
    no_weights = {"VLSEARCH_MODELS_ENABLED": "true", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-empty")}
    result = vlsearch("stats", cwd=tmp_path, home=home, **no_weights)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and len(warnings[0]) < 160, result.stderr
    assert "docs/search.md#reduced-mode" in warnings[0]
    assert f"data_dir: {home / 'share' / 'vlsearch'}" in result.stdout

    quiet = vlsearch("--log-level", "error", "stats", cwd=tmp_path, home=home)
    assert quiet.returncode == 0 and "warning:" not in quiet.stderr
    chatty = vlsearch("stats", cwd=tmp_path, home=home, VLSEARCH_LOG_LEVEL="INFO", **no_weights)
    assert "info pipeline.models: No captions, no vectors, no rerank" in chatty.stderr
    assert "VLSEARCH_EMBED_MODEL" in chatty.stderr  # the whole explanation, with the fix
    wrong = vlsearch("--log-level", "loud", "stats", cwd=tmp_path, home=home)
    assert wrong.returncode == 2 and "unknown log level 'loud'" in wrong.stderr


@pytest.mark.slow
def test_a_collection_left_in_data_by_an_earlier_version_is_named_not_ignored(tmp_path: Path, home: Path) -> None:
    (tmp_path / "data" / "lancedb").mkdir(parents=True)
    result = vlsearch("stats", "--json", cwd=tmp_path, home=home)
    assert result.returncode == 0
    assert f"a collection from an earlier vlsearch is at {tmp_path / 'data'}" in result.stderr
    assert f"export VLSEARCH_DATA_DIR={tmp_path / 'data'}" in result.stderr


@pytest.mark.slow
def test_a_wheel_carries_the_console_script_the_app_and_the_data_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("vlsearch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        schema = archive.read("pipeline/store/weaviate_collection.toml")
        entry_points = next(archive.read(name) for name in names if name.endswith("entry_points.txt")).decode()
        requirements = next(archive.read(name) for name in names if name.endswith("METADATA")).decode()
    assert schema == (ROOT / "weaviate" / "collection.toml").read_bytes()  # the link's target, not the link
    assert {"pipeline/moderation/moderation_rules.toml", "streamlit_app/app.py", "streamlit_app/views/home.py"} <= names
    assert "vlsearch = pipeline.cli:main" in entry_points
    assert "Requires-Dist: lancedb==" in requirements and "Requires-Dist: pytest==" in requirements  # dev extra
    assert not any(name.startswith(("tests/", "bench/")) for name in names)
