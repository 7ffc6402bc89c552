"""What every probe receives: the layout, the cached file system view and the catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checks.catalogue import Catalogue
from checks.fsview import FsView
from checks.layout import Layout
from checks.model import Facts

if TYPE_CHECKING:
    from checks.probes.discovery import Marks


@dataclass(slots=True)
class ProbeContext:
    layout: Layout
    fs: FsView
    catalogue: Catalogue
    facts: Facts
    _marks: Marks | None = field(default=None, repr=False)

    def marks(self) -> Marks:
        """What the one discovery walk of every home found (walked on first use per scan)."""
        if self._marks is None:
            from checks.probes.discovery import discover

            self._marks = discover(self)
        return self._marks

    def expand(self, template: str) -> list[tuple[str, str, str]]:
        """(base, pattern, user) for a template; an unknown variable on this platform is none."""
        try:
            return list(self.layout.expand(template))
        except ValueError:
            return []

    def places(self, template: str) -> list[tuple[str, str]]:
        """(folder or file, user) for every existing place a template names (globs allowed)."""
        out: list[tuple[str, str]] = []
        for base, pattern, user in self.expand(template):
            if not pattern:
                out.append((base, user))
            elif "*" in pattern or "?" in pattern:
                out.extend((e.path, user) for e in self.fs.glob(base, pattern) if e.is_dir)
            else:
                out.append((base.rstrip("/") + "/" + pattern, user))
        return out
