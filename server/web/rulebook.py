"""The rules the agent ships, as the dashboard names them: titles and categories in both
languages for the policy form's rule list and for pages that show a rule id."""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RuleName:
    id: str
    zh: str
    en: str
    category: str
    severity: str

    def title(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@functools.cache
def builtin_rules() -> tuple[RuleName, ...]:
    """Every shipped rule (`checks.catalogue.load_builtin`), ordered by category then id;
    empty when the engine is not installed next to the server."""
    try:
        from checks.catalogue import load_builtin
    except ImportError:
        return ()
    rules = [
        RuleName(r.id, r.title.zh, r.title.en, str(r.category), str(r.severity))
        for r in load_builtin().rules
    ]
    return tuple(sorted(rules, key=lambda r: (r.category, r.id)))


@functools.cache
def _by_id() -> dict[str, RuleName]:
    return {r.id: r for r in builtin_rules()}


def rule_title(rule_id: str, lang: str, fallback: str = "") -> str:
    """The rule's title in `lang`, else `fallback`, else the id itself."""
    known = _by_id().get(rule_id)
    return known.title(lang) if known else (fallback or rule_id)
