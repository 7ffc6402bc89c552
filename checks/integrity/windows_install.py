"""Windows install-folder tell-tales of patchers: backups, renamed executables, stray binaries.

Looked at: each approved client's install folder and the folders right below it (WeChat 3.x
keeps its core in `[3.9.12.51]`, Weixin 4.x in `4.0.x.y`).

- `windows-backup-copy`: a copy of a core file saved by a patcher before it wrote
  (RevokeMsgPatcher's `WeChatWin.dll.h.bak`, WeChatMO's `WeChatWin.bak`).
- `windows-renamed-exe`: a renamed copy of the main program (`WeChat2.exe`, multi-open).
- `windows-unknown-binary`: a DLL named like a system DLL (loaded from the program folder
  first: DLL hijacking), or, in the install folder and its versioned folders, a PE file
  (found by its MZ/PE headers, whatever its extension) that is unsigned or whose
  Authenticode signer is neither the client's vendor nor Microsoft (redistributable
  runtimes). The signer is read, its chain is not verified: see `pe.py`.
- `windows-tampered-binary`: a PE file there signed by the vendor or Microsoft that was
  changed after it was signed (its Authenticode image digest, or the signature over it, no
  longer holds): a core DLL patched in place (anti-recall, multi-open).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from checks.catalogue import ApprovedClient
from checks.fsview import Entry, FsView
from checks.identity import ClientIndex
from checks.integrity import pe
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
        names = (*client.main_executables, *client.core_modules)
        known = {n.casefold() for n in (*client.process_names, *names)}
        stems = {n.casefold().rsplit(".", 1)[0] for n in names}
        allowed = {pe.normalise_signer(s) for s in (*client.signers, *THIRD_PARTY_SIGNERS)}
        for root in install_roots(clients, client, fs):
            found: list[TamperFact] = []
            subfolders = [e for e in fs.listdir(root, "integrity") if e.is_dir and not e.is_symlink]
            folders = [(root, True)] + [
                (e.path, bool(_VERSIONED.match(e.name))) for e in subfolders
            ]
            for folder, check_signer in folders:
                for entry in fs.listdir(folder, "integrity"):
                    if entry.is_dir:
                        continue
                    # One file that cannot be examined is a blind spot; the install goes on.
                    with fs.item("integrity", entry.path):
                        fact = _inspect(fs, client, entry, known, stems, allowed, check_signer)
                        if fact is not None:
                            found.append(fact)
            _emit(facts, found, client, root)


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


def _inspect(
    fs: FsView,
    client: ApprovedClient,
    entry: Entry,
    known: set[str],
    stems: set[str],
    allowed: set[str],
    check_signer: bool,
) -> TamperFact | None:
    name = entry.name.casefold()
    if _BACKUP.search(name) and any(name.startswith(s) for s in stems):
        return TamperFact(
            "windows-backup-copy",
            client.id,
            entry.path,
            f"{entry.name}: a backup copy beside the program's core files (left by a patcher)",
        )
    if name.endswith(".exe") and name not in known and any(name.startswith(s) for s in stems):
        return TamperFact(
            "windows-renamed-exe",
            client.id,
            entry.path,
            f"{entry.name}: a renamed copy of the main program (used to run several instances)",
        )
    reasons: list[str] = []
    if name in _HIJACK_NAMES:
        reasons.append(
            "a system DLL name in the program folder, loaded before the real one (DLL hijacking)"
        )
    if check_signer and not entry.is_symlink:
        problem, tampered = _signer_problem(fs, entry.path, client.signers, allowed)
        if tampered:
            return TamperFact("windows-tampered-binary", client.id, entry.path, problem)
        if problem:
            reasons.append(problem)
    if not reasons:
        return None
    return TamperFact(
        "windows-unknown-binary", client.id, entry.path, f"{entry.name}: " + "; ".join(reasons)
    )


def _signer_problem(
    fs: FsView, path: str, vendor: Iterable[str], allowed: set[str]
) -> tuple[str, bool]:
    """Why this file's signature is suspect ("" if it is not), and whether the file was
    changed after an allowed signer signed it."""
    sig = computed(fs, path, "pe-signer", pe.inspect, reads_whole=False)
    if sig is None or not sig.is_pe:
        return "", False
    name = os.path.basename(path)
    if not sig.signed:
        return "an unsigned program file (the vendor signs every program file it ships)", False
    if sig.signer is None:
        return f"a program file whose signature cannot be read ({sig.problem})", False
    names = {
        pe.normalise_signer(sig.signer.organization),
        pe.normalise_signer(sig.signer.common_name),
    }
    if names & allowed:
        # Imported here: asn1crypto is only worth its memory where a Windows install is checked.
        from checks.integrity import authenticode

        check = computed(fs, path, "pe-image", authenticode.verify_image)
        if check is not None and check.verified and not check.intact:
            who = sig.signer.organization or sig.signer.common_name
            return f"{name}: signed by {who!r} but {check.problem}", True
        if check is not None and not check.verified:
            fs.note("integrity", path, f"its signature could not be verified: {check.problem}")
        return "", False
    who = sig.signer.organization or sig.signer.common_name or sig.signer.subject or "nobody"
    vendors = " / ".join(dict.fromkeys(vendor)) or "the vendor"
    return (
        f"signed by {who!r}, not by {vendors} or Microsoft (subject: {sig.signer.subject})",
        False,
    )
