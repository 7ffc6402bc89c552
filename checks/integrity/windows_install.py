"""Windows install-folder tell-tales of patchers: backups, renamed executables, stray binaries."""

from __future__ import annotations

import re

from checks.fsview import Entry, FsView
from checks.identity import ClientIndex
from checks.model import Facts, TamperFact

_BACKUP = re.compile(
    r"\.(bak|orig|original|backup|old|process)$|[._-]backup|\.bak\.", re.IGNORECASE
)
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
        known = {
            n.casefold()
            for n in (*client.process_names, *client.main_executables, *client.core_modules)
        }
        stems = {
            n.casefold().rsplit(".", 1)[0] for n in (*client.main_executables, *client.core_modules)
        }
        for root in clients.roots.get(client.id, []):
            folders = [root] + [e.path for e in fs.listdir(root, "integrity") if e.is_dir]
            for folder in folders:
                for entry in fs.listdir(folder, "integrity"):
                    if not entry.is_dir:
                        _inspect(facts, client.id, entry, known, stems)


def _inspect(facts: Facts, client_id: str, entry: Entry, known: set[str], stems: set[str]) -> None:
    name = entry.name.casefold()
    if _BACKUP.search(name) and any(name.startswith(s) for s in stems):
        facts.tampering.append(
            TamperFact(
                "windows-backup-copy",
                client_id,
                entry.path,
                f"{entry.name}: a backup copy beside the program's core files (left by a patcher)",
            )
        )
        return
    if name.endswith(".exe") and name not in known and any(name.startswith(s) for s in stems):
        facts.tampering.append(
            TamperFact(
                "windows-renamed-exe",
                client_id,
                entry.path,
                f"{entry.name}: a renamed copy of the main program (used to run several instances)",
            )
        )
        return
    if name in _HIJACK_NAMES:
        facts.tampering.append(
            TamperFact(
                "windows-unknown-binary",
                client_id,
                entry.path,
                f"{entry.name}: a system DLL name in the program folder, loaded before the real one (DLL hijacking)",
            )
        )
