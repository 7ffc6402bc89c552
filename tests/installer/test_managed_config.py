"""What the package's configure step does with IT's managed config: baked, pre-seeded, given
in the environment at install time, replaced on upgrade only when the package wrote it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agent.config import ConfigError
from installer.deb_hooks import install_managed_config


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml.dist"
    path.write_text(
        'server_url = "https://wxguard.corp.example"\n'
        'enrollment_secret = "baked-secret"\n'
        'policy_public_key = "/etc/wxguard/policy-public.pem"\n'
    )
    return path


def test_first_install_writes_the_baked_config_root_only(dist: Path, tmp_path: Path) -> None:
    target = tmp_path / "etc" / "agent.toml"
    target.parent.mkdir()
    notes = install_managed_config(dist, target, {})
    assert notes == []
    assert 'enrollment_secret = "baked-secret"' in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_environment_overrides_server_and_secret(dist: Path, tmp_path: Path) -> None:
    target = tmp_path / "agent.toml"
    env = {"WXGUARD_SERVER_URL": "https://other.example", "WXGUARD_ENROLLMENT_SECRET": "s3"}
    notes = install_managed_config(dist, target, env)
    text = target.read_text()
    assert 'server_url = "https://other.example"' in text
    assert 'enrollment_secret = "s3"' in text
    assert any("from the environment" in note for note in notes)


def test_upgrade_replaces_the_packages_own_file_but_keeps_install_time_values(
    dist: Path, tmp_path: Path
) -> None:
    target = tmp_path / "agent.toml"
    install_managed_config(dist, target, {"WXGUARD_ENROLLMENT_SECRET": "given-at-install"})
    dist.write_text(
        'server_url = "https://wxguard.corp.example"\n'
        'policy_public_key = "/etc/wxguard/policy-public.pem"\n'
        "scan_interval_s = 1800\n"
    )
    install_managed_config(dist, target, {})
    text = target.read_text()
    assert "scan_interval_s = 1800" in text, "the new package's settings were not applied"
    assert 'enrollment_secret = "given-at-install"' in text


def test_preseeded_config_is_kept_and_the_package_settings_set_beside_it(
    dist: Path, tmp_path: Path
) -> None:
    target = tmp_path / "agent.toml"
    target.write_text('server_url = "https://preseeded.example"\nenrollment_secret = "mine"\n')
    notes = install_managed_config(dist, target, {})
    assert target.read_text().startswith('server_url = "https://preseeded.example"')
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "baked-secret" in (tmp_path / "agent.toml.dpkg-dist").read_text()
    assert any("pre-seeded" in note for note in notes)
    # A later upgrade still does not touch IT's own file.
    install_managed_config(dist, target, {})
    assert "preseeded.example" in target.read_text()


def test_missing_secret_is_said_and_a_bad_preseed_is_refused(dist: Path, tmp_path: Path) -> None:
    dist.write_text('server_url = "https://wxguard.corp.example"\n')
    notes = install_managed_config(dist, tmp_path / "a.toml", {})
    assert any("does not report until" in note for note in notes)
    bad = tmp_path / "b.toml"
    bad.write_text("scan_every = 5\n")
    with pytest.raises(ConfigError, match="scan_every"):
        install_managed_config(dist, bad, {})
