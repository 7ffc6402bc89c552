"""Managed config over user config over defaults; bad files get clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError, Settings, load


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_and_managed_keys(tmp_path: Path) -> None:
    managed = _write(
        tmp_path / "managed.toml", 'server_url = "https://wxguard.corp"\nscan_interval_s = 1800\n'
    )
    user = _write(tmp_path / "user.toml", 'scan_interval_s = 600\nlanguage = "zh"\n')
    settings = load(managed, user)
    assert settings.server_url == "https://wxguard.corp"
    assert settings.scan_interval_s == 1800  # IT wins
    assert settings.language == "zh"  # the user's own choice where IT said nothing
    assert settings.heartbeat_interval_s == Settings().heartbeat_interval_s
    assert settings.is_managed("scan_interval_s") and not settings.is_managed("language")


def test_missing_files_mean_defaults(tmp_path: Path) -> None:
    assert load(tmp_path / "none.toml", tmp_path / "none2.toml") == Settings()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scan_interval_s = 5\n", "outside"),
        ('scan_interval_s = "often"\n', "must be a int"),
        ("colour = 1\n", "unknown key"),
        ("server_url = \n", "not valid TOML"),
        ('log_level = "LOUD"\n', "log_level"),
    ],
)
def test_bad_values_are_refused_with_the_file_named(
    tmp_path: Path, text: str, message: str
) -> None:
    user = _write(tmp_path / "user.toml", text)
    with pytest.raises(ConfigError, match=message) as info:
        load(tmp_path / "none.toml", user)
    assert str(user) in str(info.value)
