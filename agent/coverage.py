"""What a scan could see: its coverage, and which unseen findings its blind spots cover.

A finding missing from a scan is resolved only when the scan could have seen it. The store asks
`Blindness.covers(evidence)` for each open finding the scan did not report; the exchange sends
`coverage_of(result)` with the findings batch, which makes the batch incomplete when not whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from checks.model import BlindSpot
from protocol.device_state import Coverage

WHOLE_PROBE = "the whole probe"  # BlindSpot.what of a probe that raised (checks/engine.py)

# Which probes' facts each kind of evidence comes from (checks/judge.py builds the evidence).
# A package can also be an app's package (flatpak, snap): both probes cover it.
EVIDENCE_PROBES: dict[str, tuple[str, ...]] = {
    "file": ("files",),
    "package": ("packages", "apps"),
    "app": ("apps",),
    "autostart": ("autostart",),
    "extension": ("extensions",),
    "process": ("processes",),
    "module": ("processes", "modules"),
    "hash": ("hashes",),
    "integrity": ("integrity",),
    "tamper": ("integrity",),
}

# Limits of what the operating system shows, not of what an employee can hide: kernel threads'
# executables, another namespace, macOS's module lists, a non-root agent's view of other users.
# They are listed in the status but do not make the scan partial.
_INFORMATIONAL_PROBES = {"processes", "modules", "scan"}


def _probe_family(probe: str) -> str:
    return probe.split(":", 1)[0]  # "integrity:macos-bundle" -> "integrity"


def counts_against_coverage(spot: BlindSpot) -> bool:
    """A whole probe that failed, or a file or folder where rules look that was not read."""
    if spot.what == WHOLE_PROBE:
        return True
    return _probe_family(spot.probe) not in _INFORMATIONAL_PROBES


def coverage_of(blind_spots: Iterable[BlindSpot]) -> Coverage:
    failed: set[str] = set()
    spots = 0
    for spot in blind_spots:
        if spot.what == WHOLE_PROBE:
            failed.add(spot.probe)
        elif counts_against_coverage(spot):
            spots += 1
    return Coverage(not failed and not spots, spots, tuple(sorted(failed)))


def _norm(path: str, root: str) -> str:
    """Paths as evidence shows them: relative to the scan root, `/`-separated, no edge slashes."""
    path = path.replace("\\", "/")
    base = root.replace("\\", "/").rstrip("/")
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base) :]
    return path.strip("/")


@dataclass(frozen=True, slots=True)
class Blindness:
    """The blind spots of one scan, ready to answer "could this scan have seen that?"."""

    failed_families: frozenset[str]
    paths: tuple[str, ...]

    @classmethod
    def of(cls, blind_spots: Iterable[BlindSpot], root: str) -> Blindness:
        failed: set[str] = set()
        paths: list[str] = []
        for spot in blind_spots:
            if spot.what == WHOLE_PROBE:
                failed.add(_probe_family(spot.probe))
            elif counts_against_coverage(spot) and ("/" in spot.what or "\\" in spot.what):
                norm = _norm(spot.what, root)
                if norm:
                    paths.append(norm)
        return cls(frozenset(failed), tuple(paths))

    def covers(self, evidence: Iterable[Mapping[str, Any]], root: str) -> bool:
        """True when any of a finding's evidence lies where the scan was blind: its probe
        failed, or its path is a blind path, lies under one, or holds one (a blind
        `node_modules/x/package.json` covers a finding on `node_modules/x`)."""
        for item in evidence:
            kind = str(item.get("kind", ""))
            if any(p in self.failed_families for p in EVIDENCE_PROBES.get(kind, ())):
                return True
            raw = item.get("path")
            if not isinstance(raw, str) or not raw:
                continue
            path = _norm(raw, root)
            for blind in self.paths:
                if path == blind or path.startswith(blind + "/") or blind.startswith(path + "/"):
                    return True
        return False
