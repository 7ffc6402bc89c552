"""Renders a scan result for a terminal: short, grouped by severity, in the chosen language,
with every name and path shown safely (`checks.text.one_line`)."""

from __future__ import annotations

from checks.model import Lang, ScanResult, Severity
from checks.text import one_line
from protocol.finding_text import evidence_lines, fix_lines
from protocol.names import counted

_SEVERITY = {
    Severity.CRITICAL: ("严重", "CRITICAL"),
    Severity.HIGH: ("高", "HIGH"),
    Severity.MEDIUM: ("中", "MEDIUM"),
    Severity.LOW: ("低", "LOW"),
    Severity.INFO: ("提示", "INFO"),
}


def render_text(result: ScanResult, lang: Lang) -> str:
    zh = lang is Lang.ZH
    lines: list[str] = []
    where = result.root if not result.live else ("本机" if zh else "this machine")
    head = (
        f"wxguard 扫描 {where}（{result.platform}）：{len(result.findings)} 项发现，用时 {result.duration_s:.2f} 秒"
        if zh
        else f"wxguard scan of {where} ({result.platform}): {counted(len(result.findings), 'finding')} in {result.duration_s:.2f} s"
    )
    lines.append(head)
    if result.compliant:
        lines.append(
            "✓ 符合公司微信管理制度，未发现未认可的客户端或插件。"
            if zh
            else "✓ Compliant: no unapproved WeChat client or plugin found."
        )
    for severity in Severity:
        group = [f for f in result.findings if f.severity is severity]
        if not group:
            continue
        label = _SEVERITY[severity][0 if zh else 1]
        lines.append("")
        lines.append(f"[{label}] ({len(group)})")
        for finding in group:
            lines.append(f"  • {finding.title.get(lang)}  [{finding.rule_id}]")
            body = finding.to_json(lang, result.root, result.live)
            shown = evidence_lines(body, str(lang))
            lines.extend(f"      - {line}" for line in shown[:5])
            if len(shown) > 5:
                more = len(shown) - 5
                lines.append(f"      - …另有 {more} 条证据" if zh else f"      - …and {more} more")
            intro, *steps = fix_lines(body, str(lang)) or [""]
            lines.append(("      处理：" if zh else "      How to fix it: ") + intro)
            lines.extend(f"        {step}" for step in steps)
    if result.blind_spots:
        lines.append("")
        lines.append(
            f"未能检查的部分（{len(result.blind_spots)}）："
            if zh
            else f"Not examined ({len(result.blind_spots)}):"
        )
        for spot in result.blind_spots[:10]:
            lines.append(f"  - [{spot.probe}] {spot.what}: {spot.reason}")
        if len(result.blind_spots) > 10:
            lines.append(
                f"  - …另有 {len(result.blind_spots) - 10} 项，用 --format json 查看全部"
                if zh
                else f"  - …{len(result.blind_spots) - 10} more; --format json lists them all"
            )
    # Each entry is one line: names, paths and reasons inside it cannot add lines or escapes.
    return "\n".join(one_line(line) for line in lines)
