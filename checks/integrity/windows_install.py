"""Windows install-folder tell-tales of patchers: backups, renamed executables, stray binaries.

Looked at: each approved client's install folder and the folders right below it (WeChat 3.x
keeps its core in `[3.9.12.51]`, Weixin 4.x in `4.0.x.y`). Files are judged by identity,
never by name: who signed them (an Authenticode signer counts only when its certificate
chain verifies to a trust anchor, `checks.trust`) and what they are (their bytes).

- `windows-backup-copy`: a copy of a core file saved by a patcher before it wrote
  (RevokeMsgPatcher's `WeChatWin.dll.h.bak`, WeChatMO's `WeChatWin.bak`).
- `windows-renamed-exe`: a copy of the main program under another name (`WeChat2.exe`,
  multi-open): the same bytes as a main executable of the install, or signed by the vendor
  (verified chain) with a main executable's name as its OriginalFilename (another version
  of the main program, copied in). A vendor program with its own name
  (`WechatAppLauncher.exe`) is not a copy.
- `windows-unknown-binary`: a PE file (found by its headers, whatever its extension) in the
  install folder or its versioned folders that is not signed by the vendor or Microsoft
  through a verified chain and is not one of the form's official unsigned files
  (`bundled_files`); anywhere in the install, a DLL named like a system DLL (DLL hijacking)
  that is neither such a signed file nor on that list.
- `windows-tampered-binary`: the main program or a core library that is unsigned, not signed
  by the vendor through a verified chain, or changed after it was signed; any vendor- or
  Microsoft-signed file changed after it was signed (patched in place).

Each detail says what was expected and what was found, in Chinese and English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.catalogue import ApprovedClient
from checks.fsview import Entry, FsView
from checks.identity import ClientIndex
from checks.integrity import pe, pe_version
from checks.integrity.common import MAX_FACTS_PER_INSTALL, install_roots
from checks.integrity.filecache import computed
from checks.model import Facts, TamperFact

_BACKUP = re.compile(
    r"\.(bak|orig|original|backup|old|process)$|[._-]backup|\.bak\.", re.IGNORECASE
)
# Folders named by a version: `[3.9.12.51]` (WeChat 3.x), `4.0.3.22` (Weixin 4.x).
_VERSIONED = re.compile(r"^\[?\d+(\.\d+){1,3}\]?$")
# Signers besides the client's own whose files an official install ships (VC++ runtimes).
THIRD_PARTY_SIGNERS = ("Microsoft Corporation",)
# DLL names that Windows loads from the program's own folder first: a classic way to inject.
_HIJACK_NAMES = {
    "version.dll",
    "winmm.dll",
    "winhttp.dll",
    "dbghelp.dll",
    "dinput8.dll",
    "d3d9.dll",
    "dwmapi.dll",
    "uxtheme.dll",
    "wtsapi32.dll",
    "iphlpapi.dll",
    "userenv.dll",
    "msimg32.dll",
    "hid.dll",
}


def collect(facts: Facts, clients: ClientIndex, fs: FsView) -> None:
    for client in clients.clients:
        if not client.main_executables and not client.core_modules:
            continue
        judge = _Judge(fs, clients, client)
        for root in install_roots(clients, client, fs):
            found: list[TamperFact] = []
            subfolders = [e for e in fs.listdir(root, "integrity") if e.is_dir and not e.is_symlink]
            folders = [(root, True)] + [
                (e.path, bool(_VERSIONED.match(e.name))) for e in subfolders
            ]
            entries = [
                (entry, check_signer)
                for folder, check_signer in folders
                for entry in fs.listdir(folder, "integrity")
                if not entry.is_dir
            ]
            judge.mains = [e for e, _ in entries if e.name.casefold() in judge.main_names]
            for entry, check_signer in entries:
                # One file that cannot be examined is a blind spot; the install goes on.
                with fs.item("integrity", entry.path):
                    fact = judge.inspect(entry, check_signer)
                    if fact is not None:
                        found.append(fact)
            _emit(facts, found, client, root)


def why(expected_zh: str, expected_en: str, found: str) -> str:
    """The part of a detail that says what identity was expected and what was found."""
    return f"期望 expected: {expected_zh} / {expected_en}; 实际 found: {found}"


def _emit(facts: Facts, found: list[TamperFact], client: ApprovedClient, root: str) -> None:
    facts.tampering.extend(found[:MAX_FACTS_PER_INSTALL])
    extra = len(found) - MAX_FACTS_PER_INSTALL
    if extra > 0:
        facts.tampering.append(
            TamperFact(
                "windows-unknown-binary",
                client.id,
                root,
                f"and {extra} more suspicious files in this install folder, not listed one by one",
            )
        )


@dataclass(slots=True)
class _Signed:
    """What a PE file's signature proves: nothing (unsigned), a signer, or a problem."""

    is_pe: bool
    signed: bool = False
    who: str = ""  # organisation or common name, as the certificate says
    subject: str = ""
    trusted: bool = False  # the chain verifies to a trust anchor
    chain_problem: str = ""
    problem: str = ""  # a signature that is there but cannot be read

    def found(self) -> str:
        if not self.signed:
            return "未签名 unsigned"
        if self.problem:
            return f"签名无法读取 unreadable signature ({self.problem})"
        chain = "链已验证 chain verified" if self.trusted else f"链未验证 ({self.chain_problem})"
        return f"signer {self.who!r} [{self.subject}], {chain}"


class _Judge:
    def __init__(self, fs: FsView, clients: ClientIndex, client: ApprovedClient) -> None:
        self.fs = fs
        self.clients = clients
        self.client = client
        names = (*client.main_executables, *client.core_modules)
        self.main_names = {n.casefold() for n in client.main_executables}
        self.core_names = {n.casefold() for n in names}
        self.known = {n.casefold() for n in (*client.process_names, *names)}
        self.stems = {n.casefold().rsplit(".", 1)[0] for n in names}
        self.vendor = {pe.normalise_signer(s) for s in client.signers}
        self.third = {pe.normalise_signer(s) for s in THIRD_PARTY_SIGNERS}
        self.bundled = {n.casefold() for n in client.bundled_files}
        self.vendors = " / ".join(dict.fromkeys(client.signers)) or "the vendor"
        self.mains: list[Entry] = []  # the main executables of the install being looked at

    def copy_of_main(self, entry: Entry) -> str:
        """The digest `entry` shares with a main executable; "" when it is no copy. Sizes
        first: a main program of hundreds of MB is hashed only when a same-size file exists."""
        st = self.fs.stat(entry.path)
        if st is None:
            return ""
        digest = ""
        for main in self.mains:
            main_st = self.fs.stat(main.path)
            if main_st is None or main_st.st_size != st.st_size or main.is_symlink:
                continue
            digest = digest or (self.fs.sha256(entry.path, "integrity") or "")
            if digest and digest == self.fs.sha256(main.path, "integrity"):
                return digest
        return ""

    def main_by_identity(self, entry: Entry) -> str:
        """What makes `entry` the main program under another name, though its bytes differ
        (another version, or re-stamped): signed by the vendor through a verified chain
        *and* its version resource's OriginalFilename is a main executable's name. Either
        alone proves nothing (every vendor helper is vendor-signed; anyone can write the
        version strings). "" when it is not."""
        sig = self._signed(entry.path)
        if sig is None or not sig.trusted or pe.normalise_signer(sig.who) not in self.vendor:
            return ""
        strings = computed(
            self.fs, entry.path, "pe-version", pe_version.version_strings, reads_whole=False
        )
        original = (strings or {}).get("OriginalFilename", "")
        if original.casefold() not in self.main_names:
            return ""
        return f"{sig.found()}; OriginalFilename {original!r}"

    def inspect(self, entry: Entry, check_signer: bool) -> TamperFact | None:
        name = entry.name.casefold()
        client = self.client
        if _BACKUP.search(name) and any(name.startswith(s) for s in self.stems):
            return TamperFact(
                "windows-backup-copy",
                client.id,
                entry.path,
                f"{entry.name}: a backup copy beside the program's core files (left by a patcher)",
            )
        if entry.is_symlink:
            return None
        if name.endswith(".exe") and name not in self.known:
            digest = self.copy_of_main(entry)
            found = f"the same bytes (sha256 {digest[:16]}…) as {entry.name}" if digest else ""
            if not found:
                found = self.main_by_identity(entry)
            if found:
                return TamperFact(
                    "windows-renamed-exe",
                    client.id,
                    entry.path,
                    f"{entry.name}: a renamed copy of the main program (used to run several "
                    "instances); "
                    + why(
                        "主程序只以其官方文件名存在",
                        f"the main program only as {' / '.join(client.main_executables)}",
                        found,
                    ),
                )
        hijack = name in _HIJACK_NAMES
        core = name in self.core_names
        if not (check_signer or hijack or core):
            return None
        sig = self._signed(entry.path)
        if sig is None or not sig.is_pe:
            return None
        by_vendor = sig.trusted and pe.normalise_signer(sig.who) in self.vendor
        if core:
            if by_vendor:
                return self._intact(entry, sig)
            return TamperFact(
                "windows-tampered-binary",
                client.id,
                entry.path,
                f"{entry.name}: the client's own program is not signed by its vendor; "
                + why(
                    f"由 {self.vendors} 签名且链可验证",
                    f"signed by {self.vendors}, chain verified",
                    sig.found(),
                ),
            )
        if sig.trusted and (by_vendor or pe.normalise_signer(sig.who) in self.third):
            return self._intact(entry, sig)
        if not sig.signed and name in self.bundled:
            return None  # an official unsigned library of this form
        reasons: list[str] = []
        if hijack:
            reasons.append(
                "a system DLL name in the program folder, loaded before the real one "
                "(DLL hijacking)"
            )
        if not sig.signed:
            reasons.append("an unsigned program file that is not on the official file list")
        elif sig.problem:
            reasons.append("a program file whose signature cannot be read")
        elif not sig.trusted:
            reasons.append(f"signed by {sig.who!r}, but its certificate chain does not verify")
        else:
            reasons.append(f"signed by {sig.who!r}, not by {self.vendors} or Microsoft")
        return TamperFact(
            "windows-unknown-binary",
            client.id,
            entry.path,
            f"{entry.name}: "
            + "; ".join(reasons)
            + "; "
            + why(
                f"由 {self.vendors} 或 Microsoft 签名（链可验证），或在官方文件清单中",
                f"signed by {self.vendors} or Microsoft (verified chain), or on the official "
                "file list",
                sig.found(),
            ),
        )

    def _signed(self, path: str) -> _Signed | None:
        sig = computed(self.fs, path, "pe-signer", pe.inspect, reads_whole=False)
        if sig is None:
            return None
        if not sig.is_pe:
            return _Signed(False)
        if not sig.signed:
            return _Signed(True)
        if sig.signer is None:
            return _Signed(True, True, problem=sig.problem)
        who = sig.signer.organization or sig.signer.common_name or sig.signer.subject
        out = _Signed(True, True, who=who, subject=sig.signer.subject)
        certs = sig.certificates()
        if certs is not None:
            check = self.clients.trust.verify(*certs)
            out.trusted = check.trusted
            out.chain_problem = check.problem
        return out

    def _intact(self, entry: Entry, sig: _Signed) -> TamperFact | None:
        # Imported here: asn1crypto is only worth its memory where a Windows install is checked.
        from checks.integrity import authenticode

        check = computed(self.fs, entry.path, "pe-image", authenticode.verify_image)
        if check is not None and check.verified and not check.intact:
            return TamperFact(
                "windows-tampered-binary",
                self.client.id,
                entry.path,
                f"{entry.name}: signed by {sig.who!r} but {check.problem}; "
                + why("签名后未被修改", "unchanged since it was signed", check.problem),
            )
        if check is not None and not check.verified:
            self.fs.note(
                "integrity", entry.path, f"its signature could not be verified: {check.problem}"
            )
        return None
