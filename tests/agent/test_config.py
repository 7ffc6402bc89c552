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


def test_macos_managed_preferences_are_read_and_lock_their_keys(tmp_path: Path) -> None:
    import plistlib

    managed = tmp_path / "com.company.wxguard.plist"
    managed.write_bytes(
        plistlib.dumps(
            {"server_url": "https://wxguard.corp", "scan_interval_s": 900, "PayloadUUID": "x"}
        )
    )
    settings = load(managed, tmp_path / "none.toml")
    assert settings.server_url == "https://wxguard.corp" and settings.scan_interval_s == 900
    assert settings.is_managed("server_url")


def test_windows_group_policy_value_names_map_to_keys() -> None:
    from agent.config import from_windows_values, merge

    values = from_windows_values({"ServerUrl": "https://wxguard.corp", "ScanIntervalSeconds": 1200})
    settings = merge(values, {})
    assert settings.server_url == "https://wxguard.corp" and settings.scan_interval_s == 1200
    with pytest.raises(ConfigError, match="unknown value"):
        from_windows_values({"Colour": "red"})
