"""Tools are found wherever people install them: real packages from PyPI and npm, placed by
marker (never by folder name) at any depth, frozen programs, look-alikes where people keep
programs; name traps installed the same way stay clean (issue 14, field cases 4-7)."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import pytest

from checks.api import image_scanner
from checks.model import Platform, ScanResult
from tests.checks import registry
from tests.checks.images import Bundle, File, Folder, build


@pytest.fixture(scope="session")
def downloads() -> registry.Downloads:
    try:
        return registry.fetch()
    except registry.Unreachable as exc:
        pytest.skip(f"the package registries cannot be reached, so no real package: {exc}")


def _scan(root: Path, platform: Platform) -> ScanResult:
    return image_scanner(str(root), platform).scan()


def _rules_at(result: ScanResult) -> dict[str, set[str]]:
    """rule id -> every evidence path of its findings."""
    out: dict[str, set[str]] = {}
    for f in result.findings:
        out.setdefault(f.rule_id, set()).update(e.path for e in f.evidence)
    return out


def _found(result: ScanResult, rule: str, where: str) -> bool:
    return any(where in p for p in _rules_at(result).get(rule, set()))


def _venv(prefix: Path, site: Path) -> None:
    """A virtual environment's marker and layout (what `python -m venv` writes)."""
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = false\n")
    site.mkdir(parents=True, exist_ok=True)


def _conda(prefix: Path, site: Path, name: str, version: str) -> None:
    """A conda environment's marker: conda-meta/ with a package record (field case 4)."""
    (prefix / "conda-meta").mkdir(parents=True, exist_ok=True)
    (prefix / "conda-meta" / "history").write_text("==> 2024-05-01 <==\n")
    (prefix / "conda-meta" / f"python-3.10.14-h{name}.json").write_text("{}")
    site.mkdir(parents=True, exist_ok=True)
    del version


# --- Windows ----------------------------------------------------------------------------

# (rule that must be found, package, site-packages relative to the image root, and how the
# place is marked). Users' names for their environments are whatever they like.
_WIN_HOME = "Users/alice"
_WIN_PLACES: list[tuple[str, str, str, str]] = [
    (
        "pywxdump",
        "haowxdump",
        f"{_WIN_HOME}/Documents/Python Scripts/venv311/Lib/site-packages",
        "venv",
    ),
    (
        "wechatferry",
        "wcferry",
        "ProgramData/Anaconda3/envs/paddle_env/Lib/site-packages",
        "conda",
    ),
    ("itchat", "itchat-uos", f"{_WIN_HOME}/anaconda3/envs/bot/Lib/site-packages", "conda"),
    (
        "pywxdump",
        "pywxdump",
        f"{_WIN_HOME}/AppData/Local/Packages/PythonSoftwareFoundation.Python.3.11_qbz5n2kfra8p0"
        "/LocalCache/local-packages/Python311/site-packages",
        "none",
    ),
    ("pywxdump", "pywxdump", f"{_WIN_HOME}/pipx/venvs/pywxdump/Lib/site-packages", "venv"),
    (
        "wechatferry",
        "wcferry",
        f"{_WIN_HOME}/AppData/Roaming/uv/tools/wcferry/Lib/site-packages",
        "venv",
    ),
    (
        "itchat",
        "itchat-uos",
        f"{_WIN_HOME}/AppData/Roaming/Python/Python312/site-packages",
        "none",
    ),
]


def _place(root: Path, site_rel: str, marker: str) -> Path:
    site = root / site_rel
    prefix = site.parent.parent if site.parent.name.lower() == "lib" else site.parent.parent.parent
    if marker == "venv":
        _venv(prefix, site)
    elif marker == "conda":
        _conda(prefix, site, "x", "1")
    else:
        site.mkdir(parents=True, exist_ok=True)
    return site


@pytest.fixture(scope="module")
def windows_image(
    downloads: registry.Downloads, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ScanResult]:
    root = build(
        tmp_path_factory.mktemp("win") / "img",
        Platform.WINDOWS,
        # Field case 6: a released tool run from where its archive was extracted.
        File("{downloads}/chatlog_0.0.29_windows_amd64/chatlog.exe", b"MZ\x90\0chatlog"),
        File("{documents}/chatlog/chatlog.log", "DBG Starting 8 workers for V4 key search\n"),
        # Look-alikes where people keep programs.
        File("{desktop}/CWeChatRobot.exe", b"MZ\x90\0robot"),
        File("{downloads}/wecom-multi-open_v2/wecom-multi-open.exe", b"MZ\x90\0multi"),
        File("{documents}/WeChat Files/notes.txt", "not a program"),
    )
    for _rule, package, site_rel, marker in _WIN_PLACES:
        registry.install_wheel(downloads.wheels[package], _place(root, site_rel, marker))
    # Field case 7: a fork's HTTP front end installed beside its dependency.
    venv311 = root / _WIN_PLACES[0][2]
    registry.install_wheel(downloads.wheels["wcfhttp"], venv311)
    registry.install_wheel(downloads.wheels["wcferry"], venv311)
    # Traps in a user's venv and project: a server SDK and mini-program typings.
    trap_site = _place(root, f"{_WIN_HOME}/code/site/.env/Lib/site-packages", "venv")
    registry.install_wheel(downloads.wheels["wechatpy"], trap_site)
    web = root / _WIN_HOME / "code/miniapp/node_modules"
    registry.install_npm(
        downloads.tarballs["miniprogram-api-typings"], web, "miniprogram-api-typings"
    )
    registry.install_npm(downloads.tarballs["weixin-js-sdk"], web, "weixin-js-sdk")
    # npm's global prefix on Windows, and a project seven folders down.
    registry.install_npm(
        downloads.tarballs["wechaty"],
        root / _WIN_HOME / "AppData/Roaming/npm/node_modules",
        "wechaty",
    )
    deep = root / _WIN_HOME / "a/b/c/d/e/f/g/node_modules"
    registry.install_npm(
        downloads.tarballs["wechaty-puppet-wechat4u"], deep, "wechaty-puppet-wechat4u"
    )
    # A PyInstaller folder build: the tool's DLLs under _internal/<package>/.
    frozen = root / _WIN_HOME / "Downloads/WeFerryBot"
    for rel in ("WeFerryBot.exe", "_internal/base_library.zip", "_internal/python311.dll"):
        (frozen / rel).parent.mkdir(parents=True, exist_ok=True)
        (frozen / rel).write_bytes(b"MZ\x90\0" if rel.endswith((".exe", ".dll")) else b"PK")
    for dll in ("sdk.dll", "spy.dll"):
        (frozen / "_internal/wcferry").mkdir(parents=True, exist_ok=True)
        (frozen / "_internal/wcferry" / dll).write_bytes(b"MZ\x90\0")
    return root, _scan(root, Platform.WINDOWS)


@pytest.mark.parametrize(("rule", "package", "site_rel", "marker"), _WIN_PLACES)
def test_windows_package_found_where_users_install_it(
    windows_image: tuple[Path, ScanResult], rule: str, package: str, site_rel: str, marker: str
) -> None:
    _, result = windows_image
    assert _found(result, rule, site_rel), (site_rel, _rules_at(result))


def test_windows_global_npm_and_seven_deep_project_found(
    windows_image: tuple[Path, ScanResult],
) -> None:
    _, result = windows_image
    assert _found(result, "wechaty", "AppData/Roaming/npm/node_modules/wechaty")
    assert _found(result, "wechaty", "a/b/c/d/e/f/g/node_modules/wechaty-puppet-wechat4u")


def test_windows_pyinstaller_internal_package_found(windows_image: tuple[Path, ScanResult]) -> None:
    _, result = windows_image
    assert _found(result, "wechatferry", "Downloads/WeFerryBot/_internal/wcferry")


def test_windows_extracted_release_found(windows_image: tuple[Path, ScanResult]) -> None:
    """Field case 6: chatlog run from its extracted release folder, no ~/.chatlog."""
    _, result = windows_image
    assert _found(result, "chatlog-sjzar", "Downloads/chatlog_0.0.29_windows_amd64/chatlog.exe")


def test_windows_loose_lookalikes_found(windows_image: tuple[Path, ScanResult]) -> None:
    _, result = windows_image
    rules = _rules_at(result)
    hits = rules.get("unrecognised-wechat-program", set())
    # A catalogued tool's program is its own rule's finding; a look-alike otherwise.
    known = hits | rules.get("comwechatrobot", set())
    assert any(p.endswith("Desktop/CWeChatRobot.exe") for p in known), rules
    assert any(p.endswith("wecom-multi-open_v2/wecom-multi-open.exe") for p in hits), hits
    assert not any("WeChat Files" in p for p in hits)


def test_windows_traps_stay_clean(windows_image: tuple[Path, ScanResult]) -> None:
    _, result = windows_image
    for f in result.findings:
        for e in f.evidence:
            assert "code/site/" not in e.path and "miniapp" not in e.path, (f.rule_id, e)


# --- Linux ------------------------------------------------------------------------------

_LINUX_HOME = "home/alice"
_LINUX_PLACES: list[tuple[str, str, str, str]] = [
    # Field case 5.
    (
        "itchat",
        "itchat-uos",
        f"{_LINUX_HOME}/.venvs/wechat-bot/lib/python3.11/site-packages",
        "venv",
    ),
    ("pywxdump", "pywxdump", f"{_LINUX_HOME}/code/bot/env/lib/python3.11/site-packages", "venv"),
    (
        "pywxdump",
        "haowxdump",
        f"{_LINUX_HOME}/.local/share/pipx/venvs/haowxdump/lib/python3.12/site-packages",
        "venv",
    ),
    (
        "itchat",
        "itchat-uos",
        f"{_LINUX_HOME}/.local/share/uv/tools/itchat-uos/lib/python3.12/site-packages",
        "venv",
    ),
    (
        "wechatferry",
        "wcferry",
        f"{_LINUX_HOME}/.cache/uv/archive-v0/k3J9x/lib/python3.11/site-packages",
        "venv",
    ),
    (
        "wechatferry",
        "wcferry",
        f"{_LINUX_HOME}/miniforge3/envs/wx/lib/python3.11/site-packages",
        "conda",
    ),
    ("pywxdump", "pywxdump", f"{_LINUX_HOME}/a/b/c/d/e/f/g/lib/python3.11/site-packages", "none"),
    ("itchat", "itchat-uos", "opt/botenv/lib/python3.10/site-packages", "venv"),
]


def _asar(entries: dict[str, bytes]) -> bytes:
    """An Electron asar archive holding `entries` (path -> content), as @electron/asar writes."""
    tree: dict[str, object] = {"files": {}}
    blob = b""
    for path, content in entries.items():
        node = tree
        parts = path.split("/")
        for part in parts[:-1]:
            files = node["files"]
            assert isinstance(files, dict)
            node = files.setdefault(part, {"files": {}})
        files = node["files"]
        assert isinstance(files, dict)
        files[parts[-1]] = {"size": len(content), "offset": str(len(blob))}
        blob += content
    header = json.dumps(tree).encode()
    pickle = struct.pack("<I", len(header)) + header
    pickle += b"\0" * (-len(pickle) % 4)
    return struct.pack("<III", 4, len(pickle) + 4, len(pickle)) + pickle + blob


def _pyinstaller_onefile(names: list[str]) -> bytes:
    """A PyInstaller one-file executable: an ELF stub, the CArchive entries, the TOC and the
    cookie at the end (PyInstaller's archive/writers.py layout)."""
    stub = b"\x7fELF" + b"\0" * 60
    data = b""
    toc = b""
    for name in names:
        payload = zlib.compress(b"\0fixture\0")
        raw = name.encode() + b"\0"
        raw += b"\0" * (-(len(raw) + 18) % 16)
        toc += struct.pack("!IIIIBc", 18 + len(raw), len(data), len(payload), 9, 1, b"b") + raw
        data += payload
    length = len(data) + len(toc) + 88
    cookie = struct.pack(
        "!8sIIii64s",
        b"MEI\x0c\x0b\x0a\x0b\x0e",
        length,
        len(data),
        len(toc),
        311,
        b"libpython3.11.so",
    )
    return stub + data + toc + cookie


@pytest.fixture(scope="module")
def linux_image(
    downloads: registry.Downloads, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ScanResult]:
    root = build(
        tmp_path_factory.mktemp("lin") / "img",
        Platform.LINUX,
        File("{home}/a/b/c/d/e/f/itchat.pkl", b"session"),
        File("{home}/.cache/botdata/x/y/itchat.pkl", b"session"),
        Folder("{home}/.venvs/wechat-bot/bin"),
    )
    for _rule, package, site_rel, marker in _LINUX_PLACES:
        registry.install_wheel(downloads.wheels[package], _place(root, site_rel, marker))
    home = root / _LINUX_HOME
    # pnpm's store layout with the top-level link, and yarn's global folder.
    store = home / "proj/bot/node_modules/.pnpm/wechaty@1.20.2/node_modules"
    registry.install_npm(downloads.tarballs["wechaty"], store, "wechaty")
    os.symlink(".pnpm/wechaty@1.20.2/node_modules/wechaty", home / "proj/bot/node_modules/wechaty")
    registry.install_npm(
        downloads.tarballs["wechaty-puppet-wechat4u"],
        home / ".config/yarn/global/node_modules",
        "wechaty-puppet-wechat4u",
    )
    # An Electron app bundling wechaty, a PyInstaller one-file and a Nuitka standalone build.
    app = home / "Apps/WeBot/resources"
    app.mkdir(parents=True)
    pkg = json.dumps({"name": "webot", "version": "0.1.0"}).encode()
    (app / "app.asar").write_bytes(
        _asar(
            {
                "package.json": pkg,
                "node_modules/wechaty/package.json": b'{"name":"wechaty"}',
                "node_modules/@juzi/x/package.json": b"{}",
            }
        )
    )
    onefile = home / "Downloads/wxbot"
    onefile.parent.mkdir(parents=True, exist_ok=True)
    onefile.write_bytes(
        _pyinstaller_onefile(["pyiboot01_bootstrap", "wcferry/sdk.dll", "PYZ-00.pyz"])
    )
    nuitka = home / "tools/bot.dist"
    (nuitka / "itchat").mkdir(parents=True)
    (nuitka / "bot").write_bytes(b"\x7fELF")
    # Traps.
    trap = _place(root, f"{_LINUX_HOME}/srv/api/venv39/lib/python3.9/site-packages", "venv")
    registry.install_wheel(downloads.wheels["wechatpy"], trap)
    registry.install_npm(
        downloads.tarballs["miniprogram-api-typings"],
        home / "web/node_modules",
        "miniprogram-api-typings",
    )
    # Pruned where provably safe: git's object store is not walked.
    (home / "proj/bot/.git/objects/ab").mkdir(parents=True)
    (home / "proj/bot/.git/objects/ab/itchat.pkl").write_bytes(b"blob")
    return root, _scan(root, Platform.LINUX)


@pytest.mark.parametrize(("rule", "package", "site_rel", "marker"), _LINUX_PLACES)
def test_linux_package_found_where_users_install_it(
    linux_image: tuple[Path, ScanResult], rule: str, package: str, site_rel: str, marker: str
) -> None:
    _, result = linux_image
    assert _found(result, rule, site_rel), (site_rel, _rules_at(result))


@pytest.mark.parametrize(
    ("rule", "where"),
    [
        ("wechaty", "proj/bot/node_modules/.pnpm/wechaty@1.20.2/node_modules/wechaty"),
        ("wechaty", ".config/yarn/global/node_modules/wechaty-puppet-wechat4u"),
        ("wechaty", "Apps/WeBot/resources/app.asar"),
        ("wechatferry", "Downloads/wxbot"),
        ("itchat", "tools/bot.dist/itchat"),
        ("itchat", "a/b/c/d/e/f/itchat.pkl"),
        ("itchat", ".cache/botdata/x/y/itchat.pkl"),
    ],
)
def test_linux_frozen_node_and_deep_found(
    linux_image: tuple[Path, ScanResult], rule: str, where: str
) -> None:
    _, result = linux_image
    assert _found(result, rule, where), (where, _rules_at(result))


def test_linux_pnpm_package_counted_once_and_traps_clean(
    linux_image: tuple[Path, ScanResult],
) -> None:
    _, result = linux_image
    paths = _rules_at(result)
    assert not any(p.endswith("proj/bot/node_modules/wechaty") for p in paths["wechaty"])
    for f in result.findings:
        for e in f.evidence:
            assert "venv39" not in e.path and "web/node_modules" not in e.path, (f.rule_id, e)
            assert ".git/objects" not in e.path


def test_warm_rescan_reads_nothing_unchanged(linux_image: tuple[Path, ScanResult]) -> None:
    root, first = linux_image
    scanner = image_scanner(str(root), Platform.LINUX)
    cold = scanner.scan()
    warm = scanner.scan()
    assert (
        {f.key for f in warm.findings}
        == {f.key for f in cold.findings}
        == {f.key for f in first.findings}
    )
    assert cold.stats["dirs_listed"] > 100
    assert warm.stats["dirs_listed"] == 0, warm.stats
    assert warm.stats["files_read"] == 0, warm.stats


# --- macOS ------------------------------------------------------------------------------


def test_macos_bundle_copy_and_release_outside_the_install(
    downloads: registry.Downloads, tmp_path: Path
) -> None:
    """A (re-signed) WeChat.app kept under Application Support and a released tool are
    found; the user site of macOS Python is walked like any other place."""
    root = build(
        tmp_path / "img",
        Platform.MACOS,
        Bundle("{app_support}/Tools/WeChat.app", "com.tencent.xinWeChat"),
        File("{downloads}/chatlog_0.0.29_darwin_arm64/chatlog", b"\xcf\xfa\xed\xfe"),
    )
    site = root / "Users/alice/Library/Python/3.11/lib/python/site-packages"
    registry.install_wheel(downloads.wheels["itchat-uos"], site)
    result = _scan(root, Platform.MACOS)
    assert _found(result, "unrecognised-wechat-program", "Application Support/Tools/WeChat.app")
    assert _found(result, "chatlog-sjzar", "chatlog_0.0.29_darwin_arm64/chatlog")
    assert _found(result, "itchat", "Library/Python/3.11")


def test_official_installer_in_downloads_is_not_a_lookalike_but_a_resigned_one_is(
    tmp_path: Path,
) -> None:
    """The WeChat installer a person downloaded (intact, signed by the approved client's
    signer) is not a look-alike; the same name signed by anyone else, or tampered, is."""
    from bench.pefiles import certificate, signed_pe

    tencent = signed_pe(*certificate("Tencent Technology (Shenzhen) Company Limited"))
    other = signed_pe(*certificate("WeChat Tools Studio"))
    tampered = bytearray(tencent)
    tampered[0x200] ^= 0xFF
    root = build(
        tmp_path / "img",
        Platform.WINDOWS,
        File("{downloads}/WeChatSetup.exe", tencent),
        File("{downloads}/WeChatSetup (1).exe", other),
        File("{desktop}/WeChat.exe", bytes(tampered)),
    )
    hits = _rules_at(_scan(root, Platform.WINDOWS)).get("unrecognised-wechat-program", set())
    assert not any(p.endswith("Downloads/WeChatSetup.exe") for p in hits), hits
    assert any(p.endswith("Downloads/WeChatSetup (1).exe") for p in hits), hits
    assert any(p.endswith("Desktop/WeChat.exe") for p in hits), hits
