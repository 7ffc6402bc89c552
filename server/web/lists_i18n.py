"""Strings of the list pages, overview and exports (Chinese, English), added to the dashboard's."""

from __future__ import annotations

from server.web.i18n import MESSAGES

LIST_MESSAGES: dict[str, tuple[str, str]] = {
    "list.total": ("共 {n} 条", "{n} in total"),
    "list.pages": ("分页", "Pages"),
    "list.first": ("« 第一页", "« First page"),
    "list.next": ("下一页 »", "Next page »"),
    "list.prev": ("‹ 上一页", "‹ Previous page"),
    "list.export": ("导出 CSV（当前筛选）", "Export CSV (these filters)"),
    "list.search": ("搜索", "Search"),
    "list.any": ("全部", "any"),
    "list.apply": ("筛选", "Filter"),
    "list.reset": ("清除筛选", "Clear filters"),
    "list.group": ("分组", "Group"),
    "list.empty": (
        "没有符合这些筛选条件的条目。请放宽条件或清除筛选。",
        "Nothing matches these filters. Loosen them or clear the filters.",
    ),
    "fleet.search_hint": ("主机名、用户、设备 ID", "hostname, user, device id"),
    "fleet.presence": ("在线状态", "Online"),
    "fleet.worst": ("最高严重程度", "Worst severity"),
    "fleet.with_findings.open": ("有未解决发现", "with open findings"),
    "presence.online": ("在线", "online"),
    "presence.offline": ("离线", "offline"),
    "finding.all": ("全部", "all"),
    "findings.list": ("发现列表", "Findings"),
    "findings.as_of": (
        "未解决发现的合计与按规则统计（按严重程度、类别、分组筛选时也一样）每 10 分钟更新一次；"
        "按规则、设备或搜索筛选时为实时数字。",
        "Totals and the per-rule summary of open findings (also when narrowed by severity, "
        "category or group) are updated every 10 minutes; views narrowed by rule, device or "
        "search count live.",
    ),
    "compliance.overdue_n": ("{n} 台设备有超期密码", "{n} device(s) with an overdue password"),
    "compliance.behind_n": (
        "{n} 台设备未确认当前策略",
        "{n} device(s) have not acknowledged the current policy",
    ),
    "pwf.overdue": ("有超期密码", "an overdue password"),
    "pwf.due-soon": ("有即将到期的密码", "a password due soon"),
    "pwf.ok": ("有正常的密码", "a password in time"),
    "pwf.unknown": ("密码状态未知", "password age unknown"),
    "pwf.no-expiry": ("密码不过期", "no expiry"),
    "pwf.none": ("未上报密码状态", "no password status reported"),
    "ackf.current": ("已确认当前版本", "acknowledged the current version"),
    "ackf.behind": ("未确认当前版本", "not acknowledged the current version"),
    "reports.search_hint": ("编号 (WXG-000123) 或摘要中的词", "case (WXG-000123) or summary words"),
}

# Keys are stable and never reused (see server/web/i18n.py); these are all new ones.
MESSAGES.update({k: v for k, v in LIST_MESSAGES.items() if k not in MESSAGES})
