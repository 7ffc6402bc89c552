"""Real packages from the registries, installed into image fixtures the way pip and npm do.

`fetch()` downloads wheels (`pip download --no-deps`) and tarballs (`npm pack`) once into
`.cache/registry/` at the top of the worktree (ignored by git) and reuses them afterwards;
`install_wheel` unpacks a wheel into a site-packages folder as pip does (the package and its
`.dist-info` with METADATA, RECORD and an INSTALLER file), `install_npm` unpacks a tarball's
`package/` into `node_modules/<name>` as npm does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

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


def _norm(name: str) -> str:
    return name.replace("-", "_").lower()


def fetch() -> Downloads:
    """Every wheel and tarball above, downloaded on first use. Raises Unreachable."""
    pypi, npm = CACHE / "pypi", CACHE / "npm"
    pypi.mkdir(parents=True, exist_ok=True)
    npm.mkdir(parents=True, exist_ok=True)
    wheels: dict[str, Path] = {}
    for name in WHEELS:
        found = [p for p in pypi.glob("*.whl") if p.name.lower().startswith(_norm(name) + "-")]
        if not found:
            done = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(pypi), name],
                capture_output=True,
                text=True,
                timeout=300,
            )
            found = [p for p in pypi.glob("*.whl") if p.name.lower().startswith(_norm(name) + "-")]
            if done.returncode != 0 or not found:
                raise Unreachable(f"pip download {name}: {done.stderr.strip()[-300:]}")
        wheels[name] = sorted(found)[-1]
    tarballs: dict[str, Path] = {}
    for name in TARBALLS:
        found = [p for p in npm.glob(f"{name}-[0-9]*.tgz")]
        if not found:
            if shutil.which("npm") is None:
                raise Unreachable("npm is not installed")
            done = subprocess.run(
                ["npm", "pack", "--silent", name],
                cwd=npm,
                capture_output=True,
                text=True,
                timeout=300,
            )
            found = [p for p in npm.glob(f"{name}-[0-9]*.tgz")]
            if done.returncode != 0 or not found:
                raise Unreachable(f"npm pack {name}: {done.stderr.strip()[-300:]}")
        tarballs[name] = sorted(found)[-1]
    return Downloads(wheels, tarballs)


def install_wheel(wheel: Path, site: Path) -> None:
    """Unpack a wheel into `site` as pip does (scripts and data folders left out)."""
    site.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.infolist():
            top = member.filename.split("/", 1)[0]
            if top.endswith(".data") or member.filename.startswith("/") or ".." in member.filename:
                continue
            zf.extract(member, site)
        for top in {m.split("/", 1)[0] for m in zf.namelist()}:
            if top.endswith(".dist-info"):
                (site / top / "INSTALLER").write_text("pip\n")


def install_npm(tarball: Path, node_modules: Path, name: str) -> Path:
    """Unpack an npm tarball into `node_modules/<name>` as npm does; returns that folder."""
    target = node_modules / name
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tf:
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
