"""Files and folders at the path templates the rules name, expanded for every user."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase

from checks.fsview import _GLOBSTAR_PRUNE, MAX_GLOBSTAR_DEPTH, Entry, FsView
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
    # `{home}/**/x` templates are answered by one walk per folder for all of them: walking the
    # homes once per template made a scan cost (templates x folders) directory reads.
    globstar: dict[tuple[str, str], list[tuple[str, list[str]]]] = {}
    for template in templates(ctx):
        hits[template] = 0
        for base, pattern, user in ctx.expand(template):
            segments = _segments(pattern)
            if len(segments) > 1 and segments[0] == "**" and "**" not in segments[1:]:
                globstar.setdefault((base, user), []).append((template, segments[1:]))
                continue
            with ctx.fs.item("files", base + "/" + pattern):
                for entry in ctx.fs.glob(base, pattern, probe="files"):
                    if not _add(ctx, hits, template, entry, user):
                        break
            if hits[template] >= MAX_HITS_PER_TEMPLATE:
                break
    for (base, user), wanted in globstar.items():
        with ctx.fs.item("files", base):
            for template, entry in _globstar_many(ctx.fs, base, wanted):
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


def _segments(pattern: str) -> list[str]:
    return [p for p in pattern.replace("\\", "/").split("/") if p not in ("", ".")]


def _globstar_many(
    fs: FsView, base: str, wanted: list[tuple[str, list[str]]]
) -> Iterator[tuple[str, Entry]]:
    """(template, entry) for every `base/**/<rest>` wanted, walking the tree under base once.

    Same semantics as FsView.glob for one such pattern: `**` is the base itself and folders
    down to MAX_GLOBSTAR_DEPTH below it, never through symlinks, pruned folders or a loop.
    """
    fold = fs.case_insensitive
    literal: dict[str, list[tuple[str, list[str]]]] = {}
    magic: list[tuple[str, str, list[str]]] = []
    for template, rest in wanted:
        head = rest[0]
        if "*" in head or "?" in head:
            pattern = (head.casefold() if fold else head).replace("[", "[[]")
            magic.append((pattern, template, rest[1:]))
        else:
            literal.setdefault(head.casefold() if fold else head, []).append((template, rest[1:]))
    for folder in _walk(fs, base, 0, set()):
        for entry in fs.listdir(folder, "files"):
            name = entry.name.casefold() if fold else entry.name
            targets = list(literal.get(name, ()))
            targets.extend((t, r) for p, t, r in magic if fnmatchcase(name, p))
            for template, remaining in targets:
                if not remaining:
                    yield template, entry
                elif entry.is_dir:
                    for found in fs.glob(entry.path, "/".join(remaining), probe="files"):
                        yield template, found


def _walk(fs: FsView, base: str, depth: int, seen: set[tuple[int, int]]) -> Iterator[str]:
    yield base
    if depth >= MAX_GLOBSTAR_DEPTH:
        return
    for entry in fs.listdir(base, "files"):
        if not entry.is_dir or entry.is_symlink or entry.name.lower() in _GLOBSTAR_PRUNE:
            continue
        key = (entry.ino, entry.mtime_ns)
        if entry.ino and key in seen:
            continue  # a bind mount or hard-linked loop
        seen.add(key)
        yield from _walk(fs, entry.path, depth + 1, seen)
