"""Editor settings on top of [tool.torchpit]: what editors really send."""

from __future__ import annotations

from torchpit.analyzers.engine.config import Config
from torchpit.server.settings import parse_settings


def test_empty_lists_from_the_editor_mean_not_set():
    # Neovim and VS Code send their defaults: select = [] must not switch every rule off.
    settings, problems = parse_settings({"select": [], "ignore": [], "severity": {}, "pythonPath": None})
    assert problems == []
    config = settings.apply_to(Config(select=("PIT1",), ignore=("PIT105",)))
    assert config.select == ("PIT1",) and config.ignore == ("PIT105",)
    assert config.is_enabled("PIT101")


def test_editor_ignore_adds_to_the_pyproject_and_select_replaces():
    settings, _ = parse_settings({"select": ["PIT2"], "ignore": ["PIT201"]})
    config = settings.apply_to(Config(ignore=("PIT105",)))
    assert config.select == ("PIT2",)
    assert set(config.ignore) == {"PIT105", "PIT201"}
    assert config.is_enabled("PIT203") and not config.is_enabled("PIT201") and not config.is_enabled("PIT101")


def test_bad_settings_are_named_and_defaults_kept():
    settings, problems = parse_settings({"select": ["PITX"], "debounce": -3, "jedi": "yes"})
    assert any("torchpit.select" in p and "PITX" in p for p in problems)
    assert any("torchpit.debounce" in p for p in problems)
    assert any("torchpit.jedi" in p for p in problems)
    assert settings.select is None and settings.jedi is True
