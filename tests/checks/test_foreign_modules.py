"""Injection: code mapped into an official WeChat process from outside its install folder."""

from __future__ import annotations

from pathlib import Path

from checks.catalogue import load_builtin
from checks.engine import Scanner
from checks.layout import Layout
from checks.model import ProcessFact, ScanResult
from tests.support.doubles import RecordedProcessSource


def linux_image(root: Path) -> Path:
    (root / "opt" / "wechat").mkdir(parents=True)
    (root / "opt" / "wechat" / "wechat").write_bytes(b"\x7fELF")
    (root / "home" / "alice").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg" / "status").write_text(
        "Package: wechat\nStatus: install ok installed\nVersion: 4.0.1\n\n"
    )
    return root


def process(pid: int, exe: str) -> ProcessFact:
    return ProcessFact(pid, exe.rsplit("/", 1)[-1], exe, (exe,), "alice", 1, 0.0)


def scan(root: Path, procs: list[ProcessFact], mapped: dict[int, list[str]]) -> ScanResult:
    source = RecordedProcessSource(procs, mapped)
    return Scanner(Layout.image(root, "linux"), load_builtin(), source).scan()


def injected(result: ScanResult) -> dict[str, str]:
    return {
        e.path: e.detail
        for f in result.findings
        if f.rule_id == "injected-module"
        for e in f.evidence
    }


def test_module_from_outside_the_install_folder_is_flagged(tmp_path: Path) -> None:
    root = linux_image(tmp_path / "img")
    exe = f"{root}/opt/wechat/wechat"
    mapped = [
        exe,
        f"{root}/opt/wechat/libwxtrans.so",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",  # the machine's own libraries …
        "/lib64/ld-linux-x86-64.so.2",
        f"{root}/usr/lib/x86_64-linux-gnu/libnss3.so",  # … also when replayed under the root
        "/home/alice/.local/share/wechat-hook/libhook.so",
        f"{root}/tmp/inject.so",
    ]
    result = scan(root, [process(4242, exe)], {4242: mapped})
    found = injected(result)
    assert sorted(found) == [
        "/home/alice/.local/share/wechat-hook/libhook.so",
        f"{root}/tmp/inject.so",
    ]
    assert found["/home/alice/.local/share/wechat-hook/libhook.so"] == (
        "/home/alice/.local/share/wechat-hook/libhook.so is mapped into wechat (pid 4242) "
        "from outside its install folder"
    )
    assert all(f.severity == "critical" for f in result.findings if f.rule_id == "injected-module")


def test_only_system_and_install_modules_is_clean(tmp_path: Path) -> None:
    root = linux_image(tmp_path / "img")
    exe = f"{root}/opt/wechat/wechat"
    mapped = [exe, f"{root}/opt/wechat/lib/libcef.so", "/usr/lib/x86_64-linux-gnu/libX11.so.6"]
    assert injected(scan(root, [process(7, exe)], {7: mapped})) == {}


def test_lookalike_outside_the_install_is_not_judged_as_an_injection(tmp_path: Path) -> None:
    """A 'wechat' outside /opt/wechat is not the official client: its modules are its own
    business, and the unrecognised-client rule speaks to it instead."""
    root = linux_image(tmp_path / "img")
    fake = f"{root}/home/alice/apps/wechat"
    result = scan(root, [process(9, fake)], {9: [fake, "/tmp/inject.so"]})
    assert injected(result) == {}
    assert any(f.rule_id == "unrecognised-wechat-process" for f in result.findings)
