"""docs/configuration.md is generated from `Settings` by scripts/config_docs.py and cannot drift from it."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pipeline.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "config_docs.py"
DOC = ROOT / "docs" / "configuration.md"
REGENERATE = "docs/configuration.md is out of date: run python scripts/config_docs.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vlsearch_config_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


config_docs = _load_script()


def test_committed_configuration_page_matches_the_settings() -> None:
    committed = DOC.read_text(encoding="utf-8").replace("\r\n", "\n") if DOC.exists() else ""
    assert committed == config_docs.render(Settings), REGENERATE


def test_every_setting_is_documented_by_its_environment_variable() -> None:
    text = config_docs.render(Settings)
    missing = [name for name in Settings.model_fields if f"`VLSEARCH_{name.upper()}`" not in text]
    assert not missing, f"not in the rendered page: {missing}"


def test_rendering_is_the_same_on_every_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No home directory or other per-user path leaks in from a default_factory (platformdirs and the like)."""
    expected = config_docs.render(Settings)
    homes = {str(Path.home()), Path.home().as_posix()}
    assert not [home for home in homes if len(home) > 1 and home in expected], "the page names this user's home"

    elsewhere = tmp_path / "some-other-home"
    for name in ("HOME", "USERPROFILE", "APPDATA", "LOCALAPPDATA"):
        monkeypatch.setenv(name, str(elsewhere))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(elsewhere / name.lower()))
    rendered = config_docs.render(Settings)
    assert "some-other-home" not in rendered
    assert rendered == expected


def test_check_reports_a_stale_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text("# Configuration\n\nold\n", encoding="utf-8")
    monkeypatch.setattr(config_docs, "DOC", stale)
    assert config_docs.main(["--check"]) == 1
    assert REGENERATE in capsys.readouterr().err

    monkeypatch.setattr(config_docs, "ROOT", tmp_path)
    assert config_docs.main([]) == 0
    assert config_docs.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == config_docs.render(Settings)
