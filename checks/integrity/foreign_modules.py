"""Injection: a module mapped into an official client's process from outside its install tree."""

from __future__ import annotations

from checks.identity import ClientIndex
from checks.model import Facts, Platform, TamperFact

# Where the operating system's own libraries live; modules from here are not injections.
# Compared with the path as seen from the scanned machine's root (see `_machine_path`).
_SYSTEM_LIBS: dict[Platform, tuple[str, ...]] = {
    Platform.LINUX: (
        "/usr/lib/",
        "/lib/",
        "/lib64/",
        "/usr/lib64/",
        "/usr/lib32/",
        "/lib32/",
        "/usr/libexec/",
    ),
    Platform.MACOS: ("/system/", "/usr/lib/", "/library/apple/"),
    Platform.WINDOWS: ("c:/windows/", "/windows/"),
}


def collect(facts: Facts, clients: ClientIndex, platform: Platform) -> None:
    approved: dict[int, str] = {}
    for proc in facts.processes:
        client = clients.approved_process(proc)
        if client is not None:
            approved[proc.pid] = client.id
    system = _SYSTEM_LIBS[platform]
    for mod in facts.modules:
        client_id = approved.get(mod.pid)
        if client_id is None:
            continue
        path = mod.path.replace("\\", "/")
        if _is_system(path, clients, platform, system):
            continue
        hit = clients.install_root_of(path)
        if hit is not None and hit[0].id == client_id:
            continue
        facts.tampering.append(
            TamperFact(
                "foreign-module",
                client_id,
                mod.path,
                f"{mod.path} is mapped into {mod.process_name} (pid {mod.pid}) "
                "from outside its install folder",
                pid=mod.pid,
            )
        )


def _is_system(
    path: str, clients: ClientIndex, platform: Platform, system: tuple[str, ...]
) -> bool:
    fold = platform is not Platform.LINUX
    for candidate in (path, _machine_path(path, clients)):
        if (candidate.casefold() if fold else candidate).startswith(system):
            return True
    return False


def _machine_path(path: str, clients: ClientIndex) -> str:
    """The path as the scanned machine sees it: `/usr/lib/…` for `<image root>/usr/lib/…`.

    A recorded or image scan reports paths under the image root; a live scan of `C:\\`
    reports `C:/Windows/…`, which becomes `/Windows/…`.
    """
    rel = clients.layout.relative(path)
    return rel if rel.startswith("/") else "/" + rel
