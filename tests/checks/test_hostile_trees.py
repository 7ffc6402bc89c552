"""Property: whatever file tree a user builds in their home (hostile names, FIFOs, sockets,
links to root's secrets, to `/` or to themselves, parser bombs, sparse giants), a root scan
ends, every sink gets valid UTF-8, no byte of a root-only file comes out, and a tool placed
among them is still found."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.catalogue import load_builtin
from checks.engine import Scanner
from checks.layout import Layout, UserHome
from checks.model import Platform
from tests.checks.test_hostile_input import SECRET, Account, accounts, bounded

__all__ = ["accounts"]  # the module-scoped fixture of real unprivileged accounts

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to make users and owners"
)

CATALOGUE = load_builtin()

# Places in a home that probes parse files in (and the home itself).
PLACES = (
    b"",
    b".config/autostart",
    b".local/share/applications",
    b"proj/node_modules",
    b"proj/node_modules/left-pad",
    b".config/google-chrome/Default",
    b".config/google-chrome/Default/Extensions/abc",
    b".mozilla/firefox/p.default",
    b".local/lib/python3.12/site-packages",
    b"Documents",
)
HOSTILE_NAMES = (
    b"a\xff\xfeb",
    b"\xc3(",
    b"e\xe2\x80\xaegnp.exe",  # right-to-left override
    b"\x1b[31mred\x1b[0m",
    b"new\nline",
    b"tab\there",
    b"x" * 255,
    b"\xe5\xbe\xae\xe4\xbf\xa1" * 42,  # 252 bytes of CJK
    b"package.json",
    b"Preferences",
    b"Secure Preferences",
    b"extensions.json",
    b"manifest.json",
    b"x.desktop",
    b"wechat-helper.desktop",
    b"x.service",
    b"bad-1.0.dist-info",
)
BOMB = b"<bomb>"  # stands for a 1 MiB nested-bracket bomb (kept short in reprs)
CONTENTS = (
    BOMB,
    b'{"a":' * 5000,
    b'{"version": ' + b'"\\ud800"}',  # a lone surrogate in JSON
    b'{"extensions": ["not", "a", "dict"], "version": {"x": 1}}',
    b"[Desktop Entry]\nName=WeChat \xff\xfe Helper\nExec=/bin/\x1b[2Jx\n",
    b"\xff\xfe" + "[Desktop Entry]\nName=w\n".encode("utf-16-le"),
    b"<?xml version='1.0'?><!DOCTYPE p [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]>"
    b"<plist><dict><key>k</key><string>&b;</string></dict></plist>",
)


def _valid_name(name: bytes) -> bool:
    return b"/" not in name and b"\0" not in name and name not in (b".", b"..")


names = st.one_of(
    st.sampled_from(HOSTILE_NAMES),
    st.binary(min_size=1, max_size=255).filter(_valid_name),
)
leaves = st.one_of(
    st.tuples(st.just("file"), st.one_of(st.sampled_from(CONTENTS), st.binary(max_size=300))),
    st.tuples(st.just("fifo")),
    st.tuples(st.just("socket")),
    st.tuples(st.just("sparse")),
    st.tuples(st.just("link"), st.sampled_from(["secret", "vault", "/", "self", "parent", "dev"])),
)
nodes = st.recursive(
    leaves,
    lambda children: st.tuples(st.just("dir"), st.dictionaries(names, children, max_size=3)),
    max_leaves=10,
)
trees = st.dictionaries(
    st.sampled_from(PLACES), st.dictionaries(names, nodes, min_size=1, max_size=4), max_size=4
)


class _Builder:
    def __init__(self, vault: bytes, secret: bytes) -> None:
        self.vault, self.secret = vault, secret
        self.sockets: list[socket.socket] = []

    def build(self, path: bytes, node: tuple[Any, ...]) -> None:
        kind = node[0]
        if os.path.lexists(path):
            return
        if kind == "dir":
            os.mkdir(path)
            for name, child in node[1].items():
                self.build(os.path.join(path, name), child)
        elif kind == "file":
            with open(path, "wb") as fh:
                fh.write(b"[" * (1024 * 1024 - 1) if node[1] == BOMB else node[1])
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "sparse":
            with open(path, "wb") as fh:
                fh.truncate(4 << 30)
        elif kind == "socket":
            sock = socket.socket(socket.AF_UNIX)
            short = f"/tmp/wxh-{uuid.uuid4().hex[:8]}.sock"
            sock.bind(short)
            os.rename(short, path)
            self.sockets.append(sock)
        else:
            target = {
                "secret": self.secret,
                "vault": self.vault,
                "/": b"/",
                "self": path,
                "parent": os.path.dirname(path),
                "dev": b"/dev/zero",
            }[node[1]]
            os.symlink(target, path)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(tree=trees, tool_dir=names)
def test_any_tree_in_a_home_scans_safely(
    accounts: tuple[Account, Account], tree: dict[bytes, dict[bytes, Any]], tool_dir: bytes
) -> None:
    owner = accounts[0]
    work = Path(tempfile.mkdtemp(prefix="wxh-tree-"))
    builder = None
    try:
        vault = work / "vault"
        vault.mkdir(mode=0o700)
        secret = vault / "secret"
        secret.write_text(f'[Desktop Entry]\nName=WeChat\nExec={SECRET}\n{{"version":"{SECRET}"}}')
        secret.chmod(0o600)
        home = work / "root" / "home" / owner.name
        home.mkdir(parents=True)
        builder = _Builder(bytes(vault), bytes(secret))
        hb = bytes(home)
        for place, children in tree.items():
            folder = os.path.join(hb, place) if place else hb
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError:
                continue  # a generated link or file is in the way
            for name, node in children.items():
                builder.build(os.path.join(folder, name), node)
        # The tools, placed among the hostile entries.
        tools = os.path.join(hb, b"tools", tool_dir)
        os.makedirs(tools)
        with open(os.path.join(tools, b"itchat.pkl"), "wb") as fh:
            fh.write(b"session")
        pkg = os.path.join(hb, b"work/node_modules/wechaty")
        os.makedirs(pkg)
        with open(os.path.join(pkg, b"package.json"), "wb") as fh:
            fh.write(b'{"name": "wechaty", "version": "1.20.2"}')
        for dirpath, dirnames, filenames in os.walk(hb):
            for name in [*dirnames, *filenames]:
                os.lchown(os.path.join(dirpath, name), owner.uid, owner.gid)
        os.lchown(hb, owner.uid, owner.gid)

        layout = Layout(
            work / "root",
            Platform.LINUX,
            live=True,
            users=[UserHome(owner.name, home, os.stat(home).st_uid)],
        )
        result = bounded(Scanner(layout, CATALOGUE).scan)

        texts = [result.dumps(), result.dumps("zh")]
        texts += [json.dumps(f.to_json(), ensure_ascii=False) for f in result.findings]
        texts += [f.key for f in result.findings]
        texts += [json.dumps(asdict(b), ensure_ascii=False) for b in result.blind_spots]
        for text in texts:
            text.encode("utf-8")  # no surrogate anywhere
            assert SECRET not in text
        found = {f.rule_id for f in result.findings}
        assert {"itchat", "wechaty"} <= found, (found, result.blind_spots)
    finally:
        if builder is not None:
            builder.close()
        shutil.rmtree(work, ignore_errors=True)
