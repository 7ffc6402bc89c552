"""What a person reads about one finding, from its JSON: the fix (an intro and numbered steps)
and the evidence lines, in one language, for the tray, the CLI and the log alike.

Works on findings from any agent: one that sends `remediation_steps` (issue 16) gets its steps
as they are; an older one's flat `remediation` text is shown as one paragraph, never cut into
fragments at every "." (a path such as `~/.ew.json` holds dots).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def pick(texts: Any, lang: str, fallback: str = "") -> str:
    """The `lang` half of a {zh, en} pair (the other half if that one is empty)."""
    if isinstance(texts, Mapping):
        other = "en" if lang == "zh" else "zh"
        value = texts.get(lang) or texts.get(other)
        return str(value) if value else fallback
    return fallback


def fix_of(finding: Mapping[str, Any], lang: str) -> tuple[str, list[str]]:
    """(intro, steps) of `finding` in `lang` ("zh" or "en").

    `intro` says what was found and why it matters; `steps` are whole sentences, shown
    numbered from 1. Without structured steps (an older agent), `intro` is the flat text and
    `steps` is empty.
    """
    steps_json = finding.get("remediation_steps")
    if isinstance(steps_json, Mapping):
        other = "en" if lang == "zh" else "zh"
        steps = steps_json.get(lang) or steps_json.get(other) or []
        if isinstance(steps, list) and steps:
            intro = pick(finding.get("remediation_intro_i18n"), lang)
            return intro, [str(s) for s in steps if str(s).strip()]
    flat = pick(finding.get("remediation_i18n"), lang, str(finding.get("remediation") or ""))
    return flat, []


def numbered(steps: list[str]) -> list[str]:
    """`["Quit WeChat.", …]` → `["1. Quit WeChat.", …]`."""
    return [f"{i}. {step}" for i, step in enumerate(steps, 1)]


def fix_lines(finding: Mapping[str, Any], lang: str) -> list[str]:
    """The fix as lines for a terminal or a log: the intro, then "1. …", "2. …"."""
    intro, steps = fix_of(finding, lang)
    return ([intro] if intro else []) + numbered(steps)


def evidence_line(evidence: Mapping[str, Any], lang: str) -> str:
    """One observation as a person reads it: what was matched (in `lang`), where to find it
    (the absolute path on this machine, or the path inside an offline image, labelled so) and
    the process number. Never a rule's path template."""
    zh = lang == "zh"
    what = pick(evidence.get("matched_i18n"), lang, str(evidence.get("matched") or ""))
    parts = [what] if what else []
    where = str(evidence.get("location") or evidence.get("path") or "")
    if where:
        if evidence.get("in_image"):
            parts.append(("镜像内路径：" if zh else "path in the image: ") + where)
        else:
            parts.append(("位置：" if zh else "at ") + where)
    pid = evidence.get("pid")
    if isinstance(pid, int) and not isinstance(pid, bool):
        parts.append(f"进程号 {pid}" if zh else f"process {pid}")
    return " — ".join(parts)


def evidence_lines(finding: Mapping[str, Any], lang: str) -> list[str]:
    """`evidence_line` of each of the finding's observations."""
    items = finding.get("evidence") or []
    return [evidence_line(e, lang) for e in items if isinstance(e, Mapping)]
