"""Python distributions and npm packages installed system-wide, per user and in common venvs."""

from __future__ import annotations

import re
from typing import Any

from checks.fsview import METADATA_LIMIT
from checks.model import PackageFact, Platform
from checks.parsers import load_json
from checks.probes.base import ProbeContext

# Where site-packages live, per platform. `*` covers Python versions and venv names.
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
        "{home}/.local/lib/python3*/site-packages",
        "{home}/.pyenv/versions/*/lib/python3*/site-packages",
        "{home}/.virtualenvs/*/lib/python3*/site-packages",
        "{home}/.local/share/virtualenvs/*/lib/python3*/site-packages",
        "{home}/.local/share/pipx/venvs/*/lib/python3*/site-packages",
        "{home}/.conda/envs/*/lib/python3*/site-packages",
        "{home}/miniconda3/lib/python3*/site-packages",
        "{home}/miniconda3/envs/*/lib/python3*/site-packages",
        "{home}/anaconda3/lib/python3*/site-packages",
        "{home}/anaconda3/envs/*/lib/python3*/site-packages",
        "{home}/.venv/lib/python3*/site-packages",
        "{home}/venv/lib/python3*/site-packages",
        "{home}/*/.venv/lib/python3*/site-packages",
        "{home}/*/venv/lib/python3*/site-packages",
        "{home}/*/*/.venv/lib/python3*/site-packages",
        "{home}/*/*/venv/lib/python3*/site-packages",
    ),
    Platform.MACOS: (
        "{root}/Library/Frameworks/Python.framework/Versions/*/lib/python3*/site-packages",
        "{root}/usr/local/lib/python3*/site-packages",
        "{root}/opt/homebrew/lib/python3*/site-packages",
        "{home}/Library/Python/*/lib/python/site-packages",
        "{home}/.pyenv/versions/*/lib/python3*/site-packages",
        "{home}/.virtualenvs/*/lib/python3*/site-packages",
        "{home}/.local/share/virtualenvs/*/lib/python3*/site-packages",
        "{home}/.local/pipx/venvs/*/lib/python3*/site-packages",
        "{home}/miniconda3/lib/python3*/site-packages",
        "{home}/anaconda3/lib/python3*/site-packages",
        "{home}/.venv/lib/python3*/site-packages",
        "{home}/*/.venv/lib/python3*/site-packages",
        "{home}/*/venv/lib/python3*/site-packages",
        "{home}/*/*/.venv/lib/python3*/site-packages",
        "{home}/*/*/venv/lib/python3*/site-packages",
    ),
    Platform.WINDOWS: (
        "{root}/Python3*/Lib/site-packages",
        "{program_files}/Python3*/Lib/site-packages",
        "{program_files_x86}/Python3*/Lib/site-packages",
        "{localappdata}/Programs/Python/Python3*/Lib/site-packages",
        "{appdata}/Python/Python3*/site-packages",
        "{home}/anaconda3/Lib/site-packages",
        "{home}/miniconda3/Lib/site-packages",
        "{home}/.virtualenvs/*/Lib/site-packages",
        "{home}/.venv/Lib/site-packages",
        "{home}/*/.venv/Lib/site-packages",
        "{home}/*/venv/Lib/site-packages",
        "{home}/*/*/.venv/Lib/site-packages",
        "{home}/*/*/venv/Lib/site-packages",
        "{desktop}/*/venv/Lib/site-packages",
        "{desktop}/*/.venv/Lib/site-packages",
    ),
}

_NODE_MODULES: dict[Platform, tuple[str, ...]] = {
    Platform.LINUX: (
        "{root}/usr/lib/node_modules",
        "{root}/usr/local/lib/node_modules",
        "{root}/opt/*/lib/node_modules",
        "{home}/.npm-global/lib/node_modules",
        "{home}/.local/lib/node_modules",
        "{home}/.nvm/versions/node/*/lib/node_modules",
        "{home}/.local/share/pnpm/global/*/node_modules",
        "{home}/node_modules",
        "{home}/*/node_modules",
        "{home}/*/*/node_modules",
    ),
    Platform.MACOS: (
        "{root}/usr/local/lib/node_modules",
        "{root}/opt/homebrew/lib/node_modules",
        "{home}/.npm-global/lib/node_modules",
        "{home}/.nvm/versions/node/*/lib/node_modules",
        "{home}/node_modules",
        "{home}/*/node_modules",
        "{home}/*/*/node_modules",
    ),
    Platform.WINDOWS: (
        "{appdata}/npm/node_modules",
        "{program_files}/nodejs/node_modules",
        "{home}/node_modules",
        "{home}/*/node_modules",
        "{home}/*/*/node_modules",
        "{desktop}/*/node_modules",
    ),
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
    for template in _SITE_PACKAGES[platform]:
        for folder, user in ctx.places(template):
            if folder in seen:
                continue
            seen.add(folder)
            for entry in ctx.fs.listdir(folder, "packages"):
                lower = entry.name.lower()
                if not (lower.endswith(".dist-info") or lower.endswith(".egg-info")):
                    continue
                with ctx.fs.item("packages", entry.path):
                    _dist_info(ctx, entry.name, entry.path, user)
    for template in _NODE_MODULES[platform]:
        for folder, user in ctx.places(template):
            if folder in seen:
                continue
            seen.add(folder)
            _node_modules(ctx, folder, user)


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
    for entry in ctx.fs.listdir(folder, "packages"):
        if not entry.is_dir or entry.name.startswith("."):
            continue
        if entry.name.startswith("@"):
            for scoped in ctx.fs.listdir(entry.path, "packages"):
                if scoped.is_dir:
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
