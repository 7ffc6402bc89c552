"""The files probe answers every `{home}/**/…` template in one walk, exactly as one glob each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checks.catalogue import load_builtin
from checks.fsview import FsView
from checks.layout import Layout
from checks.model import Facts, Platform
from checks.probes import files
from checks.probes.base import ProbeContext
from tests.checks.images import File, Folder, build

CATALOGUE = load_builtin()

# Artefacts at several depths (any depth is walked), with odd case, inside folders that are
# walked (node_modules, .cache) and inside the provably safe pruned ones (git's object store).
_TREE = [
    File("{home}/wxdump_work/wxdump.log"),
    File("{desktop}/a/b/WXDUMP_WORK/log"),
    File("{documents}/a/b/c/d/e/wxdump_work/too-deep"),
    File("{home}/node_modules/x/wxdump_work/pruned"),
    File("{home}/proj/.git/objects/wxdump_work/pruned"),
    File("{home}/.cache/x/wxdump_work/cached"),
    File("{downloads}/RevokeMsgPatcher.v2.1/RevokeMsgPatcher.exe"),
    File("{downloads}/wxhelper/3.9.5.81-wxhelper.dll"),
    File("{home}/p/PyWeChatSpy/1644691589/WeChatSpy.dll"),
    File("{home}/p/PyWeChatSpy/WeChatSpy.dll"),
    File("{home}/src/wechat-dump/android-interact.sh"),
    File("{home}/src/wechat-dump/other.sh"),
    Folder("{home}/code/chatgpt-on-wechat"),
    File("{home}/phone/EnMicroMsg.db"),
    File("{home}/Tools/WeChatOpenDevTools-Mac/main.py"),
    File("{home}/.chatlog/chatlog.json"),
]


def _by_glob(ctx: ProbeContext) -> set[tuple[str, str, str]]:
    out = set()
    for template in files.templates(ctx):
        for base, pattern, user in ctx.expand(template):
            for entry in FsView(case_insensitive=ctx.fs.case_insensitive).glob(base, pattern):
                out.add((template, entry.path, user))
    return out


@pytest.mark.parametrize("platform", list(Platform), ids=str)
def test_batched_globstar_finds_what_one_glob_per_template_finds(
    tmp_path: Path, platform: Platform
) -> None:
    root = build(tmp_path / "img", platform, *_TREE)
    loop = root / ("home/alice" if platform is Platform.LINUX else "Users/alice") / "loop"
    os.symlink("..", loop)
    layout = Layout.image(root, platform)
    ctx = ProbeContext(layout, FsView(case_insensitive=layout.case_insensitive), CATALOGUE, Facts())
    files.collect(ctx)
    got = {(f.template, f.path, f.user) for f in ctx.facts.files}
    expected = _by_glob(ctx)
    assert got == expected
    found = {p.replace("\\", "/").split("/img/", 1)[1] for _, p, _ in got}
    assert not any(".git/objects" in p for p in found)
    assert any(p.endswith("wxdump_work") for p in found)
    assert any(p.endswith("a/b/c/d/e/wxdump_work") for p in found)
    assert any(p.endswith("node_modules/x/wxdump_work") for p in found)
    assert any(p.endswith(".cache/x/wxdump_work") for p in found)
    if platform is not Platform.LINUX:
        assert any(p.endswith("WXDUMP_WORK") for p in found)  # case-insensitive platforms


def test_many_globstar_templates_cost_one_walk(tmp_path: Path) -> None:
    """Each folder under a home is listed once per scan, not once per `**` template."""
    items = [
        File(f"{{home}}/d{a}/s{b}/t{c}/f.txt") for a in range(4) for b in range(4) for c in range(4)
    ]
    root = build(tmp_path / "img", Platform.WINDOWS, *items)
    layout = Layout.image(root, Platform.WINDOWS)
    fs = FsView(case_insensitive=True)
    ctx = ProbeContext(layout, fs, CATALOGUE, Facts())
    starred = [t for t in files.templates(ctx) if t.startswith("{home}/**/")]
    assert len(starred) >= 20
    fs.begin_scan()
    files.collect(ctx)
    folders = sum(1 for _ in (root / "Users/alice").rglob("*") if _.is_dir())
    listings = fs.stats.dirs_listed + fs.stats.dirs_reused
    assert listings < 3 * folders + 100, (listings, folders)


def test_walk_restores_the_collector_and_reaches_any_depth(tmp_path: Path) -> None:
    """The walk pauses Python's collector while it fills the cache and restores it as it was,
    also when the caller stops early; it reaches 30 levels down."""
    import gc

    deep = tmp_path.joinpath(*[f"l{i}" for i in range(30)])
    deep.mkdir(parents=True)
    (deep / "marker").write_bytes(b"x")
    fs = FsView()
    assert gc.isenabled()
    names = {e.name for _, entries in fs.walk(str(tmp_path)) for e in entries}
    assert "marker" in names
    assert gc.isenabled()
    walk = fs.walk(str(tmp_path))
    next(walk)
    assert not gc.isenabled()
    walk.close()
    assert gc.isenabled()
    gc.disable()
    try:
        list(fs.walk(str(tmp_path)))
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
