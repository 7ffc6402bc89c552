"""Scanning never crashes on what it meets: denied folders, broken links, loops, odd names,
huge folders, garbage metadata. What it could not see is reported as a blind spot."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from checks.api import scan_image
from checks.fsview import FsView
from tests.conftest import script


def _linux_image(root: Path) -> Path:
    (root / "home" / "alice").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg" / "status").write_text("")
    return root


def test_broken_links_loops_and_odd_names_do_not_crash(tmp_path: Path) -> None:
    root = _linux_image(tmp_path / "img")
    home = root / "home" / "alice"
    (home / "loop").symlink_to(home)  # a folder that contains itself
    (home / "dangling.AppImage").symlink_to(home / "nowhere")
    apps = root / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    os.symlink(b"/nonexistent", os.path.join(bytes(apps), b"\xff\xfeodd.desktop"))
    (apps / "garbage.desktop").write_bytes(b"\x00\x01\x02 not a desktop file")
    (root / "var" / "lib" / "dpkg" / "status").write_bytes(b"\xff\xfe\x00garbage\n\nPackage")
    result = scan_image(str(root), "linux")
    doc = json.loads(result.dumps())
    assert doc["summary"]["compliant"] is True
    # The undecodable name and the garbage file are reported, readably.
    json.dumps(doc, ensure_ascii=False).encode("utf-8")


def test_huge_folder_is_scanned_and_matches_still_found(tmp_path: Path) -> None:
    root = _linux_image(tmp_path / "img")
    site = root / "home" / "alice" / ".local" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    for i in range(20_000):
        (site / f"pkg{i}").mkdir()
    (site / "wcferry-39.6.0.0.dist-info").mkdir()
    result = scan_image(str(root), "linux")
    assert "wechatferry" in {f.rule_id for f in result.findings}


def test_unreadable_folder_is_a_blind_spot_not_a_crash() -> None:
    """Run the real CLI as an unprivileged user against a folder it may not read."""
    tmp_path = Path(tempfile.mkdtemp(prefix="wxguard-perm-", dir="/tmp"))
    root = _linux_image(tmp_path / "img")
    try:
        _check_unreadable(tmp_path, root)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _check_unreadable(tmp_path: Path, root: Path) -> None:
    secret = root / "home" / "bob"
    (secret / ".local" / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    secret.chmod(0o700)
    nobody = pwd.getpwnam("nobody")
    os.chown(secret, 0, 0)
    for folder in (
        tmp_path,
        root,
        root / "home",
        root / "home" / "alice",
        root / "var",
        root / "var" / "lib",
        root / "var" / "lib" / "dpkg",
    ):
        folder.chmod(0o755)
    run = subprocess.run(
        [
            "setpriv",
            f"--reuid={nobody.pw_uid}",
            f"--regid={nobody.pw_gid}",
            "--clear-groups",
            script("wxguard"),
            "check",
            "--root",
            str(root),
            "--platform",
            "linux",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": "/tmp"},
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    spots = [b for b in doc["blind_spots"] if "bob" in b["what"]]
    assert spots and spots[0]["reason"] == "permission denied", doc["blind_spots"]


def test_missing_root_is_exit_2_with_bilingual_advice(tmp_path: Path) -> None:
    run = subprocess.run(
        [script("wxguard"), "check", "--root", str(tmp_path / "nope"), "--platform", "windows"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "扫描根目录不存在" in run.stderr and "does not exist" in run.stderr
    assert run.stdout == ""


def test_root_that_is_a_file_is_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "disk.img"
    target.write_bytes(b"\0" * 16)
    run = subprocess.run(
        [script("wxguard"), "check", "--root", str(target), "--platform", "linux"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "not a folder" in run.stderr


def test_root_without_platform_is_exit_2(tmp_path: Path) -> None:
    run = subprocess.run(
        [script("wxguard"), "check", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "--platform" in run.stderr


def _settle() -> None:
    """Wait out the window in which a just-changed folder's listing is not trusted whole."""
    time.sleep(0.06)


def test_warm_listing_reuses_unchanged_folders_and_sees_changes(tmp_path: Path) -> None:
    fs = FsView()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("1")
    _settle()
    assert [e.name for e in fs.listdir(str(tmp_path / "a"))] == ["x.txt"]
    fs.begin_scan()
    fs.listdir(str(tmp_path / "a"))
    assert fs.stats.dirs_reused == 1 and fs.stats.dirs_listed == 0
    (tmp_path / "a" / "y.txt").write_text("2")
    assert [e.name for e in fs.listdir(str(tmp_path / "a"))] == ["x.txt", "y.txt"]


def test_an_entry_added_in_the_same_clock_tick_as_the_listing_is_seen(tmp_path: Path) -> None:
    """A folder's mtime moves in coarse ticks: an entry added in the tick the listing was read
    leaves it unchanged. A listing read that soon after its folder changed is not trusted:
    the next look reads it again (a new home populated while the scan read it, issue 14)."""
    fs = FsView()
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "a").write_text("1")
    assert [e.name for e in fs.listdir(str(folder))] == ["a"]
    before = os.stat(folder).st_mtime_ns
    (folder / "b").write_text("2")
    os.utime(folder, ns=(before, before))  # the same tick: the mtime did not move
    assert [e.name for e in fs.listdir(str(folder))] == ["a", "b"]


def test_hash_cache_rehashes_only_changed_files(tmp_path: Path) -> None:
    fs = FsView()
    target = tmp_path / "f.bin"
    target.write_bytes(b"a" * 1000)
    first = fs.sha256(str(target))
    fs.begin_scan()
    assert fs.sha256(str(target)) == first and fs.stats.files_hashed == 0
    target.write_bytes(b"b" * 1001)
    assert fs.sha256(str(target)) != first and fs.stats.files_hashed == 1


@pytest.mark.parametrize("name", ["[3.9.12.51]", "weird [x].dll"])
def test_brackets_in_names_are_literal(tmp_path: Path, name: str) -> None:
    (tmp_path / name).mkdir()
    fs = FsView()
    assert [e.name for e in fs.glob(str(tmp_path), name)] == [name]
    assert [e.name for e in fs.glob(str(tmp_path), "*")] == [name]


def test_folders_created_between_a_lookup_and_its_watch_are_rescanned(tmp_path: Path) -> None:
    """The agent watches the nearest existing ancestor of a path a rule looks for. If the
    path's folders appear after the lookup but before the watch (a project created while the
    first scan runs), no event will ever come: `stale` must say so, or the plugin inside is
    never found (seen once in CI)."""
    home = tmp_path / "home"
    (home / "proj").mkdir(parents=True)
    wanted = home / "proj" / ".venv" / "lib" / "site-packages"
    _settle()
    fs = FsView()
    assert list(fs.glob(str(home), "*/.venv/lib/site-packages")) == []  # not there yet
    wanted.mkdir(parents=True)  # ...created while the scan goes on
    watched = fs.watch_dirs()
    assert str(home / "proj") in watched
    assert fs.stale(watched) == [str(home / "proj")]


def test_a_rescan_settles_even_with_a_file_in_the_way(tmp_path: Path) -> None:
    """A file where a folder was looked for leads nowhere: once the folder that changed has
    been read again, nothing is stale (else every scan would ask for another, forever)."""
    home = tmp_path / "home"
    (home / "proj").mkdir(parents=True)
    fs = FsView()
    assert list(fs.glob(str(home), "*/.venv/lib/site-packages")) == []
    (home / "proj" / ".venv").write_text("not a folder")
    fs.stale(fs.watch_dirs())  # the folder changed: one rescan is due
    _settle()
    fs.begin_scan()
    assert list(fs.glob(str(home), "*/.venv/lib/site-packages")) == []
    assert fs.stale(fs.watch_dirs()) == []
