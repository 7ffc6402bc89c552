"""Dashboard strings in Chinese and English, and choosing the language for a request."""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("zh", "en")
DEFAULT_LANG = "en"
LANG_COOKIE = "wxguard_lang"

# key: (zh, en). Keys are stable; add new ones rather than reusing an old key for a new meaning.
MESSAGES: dict[str, tuple[str, str]] = {
    "app.title": ("wxguard 管理台", "wxguard console"),
    "nav.fleet": ("设备", "Fleet"),
    "nav.findings": ("发现", "Findings"),
    "nav.reports": ("事件报告", "Incident reports"),
    "nav.compliance": ("合规", "Compliance"),
    "nav.policy": ("策略", "Policy"),
    "nav.audit": ("审计日志", "Audit trail"),
    "nav.logout": ("退出登录", "Log out"),
    "nav.skip": ("跳到正文", "Skip to content"),
    "lang.switch": ("English", "中文"),
    "login.title": ("管理员登录", "Administrator login"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed.title": ("登录失败", "Login failed"),
    "login.failed": (
        "用户名或密码不正确。请检查后重试；"
        "忘记密码请联系其他管理员用 `wxguard-server admin add` 重置。",
        "Wrong username or password. Check them and try again; if you forgot your password, ask "
        "another administrator to reset it with `wxguard-server admin add`.",
    ),
    "login.limited.title": ("尝试次数过多", "Too many attempts"),
    "login.limited": (
        "此地址的登录尝试过多。请在 {seconds} 秒后重试。",
        "Too many login attempts from this address. Try again in {seconds} seconds.",
    ),
    "login.locked": (
        "该账户的登录失败次数过多，已暂时拒绝登录。请在 {minutes} 分钟后重试；"
        "如果不是您本人在尝试，请通知信息安全部门（审计日志中有记录）。",
        "Too many failed logins to this account: logins are refused for now. Try again in "
        "{minutes} minutes; if it was not you, tell the information-security department (the "
        "audit log has the attempts).",
    ),
    "csrf.title": ("表单已过期", "Form expired"),
    "csrf": (
        "安全令牌无效或已过期。请返回并刷新页面后重新提交。",
        "The security token is missing or expired. Go back, reload the page and submit again.",
    ),
    "notfound.title": ("未找到", "Not found"),
    "notfound": (
        "请求的内容不存在或已被删除。请从导航重新进入。",
        "What you asked for does not exist. Start again from the navigation.",
    ),
    "fleet.title": ("设备概览", "Fleet"),
    "fleet.empty": (
        "还没有设备注册。用 `wxguard-server secret create` 生成注册密钥并配置到代理。",
        "No device has enrolled yet. Create an enrollment secret with "
        "`wxguard-server secret create` and put it in the agent's managed config.",
    ),
    "fleet.hostname": ("主机名", "Hostname"),
    "fleet.last_seen": ("最后在线", "Last seen"),
    "fleet.agent": ("代理版本", "Agent version"),
    "fleet.os": ("操作系统", "OS"),
    "fleet.state": ("合规状态", "Compliance"),
    "fleet.findings": ("未解决发现", "Open findings"),
    "fleet.offline": ("离线", "offline"),
    "fleet.offline_note": (
        "超过 {n} 个心跳周期未联系服务器的设备标为离线。",
        "Devices silent for more than {n} heartbeat intervals are marked offline.",
    ),
    "fleet.revoke": ("吊销", "Revoke"),
    "fleet.revoked": ("已吊销", "revoked"),
    "fleet.never": ("从未", "never"),
    "state.compliant": ("合规", "compliant"),
    "state.non-compliant": ("不合规", "non-compliant"),
    "state.unknown": ("未知", "unknown"),
    "state.blind": ("检查不完整", "blind (partial check)"),
    "state.revoked": ("已吊销", "revoked"),
    "device.title": ("设备", "Device"),
    "device.id": ("设备 ID", "Device id"),
    "device.enrolled": ("注册时间", "Enrolled"),
    "device.users": ("用户", "Users seen"),
    "device.last_scan": ("最近扫描", "Last scan"),
    "device.policy_seen": ("已收到的策略版本", "Policy version seen"),
    "device.revoke_confirm": (
        "吊销后该设备的令牌立即失效，需要重新注册。",
        "Revoking invalidates this device's token at once; it must enroll again.",
    ),
    "findings.title": ("发现", "Findings"),
    "findings.by_rule": ("按规则", "By rule"),
    "findings.by_device": ("按设备", "By device"),
    "findings.timeline": ("最近 14 天新增与解决", "New and resolved, last 14 days"),
    "findings.day": ("日期", "Day"),
    "findings.new": ("新增", "New"),
    "findings.resolved": ("已解决", "Resolved"),
    "findings.open": ("未解决", "Open"),
    "findings.rule": ("规则", "Rule"),
    "findings.devices": ("设备数", "Devices"),
    "findings.severity": ("严重程度", "Severity"),
    "findings.category": ("类别", "Category"),
    "findings.evidence": ("证据", "Evidence"),
    "findings.remediation": ("处理建议", "Remediation"),
    "findings.first_seen": ("首次发现", "First seen"),
    "findings.state": ("状态", "State"),
    "findings.none": ("没有发现。", "No findings."),
    "finding.open": ("未解决", "open"),
    "finding.resolved": ("已解决", "resolved"),
    "reports.title": ("事件报告", "Incident reports"),
    "reports.none": ("没有报告。", "No reports."),
    "reports.case": ("编号", "Case"),
    "reports.category": ("类别", "Category"),
    "reports.summary": ("摘要", "Summary"),
    "reports.status": ("状态", "Status"),
    "reports.assignee": ("负责人", "Assignee"),
    "reports.received": ("收到时间", "Received"),
    "reports.all": ("全部", "All"),
    "report.occurred": ("发生时间", "Occurred"),
    "report.description": ("详细描述", "What happened"),
    "report.account": ("涉及账号", "Affected account"),
    "report.reporter": ("报告人", "Reporter"),
    "report.device": ("设备", "Device"),
    "report.attachments": ("附件", "Attachments"),
    "report.set_status": ("更新状态", "Update status"),
    "report.assign": ("指派", "Assign"),
    "report.unassigned": ("未指派", "unassigned"),
    "report.note": ("内部备注（报告人看不到）", "Internal note (the reporter does not see it)"),
    "report.add_note": ("添加备注", "Add note"),
    "report.reply": ("回复报告人（报告人可见）", "Reply to the reporter (they will see it)"),
    "report.send_reply": ("发送回复", "Send reply"),
    "report.history": ("处理记录", "History"),
    "report.kind.note": ("内部备注", "Internal note"),
    "report.kind.reply": ("回复", "Reply"),
    "report.empty_text": (
        "内容不能为空，请输入文字后再提交。",
        "The text is empty. Type something before submitting.",
    ),
    "status.new": ("新报告", "new"),
    "status.triaged": ("处理中", "triaged"),
    "status.resolved": ("已解决", "resolved"),
    "category.account-compromise": ("账号被盗", "Account compromise"),
    "category.suspicious-message": ("可疑消息", "Suspicious message"),
    "category.data-leak": ("数据泄露", "Data leak"),
    "category.lost-device": ("设备丢失", "Lost device"),
    "category.unapproved-software": ("未经批准的软件", "Unapproved software"),
    "category.other": ("其他", "Other"),
    "category.exec-blocked": ("程序被阻止运行", "Program blocked at start"),
    "category.approval-request": ("软件使用审批申请", "Request to approve a program"),
    "nav.exec": ("程序拦截与审批", "Blocked programs"),
    "exec.title": ("被阻止的程序与审批申请", "Blocked programs and approval requests"),
    "exec.intro": (
        "各设备在启动时阻止（或审计模式下将会阻止）的程序，以及员工从托盘提交的批准申请。"
        "批准某个程序：在策略中为其添加例外或批准的客户端，然后在报告中答复员工。",
        "Programs the devices stopped at start (or, in audit mode, would have), and the "
        "requests employees sent from the tray to approve one. To approve a program, add an "
        "exception or an approved client to the policy, then answer the employee in the report.",
    ),
    "exec.none": ("没有被阻止的程序，也没有审批申请。", "No blocked programs and no requests."),
    "exec.kind": ("类型", "Kind"),
    "exec.program": ("程序", "Program"),
    "exec.rule": ("规则", "Rule"),
    "exec.device": ("设备", "Device"),
    "exec.user": ("用户", "User"),
    "exec.reason": ("员工的理由", "Employee's reason"),
    "exec.audit": ("审计模式，未阻止", "audit mode, not stopped"),
    "exec.limited": ("仅显示最近 500 条。", "Only the latest 500 are shown."),
    "compliance.title": ("密码期限与策略确认", "Password age and policy acknowledgement"),
    "compliance.password": ("微信密码", "WeChat password"),
    "compliance.ack": ("已确认的策略版本", "Policy version acknowledged"),
    "compliance.current": ("当前策略版本", "Current policy version"),
    "compliance.account": ("账号类型", "Account"),
    "compliance.user": ("用户", "User"),
    "compliance.last_changed": ("上次修改", "Last changed"),
    "compliance.due": ("到期", "Due"),
    "compliance.behind": ("未确认当前版本", "has not acknowledged the current version"),
    "account.enterprise": ("企业", "enterprise"),
    "account.personal": ("个人", "personal"),
    "pw.ok": ("正常", "ok"),
    "pw.due-soon": ("即将到期", "due soon"),
    "pw.overdue": ("已过期", "overdue"),
    "pw.unknown": ("未知", "unknown"),
    "pw.no-expiry": ("不过期", "no expiry"),
    "policy.title": ("策略", "Policy"),
    "policy.current": ("当前版本", "Current version"),
    "policy.none": ("尚未发布策略。", "No policy has been published yet."),
    "policy.history": ("历史版本", "History"),
    "policy.version": ("版本", "Version"),
    "policy.issued": ("发布时间", "Issued"),
    "policy.expires": ("过期时间", "Expires"),
    "policy.scope": ("范围", "Scope"),
    "policy.scope_all": ("所有设备", "all devices"),
    "policy.by": ("发布人", "Published by"),
    "policy.key": ("签名密钥", "Signing key"),
    "policy.publish": ("发布新版本", "Publish a new version"),
    "policy.publish_help": (
        "粘贴策略 JSON（格式见 docs/server.md）。发布前会先校验，再用服务器的 Ed25519 密钥签名。",
        "Paste the policy JSON (format in docs/server.md). It is validated, then signed with the "
        "server's Ed25519 key.",
    ),
    "policy.invalid.title": ("策略无效，未发布", "Policy not published: it is invalid"),
    "policy.published": ("已发布版本 {version}。", "Published version {version}."),
    "policy.payload": ("已签名内容", "Signed content"),
    "audit.title": ("审计日志", "Audit trail"),
    "audit.at": ("时间", "Time"),
    "audit.actor": ("操作者", "Actor"),
    "audit.action": ("操作", "Action"),
    "audit.target": ("对象", "Target"),
    "audit.ip": ("地址", "Address"),
    "common.save": ("保存", "Save"),
    "common.details": ("详情", "Details"),
    "common.back": ("返回", "Back"),
    "common.download": ("下载", "Download"),
    "sev.critical": ("严重", "critical"),
    "sev.high": ("高", "high"),
    "sev.medium": ("中", "medium"),
    "sev.low": ("低", "low"),
    "sev.info": ("信息", "info"),
}


def translator(lang: str) -> Callable[..., str]:
    index = 0 if lang == "zh" else 1

    def t(key: str, **params: object) -> str:
        pair = MESSAGES.get(key)
        text = pair[index] if pair else key
        return text.format(**params) if params else text

    return t


def choose_lang(cookie: str | None, accept_language: str | None) -> str:
    """The visitor's explicit choice, else the best of zh/en in Accept-Language."""
    if cookie in LANGS:
        return cookie
    best: tuple[float, str] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGS:
            continue
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if best is None or quality > best[0]:
            best = (quality, primary)
    return best[1] if best else DEFAULT_LANG
