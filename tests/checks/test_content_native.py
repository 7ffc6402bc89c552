"""Content rules on real Windows (PE) and macOS (Mach-O) programs, not on stubs.

The tools are built here with real cross toolchains from Debian: MinGW-w64 (PE32+ programs
and DLLs whose imports are in their import tables, as a tool's are) and clang with lld's
Mach-O linker (thin x86_64 and arm64 programs bound to /usr/lib/libSystem.B.dylib, and a
universal file made by llvm-lipo). What the rules look for is what such a tool carries: the
names of the imports it calls (CreateRemoteThread, task_for_pid, …), the WeChat module or
bundle it aims at, an SDK's exported names. The clean side is real software built elsewhere:
the Windows and macOS builds of selenium-manager that the selenium wheel ships (Rust
programs, the macOS one a universal file), setuptools' and pip's Windows launchers, and
programs built here that carry one half of a rule only.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pefile
import pytest

from checks.api import scan_image
from checks.catalogue import load_builtin
from checks.model import Platform, ScanResult
from tests.checks.images import File, build

CATALOGUE = load_builtin()
M, W = Platform.MACOS, Platform.WINDOWS
MINGW = shutil.which("x86_64-w64-mingw32-gcc")
CLANG = shutil.which("clang-14") or shutil.which("clang")
LD64 = shutil.which("ld64.lld-14") or shutil.which("ld64.lld")
LIPO = shutil.which("llvm-lipo-14", path="/usr/lib/llvm-14/bin:" + os.environ["PATH"]) or (
    shutil.which("llvm-lipo", path="/usr/lib/llvm-14/bin:" + os.environ["PATH"])
)
needs_mingw = pytest.mark.skipif(MINGW is None, reason="needs gcc-mingw-w64-x86-64-win32")
needs_clang = pytest.mark.skipif(
    CLANG is None or LD64 is None or LIPO is None,
    reason="needs clang-14, lld-14 (ld64.lld) and llvm-14 (llvm-lipo)",
)


def _package_dir(name: str) -> Path:
    """Where an installed package's files are, without importing it (setuptools' import
    would replace distutils in this process)."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


SELENIUM = _package_dir("selenium") / "webdriver/common"


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


def _mingw(tmp: Path, name: str, source: str, *flags: str) -> bytes:
    """A Windows program (or with -shared a DLL) built by MinGW-w64, stripped as released."""
    assert MINGW is not None
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = tmp / name
    cmd = [MINGW, "-O2", "-s", "-o", str(out), str(src), *flags]
    subprocess.run(cmd, check=True, timeout=120)
    return out.read_bytes()


# The import stubs a macOS program is linked against: text stubs (.tbd, TBD v4, as Apple's
# SDK ships them, https://github.com/apple-oss-distributions/tapi) naming the functions the
# programs below call; the programs bind them at run time from libSystem and libsqlite3.
LIBSYSTEM_TBD = """--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos ]
install-name:    '/usr/lib/libSystem.B.dylib'
current-version: 1311
exports:
  - targets:         [ x86_64-macos, arm64-macos ]
    symbols:         [ _task_for_pid, _mach_vm_write, _mach_vm_read_overwrite,
                       _mach_vm_allocate, _mach_task_self_, _printf, _puts, _dlopen,
                       _setenv, _execv, ___stack_chk_fail, ___stack_chk_guard,
                       dyld_stub_binder ]
...
"""
LIBSQLITE_TBD = """--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos ]
install-name:    '/usr/lib/libsqlite3.dylib'
current-version: 321
exports:
  - targets:         [ x86_64-macos, arm64-macos ]
    symbols:         [ _sqlite3_open, _sqlite3_exec ]
...
"""


def _macho(tmp: Path, name: str, source: str, dylib: bool = False) -> bytes:
    """A universal (x86_64 + arm64) macOS program or dylib: each slice compiled by clang for
    macOS 11 and linked by lld's Mach-O linker against the stubs of libSystem and libsqlite3."""
    assert CLANG is not None and LD64 is not None and LIPO is not None
    src = tmp / f"{name}.c"
    src.write_text(source)
    stubs = [tmp / "libSystem.tbd", tmp / "libsqlite3.tbd"]
    stubs[0].write_text(LIBSYSTEM_TBD)
    stubs[1].write_text(LIBSQLITE_TBD)
    slices = []
    for arch in ("x86_64", "arm64"):
        obj = tmp / f"{name}.{arch}.o"
        out = tmp / f"{name}.{arch}"
        target = f"{arch}-apple-macos11"
        subprocess.run(
            [CLANG, "-target", target, "-O1", "-ffreestanding", "-c", str(src), "-o", str(obj)],
            check=True,
            timeout=120,
        )
        link = [LD64, "-arch", arch, "-platform_version", "macos", "11.0", "11.0"]
        if dylib:
            link += ["-dylib", "-install_name", f"@rpath/{name}"]
        link += ["-o", str(out), str(obj), *map(str, stubs)]
        subprocess.run(link, check=True, timeout=120)
        slices.append(str(out))
    fat = tmp / name
    subprocess.run([LIPO, "-create", *slices, "-output", str(fat)], check=True, timeout=60)
    return fat.read_bytes()


def _imports(data: bytes) -> set[str]:
    """The functions a PE file imports (pefile), to show that a fixture carries the marker
    where a real tool does: in its import table, not in a string put there for the test."""
    pe = pefile.PE(data=data)
    return {
        imp.name.decode()
        for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])
        for imp in entry.imports
        if imp.name
    }


def _exports(data: bytes) -> set[str]:
    pe = pefile.PE(data=data)
    export = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    return {s.name.decode() for s in export.symbols if s.name} if export else set()


def _found(result: ScanResult) -> dict[str, set[str]]:
    """rule id -> the paths it was found at."""
    out: dict[str, set[str]] = {}
    for f in result.findings:
        out.setdefault(f.rule_id, set()).update(e.path for e in f.evidence)
    return out


WIN_INJECTOR = r"""
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
/* The classic injector: open WeChat, write the DLL's path into it, and start LoadLibraryW
   there on a remote thread once WeChatWin.dll is loaded. */
int wmain(int argc, wchar_t **argv) {
    if (argc < 3) { puts("usage: helper <pid> <dll>"); return 2; }
    DWORD pid = (DWORD)_wtoi(argv[1]);
    HANDLE h = OpenProcess(PROCESS_ALL_ACCESS, FALSE, pid);
    if (!h) return 1;
    if (!GetModuleHandleW(L"WeChatWin.dll")) { /* checked in the target below */ }
    SIZE_T n = (wcslen(argv[2]) + 1) * sizeof(wchar_t);
    LPVOID mem = VirtualAllocEx(h, NULL, n, MEM_COMMIT, PAGE_READWRITE);
    WriteProcessMemory(h, mem, argv[2], n, NULL);
    LPTHREAD_START_ROUTINE start = (LPTHREAD_START_ROUTINE)GetProcAddress(
        GetModuleHandleW(L"kernel32.dll"), "LoadLibraryW");
    HANDLE t = CreateRemoteThread(h, NULL, 0, start, mem, 0, NULL);
    WaitForSingleObject(t, INFINITE);
    return 0;
}
"""
WIN_HOOK_DLL = r"""
#include <windows.h>
/* A DLL loaded into WeChat that hooks its window procedure and keyboard. */
static HHOOK hook;
static LRESULT CALLBACK on_key(int code, WPARAM w, LPARAM l) {
    return CallNextHookEx(hook, code, w, l);
}
__declspec(dllexport) BOOL start(void) {
    HMODULE core = GetModuleHandleA("WeChatWin.dll");
    if (!core) return FALSE;
    hook = SetWindowsHookExW(WH_KEYBOARD, on_key, core, 0);
    return hook != NULL;
}
BOOL WINAPI DllMain(HINSTANCE inst, DWORD why, LPVOID reserved) { return TRUE; }
"""
WIN_SDK_DLL = r"""
#include <windows.h>
/* WeChatFerry's sdk.dll interface (lich0821/WeChatFerry WeChatFerry/sdk/sdk.h):
   int WxInitSDK(bool debug, int port); int WxDestroySDK(); it injects spy.dll. */
__declspec(dllexport) int WxInitSDK(int debug, int port) {
    return LoadLibraryA("spy.dll") != NULL ? port : -1;
}
__declspec(dllexport) int WxDestroySDK(void) { return 0; }
BOOL WINAPI DllMain(HINSTANCE inst, DWORD why, LPVOID reserved) { return TRUE; }
"""
WIN_DECRYPTOR = r"""
#include <windows.h>
#include <stdio.h>
/* Reads the key out of WeChat's memory (at an offset into WeChatWin.dll) and decrypts the
   message databases under "WeChat Files\<wxid>\Msg\Multi\MSG0.db". */
int main(int argc, char **argv) {
    HANDLE h = OpenProcess(PROCESS_VM_READ, FALSE, (DWORD)atoi(argv[1]));
    unsigned char key[32];
    SIZE_T got = 0;
    HMODULE core = GetModuleHandleA("WeChatWin.dll");
    ReadProcessMemory(h, (char *)core + 0x5a3e5c8, key, sizeof key, &got);
    printf("%s\\%s\n", "WeChat Files", "Msg\\Multi\\MSG0.db");
    return got == sizeof key ? 0 : 1;
}
"""
WIN_LAUNCHER = r"""
#include <windows.h>
#include <shellapi.h>
/* Starts WeChat and waits: names the client, does nothing to it. */
int main(void) {
    SHELLEXECUTEINFOA info = {sizeof info, SEE_MASK_NOCLOSEPROCESS};
    info.lpFile = "C:\\Program Files\\Tencent\\WeChat\\WeChat.exe";
    info.nShow = SW_SHOW;
    if (!ShellExecuteExA(&info)) return 1;
    WaitForSingleObject(info.hProcess, INFINITE);
    return GetModuleHandleA("WeChatWin.dll") != NULL;
}
"""
WIN_DEBUGGER = r"""
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
/* A debugger's helper: injects into any process it is given, names no WeChat module. */
int main(int argc, char **argv) {
    HANDLE h = OpenProcess(PROCESS_ALL_ACCESS, FALSE, (DWORD)atoi(argv[1]));
    LPVOID mem = VirtualAllocEx(h, NULL, 4096, MEM_COMMIT, PAGE_READWRITE);
    WriteProcessMemory(h, mem, argv[2], 64, NULL);
    HANDLE t = CreateRemoteThread(h, NULL, 0, (LPTHREAD_START_ROUTINE)GetProcAddress(
        GetModuleHandleA("kernel32.dll"), "LoadLibraryA"), mem, 0, NULL);
    printf("%p\n", t);
    return 0;
}
"""

MAC_INJECTOR = r"""
/* Attaches to WeChat with task_for_pid and writes into it (the way macOS WeChat tweaks are
   loaded without insert_dylib). No SDK headers here: the prototypes of libSystem's calls. */
extern int task_for_pid(unsigned target, int pid, unsigned *task);
extern int mach_vm_allocate(unsigned task, unsigned long long *addr, unsigned long long size,
                            int flags);
extern int mach_vm_write(unsigned task, unsigned long long addr, const void *data, unsigned n);
extern unsigned mach_task_self_;
extern int printf(const char *, ...);
static const char *target = "/Applications/WeChat.app/Contents/MacOS/WeChat";
static const char *payload = "@executable_path/../Frameworks/WeChatTweak.dylib";
int main(int argc, char **argv) {
    unsigned task = 0;
    unsigned long long at = 0;
    if (task_for_pid(mach_task_self_, argc, &task) != 0) return 1;
    mach_vm_allocate(task, &at, 4096, 1);
    mach_vm_write(task, at, payload, 64);
    printf("%s\n", target);
    return 0;
}
"""
MAC_DECRYPTOR_DYLIB = r"""
/* Reads the SQLCipher key out of WeChat (com.tencent.xinWeChat) and opens message_0.db. */
extern int mach_vm_read_overwrite(unsigned task, unsigned long long addr, unsigned long long n,
                                  unsigned long long data, unsigned long long *out);
extern int sqlite3_open(const char *path, void **db);
extern int sqlite3_exec(void *db, const char *sql, void *cb, void *arg, char **err);
static const char *container =
    "Library/Containers/com.tencent.xinWeChat/Data/Documents/xwechat_files";
int dump(unsigned task, unsigned long long at) {
    unsigned char key[32];
    unsigned long long got = 0;
    void *db = 0;
    mach_vm_read_overwrite(task, at, 32, (unsigned long long)key, &got);
    sqlite3_open("db_storage/message/message_0.db", &db);
    return sqlite3_exec(db, "PRAGMA key = \"x'...'\";", 0, 0, 0) + (container[0] == 'L');
}
"""
MAC_LAUNCHER = r"""
/* A dock helper that starts WeChat: names the client, touches nothing of it. */
extern int execv(const char *path, char *const argv[]);
extern int puts(const char *);
int main(void) {
    char *argv[] = {"WeChat", 0};
    puts("com.tencent.xinWeChat");
    return execv("/Applications/WeChat.app/Contents/MacOS/WeChat", argv);
}
"""
MAC_DEBUGGER = r"""
/* A debugger: task_for_pid and mach_vm_write on any process, no WeChat named. */
extern int task_for_pid(unsigned target, int pid, unsigned *task);
extern int mach_vm_write(unsigned task, unsigned long long addr, const void *data, unsigned n);
extern unsigned mach_task_self_;
int main(int argc, char **argv) {
    unsigned task = 0;
    if (task_for_pid(mach_task_self_, argc, &task) != 0) return 1;
    return mach_vm_write(task, 0x1000, argv[0], 8);
}
"""


@needs_mingw
def test_real_windows_injector_hook_dll_and_decryptor_are_found(tmp_path: Path) -> None:
    injector = _mingw(tmp_path, "helper.exe", WIN_INJECTOR, "-municode")
    hook = _mingw(tmp_path, "wxhelper.dll", WIN_HOOK_DLL, "-shared")
    decryptor = _mingw(tmp_path, "dump.exe", WIN_DECRYPTOR)
    # The markers are where a real tool has them: in the import table.
    assert {"CreateRemoteThread", "WriteProcessMemory", "VirtualAllocEx"} <= _imports(injector)
    assert "SetWindowsHookExW" in _imports(hook)
    assert "ReadProcessMemory" in _imports(decryptor)
    root = build(
        tmp_path / "img",
        W,
        File("{downloads}/WeChatHelper_v3.9/helper.exe", injector),
        File("{downloads}/WeChatHelper_v3.9/version.dll", hook),
        File("{desktop}/tools/dump.exe", decryptor),
    )
    found = _found(scan_image(str(root), W, CATALOGUE))
    base = "Users/alice/Downloads/WeChatHelper_v3.9"
    assert found.get("wechat-hook-injector-code") == {f"{base}/helper.exe", f"{base}/version.dll"}
    assert found.get("wechat-db-decryptor-code") == {"Users/alice/Desktop/tools/dump.exe"}
    detail = " ".join(
        e.detail
        for f in scan_image(str(root), W, CATALOGUE).findings
        if f.rule_id == "wechat-hook-injector-code"
        for e in f.evidence
    )
    assert "WeChatWin.dll" in detail and "CreateRemoteThread" in detail


@needs_mingw
def test_a_renamed_real_wechatferry_sdk_dll_is_found(tmp_path: Path) -> None:
    sdk = _mingw(tmp_path, "sdk.dll", WIN_SDK_DLL, "-shared")
    assert {"WxInitSDK", "WxDestroySDK"} <= _exports(sdk)
    root = build(tmp_path / "img", W, File("{documents}/bot/native/helper64.dll", sdk))
    found = _found(scan_image(str(root), W, CATALOGUE))
    assert found == {"wechatferry": {"Users/alice/Documents/bot/native/helper64.dll"}}


@needs_mingw
def test_real_windows_programs_with_one_half_and_shipped_launchers_stay_clean(
    tmp_path: Path,
) -> None:
    launcher = _mingw(tmp_path, "launch.exe", WIN_LAUNCHER)
    debugger = _mingw(tmp_path, "dbg.exe", WIN_DEBUGGER)
    assert "CreateRemoteThread" in _imports(debugger)
    shipped = {
        "selenium-manager.exe": (SELENIUM / "windows/selenium-manager.exe").read_bytes(),
    }
    for exe in ("t64.exe", "w64.exe"):
        shipped[f"pip-{exe}"] = (_package_dir("pip") / "_vendor/distlib" / exe).read_bytes()
    for exe in ("cli-64.exe", "gui-64.exe"):
        shipped[f"setuptools-{exe}"] = (_package_dir("setuptools") / exe).read_bytes()
    assert all(data[:2] == b"MZ" and pefile.PE(data=data) for data in shipped.values())
    root = build(
        tmp_path / "img",
        W,
        File("{downloads}/chat-launcher/start.exe", launcher),
        File("{downloads}/tools/dbg.exe", debugger),
        *(File(f"{{downloads}}/shipped/{name}", data) for name, data in shipped.items()),
    )
    result = scan_image(str(root), W, CATALOGUE)
    assert not result.findings, [(f.rule_id, f.evidence) for f in result.findings]
    assert result.stats.get("content_files_scanned", 0) == 2 + len(shipped)


@needs_clang
def test_real_macos_injector_and_decryptor_dylib_are_found(tmp_path: Path) -> None:
    injector = _macho(tmp_path, "wxinject", MAC_INJECTOR)
    dylib = _macho(tmp_path, "libwxkey.dylib", MAC_DECRYPTOR_DYLIB, dylib=True)
    assert injector[:4] == b"\xca\xfe\xba\xbe" and dylib[:4] == b"\xca\xfe\xba\xbe"
    assert b"_task_for_pid" in injector and b"/usr/lib/libSystem.B.dylib" in injector
    root = build(
        tmp_path / "img",
        M,
        File("{downloads}/WeChatTweak-1.2/wxinject", injector),
        File("{home}/bin/libwxkey.dylib", dylib),
    )
    found = _found(scan_image(str(root), M, CATALOGUE))
    assert found.get("wechat-hook-injector-code") == {
        "Users/alice/Downloads/WeChatTweak-1.2/wxinject"
    }
    assert found.get("wechat-db-decryptor-code") == {"Users/alice/bin/libwxkey.dylib"}


@needs_clang
def test_real_macos_programs_with_one_half_and_a_shipped_universal_binary_stay_clean(
    tmp_path: Path,
) -> None:
    root = build(
        tmp_path / "img",
        M,
        File("{downloads}/WeChatDock/launch", _macho(tmp_path, "launch", MAC_LAUNCHER)),
        File("{home}/bin/dbg", _macho(tmp_path, "dbg", MAC_DEBUGGER)),
        File("{downloads}/selenium-manager", (SELENIUM / "macos/selenium-manager").read_bytes()),
    )
    result = scan_image(str(root), M, CATALOGUE)
    assert not result.findings, [(f.rule_id, f.evidence) for f in result.findings]
    assert result.stats.get("content_files_scanned", 0) == 3
