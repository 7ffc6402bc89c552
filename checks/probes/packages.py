"""Python distributions and npm packages, wherever they are installed.

Homes (and the machine-wide install places in `discovery`) are walked once and every place is
recognised by its marker, not its name: any `site-packages`/`dist-packages`, any prefix with
`pyvenv.cfg` or `conda-meta/`, any `node_modules` (pnpm's `.pnpm/` store included), frozen
programs (PyInstaller `_internal/` and one-file archives, Nuitka `.dist/`, Electron
`app.asar`). The fixed places below are the machine-wide ones no walk covers (the system's
Pythons and global Node prefixes). Running Python and Node processes add their own prefixes
(`collect_process_envs`).
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any, BinaryIO

from checks.fsview import METADATA_LIMIT
from checks.model import PackageFact, Platform, ProcessFact
from checks.parsers import load_json
from checks.probes import nuitka
from checks.probes.base import ProbeContext

# Machine-wide places no discovery walk covers, per platform (homes are walked: every user
# site, venv, conda env, pipx/uv tool and Store Python there is found by its marker).
_SITE_PACKAGES: dict[Platform, tuple[str, ...]] = {
    Platform.LINUX: (
        "{root}/usr/lib/python3*/site-packages",
        "{root}/usr/lib/python3*/dist-packages",
        "{root}/usr/lib/python3/dist-packages",
        "{root}/usr/local/lib/python3*/site-packages",
        "{root}/usr/local/lib/python3*/dist-packages",
        "{root}/opt/*/lib/python3*/site-packages",
        "{root}/opt/*/*/lib/python3*/site-packages",
        "{root}/root/.pyenv/versions/*/lib/python3*/site-packages",
    ),
    Platform.MACOS: (
        "{root}/Library/Frameworks/Python.framework/Versions/*/lib/python3*/site-packages",
        "{root}/usr/local/lib/python3*/site-packages",
        "{root}/opt/homebrew/lib/python3*/site-packages",
    ),
    Platform.WINDOWS: (
        "{root}/Python3*/Lib/site-packages",
        "{program_files}/Python3*/Lib/site-packages",
        "{program_files_x86}/Python3*/Lib/site-packages",
    ),
}

_NODE_MODULES: dict[Platform, tuple[str, ...]] = {
    Platform.LINUX: (
        "{root}/usr/lib/node_modules",
        "{root}/usr/local/lib/node_modules",
        "{root}/opt/*/lib/node_modules",
    ),
    Platform.MACOS: (
        "{root}/usr/local/lib/node_modules",
        "{root}/opt/homebrew/lib/node_modules",
    ),
    Platform.WINDOWS: ("{program_files}/nodejs/node_modules",),
}

_DIST_RE = re.compile(
    r"^(?P<name>.+?)-(?P<version>[0-9][^-]*?)(?:-py[0-9.]+)?(?:-[^-]+)?\.(?:dist|egg)-info$", re.I
)


def normalise_pypi(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def site_packages_templates(platform: Platform) -> tuple[str, ...]:
    return _SITE_PACKAGES[platform]


def node_modules_templates(platform: Platform) -> tuple[str, ...]:
    return _NODE_MODULES[platform]


def collect(ctx: ProbeContext) -> None:
    platform = ctx.layout.platform
    seen: set[str] = set()
    marks = ctx.marks()
    for template in _SITE_PACKAGES[platform]:
        for folder, user in ctx.places(template):
            _site(ctx, folder, user, seen)
    for folder, user in marks.sites.items():
        _site(ctx, folder, user, seen)
    for prefix, user in marks.prefixes.items():
        for folder in _prefix_sites(ctx, prefix):
            _site(ctx, folder, user, seen)
    for template in _NODE_MODULES[platform]:
        for folder, user in ctx.places(template):
            if folder not in seen:
                seen.add(folder)
                _node_modules(ctx, folder, user)
    for folder, user in marks.node_modules.items():
        if folder not in seen:
            seen.add(folder)
            _node_modules(ctx, folder, user)
    for folder, user in marks.frozen.items():
        with ctx.fs.item("packages", folder):
            _frozen(ctx, folder, user)
    for path, user in marks.asars.items():
        with ctx.fs.item("packages", path):
            _asar(ctx, path, user)
    for path, user in marks.executables.items():
        with ctx.fs.item("packages", path):
            _onefile(ctx, path, user)


def collect_process_envs(ctx: ProbeContext, processes: Iterable[ProcessFact]) -> int:
    """Packages of the environment of every running Python or Node process: its executable's
    prefix (a venv's `bin/python` → the venv; `node` → `<prefix>/lib/node_modules`), wherever
    that is. Adds only places not already in the facts; returns how many packages it added."""
    known = {os.path.dirname(p.path) for p in ctx.facts.packages}
    seen: set[str] = set(known)
    before = len(ctx.facts.packages)
    for proc in processes:
        # A venv's `bin/python` is a link to the base interpreter, which is what the OS
        # reports as the executable: the path the program was started by (argv[0]) is the
        # one inside the environment.
        programs = {proc.exe.replace("\\", "/")}
        argv0 = proc.cmdline[0].replace("\\", "/") if proc.cmdline else ""
        if argv0.startswith("/") or argv0[1:3] == ":/":  # absolute (POSIX or C:/)
            programs.add(argv0)
        for exe in sorted(p for p in programs if "/" in p):
            with ctx.fs.item("packages", exe):
                _process_env(ctx, exe, proc.user, seen)
        kind = _runtime({p.rsplit("/", 1)[-1].casefold() for p in programs if p} | {proc.name})
        if kind and proc.cwd:
            with ctx.fs.item("packages", proc.cwd):
                _process_folders(ctx, proc, kind, seen)
    return len(ctx.facts.packages) - before


_NODE_NAMES = ("node", "node.exe", "nodejs")
# How far up from a working folder or script Node's resolution is followed (it goes to the
# root; a project's own `node_modules` is within a few levels of where it is run).
_MAX_UP = 6


def _runtime(names: set[str]) -> str:
    if any(n.startswith(("python", "pypy")) for n in names):
        return "python"
    if any(n in _NODE_NAMES for n in names):
        return "node"
    return ""


def _process_folders(ctx: ProbeContext, proc: ProcessFact, kind: str, seen: set[str]) -> None:
    """Packages a Python or Node process finds from where it runs, outside every home and
    prefix: `node bot.js` from a project folder loads `./node_modules` (and those of the
    folders above the script, as Node resolves `require`); `python bot.py` beside the
    project's virtual environment (`.venv/`, `env/`, any folder marked by `pyvenv.cfg`)."""
    cwd = proc.cwd.replace("\\", "/").rstrip("/")
    if not cwd or _system_folder(cwd + "/"):
        return
    folders = [cwd]
    script = next((a for a in proc.cmdline[1:] if a and not a.startswith("-")), "")
    if script:
        script = script.replace("\\", "/")
        path = script if script.startswith("/") or script[1:3] == ":/" else f"{cwd}/{script}"
        folders.append(os.path.dirname(os.path.normpath(path)).replace("\\", "/"))
    for start in dict.fromkeys(folders):
        if kind == "node":
            folder = start
            for _ in range(_MAX_UP):
                nm = folder + "/node_modules"
                if nm not in seen and ctx.fs.is_dir(nm):
                    seen.add(nm)
                    _node_modules(ctx, nm, proc.user)
                parent = folder.rsplit("/", 1)[0]
                if not parent or parent == folder or _system_folder(parent + "/"):
                    break
                folder = parent
        else:
            for entry in ctx.fs.listdir(start, "packages", ("*", True)):
                marked = entry.is_dir and not entry.is_symlink
                if marked and ctx.fs.exists(entry.path + "/pyvenv.cfg"):
                    for site in _prefix_sites(ctx, entry.path):
                        _site(ctx, site, proc.user, seen)


def _system_folder(folder: str) -> bool:
    """A folder of the operating system's own (a daemon's `/` or `C:/Windows/System32`)."""
    low = folder.casefold()
    return low in ("/", "c:/") or low.startswith(_SYSTEM_PREFIXES)


_SYSTEM_PREFIXES = ("/usr/", "/bin/", "/sbin/", "/lib/", "/proc/", "/sys/", "c:/windows/")


def _process_env(ctx: ProbeContext, exe: str, user: str, seen: set[str]) -> None:
    name = exe.rsplit("/", 1)[-1].casefold()
    folder = exe.rsplit("/", 1)[0]
    up = folder.rsplit("/", 1)[0] if folder.casefold().endswith(("/bin", "/scripts")) else folder
    if name.startswith(("python", "pypy")):
        for site in _prefix_sites(ctx, up):
            _site(ctx, site, user, seen)
    elif name in ("node", "node.exe", "nodejs"):
        for nm in (up + "/lib/node_modules", up + "/node_modules"):
            if nm not in seen and ctx.fs.is_dir(nm):
                seen.add(nm)
                _node_modules(ctx, nm, user)


def _prefix_sites(ctx: ProbeContext, prefix: str) -> list[str]:
    """The site-packages folders of a Python prefix (venv, conda env, installation)."""
    out: list[str] = []
    for pattern in ("lib/python*/site-packages", "lib/python*/dist-packages", "Lib/site-packages"):
        out.extend(e.path for e in ctx.fs.glob(prefix, pattern, "packages") if e.is_dir)
    return out


def _site(ctx: ProbeContext, folder: str, user: str, seen: set[str]) -> None:
    if folder in seen:
        return
    seen.add(folder)
    for entry in ctx.fs.listdir(folder, "packages"):
        lower = entry.name.lower()
        if not (lower.endswith(".dist-info") or lower.endswith(".egg-info")):
            continue
        with ctx.fs.item("packages", entry.path):
            _dist_info(ctx, entry.name, entry.path, user)


# PyInstaller's `_internal/` holds the frozen program's Python runtime beside its packages'
# binaries and data: one of these names is there in every PyInstaller build (6.x).
_PYINSTALLER_RUNTIME = ("base_library.zip", "python3*.dll", "libpython3*", "python3*.so*")


def _frozen(ctx: ProbeContext, folder: str, user: str) -> None:
    """A PyInstaller `_internal/` or Nuitka `<name>.dist/` folder: each package folder in it
    (and each `.dist-info`) is a package installed in that program, named by its folder."""
    entries = ctx.fs.listdir(folder, "packages")
    names = [e.name.casefold() for e in entries]
    base = os.path.basename(folder)
    if base.casefold() == "_internal":
        if not any(fnmatchcase(n, p) for n in names for p in _PYINSTALLER_RUNTIME):
            return
    else:  # Nuitka standalone: `<name>.dist/<name>[.exe]` and extension modules (.pyd / .so)
        stem = base[: -len(".dist")].casefold()
        if stem not in names and stem + ".exe" not in names:
            return
    for entry in entries:
        lower = entry.name.lower()
        if lower.endswith((".dist-info", ".egg-info")):
            _dist_info(ctx, entry.name, entry.path, user)
        elif entry.is_dir and not entry.name.startswith((".", "_")) and "." not in entry.name:
            ctx.facts.packages.append(
                PackageFact("pypi", normalise_pypi(entry.name), "", entry.path, user)
            )


# An asar archive starts with a Chromium Pickle: (4, header size) then (header size - 4,
# JSON length) and the JSON index of the archive's files. Bounded: an index larger than
# this is a blind spot, not a read.
_ASAR_INDEX_LIMIT = 8 * 1024 * 1024


def _asar(ctx: ProbeContext, path: str, user: str) -> None:
    """An Electron app's `resources/app.asar`: the app's own package.json name, and every
    package in its bundled `node_modules`, from the archive's JSON index (bounded, and read
    again only when the archive changed)."""
    found = ctx.fs.examined(path, asar_packages, "packages") or []
    for name, version, where in found:
        ctx.facts.packages.append(PackageFact("npm", name, version, path + where, user))


def asar_packages(fh: BinaryIO, st: os.stat_result) -> list[tuple[str, str, str]]:
    """(npm name, version, path inside the archive) of an asar archive's own package and of
    the packages in its `node_modules`. Raises ValueError for a malformed index."""
    del st
    head = fh.read(16)
    if len(head) < 16:
        return []
    size_pickle, header_size, _, json_len = struct.unpack("<IIII", head)
    if size_pickle != 4 or json_len > min(header_size, _ASAR_INDEX_LIMIT):
        return []
    index = load_json(fh.read(json_len))
    files = index.get("files") if isinstance(index, dict) else None
    if not isinstance(files, dict):
        return []
    out: list[tuple[str, str, str]] = []
    meta = files.get("package.json")
    if isinstance(meta, dict):
        offset, size = meta.get("offset"), meta.get("size")
        if (
            isinstance(offset, str)
            and offset.isdigit()
            and len(offset) < 16
            and isinstance(size, int)
            and 0 < size <= METADATA_LIMIT
        ):
            fh.seek(8 + header_size + int(offset))
            pkg = load_json(fh.read(size))
            if isinstance(pkg, dict) and isinstance(pkg.get("name"), str):
                version = pkg.get("version")
                out.append((pkg["name"].lower(), version if isinstance(version, str) else "", ""))
    _asar_modules(files, "", out, 0)
    return out


def _asar_modules(
    files: dict[str, Any], where: str, out: list[tuple[str, str, str]], depth: int
) -> None:
    modules = files.get("node_modules")
    if depth > 8 or not isinstance(modules, dict):
        return
    inner = modules.get("files")
    if not isinstance(inner, dict):
        return
    for name, node in inner.items():
        if not isinstance(node, dict) or not isinstance(node.get("files"), dict):
            continue
        if name.startswith("@"):
            for sub, subnode in node["files"].items():
                if isinstance(subnode, dict) and isinstance(subnode.get("files"), dict):
                    full = f"{name}/{sub}".lower()
                    inside = f"{where}/node_modules/{full}"
                    out.append((full, "", inside))
                    _asar_modules(subnode["files"], inside, out, depth + 1)
        elif not name.startswith("."):
            inside = f"{where}/node_modules/{name}"
            out.append((name.lower(), "", inside))
            _asar_modules(node["files"], inside, out, depth + 1)


# PyInstaller one-file archives end (before any appended signature) with a cookie:
# magic, archive length, TOC offset, TOC length, Python version, Python library name.
_MEI_MAGIC = b"MEI\x0c\x0b\x0a\x0b\x0e"
_COOKIE = struct.Struct("!8sIIii64s")
_TAIL = 64 * 1024
_TOC_LIMIT = 4 * 1024 * 1024


def _onefile(ctx: ProbeContext, path: str, user: str) -> None:
    """A PyInstaller one-file archive or a Nuitka one-file program: the packages its table
    of contents (its payload) names. The tail is read, and the TOC if bounded (for Nuitka,
    the head and the payload's names); again only when the file changed."""
    names = ctx.fs.examined(path, pyinstaller_packages, "packages") or []
    if not names:
        names = ctx.fs.examined(path, nuitka_onefile_packages, "packages") or []
    for name in names:
        ctx.facts.packages.append(PackageFact("pypi", name, "", path, user))


def pyinstaller_packages(fh: BinaryIO, st: os.stat_result) -> list[str]:
    """The (PEP 503) package names a PyInstaller one-file archive's table of contents names
    (`pkg/…` binaries and data, `pkg-1.0.dist-info/…`); [] when it is not one."""
    if st.st_size < _COOKIE.size:
        return []
    start = max(0, st.st_size - _TAIL)
    fh.seek(start)
    tail = fh.read(_TAIL)
    at = tail.rfind(_MEI_MAGIC)
    if at < 0 or at + _COOKIE.size > len(tail):
        return []
    _, length, toc_offset, toc_len, _, _ = _COOKIE.unpack_from(tail, at)
    archive_start = start + at + _COOKIE.size - length
    if archive_start < 0 or not 0 < toc_len <= _TOC_LIMIT:
        return []
    fh.seek(archive_start + toc_offset)
    toc = fh.read(toc_len)
    paths: list[str] = []
    pos = 0
    while pos + 18 <= len(toc):
        (entry_len,) = struct.unpack_from("!I", toc, pos)
        if entry_len < 18 or pos + entry_len > len(toc):
            break
        raw = toc[pos + 18 : pos + entry_len].rstrip(b"\0")
        pos += entry_len
        paths.append(raw.decode("utf-8", "replace"))
    return _bundled_packages(paths)


def nuitka_onefile_packages(fh: BinaryIO, st: os.stat_result) -> list[str]:
    """The (PEP 503) package names a Nuitka one-file program's payload names (its packages'
    extension modules and data files, `pkg/…`); [] when it carries no payload."""
    return _bundled_packages(nuitka.payload_names(fh, st) or [])


def _bundled_packages(paths: Iterable[str]) -> list[str]:
    """Package names from the paths a frozen program bundles: `pkg/…` binaries and data,
    `pkg-1.0.dist-info/…`."""
    names: set[str] = set()
    for path in paths:
        name = path.replace("\\", "/")
        if "/" in name:
            top = name.split("/", 1)[0]
            match = _DIST_RE.match(top)
            if match:
                names.add(match["name"])
            elif top and not top.startswith((".", "_")) and "." not in top:
                names.add(top)
    return sorted(normalise_pypi(n) for n in names)


def _dist_info(ctx: ProbeContext, folder_name: str, path: str, user: str) -> None:
    match = _DIST_RE.match(folder_name)
    if match:
        name, version = match["name"], match["version"]
    else:  # "name.egg-info" without a version (develop installs)
        name, version = folder_name.rsplit(".", 1)[0], ""
    ctx.facts.packages.append(PackageFact("pypi", normalise_pypi(name), version, path, user))


def _package_json(data: bytes) -> dict[str, Any]:
    value = load_json(data)
    if not isinstance(value, dict):
        raise ValueError("package.json is not an object")
    return value


def _node_modules(ctx: ProbeContext, folder: str, user: str) -> None:
    entries = ctx.fs.listdir(folder, "packages")
    # pnpm links `node_modules/<name>` to `node_modules/.pnpm/<name>@<ver>/node_modules/<name>`,
    # which the walk finds on its own: count each package once, where it really is.
    pnpm = any(e.name == ".pnpm" for e in entries)
    for entry in entries:
        if not entry.is_dir or entry.name.startswith(".") or (pnpm and entry.is_symlink):
            continue
        if entry.name.startswith("@"):
            for scoped in ctx.fs.listdir(entry.path, "packages"):
                if scoped.is_dir and not (pnpm and scoped.is_symlink):
                    with ctx.fs.item("packages", scoped.path):
                        _npm_package(ctx, f"{entry.name}/{scoped.name}", scoped.path, user)
        else:
            with ctx.fs.item("packages", entry.path):
                _npm_package(ctx, entry.name, entry.path, user)


def _npm_package(ctx: ProbeContext, name: str, path: str, user: str) -> None:
    meta = ctx.fs.parsed(path + "/package.json", _package_json, "packages", METADATA_LIMIT) or {}
    version = meta.get("version", "")
    ctx.facts.packages.append(
        PackageFact("npm", name.lower(), version if isinstance(version, str) else "", path, user)
    )
