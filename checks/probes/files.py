"""Files and folders at the path templates the rules name, expanded for every user."""

from __future__ import annotations

from checks.fsview import Entry
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
    hits: dict[str, int] = {}
    # `{home}/**/x` templates are answered by the one discovery walk of each home (any depth,
    # for every marker at once): walking homes once per template cost (templates x folders).
    for template in templates(ctx):
        hits[template] = 0
        for base, pattern, user in ctx.expand(template):
            parts = segments(pattern)
            if len(parts) > 1 and parts[0] == "**" and "**" not in parts[1:]:
                continue
            with ctx.fs.item("files", base + "/" + pattern):
                for entry in ctx.fs.glob(base, pattern, probe="files"):
                    if not _add(ctx, hits, template, entry, user):
                        break
            if hits[template] >= MAX_HITS_PER_TEMPLATE:
                break
    for template, entry, user in ctx.marks().globstar:
        _add(ctx, hits, template, entry, user)


def _add(ctx: ProbeContext, hits: dict[str, int], template: str, entry: Entry, user: str) -> bool:
    """Record one hit; False once the template has reached its limit."""
    if hits[template] >= MAX_HITS_PER_TEMPLATE:
        return False
    size = entry.size
    if size < 0:
        st = ctx.fs.stat(entry.path)
        size = st.st_size if st is not None else 0
    ctx.facts.files.append(FileFact(entry.path, entry.is_dir, size, template, user))
    hits[template] += 1
    if hits[template] >= MAX_HITS_PER_TEMPLATE:
        ctx.fs.note("files", template, f"more than {MAX_HITS_PER_TEMPLATE} matches")
        return False
    return True


def segments(pattern: str) -> list[str]:
    """A pattern's `/`-separated parts, without empty and `.` parts."""
    return [p for p in pattern.replace("\\", "/").split("/") if p not in ("", ".")]
