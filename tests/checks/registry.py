"""Real packages from the registries, installed into image fixtures the way pip and npm do.

`wheel(name)` and `tarball(name)` download one package (`pip download --no-deps`, `npm pack`)
once into `.cache/registry/` at the top of the worktree (ignored by git) and reuse it after;
`fetch()` gets the discovery tests' set at once. `install_wheel` unpacks a wheel into a
site-packages folder as pip does (the package and its `.dist-info` with METADATA, RECORD and
an INSTALLER file); `install_npm` unpacks a tarball's `package/` into `node_modules/<name>`.
A package that cannot be fetched raises `Unreachable` (`fetch`) or skips the test, saying
which one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "registry"

# Tools that must be found, and name traps that must stay clean (DESIGN.md "Names lie").
WHEELS = ("itchat-uos", "wcferry", "pywxdump", "haowxdump", "wcfhttp", "wechatpy")
TARBALLS = ("wechaty", "wechaty-puppet-wechat4u", "miniprogram-api-typings", "weixin-js-sdk")


class Unreachable(RuntimeError):
    """A registry could not be reached; the message says which package and why."""


@dataclass(frozen=True)
class Downloads:
    wheels: dict[str, Path]  # project name -> wheel file
    tarballs: dict[str, Path]  # npm name -> .tgz


def _cached_wheels(folder: Path, name: str, version: str) -> list[Path]:
    stem = name.replace("-", "_").lower()
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(stem + "-"))
    return [p for p in found if f"-{version}-" in p.name] if version else found


def _download_wheel(name: str, version: str = "") -> Path:
    folder = CACHE / "pypi"
    folder.mkdir(parents=True, exist_ok=True)
    found = _cached_wheels(folder, name, version)
    if found:
        return found[-1]
    spec = f"{name}=={version}" if version else name
    errors = ""
    # Any platform's wheel: a Windows-only tool has no wheel for this machine.
    for extra in ([], ["--platform", "win_amd64", "--only-binary=:all:"]):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                "-d",
                str(folder),
                *extra,
                spec,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        errors = done.stderr.strip()[-300:]
        found = _cached_wheels(folder, name, version)
        if found:
            return found[-1]
    raise Unreachable(f"pip download {spec}: {errors}")


def _download_tarball(name: str) -> Path:
    folder = CACHE / "npm"
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.lstrip("@").replace("/", "-")
    found = sorted(folder.glob(f"{stem}-[0-9]*.tgz"))
    if found:
        return found[-1]
    if shutil.which("npm") is None:
        raise Unreachable("npm is not installed")
    done = subprocess.run(
        ["npm", "pack", "--silent", "--pack-destination", str(folder), name],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found = sorted(folder.glob(f"{stem}-[0-9]*.tgz"))
    if not found:
        raise Unreachable(f"npm pack {name}: {done.stderr.strip()[-300:]}")
    return found[-1]


def wheel(name: str, version: str = "") -> Path:
    """The cached wheel of a PyPI project; the test skips if it cannot be downloaded."""
    try:
        return _download_wheel(name, version)
    except Unreachable as exc:
        pytest.skip(str(exc))


def tarball(name: str) -> Path:
    """The cached `npm pack` tarball of an npm package; the test skips if it cannot be had."""
    try:
        return _download_tarball(name)
    except Unreachable as exc:
        pytest.skip(str(exc))


def fetch() -> Downloads:
    """Every wheel and tarball above, downloaded on first use. Raises Unreachable."""
    return Downloads(
        {name: _download_wheel(name) for name in WHEELS},
        {name: _download_tarball(name) for name in TARBALLS},
    )


def install_wheel(whl: Path, site: Path) -> Path:
    """Unpack a wheel into `site` as pip does (scripts and data folders left out); returns
    its `.dist-info` folder."""
    site.mkdir(parents=True, exist_ok=True)
    dist = ""
    with zipfile.ZipFile(whl) as zf:
        for member in zf.infolist():
            top = member.filename.split("/", 1)[0]
            if top.endswith(".data") or member.filename.startswith("/") or ".." in member.filename:
                continue
            zf.extract(member, site)
        for top in {m.split("/", 1)[0] for m in zf.namelist()}:
            if top.endswith(".dist-info"):
                (site / top / "INSTALLER").write_text("pip\n")
                dist = top
    return site / dist


def install_npm(tgz: Path, node_modules: Path, name: str = "") -> Path:
    """Unpack an npm tarball into `node_modules/<name>` as npm does (the name from its
    package.json when not given); returns that folder."""
    with tarfile.open(tgz) as tf:
        if not name:
            manifest = tf.extractfile("package/package.json")
            assert manifest is not None
            name = str(json.loads(manifest.read())["name"])
        target = node_modules / name
        target.mkdir(parents=True, exist_ok=True)
        for member in tf.getmembers():
            if not (member.isfile() or member.isdir()):
                continue
            rel = member.name.split("/", 1)[1] if "/" in member.name else ""
            if not rel or rel.startswith("/") or ".." in rel.split("/"):
                continue
            dest = target / rel
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            source = tf.extractfile(member)
            if source is not None:
                dest.write_bytes(source.read())
    return target
