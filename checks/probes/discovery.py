"""One walk per home that finds every kind of place a tool can be installed, by its marker.

Folder names lie (`env`, `venv311`, `~/.venvs/wechat-bot`, `~/code/bot/env`), so places are
recognised by what marks them, wherever they are and however deep:

- a Python environment: a `site-packages` / `dist-packages` folder (venvs, conda envs, the
  user site of every OS, Microsoft Store Python's `LocalCache/local-packages`, pipx and uv
  tool environments all have one), and a prefix marked by `pyvenv.cfg` or `conda-meta/`;
- a frozen program: PyInstaller's `_internal/` folder (beside its executable), a Nuitka
  standalone `<name>.dist/` folder, an Electron `resources/app.asar`, and executables that
  may be PyInstaller one-file archives;
- Node packages: every `node_modules` folder (npm, yarn and pnpm's `.pnpm/` store layout,
  global prefixes included);
- loose programs and app bundles in the places people keep programs (Downloads, Desktop,
  Documents, `~/.local/bin`, `~/bin`, `~/Applications`, `~/Library/Application Support`,
  and release archives extracted anywhere below them);
- the names the rules' `{home}/**/…` path templates ask for.

Each home is walked once for all of them (`FsView.walk`: any depth, through the listing
cache, pruned only where provably safe), and the probes take what they need from `Marks`.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from checks.fsview import Entry, FsView, collector_paused
from checks.model import Platform
from checks.probes.base import ProbeContext

# Folders below a home where people keep programs (relative, `/`-separated, case-folded).
_PROGRAM_PLACES: dict[Platform, tuple[str, ...]] = {
    Platform.LINUX: ("downloads", "desktop", "documents", ".local/bin", "bin", "applications"),
    Platform.MACOS: (
        "downloads",
        "desktop",
        "documents",
        "applications",
        "library/application support",
        ".local/bin",
        "bin",
    ),
    Platform.WINDOWS: (
        "downloads",
        "desktop",
        "documents",
        ".local/bin",
        "bin",
        "appdata/local/temp",
    ),
}
# File name endings of programs a person runs (besides extensionless executables).
PROGRAM_SUFFIXES = (
    ".exe",
    ".appimage",
    ".app",
    ".bat",
    ".cmd",
    ".ps1",
    ".msi",
    ".dmg",
    ".pkg",
    ".command",
    ".sh",
    ".jar",
)
# Machine-wide folders walked for markers as homes are (relative to the root, globs allowed):
# where all-users installs of conda, Python and tools go. Program Files and /usr are covered
# by the probes' fixed places; they are large and written only by administrators.
_SYSTEM_BASES: dict[Platform, tuple[str, ...]] = {
    Platform.LINUX: ("opt", "srv", "usr/local/lib", "root"),
    Platform.MACOS: ("opt", "usr/local/lib", "Library/Frameworks/Python.framework"),
    Platform.WINDOWS: (
        "ProgramData/Anaconda*",
        "ProgramData/Miniconda*",
        "ProgramData/Miniforge*",
        "ProgramData/Mambaforge*",
        "ProgramData/Python*",
        "Python3*",
        "tools",
    ),
}


@dataclass(slots=True)
class Marks:
    """What the discovery walk found: place → the home's user ("" for machine-wide places)."""

    sites: dict[str, str] = field(default_factory=dict)  # site-packages / dist-packages
    prefixes: dict[str, str] = field(default_factory=dict)  # pyvenv.cfg / conda-meta owners
    node_modules: dict[str, str] = field(default_factory=dict)
    frozen: dict[str, str] = field(default_factory=dict)  # _internal/ and Nuitka .dist/
    asars: dict[str, str] = field(default_factory=dict)  # Electron app.asar files
    executables: dict[str, str] = field(default_factory=dict)  # .exe / extensionless programs
    programs: list[tuple[Entry, str]] = field(default_factory=list)  # in program places
    # (template, entry, user) for the rules' `{…}/**/<rest>` path templates
    globstar: list[tuple[str, Entry, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Wanted:
    """The `**` templates to answer during the walk, indexed by their first name.

    `first` is one expression matching every first name (literal or glob), so that the walk
    asks one cheap question per entry and the details only for the few that match. Before
    that, `may_match` asks a folder's names at once whether any could match: a literal first
    name among them, or a glob's longest literal part somewhere in them."""

    fold: bool
    literal: dict[str, list[tuple[str, str, list[str]]]] = field(default_factory=dict)
    magic: list[tuple[str, str, str, list[str]]] = field(default_factory=list)
    first: re.Pattern[str] | None = None
    parts: list[str] = field(default_factory=list)  # each glob's longest literal part
    signature: str = ""

    def add(self, template: str, base: str, rest: list[str]) -> None:
        head = rest[0]
        key = head.casefold() if self.fold else head
        if "*" in head or "?" in head:
            self.magic.append((key.replace("[", "[[]"), template, base, rest[1:]))
        else:
            self.literal.setdefault(key, []).append((template, base, rest[1:]))
        alternatives = [re.escape(k) + r"\Z" for k in self.literal]
        alternatives += [fnmatch.translate(p) for p, _, _, _ in self.magic]
        self.first = re.compile("|".join(f"(?:{a})" for a in alternatives))
        self.signature = self.first.pattern
        self.parts = [
            max(re.split(r"[*?]", p.replace("[[]", "[")), key=len) for p, _, _, _ in self.magic
        ]

    def may_match(self, names: list[str], text: str) -> bool:
        """Whether any of a folder's `names` (folded if the platform folds; `text` is them
        joined by newlines) could be a first name: False means none is."""
        return not self.literal.keys().isdisjoint(names) or any(p in text for p in self.parts)

    def targets(self, key: str) -> list[tuple[str, str, list[str]]]:
        out = list(self.literal.get(key, ()))
        out.extend((t, b, r) for p, t, b, r in self.magic if fnmatchcase(key, p))
        return out


# Names that mark a place, case-folded: folders, and files.
_DIR_MARKERS = {"site-packages", "dist-packages", "node_modules", "conda-meta", "_internal"}
_FILE_MARKERS = {"pyvenv.cfg", "app.asar"}


def globstar_templates(ctx: ProbeContext) -> list[tuple[str, str, str, list[str]]]:
    """(template, base, user, rest after `**`) for every rule template `<base>/**/<rest>`."""
    from checks.probes import files  # the files probe owns the list of rule templates

    out: list[tuple[str, str, str, list[str]]] = []
    for template in files.templates(ctx):
        for base, pattern, user in ctx.expand(template):
            segments = files.segments(pattern)
            if len(segments) > 1 and segments[0] == "**" and "**" not in segments[1:]:
                out.append((template, base, user, segments[1:]))
    return out


def discover(ctx: ProbeContext) -> Marks:
    """Walk every home and the machine-wide install places once, collecting every marker."""
    marks = Marks()
    fold = ctx.fs.case_insensitive
    per_base: dict[str, _Wanted] = {}
    bases: dict[str, str] = {}
    for home_user in ctx.layout.users:
        bases[str(home_user.path)] = home_user.name
    for template, base, who, rest in globstar_templates(ctx):
        home = _home_of(ctx, base)
        if home is None:  # a `**` below a machine-wide place: walk it too
            home = base
            bases.setdefault(base, who)
        per_base.setdefault(home, _Wanted(fold)).add(template, base, rest)
    for pattern in _SYSTEM_BASES[ctx.layout.platform]:
        for folder, _user in ctx.places("{root}/" + pattern):
            if _home_of(ctx, folder) is None:
                bases.setdefault(folder, "")
    with collector_paused():
        for base, name in bases.items():
            with ctx.fs.item("discovery", base):
                _walk(ctx, marks, base, name, per_base.get(base, _Wanted(fold)))
    return marks


def _home_of(ctx: ProbeContext, path: str) -> str | None:
    for user in ctx.layout.users:
        home = str(user.path)
        if path == home or path.startswith(home.rstrip("/") + "/"):
            return home
    return None


# What one folder's entries mean to the walk: (what, entry, folded name) with what one of
# "folder", "file", "program", "executable", "globstar". The walk keeps these per folder
# (`FsView.walk_derived`), not the folder's entries, so a warm walk of an unchanged folder
# costs a lookup, and a home's plain files cost memory only while their folder is read.
_Op = tuple[str, Entry, str]
_NO_OPS: tuple[_Op, ...] = ()


def _walk(ctx: ProbeContext, marks: Marks, base: str, user: str, wanted: _Wanted) -> None:
    fs = ctx.fs
    places = tuple(base.rstrip("/") + "/" + p for p in _PROGRAM_PLACES[ctx.layout.platform])
    base_cf = base.rstrip("/").casefold() + "/"
    place_cf = tuple(p.casefold() + "/" for p in places)
    fold = fs.case_insensitive

    def derive(folder: str, items: list[os.DirEntry[str]]) -> tuple[_Op, ...]:
        folder_cf = folder.casefold() + "/"
        in_place = folder_cf.startswith(base_cf) and folder_cf.startswith(place_cf)
        return _ops(folder, items, in_place, wanted, fold)

    context = (base, wanted.signature)
    for folder, ops in fs.walk_derived(base, derive, context, "discovery"):
        for what, entry, key in ops:
            if what == "folder":
                _folder_marker(marks, folder, entry, key, user)
            elif what == "file":
                _file_marker(marks, folder, entry, key, user)
            elif what == "program":
                marks.programs.append((entry, user))
            elif what == "executable":
                marks.executables.setdefault(entry.path, user)
            else:
                _globstar_hit(fs, marks, wanted, base, folder, entry, key, user)


# Endings that mark a place (case-folded), each followed by the newline that ends its name
# in a folder's joined names.
_MARKER_ENDINGS = (".dist\n", ".exe\n")
_MARKER_NAMES = _DIR_MARKERS | _FILE_MARKERS
# What a folder's case-folded names, joined and framed by newlines, contain when one of its
# entries is a marker: a whole marker name, or a marker ending.
_MARKER_NEEDLES = tuple(f"\n{name}\n" for name in sorted(_MARKER_NAMES)) + _MARKER_ENDINGS


def _ops(
    folder: str, items: list[os.DirEntry[str]], in_place: bool, wanted: _Wanted, fold: bool
) -> tuple[_Op, ...]:
    # Runs for every folder of every home on a cold walk. Most folders hold nothing that
    # matters, so a folder's names are first asked at once (a set test, substring searches
    # in the names joined by newlines); only a folder that may hold something is looked at
    # name by name, and only its hits make an `Entry`, in name order.
    # The names are case-folded as one text (each name between newlines), not one by one.
    names = [item.name for item in items]
    text = "\n".join(names)
    low_text = "\n" + text.casefold() + "\n"
    if not (
        in_place
        or any(needle in low_text for needle in _MARKER_NEEDLES)
        or (wanted.first is not None and _may_be_wanted(wanted, fold, names, text, low_text))
    ):
        return _NO_OPS
    lows = [name.casefold() for name in names]
    first = wanted.first
    ops: list[_Op] = []
    for name, low, item in sorted(zip(names, lows, items, strict=True), key=lambda t: t[0]):
        is_marker = low in _MARKER_NAMES or low.endswith((".dist", ".exe"))
        is_program = in_place and (low.endswith(PROGRAM_SUFFIXES) or "." not in name)
        is_wanted = first is not None and first.match(low if fold else name) is not None
        if not (is_marker or is_program or is_wanted):
            continue
        entry = FsView.entry_of(folder, item)
        if entry.is_dir:
            if low in _DIR_MARKERS or low.endswith(".dist"):
                ops.append(("folder", entry, low))
            if in_place and low.endswith(PROGRAM_SUFFIXES):
                ops.append(("program", entry, low))
        else:
            if low in _FILE_MARKERS or low.endswith(".exe"):
                ops.append(("file", entry, low))
            if is_program:
                if "." not in name:
                    ops.append(("executable", entry, low))
                ops.append(("program", entry, low))
        if is_wanted:
            ops.append(("globstar", entry, low if fold else name))
    return tuple(ops) if ops else _NO_OPS


def _may_be_wanted(wanted: _Wanted, fold: bool, names: list[str], text: str, low_text: str) -> bool:
    if fold:
        return wanted.may_match([name.casefold() for name in names], low_text)
    return wanted.may_match(names, text)


def _folder_marker(marks: Marks, folder: str, entry: Entry, low: str, user: str) -> None:
    if low in ("site-packages", "dist-packages"):
        marks.sites.setdefault(entry.path, user)
    elif low == "node_modules":
        marks.node_modules.setdefault(entry.path, user)
    elif low == "conda-meta":
        marks.prefixes.setdefault(folder, user)
    elif not entry.is_symlink:  # `_internal`, or `<name>.dist`
        marks.frozen.setdefault(entry.path, user)


def _file_marker(marks: Marks, folder: str, entry: Entry, low: str, user: str) -> None:
    if low == "pyvenv.cfg":
        marks.prefixes.setdefault(folder, user)
    elif low == "app.asar":
        if os.path.basename(folder).casefold() == "resources":
            marks.asars.setdefault(entry.path, user)
    else:  # a Windows program: maybe a PyInstaller one-file archive
        marks.executables.setdefault(entry.path, user)


def _globstar_hit(
    fs: FsView,
    marks: Marks,
    wanted: _Wanted,
    base: str,
    folder: str,
    entry: Entry,
    key: str,
    user: str,
) -> None:
    for template, tbase, remaining in wanted.targets(key):
        if tbase != base and not _below(folder, tbase, fs.case_insensitive):
            continue
        if not remaining:
            marks.globstar.append((template, entry, user))
        elif entry.is_dir:
            for found in fs.glob(entry.path, "/".join(remaining), probe="files"):
                marks.globstar.append((template, found, user))


def _program_name(name: str, low: str) -> bool:
    """A file name a program would have: a program suffix, or none (a Unix executable)."""
    return low.endswith(PROGRAM_SUFFIXES) or "." not in name


def _below(folder: str, base: str, fold: bool) -> bool:
    """Whether `folder` is `base` or inside it."""
    if fold:
        folder, base = folder.casefold(), base.casefold()
    base = base.rstrip("/")
    return folder == base or folder.startswith(base + "/")
