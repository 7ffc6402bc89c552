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
        "用户名或密码不正确。请检查后重试；忘记密码请联系管理员在“账户”页面重置，"
        "或在服务器上运行 `wxguard-server admin passwd 用户名 --data 数据目录`。",
        "Wrong username or password. Check them and try again; if you forgot your password, "
        "ask an administrator to reset it on the Accounts page, or run "
        "`wxguard-server admin passwd USERNAME --data DATA_DIR` on the server.",
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
    "report.no_description": ("（报告人未填写详细描述）", "(the reporter wrote no description)"),
    "report.account": ("涉及账号", "Affected account"),
    "report.reporter": ("报告人", "Reporter"),
    "report.contact": ("联系方式", "How to contact"),
    "report.contact_none": ("未说明", "not said"),
    "contact.email": ("邮件", "Email"),
    "contact.phone": ("电话", "Phone"),
    "contact.wechat": ("企业微信", "Enterprise WeChat"),
    "contact.none": ("无需联系", "No need to contact"),
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
    "nav.identities": ("客户端身份与例外", "Identities and exceptions"),
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
    "policy.published": ("已发布 {version}。", "Published {version}."),
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


# Accounts, roles, policy form, enrollment secrets, audit labels, categories (issue 16).
MESSAGES.update(
    {
        "nav.accounts": ("账户", "Accounts"),
        "nav.secrets": ("注册密钥", "Enrollment secrets"),
        "nav.account": ("我的账户", "My account"),
        "role.administrator": ("管理员", "administrator"),
        "role.analyst": ("安全分析员", "security analyst"),
        "role.viewer": ("只读查看者", "viewer"),
        "cap.fleet.read": (
            "查看设备、发现和合规",
            "read the fleet, devices, findings and compliance",
        ),
        "cap.fleet.act": ("处理设备", "act on devices"),
        "cap.reports.count": ("查看报告数量", "see report counts"),
        "cap.reports.read": ("阅读事件报告", "read incident reports"),
        "cap.reports.act": ("处理事件报告", "act on incident reports"),
        "cap.attachments.read": ("下载报告附件", "open report attachments"),
        "cap.admin.act": (
            "管理策略、注册密钥、设备吊销和账户",
            "manage policy, enrollment secrets, device revocation and accounts",
        ),
        "cap.audit.read": ("查看完整审计日志", "read the whole audit trail"),
        "cap.audit.read_own": ("查看审计日志", "read the audit trail"),
        "cap.account.own": ("管理自己的账户", "manage your own account"),
        "forbidden.title": ("无权访问", "Not allowed"),
        "forbidden": (
            "您的角色是“{role}”，不能{cap}。如需此权限，请联系管理员在“账户”页面调整您的角色。",
            "Your role is “{role}”, which may not {cap}. If you need it, ask an administrator "
            "to change your role on the Accounts page.",
        ),
        "reports.counts_only": (
            "您的角色只能看到各状态的报告数量，不能阅读报告内容。",
            "Your role sees how many reports there are in each status, not what they say.",
        ),
        "secrets.title": ("注册密钥", "Enrollment secrets"),
        "secrets.help": (
            "代理用注册密钥加入本服务器。密钥只在创建时显示一次；已注册的设备不受吊销影响。",
            "Agents join this server with an enrollment secret. A secret is shown once, when it "
            "is created; revoking it does not affect devices already enrolled with it.",
        ),
        "secrets.created": (
            "新的注册密钥（只显示这一次，请复制到代理的托管配置中）：",
            "The new enrollment secret (shown this once: copy it into the agent's managed "
            "configuration):",
        ),
        "secrets.create": ("创建注册密钥", "Create a secret"),
        "secrets.label": ("备注", "Label"),
        "secrets.uses_allowed": ("可用次数（设备数）", "Uses (devices)"),
        "secrets.days": ("有效天数（0 表示永不过期）", "Valid for days (0: never expires)"),
        "secrets.list": ("已有密钥", "Secrets"),
        "secrets.none": ("还没有注册密钥。", "No enrollment secret yet."),
        "secrets.number": ("编号", "No."),
        "secrets.uses": ("已用", "Used"),
        "secrets.left": ("剩余次数", "Uses left"),
        "secrets.created_at": ("创建时间", "Created"),
        "secrets.expires": ("过期时间", "Expires"),
        "secrets.never": ("永不过期", "never"),
        "secrets.revoke": ("吊销", "Revoke"),
        "secret.active": ("可用", "active"),
        "secret.revoked": ("已吊销", "revoked"),
        "secret.used-up": ("已用完", "used up"),
        "secret.expired": ("已过期", "expired"),
        "pform.general": ("常规", "General"),
        "pform.enforcement": ("执行模式", "Enforcement"),
        "pform.enforcement.monitor": ("仅监测（只报告）", "monitor (report only)"),
        "pform.enforcement.enforce": ("执行（阻止并报告）", "enforce (block and report)"),
        "pform.scan_interval": ("扫描间隔", "Scan interval"),
        "pform.heartbeat_interval": ("心跳间隔", "Heartbeat interval"),
        "pform.valid_days": ("有效天数", "Valid for (days)"),
        "pform.unit_s": ("秒", "seconds"),
        "pform.unit_d": ("天", "days"),
        "pform.seconds": ("{n} 秒", "{n} s"),
        "pform.days": ("{n} 天", "{n} days"),
        "pform.password": ("微信密码", "WeChat password"),
        "pform.max_age": ("密码最长使用期限", "Maximum password age"),
        "pform.reminders": (
            "到期前提醒（天，递减，逗号分隔）",
            "Reminders before expiry (days, decreasing, comma-separated)",
        ),
        "pform.max_deferrals": ("最多推迟次数", "Maximum deferrals"),
        "pform.daily": ("最后一次提醒后每天提醒", "Remind daily after the last reminder"),
        "pform.disabled_rules": ("停用的规则", "Disabled rules"),
        "pform.added_rules": ("策略新增的规则", "Rules added by the policy"),
        "pform.approved": ("批准的客户端身份", "Approved client identities"),
        "pform.approved_help": (
            "JSON 数组，每项与 clients/*.toml 格式相同（按位置、签名者、bundle id 识别，不按名称）。",
            "A JSON list, each item as in clients/*.toml (identified by place, signer, bundle "
            "id; never by name).",
        ),
        "pform.exceptions": ("例外", "Exceptions"),
        "pform.text": ("策略正文", "Policy text"),
        "pform.text_version": ("正文版本（如 2026-03）", "Text version (e.g. 2026-03)"),
        "pform.text_zh": ("中文正文", "Chinese text"),
        "pform.text_en": ("英文正文", "English text"),
        "pform.none": ("无", "none"),
        "pform.help": (
            "表单从当前策略开始填写；未显示的部分（新增规则、YARA、例外、执行拦截）保持不变。"
            "发布前会显示与当前版本的差异，确认后才签名。",
            "The form starts from the current policy; what it does not show (added rules, YARA, "
            "exceptions, exec blocking) is kept as it is. You see the differences from the "
            "current version before anything is signed.",
        ),
        "pform.json": ("专家模式：编辑完整 JSON", "Expert: edit the whole JSON"),
        "pform.review": ("查看差异", "Review changes"),
        "pform.confirm_title": ("确认发布策略", "Confirm the new policy"),
        "pform.confirm_help": (
            "以下是与当前策略（{label}）相比的变化。确认后会签名并发送给所有设备。",
            "These are the changes from the current policy ({label}). Publishing signs it and "
            "sends it to every device.",
        ),
        "pform.moved": (
            "您编辑期间已发布了新版本（{label}）。差异已按新版本重新计算，请再次检查。",
            "Another version ({label}) was published while you were editing. The differences "
            "are now against it: check them again.",
        ),
        "pform.no_change": ("与当前策略没有差异。", "No difference from the current policy."),
        "pform.publish_now": ("签名并发布", "Sign and publish"),
        "pform.back": ("返回修改", "Back to editing"),
        "pform.nothing_stored": (
            "没有保存或发布任何内容；您输入的内容仍在下方。",
            "Nothing was stored or published; what you typed is still below.",
        ),
        "device.machine": ("机器指纹", "Machine fingerprint"),
        "device.machine_help": (
            "（由机器自身的唯一 ID 哈希得出；同名设备靠它区分）",
            "(a hash of the machine's own id; it tells devices with the same name apart)",
        ),
        "device.no_machine": ("代理未报告", "not reported by the agent"),
        "device.serial": ("序列号", "Serial number"),
        "device.serial_help": (
            "（印在机器上的硬件序列号）",
            "(the hardware serial number printed on the machine)",
        ),
        "device.unknown": ("未报告", "not reported"),
        "device.no_users": ("尚未报告用户", "no user reported yet"),
        "device.keyring": ("系统密钥环", "Keyring"),
        "device.keyring_ok": ("可用", "available"),
        "device.keyring_off": (
            "不可用（未安装或已锁定），无法检查微信密码期限",
            "unavailable (missing or locked), so the WeChat password age cannot be checked",
        ),
        "device.keyring_users": ("涉及用户：", "for: "),
        "device.keyring_unknown": (
            "未报告（托盘或代理版本较旧）",
            "not reported (an older tray or agent)",
        ),
        "device.next_step": ("下一步：", "Next step: "),
        "device.no_passwords": (
            "此设备尚未报告密码状态。",
            "This device has not reported password status yet.",
        ),
        "device.no_acks": (
            "此设备上还没有人确认过策略。",
            "Nobody on this device has acknowledged a policy yet.",
        ),
        "device.namesakes": (
            "还有 {n} 台设备使用同一主机名，用机器指纹、系统和用户区分：",
            "{n} other device(s) have the same host name; tell them apart by fingerprint, OS "
            "and users:",
        ),
        "revoke.title": ("确认吊销设备", "Revoke this device?"),
        "revoke.confirm": ("确认吊销", "Yes, revoke it"),
        "revoke.cancel": ("取消", "Cancel"),
        "report.kind.status": ("状态变更", "Status changed"),
        "report.kind.assign": ("指派", "Assignment"),
        "report.status_change": ("{before} → {after}", "{before} → {after}"),
        "report.assigned_to": ("指派给 {name}", "assigned to {name}"),
        "report.unassigned_now": ("取消指派", "unassigned"),
        "report.no_history": ("还没有处理记录。", "Nothing has happened on this report yet."),
        "report.preview_of": ("附件预览：{name}", "Preview of {name}"),
        "evidence.file": ("文件", "file"),
        "evidence.process": ("进程", "process"),
        "evidence.module": ("模块", "module"),
        "evidence.package": ("软件包", "package"),
        "evidence.app": ("应用", "app"),
        "evidence.autostart": ("自启动项", "autostart"),
        "evidence.extension": ("扩展", "extension"),
        "evidence.hash": ("哈希", "hash"),
        "accounts.title": ("账户与角色", "Accounts and roles"),
        "accounts.username": ("用户名", "Username"),
        "accounts.role": ("角色", "Role"),
        "accounts.state": ("状态", "State"),
        "accounts.last_login": ("最近登录", "Last login"),
        "accounts.enabled": ("启用", "enabled"),
        "accounts.disabled": ("已停用", "disabled"),
        "accounts.disable": ("停用", "Disable"),
        "accounts.enable": ("启用", "Enable"),
        "accounts.set_role": ("更改角色", "Change role"),
        "accounts.reset": ("重置密码", "Reset password"),
        "accounts.add": ("添加账户", "Add an account"),
        "accounts.new_password": (
            "新密码（至少 12 个字符）",
            "New password (at least 12 characters)",
        ),
        "accounts.password_shown": (
            "账户 {username} 的新密码（只显示这一次，请通过安全渠道告知本人）：",
            "New password of {username} (shown this once; give it to them over a safe channel):",
        ),
        "accounts.saved": ("已保存。", "Saved."),
        "accounts.exists": ("账户 {username} 已存在。", "The account {username} already exists."),
        "accounts.bad_name": (
            "用户名须为 1–64 个字母、数字或 . _ - 。",
            "A username is 1–64 letters, digits or . _ -.",
        ),
        "accounts.last_admin": (
            "这是最后一个启用的管理员账户，不能停用或降级，否则无人能管理账户。",
            "This is the last enabled administrator: disabling or demoting it would leave nobody "
            "able to manage accounts.",
        ),
        "accounts.sessions_note": (
            "重置密码、更改角色或停用账户会立即结束该账户的所有会话。",
            "Resetting the password, changing the role or disabling an account ends all of its "
            "sessions at once.",
        ),
        "account.title": ("我的账户", "My account"),
        "account.change_password": ("修改密码", "Change password"),
        "account.current_password": ("当前密码", "Current password"),
        "account.new_password": (
            "新密码（至少 12 个字符）",
            "New password (at least 12 characters)",
        ),
        "account.repeat_password": ("再次输入新密码", "New password again"),
        "account.password_changed": (
            "密码已修改。您在其他地方的会话已结束。",
            "Password changed. Your sessions elsewhere have ended.",
        ),
        "account.wrong_password": ("当前密码不正确。", "The current password is wrong."),
        "account.short_password": (
            "新密码太短（至少 12 个字符）。",
            "The new password is too short (at least 12 characters).",
        ),
        "account.mismatch": ("两次输入的新密码不一致。", "The two new passwords differ."),
        "account.time_zone": ("时区", "Time zone"),
        "account.time_zone_help": (
            "页面上的时间按此时区显示。留空则使用浏览器的时区（中文默认 Asia/Shanghai，UTC+8）。",
            "Times are shown in this zone. Leave empty to use your browser's zone (Chinese "
            "pages default to Asia/Shanghai, UTC+8).",
        ),
        "account.bad_zone": (
            "未知的时区：请用 IANA 名称，例如 Asia/Shanghai 或 Europe/Berlin。",
            "Unknown time zone: use an IANA name such as Asia/Shanghai or Europe/Berlin.",
        ),
        "time.zone_note": ("时间显示为 {zone}{offset}", "Times in {zone}{offset}"),
        "audit.filter": ("筛选", "Filter"),
        "audit.any": ("全部", "any"),
        "audit.own_only": ("仅显示您本人的操作。", "Only your own actions are shown."),
        "audit.none": ("没有符合条件的记录。", "No events match."),
        "action.admin.create": ("创建账户", "account created"),
        "action.admin.login": ("登录", "logged in"),
        "action.admin.login_failed": ("登录失败", "login failed"),
        "action.admin.login_locked": ("登录被暂时拒绝", "login refused (locked)"),
        "action.admin.logout": ("退出登录", "logged out"),
        "action.admin.password": ("修改了自己的密码", "changed own password"),
        "action.admin.reset": ("重置密码", "password reset"),
        "action.admin.role": ("更改角色", "role changed"),
        "action.admin.disable": ("停用账户", "account disabled"),
        "action.admin.enable": ("启用账户", "account enabled"),
        "action.admin.time_zone": ("更改时区", "time zone changed"),
        "action.device.enroll": ("设备注册", "device enrolled"),
        "action.device.reenroll": ("设备重新注册", "device enrolled again"),
        "action.device.revoke": ("吊销设备", "device revoked"),
        "action.device.group": ("更改设备组", "device group changed"),
        "group.label": ("设备组", "Group"),
        "group.none": ("未分组", "no group"),
        "group.list": ("该组的设备", "devices of this group"),
        "group.change": ("更改设备组", "Change the group"),
        "group.submit": ("保存", "Save"),
        "group.help": (
            "部门或地点，最多 100 个字符；留空表示不分组。更改会记入审计日志，列表与概览按新组统计。",
            "A department or site, at most 100 characters; empty for no group. The change is "
            "audited; lists and the overview count the device in its new group.",
        ),
        "group.error.title": ("设备组未更改", "The group was not changed"),
        "group.error": ("{reason}", "{reason}"),
        "overview.monthly": ("月度合规报告（供审计）", "Monthly compliance report (for auditors)"),
        "action.policy.publish": ("发布策略", "policy published"),
        "action.report.view": ("查看报告", "report viewed"),
        "action.report.attachment": ("下载附件", "attachment opened"),
        "action.report.status": ("更改报告状态", "report status changed"),
        "action.report.assign": ("指派报告", "report assigned"),
        "action.report.note": ("添加内部备注", "internal note added"),
        "action.report.reply": ("回复报告人", "reply sent"),
        "action.secret.create": ("创建注册密钥", "enrollment secret created"),
        "action.secret.revoke": ("吊销注册密钥", "enrollment secret revoked"),
        "actor.cli": ("服务器命令行", "server command line"),
        "actor.device": ("设备 {id}", "device {id}"),
        "fcat.unofficial-client": ("非官方客户端", "unofficial client"),
        "fcat.plugin-injection": ("插件注入", "plugin injection"),
        "fcat.binary-patcher": ("二进制补丁", "binary patcher"),
        "fcat.multi-open": ("多开工具", "multi-open tool"),
        "fcat.bot-framework": ("机器人框架", "bot framework"),
        "fcat.db-dumper": ("数据库导出工具", "database dumper"),
        "fcat.browser-extension": ("浏览器扩展", "browser extension"),
        "fcat.tampering": ("篡改防护", "tampering"),
        "fcat.unrecognised-client": ("无法识别的客户端", "unrecognised client"),
    }
)


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
