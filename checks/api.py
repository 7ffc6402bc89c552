"""The engine's entry points: scan the live machine or an offline image in one call."""

from __future__ import annotations

import os
import sys

from checks.catalogue import Catalogue, load_builtin
from checks.engine import Scanner
from checks.layout import Layout
from checks.model import BlindSpot, Platform, ScanResult
from checks.probes.processes import PsutilProcessSource


def live_scanner(catalogue: Catalogue | None = None) -> Scanner:
    """A scanner for this machine, with its running processes."""
    return Scanner(Layout.live_machine(), catalogue or load_builtin(), PsutilProcessSource())


def image_scanner(
    root: str, platform: Platform | str, catalogue: Catalogue | None = None
) -> Scanner:
    """A scanner for an offline image (raises LayoutError with a bilingual message)."""
    return Scanner(Layout.image(root, platform), catalogue or load_builtin(), None)


def scan_live(catalogue: Catalogue | None = None) -> ScanResult:
    result = live_scanner(catalogue).scan()
    result.blind_spots.extend(privilege_blind_spots())
    return result


def scan_image(
    root: str, platform: Platform | str, catalogue: Catalogue | None = None
) -> ScanResult:
    return image_scanner(root, platform, catalogue).scan()


def privilege_blind_spots() -> list[BlindSpot]:
    """What a scan without administrator rights cannot see, said plainly."""
    if sys.platform == "win32" or os.geteuid() == 0:
        return []  # on Windows the agent runs as LocalSystem; what it cannot open, it says
    return [
        BlindSpot(
            "scan",
            "other users",
            "running without root: other users' processes, injected modules and unreadable homes are not fully visible",
        )
    ]
