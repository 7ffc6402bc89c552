"""Real packages from the registries for tests: `pip download --no-deps` wheels and
`npm pack` tarballs, cached in `.cache/registry/` (git-ignored) and unpacked into images.

A package that cannot be fetched (no network) makes the test skip, saying which one.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "registry"


def wheel(name: str, version: str = "") -> Path:
    """The cached wheel of a PyPI project (any platform's wheel; pure-Python preferred)."""
    folder = CACHE / "pypi"
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.replace("-", "_").lower()
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(stem + "-"))
    if version:
        found = [p for p in found if f"-{version}-" in p.name]
    if found:
        return found[-1]
    spec = f"{name}=={version}" if version else name
    for extra in ([], ["--platform", "win_amd64", "--only-binary=:all:"]):
        subprocess.run(
            ["pip", "download", "--no-deps", "-q", "-d", str(folder), *extra, spec],
            capture_output=True,
            timeout=180,
            check=False,
        )
        found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(stem + "-"))
        if found:
            return found[-1]
    pytest.skip(f"the wheel of {spec} could not be downloaded")


def install_wheel(whl: Path, site_packages: Path) -> Path:
    """Unpack a wheel into site-packages as pip does (files and .dist-info); the dist-info."""
    site_packages.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(whl) as zf:
        zf.extractall(site_packages)
        dist = next(n.split("/", 1)[0] for n in zf.namelist() if ".dist-info/" in n)
    (site_packages / dist / "INSTALLER").write_text("pip\n")
    return site_packages / dist


def tarball(name: str) -> Path:
    """The cached `npm pack` tarball of an npm package."""
    folder = CACHE / "npm"
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.lstrip("@").replace("/", "-")
    found = sorted(folder.glob(f"{stem}-[0-9]*.tgz"))
    if found:
        return found[-1]
    subprocess.run(
        ["npm", "pack", "--silent", "--pack-destination", str(folder), name],
        capture_output=True,
        timeout=180,
        check=False,
    )
    found = sorted(folder.glob(f"{stem}-[0-9]*.tgz"))
    if not found:
        pytest.skip(f"the npm tarball of {name} could not be downloaded")
    return found[-1]


def install_tarball(tgz: Path, node_modules: Path) -> Path:
    """Unpack an npm tarball into node_modules/<name> as npm does; the package folder."""
    with tarfile.open(tgz) as tf:
        member = tf.extractfile("package/package.json")
        assert member is not None
        name = str(json.loads(member.read())["name"])
        target = node_modules / name
        target.mkdir(parents=True, exist_ok=True)
        for m in tf.getmembers():
            if not m.isfile() or not m.name.startswith("package/"):
                continue
            out = target / m.name[len("package/") :]
            out.parent.mkdir(parents=True, exist_ok=True)
            data = tf.extractfile(m)
            assert data is not None
            out.write_bytes(data.read())
    return target
