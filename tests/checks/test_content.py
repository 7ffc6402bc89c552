"""Content matchers (YARA via yara-x) on real programs compiled here, real scripts and
configurations, and look-alikes that must stay clean. Each test runs twice: matching in this
process (`wxguard check`, images) and in the agent's worker process (checks/content/worker.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.api import scan_image
from checks.catalogue import Catalogue, CatalogueError, load_builtin
from checks.engine import Scanner
from checks.layout import Layout
from checks.model import Platform, ScanResult
from tests.checks.images import File, build
from tests.checks.registry import install_wheel, wheel

CATALOGUE = load_builtin()
L, M, W = Platform.LINUX, Platform.MACOS, Platform.WINDOWS

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


@pytest.fixture(autouse=True, params=["in-process", "worker"])
def _matcher(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from checks.content import yara

    if request.param == "in-process":
        monkeypatch.setattr(yara, "_matcher", yara.InProcessMatcher())
        yield
        return
    if sys.platform != "linux":
        pytest.skip("the content worker runs on Linux")
    from checks.content.worker import WorkerMatcher

    worker = WorkerMatcher()
    monkeypatch.setattr(yara, "_matcher", worker)
    yield
    worker.stop()


def _cc(tmp: Path, name: str, source: str, *flags: str) -> bytes:
    """Compile a C program (or with -shared a library) and return its bytes."""
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = tmp / name
    subprocess.run(["gcc", "-O0", "-o", str(out), str(src), *flags], check=True, timeout=60)
    return out.read_bytes()


INJECTOR = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <sys/ptrace.h>
static const char *target = "WeChatWin.dll";
static const char *how = "CreateRemoteThread";
int main(int argc, char **argv) {
    if (argc > 5) { ptrace(PTRACE_ATTACH, 1, 0, 0); dlopen(argv[1], RTLD_NOW); }
    printf("%s %s\n", target, how);
    return 0;
}
"""
LINUX_HOOK_LIB = r"""
#include <dlfcn.h>
#include <sys/ptrace.h>
const char *wx = "/opt/wechat/libwechatcommon.so";
int inject(int pid) { ptrace(PTRACE_ATTACH, pid, 0, 0); return dlopen(wx, RTLD_NOW) != 0; }
"""
NAMES_WECHAT_ONLY = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    if (argc > 5) dlopen(argv[1], RTLD_NOW);
    puts("WeChatWin.dll");  /* a launcher or an uninstaller names the module, nothing more */
    return 0;
}
"""
PRIMITIVES_ONLY = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <sys/ptrace.h>
int main(int argc, char **argv) {
    if (argc > 5) { ptrace(PTRACE_ATTACH, 1, 0, 0); dlopen(argv[1], RTLD_NOW); }
    puts("CreateRemoteThread WriteProcessMemory VirtualAllocEx");  /* a debugger's help text */
    return 0;
}
"""
DECRYPTOR = r"""
#include <stdio.h>
static const char *dbs[] = {"MicroMsg.db", "MSG0.db", "db_storage"};
static const char *kdf = "PBKDF2-HMAC-SHA512";
int main(void) { printf("%s %s %s\n", dbs[0], dbs[1], kdf); return 0; }
"""

FRIDA_SCRIPT = """import frida

session = frida.attach("WeChat.exe")
script = session.create_script('''
Interceptor.attach(Module.findExportByName("WeChatWin.dll", "SendMessage"), {
  onEnter(args) { send(args[1].readUtf16String()); }
});
''')
script.load()
"""
MAC_INSERT = """#!/bin/sh
insert_dylib --strip-codesig --all-yes @executable_path/Tweak.dylib \\
  /Applications/WeChat.app/Contents/MacOS/WeChat /Applications/WeChat.app/Contents/MacOS/WeChat
"""
WXPYTHON_APP = """import wx

class Chat(wx.Frame):
    def __init__(self):
        super().__init__(None, title="WeChat-style chat demo")
        self.hook = wx.EVT_CLOSE  # wx events, not hooks into WeChat

app = wx.App()
Chat().Show()
app.MainLoop()
"""
UI_AUTOMATION = """import uiautomation as auto

wnd = auto.WindowControl(ClassName="WeChatMainWndForPC", Name="微信")
wnd.SetFocus()
auto.SendKeys("hello{Enter}")
"""
GENERIC_UI_AUTOMATION = """import uiautomation as auto

notepad = auto.WindowControl(ClassName="Notepad")
auto.SendKeys("hello{Enter}")
"""


def _ids(result: ScanResult) -> set[str]:
    return {f.rule_id for f in result.findings}


def _scan(root: Path, platform: Platform, catalogue: Catalogue = CATALOGUE) -> ScanResult:
    return scan_image(str(root), platform, catalogue)


def test_compiled_injector_and_hook_library_are_found(tmp_path: Path) -> None:
    injector = _cc(tmp_path, "wxinject", INJECTOR)
    lib = _cc(tmp_path, "libhook.so", LINUX_HOOK_LIB, "-shared", "-fPIC")
    root = build(
        tmp_path / "img",
        L,
        File("{downloads}/tools/helper", injector),
        File("{home}/.local/bin/libhelper.so", lib),
    )
    result = _scan(root, L)
    hits = [f for f in result.findings if f.rule_id == "wechat-hook-injector-code"]
    paths = {e.path for f in hits for e in f.evidence}
    assert paths == {"home/alice/Downloads/tools/helper", "home/alice/.local/bin/libhelper.so"}
    detail = " ".join(e.detail for f in hits for e in f.evidence)
    assert "WeChatWin.dll" in detail and "CreateRemoteThread" in detail


def test_look_alikes_that_carry_one_half_stay_clean(tmp_path: Path) -> None:
    root = build(
        tmp_path / "img",
        W,
        File("{downloads}/launcher.exe", _cc(tmp_path, "a", NAMES_WECHAT_ONLY)),
        File("{downloads}/debugger.exe", _cc(tmp_path, "b", PRIMITIVES_ONLY)),
        File("{documents}/wxdemo/app.py", WXPYTHON_APP),
        File("{documents}/rpa/notepad.py", GENERIC_UI_AUTOMATION),
        File("{desktop}/notes.json", '{"wechat": "ask alice", "key": "' + "ab" * 32 + '"}'),
    )
    result = _scan(root, W)
    assert not result.findings, [(f.rule_id, f.evidence) for f in result.findings]


def test_scripts_that_hook_or_drive_wechat_are_found(tmp_path: Path) -> None:
    root = build(
        tmp_path / "img",
        W,
        File("{documents}/re/hook_send.py", FRIDA_SCRIPT),
        File("{desktop}/autoreply/bot.py", UI_AUTOMATION),
    )
    ids = _ids(_scan(root, W))
    assert {"wechat-hook-injector-code", "wechat-ui-automation-code"} <= ids
    mac = build(tmp_path / "mac", M, File("{home}/bin/patch-wechat", MAC_INSERT))
    assert "wechat-hook-injector-code" in _ids(_scan(mac, M))


def test_decryptors_configs_and_extracted_keys_are_found(tmp_path: Path) -> None:
    config = '{"data_dir": "C:\\\\Users\\\\alice\\\\Documents\\\\xwechat_files\\\\wxid_abc123\\\\db_storage"}'
    key = '{"wxid_abc123": {"key": "' + "0f" * 32 + '", "version": "3.9.12.51"}}'
    root = build(
        tmp_path / "img",
        W,
        File("{downloads}/dec/decrypt.exe", _cc(tmp_path, "d", DECRYPTOR)),
        File("{documents}/ai/settings.json", config),
        File("{desktop}/out/keys.json", key),
    )
    result = _scan(root, W)
    assert {"wechat-db-decryptor-code", "wechat-db-config", "wechat-extracted-db-key"} <= _ids(
        result
    )


def test_pywxdumps_own_code_is_found_whatever_the_package_is_called(tmp_path: Path) -> None:
    """The real PyWxDump code (from the real `haowxdump` wheel), copied out of any package."""
    site = tmp_path / "site"
    install_wheel(wheel("haowxdump"), site)
    wx_info = (site / "pywxdump/wx_core/wx_info.py").read_bytes()
    root = build(tmp_path / "img", W, File("{desktop}/tool/core/info.py", wx_info))
    result = _scan(root, W)
    assert {"pywxdump", "wechat-db-decryptor-code"} <= _ids(result), _ids(result)


def test_warm_rescan_reads_no_candidate_again(tmp_path: Path) -> None:
    root = build(
        tmp_path / "img",
        L,
        File("{downloads}/tools/helper", _cc(tmp_path, "i", INJECTOR)),
        File("{downloads}/tools/other", _cc(tmp_path, "o", NAMES_WECHAT_ONLY)),
        File("{documents}/x.py", "print(1)\n"),
    )
    scanner = Scanner(Layout.image(root, L), CATALOGUE)
    first = scanner.scan()
    assert first.stats["content_files_scanned"] >= 3
    second = scanner.scan()
    assert second.stats["content_files_scanned"] == 0
    assert second.stats["content_results_reused"] >= 3
    assert _ids(first) == _ids(second)
    (root / "home/alice/Documents/x.py").write_text("import frida  # WeChatWin.dll\n")
    third = scanner.scan()
    assert third.stats["content_files_scanned"] == 1


def test_policy_adds_yara_rules_and_refuses_broken_ones(tmp_path: Path) -> None:
    rule = {
        "id": "policy-test-tool",
        "category": "bot-framework",
        "severity": "high",
        "platforms": ["linux"],
        "title": {"zh": "测试工具", "en": "test tool"},
        "remediation": {"zh": "删除它。", "en": "Delete it."},
        "match": [{"type": "content", "name": "Policy_Test_Tool"}],
    }
    source = 'rule Policy_Test_Tool { strings: $a = "zz-policy-marker-zz" condition: $a }'
    catalogue = CATALOGUE.with_policy(
        add_rules=[rule], add_yara=[{"name": "policy/test.yar", "source": source}]
    )
    root = build(
        tmp_path / "img", L, File("{downloads}/run.sh", "#!/bin/sh\nzz-policy-marker-zz\n")
    )
    assert "policy-test-tool" in _ids(_scan(root, L, catalogue))
    with pytest.raises(CatalogueError, match="do not compile"):
        CATALOGUE.with_policy(add_yara=[{"name": "bad.yar", "source": "rule {"}])
    with pytest.raises(CatalogueError, match="names no YARA rule"):
        CATALOGUE.with_policy(add_rules=[rule])


def test_a_fifo_and_an_unreadable_candidate_are_blind_spots_not_hangs(tmp_path: Path) -> None:
    import os

    root = build(tmp_path / "img", L, File("{downloads}/ok.py", "print(1)\n"))
    os.mkfifo(root / "home/alice/Downloads/tool.exe")
    os.mkfifo(root / "home/alice/Downloads/run.py")
    result = _scan(root, L)
    assert not result.findings


def test_field_case_6_a_release_run_from_where_it_was_extracted(tmp_path: Path) -> None:
    """chatlog.exe in an extracted release folder (a Go PE naming its module and key search)
    and its debug log in Documents; no ~/.chatlog/chatlog.json."""
    go_pe = (
        b"MZ\x90\x00" + b"\0" * 60 + b"PE\0\0"
        b"\0go:buildid\0github.com/sjzar/chatlog/internal/wechat/key/windows\0"
        b"Starting %d workers for V4 key search\0"
    )
    root = build(
        tmp_path / "img",
        W,
        File("{downloads}/chatlog_0.0.29_windows_amd64/chatlog.exe", go_pe),
        File("{documents}/chatlog/chatlog.log", "DBG Starting 8 workers for V4 key search\n"),
    )
    found = [f for f in _scan(root, W).findings if f.rule_id == "chatlog-sjzar"]
    paths = {e.path for f in found for e in f.evidence}
    assert paths == {
        "Users/alice/Downloads/chatlog_0.0.29_windows_amd64/chatlog.exe",
        "Users/alice/Documents/chatlog/chatlog.log",
    }


def test_wechatferry_sdk_is_found_in_a_renamed_library(tmp_path: Path) -> None:
    lib = _cc(
        tmp_path,
        "libx.so",
        "int WxInitSDK(int d, int p) { return d + p; }\nint WxDestroySDK(void) { return 0; }\n",
        "-shared",
        "-fPIC",
    )
    root = build(tmp_path / "img", L, File("{home}/.local/bin/libnotatool.so", lib))
    assert "wechatferry" in _ids(_scan(root, L))


def test_a_running_programs_executable_is_content_matched(tmp_path: Path) -> None:
    """A program kept outside every walked place is matched once it runs."""
    from checks.model import ProcessFact
    from tests.support.doubles import RecordedProcessSource

    root = build(tmp_path / "img", L, File("{home}/.x/y/z/svc", _cc(tmp_path, "s", INJECTOR)))
    exe = str(root / "home/alice/.x/y/z/svc")
    proc = ProcessFact(777, "svc", exe, (exe,), "alice", 1, 1.0)
    scanner = Scanner(Layout.image(root, L), CATALOGUE, RecordedProcessSource([proc], {}))
    hits = [f for f in scanner.scan().findings if f.rule_id == "wechat-hook-injector-code"]
    assert [e.path for f in hits for e in f.evidence] == ["home/alice/.x/y/z/svc"]
    assert not _scan(root, L).findings  # not running: not a candidate


def test_a_candidate_rewritten_in_place_is_matched_again_without_a_walk(tmp_path: Path) -> None:
    """With file-system events trusted and none reported (no folder walked again), a file
    rewritten in place under the same name is still re-matched: its signature changed."""
    root = build(tmp_path / "img", L, File("{downloads}/tools/run.py", "print('hello')\n"))
    scanner = Scanner(Layout.image(root, L), CATALOGUE)
    scanner.fs.trust_listings = True
    assert not scanner.scan().findings
    (root / "home/alice/Downloads/tools/run.py").write_text(FRIDA_SCRIPT)
    again = scanner.scan()
    assert scanner.reused_file_facts
    assert again.stats["dirs_listed"] == 0
    assert "wechat-hook-injector-code" in _ids(again)


def test_with_events_covering_files_a_scan_for_a_new_process_stats_no_candidate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18's latency: with a watcher that reports files closed after writing (the agent's),
    a scan reusing the last file facts takes the last verdicts without a stat per candidate,
    and still reports the tool; a rewrite of a candidate is an event that matters."""
    from checks.fsview import FsView

    root = build(tmp_path / "img", L, File("{downloads}/tools/run.py", FRIDA_SCRIPT))
    for i in range(50):
        (root / f"home/alice/Downloads/tools/other{i}.py").write_text("print('hello')\n")
    scanner = Scanner(Layout.image(root, L), CATALOGUE)
    scanner.fs.trust_listings = True
    assert "wechat-hook-injector-code" in _ids(scanner.scan())
    candidate = str(root / "home/alice/Downloads/tools/run.py")
    assert scanner.fs.relevant(candidate, False, True)  # its rewrite would be rescanned
    stats: list[str] = []
    real_stat = FsView.stat

    def counting(self: FsView, path: str) -> os.stat_result | None:
        stats.append(path)
        return real_stat(self, path)

    monkeypatch.setattr(FsView, "stat", counting)
    scanner.fs.events_cover_files = True
    again = scanner.scan()
    assert scanner.reused_file_facts
    assert "wechat-hook-injector-code" in _ids(again)
    assert not [p for p in stats if "/Downloads/tools/" in p], stats[:5]


def test_a_scan_reusing_the_last_ones_facts_counts_each_blind_spot_once(tmp_path: Path) -> None:
    """A FIFO where a candidate would be is one blind spot, however many scans for new
    processes (which reuse the file facts) follow: the list must not grow with each."""
    root = build(tmp_path / "img", L, File("{downloads}/tools/run.py", "print('hello')\n"))
    os.mkfifo(root / "home/alice/.ew.json")
    scanner = Scanner(Layout.image(root, L), CATALOGUE)
    first = sorted((b.probe, b.what) for b in scanner.scan().blind_spots)
    scanner.fs.trust_listings = True
    for _ in range(5):
        again = scanner.scan()
    assert scanner.reused_file_facts
    assert sorted((b.probe, b.what) for b in again.blind_spots) == first
    assert any(b.what.endswith(".ew.json") for b in again.blind_spots)


def test_wechats_own_data_folders_are_never_read(tmp_path: Path) -> None:
    """The agent never reads chat data: WeChat's data folders under Documents are not walked,
    even though their own files name db_storage and hold keys beside wxids."""
    key = '{"wxid": "wxid_abc123", "key": "' + "0f" * 32 + '"}'
    root = build(
        tmp_path / "img",
        W,
        File("{documents}/xwechat_files/all_users/config/global_config.json", key),
        File("{documents}/xwechat_files/wxid_abc123/db_storage/message/message_0.db", b"x"),
        File("{documents}/xwechat_files/wxid_abc123/config/paths.json", '"db_storage"'),
        File("{documents}/WeChat Files/wxid_abc123/Msg/Multi/MSG0.db", b"x"),
        File("{documents}/WeChat Files/All Users/config/config.json", key),
    )
    scanner = Scanner(Layout.image(root, W), CATALOGUE)
    result = scanner.scan()
    assert not result.findings, [(f.rule_id, f.evidence) for f in result.findings]
    assert result.stats["content_files_scanned"] == 0


def test_a_home_stuffed_with_programs_costs_each_scan_a_bounded_read(tmp_path: Path) -> None:
    """Many large candidates: each scan reads at most the per-user budget, says what it left,
    and the next scans finish the work (results are kept), finding the tool at the end."""
    from checks.probes import content

    filler = b"\x7fELF" + b"\0" * (256 * 1024)
    items = [File(f"{{downloads}}/junk/p{i:02d}", filler) for i in range(12)]
    items.append(File("{downloads}/junk/zz-helper", _cc(tmp_path, "i", INJECTOR)))
    root = build(tmp_path / "img", L, *items)
    scanner = Scanner(Layout.image(root, L), CATALOGUE)
    first = scanner.scan()
    assert scanner._content is not None
    scanner._content.budget = 5 * 256 * 1024 + 4096  # five fillers per scan
    scanner._content.scanner.results.clear()
    scans = [scanner.scan() for _ in range(4)]
    assert first.stats["content_files_scanned"] == 13
    assert [s.stats["content_bytes_scanned"] <= 5 * 256 * 1024 + 4096 for s in scans] == [True] * 4
    assert any(b.probe == "content" and "budget" in b.reason for b in scans[0].blind_spots)
    assert "wechat-hook-injector-code" not in _ids(scans[0])
    assert "wechat-hook-injector-code" in _ids(scans[-1])
    assert not any("budget" in b.reason for b in scans[-1].blind_spots)
    assert content.BYTES_PER_USER_PER_SCAN >= 1024**3
