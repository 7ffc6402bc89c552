"""What the discovery walk of a home costs: memory that does not grow with its plain files,
one open per folder in a live scan by root, and no descriptor or link left behind."""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from pathlib import Path

import pytest

from checks.api import image_scanner
from checks.catalogue import load_builtin
from checks.engine import Scanner
from checks.fsview import FsView, ReadPolicy
from checks.layout import Layout, UserHome
from checks.model import Platform

CATALOGUE = load_builtin()
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)

posix_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="a live scan as root (Linux)"
)


def _home(root: Path, folders: int, files_each: int) -> Path:
    """An image whose one home holds `folders` folders (two levels) of `files_each` files,
    and a virtual environment with a tool at the bottom of one of them."""
    home = root / "home" / "ann"
    for i in range(folders):
        # Not Downloads/Desktop/Documents: the content probe lists those (bounded to 20,000
        # entries a place) to choose candidate programs.
        folder = home / "projects" / f"d{i // 20}" / f"e{i % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(files_each):
            (folder / f"report{j:04}.txt").write_bytes(b"x")
    venv = home / "projects" / "d0" / "e0" / "envx"
    (venv / "lib/python3.11/site-packages/itchat-1.2.32.dist-info").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "lib/python3.11/site-packages/itchat-1.2.32.dist-info/METADATA").write_text(
        "Metadata-Version: 2.1\nName: itchat\nVersion: 1.2.32\n"
    )
    return root


def _retained_after_scan(root: Path) -> tuple[int, set[str]]:
    """Bytes a scanner still holds after a cold scan of `root`, and the rules found."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        scanner = image_scanner(str(root), Platform.LINUX)
        result = scanner.scan()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del scanner
    return held, {f.rule_id for f in result.findings}


def test_walk_memory_does_not_grow_with_plain_files(tmp_path: Path) -> None:
    """A warm rescan needs a folder's (mtime, inode), its subfolders and its markers, not an
    entry per plain file: 20,000 more files in the same 400 folders cost almost nothing
    (an entry each cost about 350 bytes: a home of a million files, 350 MB)."""
    few, found_few = _retained_after_scan(_home(tmp_path / "few", 400, 0))
    many, found_many = _retained_after_scan(_home(tmp_path / "many", 400, 50))
    assert "itchat" in found_few and "itchat" in found_many
    per_file = (many - few) / 20_000
    assert per_file < 40, f"{per_file:.0f} bytes kept per plain file"


def _chain(home: Path, depth: int) -> Path:
    """`depth` nested folders below `home`, a file in each, a venv marker at the bottom."""
    folder = home
    for i in range(depth):
        folder = folder / f"level{i}"
        folder.mkdir()
        (folder / "notes.txt").write_text("x")
    (folder / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return folder


@posix_root
def test_live_walk_opens_each_folder_once_not_each_path_from_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live scan by root opened every folder one component at a time from `/`: a home's
    folders cost (folders x depth) opens. Each is opened relative to its parent now."""
    root = tmp_path / "root"
    home = root / "home" / "ann"
    home.mkdir(parents=True)
    bottom = _chain(home, 40)
    layout = Layout(root, Platform.LINUX, live=True, users=[UserHome("ann", home, 0)])
    scanner = Scanner(layout, CATALOGUE)
    opens: list[str] = []
    real_open = os.open

    def counting(path: str, flags: int, *args: object, **kwargs: object) -> int:
        if flags & _O_DIRECTORY and str(path).startswith(("level", str(home))):
            opens.append(str(path))
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", counting)
    scanner.scan()
    monkeypatch.undo()
    assert str(bottom) in scanner.fs.observed_dirs()  # the walk reached the bottom
    assert len(opens) <= 60, f"{len(opens)} folder opens for a chain of 40 folders"


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@posix_root
def test_walk_deeper_than_its_open_ancestors_finds_all_and_leaks_no_descriptor(
    tmp_path: Path,
) -> None:
    """A chain deeper than the descriptors a walk keeps open is walked whole (the deeper
    folders opened from `/`), and a walk finished or abandoned midway closes what it opened."""
    home = tmp_path / "home"
    home.mkdir()
    bottom = _chain(home, 120)
    fs = FsView(policy=ReadPolicy.build(True, [(str(home), 0)]))
    before = _open_fds()

    def markers(folder: str, items: list[os.DirEntry[str]]) -> list[str]:
        return [i.name for i in items if i.name == "pyvenv.cfg"]

    found = [f for f, names in fs.walk_derived(str(home), markers, "k") if names]
    assert found == [str(bottom)]
    assert _open_fds() == before
    fs2 = FsView(policy=ReadPolicy.build(True, [(str(home), 0)]))
    walk = fs2.walk_derived(str(home), markers, "k")
    for _ in range(30):
        next(walk)
    assert _open_fds() != before  # the folders above the 30th are open
    walk.close()
    assert _open_fds() == before


@posix_root
def test_folder_swapped_for_a_link_during_the_walk_is_not_followed(tmp_path: Path) -> None:
    """Between listing a folder and opening a subfolder, its owner replaces the subfolder by
    a link to another folder of theirs: the walk does not go through it (it never walks
    through links), though the policy would let it read the owner's files there."""
    home = tmp_path / "home"
    (home / "a" / "b").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "pyvenv.cfg").write_text("home = /usr/bin\n")
    for path in (home, home / "a", home / "a" / "b", elsewhere, elsewhere / "pyvenv.cfg"):
        os.chown(path, 4242, 4242)
    fs = FsView(policy=ReadPolicy.build(True, [(str(home), 4242), (str(elsewhere), 4242)]))

    def swap(folder: str, items: list[os.DirEntry[str]]) -> list[str]:
        if folder == str(home / "a"):  # listed; its subfolder `b` not yet opened
            os.rename(home / "a" / "b", home / "a" / "b-old")
            os.symlink(elsewhere, home / "a" / "b")
        return [i.name for i in items]

    walked = dict(fs.walk_derived(str(home), swap, "k"))
    assert str(home / "a") in walked
    assert str(home / "a" / "b") not in walked
    assert all("pyvenv.cfg" not in names for names in walked.values())


def test_a_folder_walked_then_listed_is_stale_if_it_changed_in_between(tmp_path: Path) -> None:
    """Discovery walks a home and a probe lists it later in the same scan: an entry made
    between the two must still make the folder stale for the watch set up after the scan
    (else a project created during the first scan is never rescanned)."""
    fs = FsView()
    base = tmp_path / "home"
    base.mkdir()
    list(fs.walk_derived(str(base), lambda folder, entries: len(entries), "count"))
    time.sleep(0.01)  # a distinct mtime on file systems with coarse timestamps
    (base / "project").mkdir()
    fs.listdir(str(base))
    assert fs.stale([str(base)]) == [str(base)]


def _downloads(root: Path, files: int) -> Path:
    """An image whose one home holds `files` documents in Downloads (50 a folder; not
    content candidates, whose verdicts are kept apart), and a bot's session file."""
    downloads = root / "home" / "ann" / "Downloads"
    for i in range(files):
        folder = downloads / f"batch{i // 50}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"note{i}.txt").write_bytes(b"x")
    (downloads / "wx").mkdir(parents=True)
    (downloads / "wx" / "itchat.pkl").write_bytes(b"session")
    return root


def test_listings_kept_between_scans_are_compact(tmp_path: Path) -> None:
    """The folders a probe lists (here the content probe's Downloads) are kept between scans
    so that a warm rescan re-reads nothing: a name, a flag byte and an inode each, not an
    entry with its path (about 350 bytes a file, 28 MB held for this machine's homes)."""
    few_root = _downloads(tmp_path / "few", 0)
    many_root = _downloads(tmp_path / "many", 10_000)
    _, found = _retained_after_scan(many_root)  # the process's own first-scan caches
    assert "itchat" in found
    few = min(_retained_after_scan(few_root)[0] for _ in range(2))
    many = min(_retained_after_scan(many_root)[0] for _ in range(2))
    per_file = (many - few) / 10_000
    assert per_file < 160, f"{per_file:.0f} bytes kept per listed file"
