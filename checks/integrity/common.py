"""Helpers the integrity checks share: where an approved client is installed, on disk."""

from __future__ import annotations

from checks.catalogue import ApprovedClient
from checks.fsview import FsView
from checks.identity import ClientIndex

# Findings per install before the rest are summed up in one: a thousand findings about one
# re-signed bundle help nobody.
MAX_FACTS_PER_INSTALL = 50


def install_roots(clients: ClientIndex, client: ApprovedClient, fs: FsView) -> list[str]:
    """The client's install folders that exist, spelled as they are on disk.

    `ClientIndex.roots` holds comparison keys (case-folded on macOS and Windows), which are
    not openable paths when a case-insensitive image is scanned from a case-sensitive host;
    here the templates are expanded again through `fs.glob`, which matches names the way the
    image's platform does and yields the real spelling.
    """
    found: list[str] = []
    for template in client.install_paths:
        try:
            expanded = list(clients.layout.expand(template))
        except ValueError:
            continue
        for base, pattern, _user in expanded:
            if not pattern:
                if fs.is_dir(base):
                    found.append(base)
                continue
            found.extend(e.path for e in fs.glob(base, pattern, "integrity") if e.is_dir)
    return list(dict.fromkeys(found))
