"""Files and folders at the path templates the rules name, expanded for every user."""

from __future__ import annotations

from checks.model import FileFact
from checks.probes.base import ProbeContext

# A template that matches more than this is a bad rule, not a machine full of plugins.
MAX_HITS_PER_TEMPLATE = 500


def templates(ctx: ProbeContext) -> list[str]:
    """Every path template the active rules name on this platform, in a stable order."""
    platform = ctx.layout.platform
    found: dict[str, None] = {}
    for rule in ctx.catalogue.rules_for(platform):
        for m in rule.matches:
            if m.type in ("path", "sha256") and m.path and m.applies_to(platform, rule.platforms):
                found[m.path] = None
    return list(found)


def collect(ctx: ProbeContext) -> None:
    for template in templates(ctx):
        hits = 0
        for base, pattern, user in ctx.expand(template):
            for entry in ctx.fs.glob(base, pattern, probe="files"):
                ctx.facts.files.append(
                    FileFact(entry.path, entry.is_dir, entry.size, template, user)
                )
                hits += 1
                if hits >= MAX_HITS_PER_TEMPLATE:
                    ctx.fs.note("files", template, f"more than {MAX_HITS_PER_TEMPLATE} matches")
                    break
            if hits >= MAX_HITS_PER_TEMPLATE:
                break
