<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>AboutDialog</name>
    <message>
        <location filename="../policy_window.py" line="200"/>
        <source>About wxguard</source>
        <translation>关于 wxguard</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="203"/>
        <source>Close</source>
        <translation>关闭</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="212"/>
        <source>wxguard keeps this computer in line with the company&apos;s WeChat policy.</source>
        <translation>wxguard 帮助本机遵守公司的微信管理制度。</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="213"/>
        <source>Tray version: %1</source>
        <translation>托盘程序版本：%1</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="214"/>
        <source>Agent version: %1</source>
        <translation>代理版本：%1</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="215"/>
        <source>not connected</source>
        <translation>未连接</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="217"/>
        <source>Policy version: %1</source>
        <translation>策略版本：%1</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="220"/>
        <source>Questions: contact your IT department.</source>
        <translation>如有疑问，请联系 IT 部门。</translation>
    </message>
</context>
<context>
    <name>BlockedWindow</name>
    <message>
        <location filename="../blocked.py" line="48"/>
        <source>Blocked programs</source>
        <translation>被阻止的程序</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="52"/>
        <source>wxguard stopped these programs because the company&apos;s WeChat policy does not allow them. If you need one for your work, select it, say why, and press Request approval: IT will review it and answer in My reports.</source>
        <translation>wxguard 阻止了这些程序，因为公司的微信使用规定不允许使用它们。如工作确需使用，请选中该程序，写明原因，然后点击“申请批准”：IT 审核后会在“我的报告”中答复。</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="60"/>
        <source>Program</source>
        <translation>程序</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="60"/>
        <source>Why</source>
        <translation>原因</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="60"/>
        <source>When</source>
        <translation>时间</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="60"/>
        <source>State</source>
        <translation>状态</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="67"/>
        <source>Why you need this program for your work</source>
        <translation>工作中为什么需要这个程序</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="69"/>
        <source>Request approval</source>
        <translation>申请批准</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="76"/>
        <source>Your reason (sent to IT):</source>
        <translation>您的理由（将发送给 IT）：</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="108"/>
        <source>Approval requested</source>
        <translation>已申请批准</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="110"/>
        <source>Would be blocked (trial mode; it ran)</source>
        <translation>将被阻止（试运行模式，本次已运行）</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="111"/>
        <source>Blocked</source>
        <translation>已阻止</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="132"/>
        <source>Your reason is too long: at most %1 characters.</source>
        <translation>理由太长：最多 %1 个字符。</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="158"/>
        <source>Sending…</source>
        <translation>正在发送…</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="169"/>
        <source>Request sent. It is stored on this computer until the server has it; IT&apos;s answer will appear in My reports.</source>
        <translation>申请已发送。在服务器收到之前，它会安全保存在本机；IT 的答复将显示在“我的报告”中。</translation>
    </message>
    <message>
        <location filename="../blocked.py" line="182"/>
        <source>The request was not sent: %1</source>
        <translation>申请未发送：%1</translation>
    </message>
</context>
<context>
    <name>Collects</name>
    <message>
        <location filename="../policy_window.py" line="131"/>
        <source>This computer&apos;s name, operating system and wxguard version</source>
        <translation>本机的名称、操作系统和 wxguard 版本</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="134"/>
        <source>The user names that were logged in when a check ran</source>
        <translation>检查时已登录的用户名</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="137"/>
        <source>Findings: which rule matched, with its evidence — file paths, process names and ids, package names</source>
        <translation>检查发现：命中的规则及其证据——文件路径、进程名称和编号、软件包名称</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="142"/>
        <source>Password-age dates and states per WeChat account (never a password)</source>
        <translation>每个微信账号的密码更改日期和状态（绝不包含密码）</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="145"/>
        <source>Which policy version you acknowledged, and when</source>
        <translation>您确认过的策略版本及确认时间</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="146"/>
        <source>The incident reports you file, with their attachments</source>
        <translation>您提交的安全事件报告及其附件</translation>
    </message>
</context>
<context>
    <name>CollectsWindow</name>
    <message>
        <location filename="../policy_window.py" line="157"/>
        <source>What wxguard collects</source>
        <translation>wxguard 收集哪些信息</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="167"/>
        <source>As configured by your company&apos;s policy:</source>
        <translation>根据公司策略的配置：</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="170"/>
        <source>wxguard sends the following to your company&apos;s wxguard server:</source>
        <translation>wxguard 会将以下信息发送到公司的 wxguard 服务器：</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="175"/>
        <source>wxguard never reads chat content, message databases or contact lists. It looks at which programs are installed and running, and at files that tools leave behind.</source>
        <translation>wxguard 从不读取聊天内容、消息数据库或联系人列表。它只查看安装和运行了哪些程序，以及工具留下的文件。</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="187"/>
        <source>The date of each password change stays in your system keyring; only the dates and states listed above are sent.</source>
        <translation>每次密码更改的日期保存在您的系统钥匙串中；只发送上面列出的日期和状态。</translation>
    </message>
</context>
<context>
    <name>Labels</name>
    <message>
        <location filename="../labels.py" line="15"/>
        <source>Account stolen or suspicious login</source>
        <translation>账号被盗或可疑登录</translation>
    </message>
    <message>
        <location filename="../labels.py" line="18"/>
        <source>Suspicious message or link</source>
        <translation>可疑消息或链接</translation>
    </message>
    <message>
        <location filename="../labels.py" line="19"/>
        <source>Confidential information sent out</source>
        <translation>机密信息外发</translation>
    </message>
    <message>
        <location filename="../labels.py" line="20"/>
        <source>Lost or stolen device</source>
        <translation>设备丢失或被盗</translation>
    </message>
    <message>
        <location filename="../labels.py" line="21"/>
        <source>Unapproved software or plugin</source>
        <translation>未经许可的软件或插件</translation>
    </message>
    <message>
        <location filename="../labels.py" line="24"/>
        <source>Something else</source>
        <translation>其他</translation>
    </message>
    <message>
        <location filename="../labels.py" line="25"/>
        <source>Program blocked at start</source>
        <translation>程序被阻止运行</translation>
    </message>
    <message>
        <location filename="../labels.py" line="26"/>
        <source>Request to approve a program</source>
        <translation>软件使用审批申请</translation>
    </message>
    <message>
        <location filename="../labels.py" line="33"/>
        <source>Critical</source>
        <translation>严重</translation>
    </message>
    <message>
        <location filename="../labels.py" line="34"/>
        <source>High</source>
        <translation>高</translation>
    </message>
    <message>
        <location filename="../labels.py" line="35"/>
        <source>Medium</source>
        <translation>中</translation>
    </message>
    <message>
        <location filename="../labels.py" line="36"/>
        <source>Low</source>
        <translation>低</translation>
    </message>
    <message>
        <location filename="../labels.py" line="37"/>
        <source>Information</source>
        <translation>提示</translation>
    </message>
    <message>
        <location filename="../labels.py" line="44"/>
        <source>Enterprise WeChat account</source>
        <translation>企业微信账号</translation>
    </message>
    <message>
        <location filename="../labels.py" line="45"/>
        <source>Personal WeChat account</source>
        <translation>个人微信账号</translation>
    </message>
    <message>
        <location filename="../labels.py" line="46"/>
        <source>No account / not sure</source>
        <translation>无账号 / 不确定</translation>
    </message>
    <message>
        <location filename="../labels.py" line="53"/>
        <source>By email</source>
        <translation>通过电子邮件</translation>
    </message>
    <message>
        <location filename="../labels.py" line="54"/>
        <source>By phone</source>
        <translation>通过电话</translation>
    </message>
    <message>
        <location filename="../labels.py" line="55"/>
        <source>On enterprise WeChat</source>
        <translation>通过企业微信</translation>
    </message>
    <message>
        <location filename="../labels.py" line="56"/>
        <source>No need to contact me</source>
        <translation>无需联系我</translation>
    </message>
    <message>
        <location filename="../labels.py" line="69"/>
        <source>Queued on this computer</source>
        <translation>在本机排队</translation>
    </message>
    <message>
        <location filename="../labels.py" line="70"/>
        <source>Delivered to the security team</source>
        <translation>已送达安全团队</translation>
    </message>
    <message>
        <location filename="../labels.py" line="71"/>
        <source>Received, not yet reviewed</source>
        <translation>已收到，尚未审查</translation>
    </message>
    <message>
        <location filename="../labels.py" line="72"/>
        <source>Being handled</source>
        <translation>处理中</translation>
    </message>
    <message>
        <location filename="../labels.py" line="73"/>
        <source>Resolved</source>
        <translation>已解决</translation>
    </message>
    <message>
        <location filename="../labels.py" line="80"/>
        <source>Up to date</source>
        <translation>正常</translation>
    </message>
    <message>
        <location filename="../labels.py" line="81"/>
        <source>Change due soon</source>
        <translation>即将到期</translation>
    </message>
    <message>
        <location filename="../labels.py" line="82"/>
        <source>Change overdue</source>
        <translation>已逾期</translation>
    </message>
    <message>
        <location filename="../labels.py" line="83"/>
        <source>Not recorded</source>
        <translation>未记录</translation>
    </message>
    <message>
        <location filename="../labels.py" line="84"/>
        <source>No expiry</source>
        <translation>不过期</translation>
    </message>
    <message>
        <location filename="../labels.py" line="91"/>
        <location filename="../labels.py" line="105"/>
        <source>Compliant</source>
        <translation>合规</translation>
    </message>
    <message>
        <location filename="../labels.py" line="92"/>
        <source>Action needed</source>
        <translation>需要处理</translation>
    </message>
    <message>
        <location filename="../labels.py" line="93"/>
        <source>Offline: the wxguard server cannot be reached</source>
        <translation>离线：无法连接 wxguard 服务器</translation>
    </message>
    <message>
        <location filename="../labels.py" line="96"/>
        <source>Agent not running</source>
        <translation>代理未运行</translation>
    </message>
    <message>
        <location filename="../labels.py" line="97"/>
        <source>Connecting to the agent…</source>
        <translation>正在连接代理…</translation>
    </message>
    <message>
        <location filename="../labels.py" line="106"/>
        <source>Not compliant</source>
        <translation>不合规</translation>
    </message>
    <message>
        <location filename="../labels.py" line="107"/>
        <source>The last check was incomplete: compliance cannot be confirmed</source>
        <translation>上次检查不完整，无法确认是否合规</translation>
    </message>
    <message>
        <location filename="../labels.py" line="110"/>
        <source>No recent check</source>
        <translation>没有最近的检查</translation>
    </message>
    <message>
        <location filename="../labels.py" line="117"/>
        <source>%1: %2</source>
        <translation>%1：%2</translation>
    </message>
    <message>
        <location filename="../labels.py" line="126"/>
        <source>%1 (%2)</source>
        <translation>%1（%2）</translation>
    </message>
    <message>
        <location filename="../labels.py" line="133"/>
        <source>never</source>
        <translation>从未</translation>
    </message>
</context>
<context>
    <name>MyReportsWindow</name>
    <message>
        <location filename="../report_dialog.py" line="552"/>
        <source>My reports</source>
        <translation>我的报告</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="556"/>
        <source>Case</source>
        <translation>案件编号</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="556"/>
        <source>Summary</source>
        <translation>摘要</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="556"/>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="556"/>
        <source>Filed</source>
        <translation>提交时间</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="561"/>
        <source>You have not filed any report from this computer.</source>
        <translation>您尚未从本机提交任何报告。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="565"/>
        <source>Refresh</source>
        <translation>刷新</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="579"/>
        <location filename="../report_dialog.py" line="613"/>
        <source>(not yet assigned)</source>
        <translation>（尚未分配）</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="591"/>
        <source>Reply</source>
        <translation>回复</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="614"/>
        <source>Case %1</source>
        <translation>报告编号 %1</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="621"/>
        <source>Status: %1</source>
        <translation>状态：%1</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="624"/>
        <source>Category: %1</source>
        <translation>类别：%1</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="627"/>
        <source>Filed: %1</source>
        <translation>提交时间：%1</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="628"/>
        <source>Summary: %1</source>
        <translation>摘要：%1</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="635"/>
        <source>Conversation with the security team</source>
        <translation>与安全团队的对话</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="638"/>
        <source>No reply yet.</source>
        <translation>尚无回复。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="655"/>
        <source>Contact: %1</source>
        <translation>联系方式：%1</translation>
    </message>
</context>
<context>
    <name>PasswordDialog</name>
    <message>
        <location filename="../password_dialog.py" line="65"/>
        <source>Record a WeChat password change</source>
        <translation>记录微信密码更改</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="69"/>
        <source>Policy article 19: change your WeChat passwords regularly. After you change a password in WeChat, record the date here. wxguard stores only the date, in your system keyring, and never asks for the password.</source>
        <translation>制度第十九条：应定期更改微信账号密码。在微信中更改密码后，请在此记录日期。wxguard 只把日期保存在您的系统钥匙串中，从不询问密码。</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="86"/>
        <source>Close</source>
        <translation>关闭</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="104"/>
        <source>I changed it on this date</source>
        <translation>我在此日期更改了密码</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="106"/>
        <source>This password does not expire (no reminders)</source>
        <translation>此密码不过期（不提醒）</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="112"/>
        <source>Remind me tomorrow at %1</source>
        <translation>明天 %1 提醒我</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="114"/>
        <source>Remind me on Monday at %1</source>
        <translation>周一 %1 提醒我</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="124"/>
        <source>Changed on</source>
        <translation>更改日期</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="168"/>
        <source>You can postpone this reminder %1 more time(s).</source>
        <translation>此提醒还可以推迟 %1 次。</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="173"/>
        <source>This reminder cannot be postponed any more. Change your WeChat password, then record the change.</source>
        <translation>此提醒不能再推迟。请更改微信密码，然后记录更改。</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="178"/>
        <source>We will remind you on %1.</source>
        <translation>我们将在 %1 再提醒您。</translation>
    </message>
</context>
<context>
    <name>PasswordStatus</name>
    <message>
        <location filename="../password_dialog.py" line="33"/>
        <source>unavailable (keyring)</source>
        <translation>无法读取（钥匙串不可用）</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="35"/>
        <source>loading…</source>
        <translation>正在读取…</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="37"/>
        <source>record was modified — please record your change again</source>
        <translation>记录已被修改——请重新记录您的密码更改</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="41"/>
        <source>no change recorded yet</source>
        <translation>尚未记录密码更改</translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="43"/>
        <source>no expiry (no reminders)</source>
        <translation>不过期（不提醒）</translation>
    </message>
    <message numerus="yes">
        <location filename="../password_dialog.py" line="47"/>
        <source>overdue since %1 (%n day(s))</source>
        <translation>
            <numerusform>已于 %1 到期（逾期 %n 天）</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../password_dialog.py" line="51"/>
        <source>due on %1 (in %n day(s))</source>
        <translation>
            <numerusform>将于 %1 到期（还有 %n 天）</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../password_dialog.py" line="54"/>
        <source>up to date; next change due on %1</source>
        <translation>正常；下次应在 %1 前更改</translation>
    </message>
</context>
<context>
    <name>PolicyWindow</name>
    <message>
        <location filename="../policy_window.py" line="52"/>
        <source>WeChat policy</source>
        <translation>微信管理制度</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="79"/>
        <source>The agent has not provided the policy yet; this is the default text.</source>
        <translation>代理尚未提供策略；以下为默认文本。</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="92"/>
        <source>Policy text version: %1</source>
        <translation>制度文本版本：%1</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="97"/>
        <source>I have read the policy</source>
        <translation>我已阅读本制度</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="101"/>
        <source>You acknowledged version %1</source>
        <translation>您已确认版本 %1</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="106"/>
        <source>I have read and will follow version %1</source>
        <translation>我已阅读并将遵守版本 %1</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="111"/>
        <source>A new version of the WeChat policy is in force. Please read it and confirm.</source>
        <translation>微信管理制度有新版本生效。请阅读并确认。</translation>
    </message>
</context>
<context>
    <name>ReportDialog</name>
    <message>
        <location filename="../report_dialog.py" line="106"/>
        <source>Report a security incident</source>
        <translation>报告安全事件</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="124"/>
        <source>Tell the information-security department what happened (policy article 20). Do not include passwords.</source>
        <translation>请告诉信息安全责任部门发生了什么（制度第二十条）。请勿填写密码。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="130"/>
        <source>Choose what happened…</source>
        <translation>请选择发生了什么…</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="144"/>
        <source>One line, up to %1 characters</source>
        <translation>一行，最多 %1 个字符</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="150"/>
        <source>What you saw, when, and what you already did (up to %1 characters)</source>
        <translation>您看到了什么、何时发生、已经采取了哪些措施（最多 %1 个字符）</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="160"/>
        <source>Account name or WeChat ID (optional)</source>
        <translation>账号名称或微信号（可选）</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="173"/>
        <source>Attach files…</source>
        <translation>附加文件…</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="175"/>
        <source>Attach a screenshot of the screen</source>
        <translation>附加屏幕截图</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="177"/>
        <source>Remove selected</source>
        <translation>移除所选</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="186"/>
        <source>Review before sending…</source>
        <translation>发送前检查…</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="189"/>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="193"/>
        <source>What kind of incident</source>
        <translation>事件类型</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="194"/>
        <source>When it happened</source>
        <translation>发生时间</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="195"/>
        <source>Summary</source>
        <translation>摘要</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="197"/>
        <source>What happened</source>
        <translation>事件经过</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="199"/>
        <source>Affected account</source>
        <translation>受影响的账号</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="201"/>
        <source>How to contact you</source>
        <translation>联系方式</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="203"/>
        <source>Attachments</source>
        <translation>附件</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="220"/>
        <source>This is exactly what will be sent to the security team:</source>
        <translation>以下内容将原样发送给安全团队：</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="224"/>
        <source>Back</source>
        <translation>返回</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="226"/>
        <source>Send report</source>
        <translation>发送报告</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="248"/>
        <source>Close</source>
        <translation>关闭</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="259"/>
        <location filename="../report_dialog.py" line="264"/>
        <source>%1 / %2 characters</source>
        <translation>%1 / %2 个字符</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="272"/>
        <source>Email address</source>
        <translation>邮箱地址</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="272"/>
        <source>e.g. name@example.com</source>
        <translation>例如 name@example.com</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="274"/>
        <source>Phone number</source>
        <translation>电话号码</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="275"/>
        <source>Digits, e.g. +86 138 0000 0000 or 8021 (extension)</source>
        <translation>数字，例如 +86 138 0000 0000 或分机 8021</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="277"/>
        <source>Enterprise WeChat ID</source>
        <translation>企业微信账号</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="277"/>
        <source>Optional</source>
        <translation>选填</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="297"/>
        <source>You chose email: give your email address.</source>
        <translation>选择了邮件联系，请填写邮箱地址。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="299"/>
        <source>That does not look like an email address (name@example.com).</source>
        <translation>邮箱地址格式不对，应类似 name@example.com。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="301"/>
        <source>An email address has at most %1 characters.</source>
        <translation>邮箱地址最多 %1 个字符。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="304"/>
        <source>You chose phone: give your phone number.</source>
        <translation>选择了电话联系，请填写电话号码。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="306"/>
        <source>A phone number has only digits, spaces and &apos;-&apos;, with an optional leading &apos;+&apos;.</source>
        <translation>电话号码只能包含数字、空格、“-”，开头可以有“+”。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="308"/>
        <source>A phone number has %1–%2 digits.</source>
        <translation>电话号码应有 %1–%2 位数字。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="311"/>
        <source>A phone number has at most %1 characters.</source>
        <translation>电话号码最多 %1 个字符。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="315"/>
        <source>An enterprise WeChat ID has at most %1 characters and no spaces.</source>
        <translation>企业微信账号最多 %1 个字符，不能有空格。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="318"/>
        <source>The contact details cannot be sent.</source>
        <translation>联系方式无法发送，请检查。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="321"/>
        <source>Attach files</source>
        <translation>附加文件</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="333"/>
        <source>Cannot read %1: %2</source>
        <translation>无法读取 %1：%2</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="350"/>
        <source>The screen could not be captured.</source>
        <translation>无法截取屏幕。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="364"/>
        <source>At most %1 attachments can be sent with one report.</source>
        <translation>每份报告最多附加 %1 个文件。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="371"/>
        <source>%1 is %2; each attachment must be at most %3.</source>
        <translation>%1 大小为 %2；每个附件不能超过 %3。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="394"/>
        <source>Choose what kind of incident this is.</source>
        <translation>请选择事件类型。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="397"/>
        <source>Write a one-line summary.</source>
        <translation>请填写一行摘要。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="400"/>
        <source>The summary has %1 characters; the limit is %2.</source>
        <translation>摘要有 %1 个字符，上限为 %2。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="406"/>
        <source>The description has %1 characters; the limit is %2.</source>
        <translation>事件经过有 %1 个字符，上限为 %2。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="413"/>
        <source>The time it happened cannot be in the future.</source>
        <translation>发生时间不能晚于现在。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="452"/>
        <source>Category: %1</source>
        <translation>类型：%1</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="453"/>
        <source>When: %1</source>
        <translation>时间：%1</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="454"/>
        <source>Summary: %1</source>
        <translation>摘要：%1</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="455"/>
        <source>Affected account: %1</source>
        <translation>受影响的账号：%1</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="458"/>
        <source>Contact: %1</source>
        <translation>联系方式：%1</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="461"/>
        <source>Attachments: %1</source>
        <translation>附件：%1</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="463"/>
        <source>none</source>
        <translation>无</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="466"/>
        <source>What happened:</source>
        <translation>事件经过：</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="467"/>
        <source>(no description)</source>
        <translation>（无描述）</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="470"/>
        <source>Also sent: this computer&apos;s name and your user name, so the team can reach you.</source>
        <translation>同时发送：本机名称和您的用户名，以便安全团队联系您。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="508"/>
        <source>Queued. Your report is stored safely on this computer and will be delivered to the security team as soon as the server can be reached. The case number will appear here and in My reports.</source>
        <translation>已排队。您的报告已安全保存在本机，服务器可连接时即会发送给安全团队。案件编号将显示在此处和“我的报告”中。</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="521"/>
        <source>The report was not sent: %1</source>
        <translation>报告未发送：%1</translation>
    </message>
    <message>
        <location filename="../report_dialog.py" line="531"/>
        <source>Delivered. Case number: %1. Status: %2.</source>
        <translation>已送达。案件编号：%1。状态：%2。</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <location filename="../policy_window.py" line="231"/>
        <source>wxguard settings</source>
        <translation>wxguard 设置</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="234"/>
        <source>Follow the system (%1)</source>
        <translation>跟随系统（%1）</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="240"/>
        <source>Apply</source>
        <translation>应用</translation>
    </message>
    <message>
        <location filename="../policy_window.py" line="243"/>
        <source>Language</source>
        <translation>语言</translation>
    </message>
</context>
<context>
    <name>StatusWindow</name>
    <message>
        <location filename="../status_window.py" line="35"/>
        <source>wxguard — status</source>
        <translation>wxguard — 状态</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="54"/>
        <source>Check now</source>
        <translation>立即检查</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="59"/>
        <source>Checking this computer…</source>
        <translation>正在检查本机…</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="64"/>
        <source>This computer</source>
        <translation>本机</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="81"/>
        <source>Finding</source>
        <translation>检查发现</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="81"/>
        <source>Rule</source>
        <translation>规则</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="131"/>
        <source>wxguard keeps trying to reach the agent in the background.</source>
        <translation>wxguard 会在后台继续尝试连接代理。</translation>
    </message>
    <message numerus="yes">
        <location filename="../status_window.py" line="140"/>
        <source>%n finding(s) need your attention.</source>
        <translation>
            <numerusform>有 %n 项检查发现需要您处理。</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../status_window.py" line="137"/>
        <location filename="../status_window.py" line="145"/>
        <source>%n thing(s) need your attention.</source>
        <translation>
            <numerusform>有 %n 项需要您处理。</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../status_window.py" line="148"/>
        <source>No unapproved WeChat software was found.</source>
        <translation>未发现未经许可的微信软件。</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="153"/>
        <source>Last check: %1</source>
        <translation>上次检查：%1</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="158"/>
        <source>Policy version: %1</source>
        <translation>策略版本：%1</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="159"/>
        <source>none yet</source>
        <translation>暂无</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="164"/>
        <source>%1: %2</source>
        <translation>%1：%2</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="171"/>
        <source>Managed by IT (cannot be changed here): %1</source>
        <translation>由 IT 管理（不能在此更改）：%1</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="176"/>
        <source>Not examined: %1</source>
        <translation>未检查：%1</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="186"/>
        <source>Server: this computer was revoked by IT. It no longer reports until IT enrolls it again; contact IT.</source>
        <translation>服务器：本机已被 IT 吊销，在 IT 重新登记之前不再上报；请联系 IT。</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="192"/>
        <source>Server: not enrolled (checks run on this computer only)</source>
        <translation>服务器：未注册（仅在本机检查）</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="196"/>
        <source>Server: connected (last contact %1)</source>
        <translation>服务器：已连接（上次联系 %1）</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="202"/>
        <source>Server: unreachable since %1. Reports wait on this computer (%2 queued).</source>
        <translation>服务器：自 %1 起无法连接。报告在本机等待发送（%2 项排队中）。</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="233"/>
        <source>Nothing to fix.</source>
        <translation>无需处理。</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="244"/>
        <source>What to do</source>
        <translation>需要您处理的事项</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="249"/>
        <source>Next step: %1</source>
        <translation>下一步：%1</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="264"/>
        <source>What was found</source>
        <translation>发现的内容</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="268"/>
        <source>How to fix it</source>
        <translation>处理方法</translation>
    </message>
    <message>
        <location filename="../status_window.py" line="279"/>
        <source>First seen %1, last seen %2.</source>
        <translation>首次发现 %1，最近发现 %2。</translation>
    </message>
</context>
<context>
    <name>Tray</name>
    <message>
        <location filename="../tray.py" line="149"/>
        <source>This desktop shows no tray icons, so wxguard opens this window instead. Its news appears here; reopen it from your applications menu (wxguard).</source>
        <translation>本桌面不显示托盘图标，因此 wxguard 改为打开此窗口。通知会显示在这里；关闭后可从应用程序菜单（wxguard）重新打开。</translation>
    </message>
    <message>
        <location filename="../tray.py" line="189"/>
        <source>Open wxguard status</source>
        <translation>打开 wxguard 状态</translation>
    </message>
    <message>
        <location filename="../tray.py" line="190"/>
        <source>Check now</source>
        <translation>立即检查</translation>
    </message>
    <message>
        <location filename="../tray.py" line="191"/>
        <source>Findings and how to fix them</source>
        <translation>检查发现及处理方法</translation>
    </message>
    <message>
        <location filename="../tray.py" line="192"/>
        <source>Record a WeChat password change…</source>
        <translation>记录微信密码更改…</translation>
    </message>
    <message>
        <location filename="../tray.py" line="193"/>
        <source>Report a security incident…</source>
        <translation>报告安全事件…</translation>
    </message>
    <message>
        <location filename="../tray.py" line="194"/>
        <source>My reports</source>
        <translation>我的报告</translation>
    </message>
    <message>
        <location filename="../tray.py" line="195"/>
        <source>Blocked programs…</source>
        <translation>被阻止的程序…</translation>
    </message>
    <message>
        <location filename="../tray.py" line="196"/>
        <source>WeChat policy</source>
        <translation>微信管理制度</translation>
    </message>
    <message>
        <location filename="../tray.py" line="197"/>
        <source>What wxguard collects</source>
        <translation>wxguard 收集哪些信息</translation>
    </message>
    <message>
        <location filename="../tray.py" line="198"/>
        <source>Settings…</source>
        <translation>设置…</translation>
    </message>
    <message>
        <location filename="../tray.py" line="199"/>
        <source>About wxguard</source>
        <translation>关于 wxguard</translation>
    </message>
    <message>
        <location filename="../tray.py" line="200"/>
        <source>Quit the tray (checks keep running)</source>
        <translation>退出托盘程序（检查仍会继续运行）</translation>
    </message>
    <message>
        <location filename="../tray.py" line="374"/>
        <location filename="../tray.py" line="566"/>
        <source>New finding: %1</source>
        <translation>新的检查发现：%1</translation>
    </message>
    <message>
        <location filename="../tray.py" line="453"/>
        <source>New WeChat policy</source>
        <translation>新的微信管理制度</translation>
    </message>
    <message>
        <location filename="../tray.py" line="454"/>
        <source>Please read version %1 of the WeChat policy and confirm.</source>
        <translation>请阅读微信管理制度版本 %1 并确认。</translation>
    </message>
    <message>
        <location filename="../tray.py" line="471"/>
        <location filename="../tray.py" line="655"/>
        <location filename="../tray.py" line="727"/>
        <source>%1: %2</source>
        <translation>%1：%2</translation>
    </message>
    <message>
        <location filename="../tray.py" line="477"/>
        <source>Reply: %1</source>
        <translation>回复：%1</translation>
    </message>
    <message>
        <location filename="../tray.py" line="482"/>
        <source>Your incident report was updated</source>
        <translation>您的事件报告有更新</translation>
    </message>
    <message>
        <location filename="../tray.py" line="514"/>
        <source>Would be blocked: %1</source>
        <translation>将被阻止：%1</translation>
    </message>
    <message>
        <location filename="../tray.py" line="514"/>
        <source>blocked: %1</source>
        <translation>已阻止：%1</translation>
    </message>
    <message>
        <location filename="../tray.py" line="520"/>
        <source>Not allowed by the company&apos;s WeChat policy. To get it approved: tray menu → Blocked programs → Request approval.</source>
        <translation>公司的微信使用规定不允许该程序。如需批准：托盘菜单 → 被阻止的程序 → 申请批准。</translation>
    </message>
    <message>
        <location filename="../tray.py" line="484"/>
        <source>Your incident report was received</source>
        <translation>您的安全事件报告已送达</translation>
    </message>
    <message>
        <location filename="../tray.py" line="536"/>
        <source>The check failed</source>
        <translation>检查失败</translation>
    </message>
    <message>
        <location filename="../tray.py" line="537"/>
        <source>wxguard could not check this computer; it will try again.</source>
        <translation>wxguard 未能检查本机，稍后会自动重试。</translation>
    </message>
    <message>
        <location filename="../tray.py" line="542"/>
        <location filename="../tray.py" line="546"/>
        <source>Check finished</source>
        <translation>检查完成</translation>
    </message>
    <message numerus="yes">
        <location filename="../tray.py" line="543"/>
        <source>%n finding(s) to fix.</source>
        <translation>
            <numerusform>有 %n 项发现需要处理。</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../tray.py" line="547"/>
        <source>No unapproved WeChat software was found.</source>
        <translation>未发现未经许可的微信软件。</translation>
    </message>
    <message numerus="yes">
        <location filename="../tray.py" line="577"/>
        <source>%n new finding(s)</source>
        <translation>
            <numerusform>%n 项新的检查发现</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../tray.py" line="578"/>
        <source>Open wxguard to see what was found and how to fix it.</source>
        <translation>打开 wxguard 查看发现的问题及处理方法。</translation>
    </message>
    <message>
        <location filename="../tray.py" line="597"/>
        <source>%1
The program %2 was started again.</source>
        <translation>%1
程序 %2 被再次启动。</translation>
    </message>
    <message>
        <location filename="../tray.py" line="603"/>
        <source>Started again: %1</source>
        <translation>再次启动：%1</translation>
    </message>
    <message>
        <location filename="../tray.py" line="623"/>
        <source>WeChat password: %1</source>
        <translation>微信密码：%1</translation>
    </message>
    <message>
        <location filename="../tray.py" line="626"/>
        <source>Change it in WeChat, then record the change in wxguard.</source>
        <translation>请在微信中更改密码，然后在 wxguard 中记录更改。</translation>
    </message>
    <message numerus="yes">
        <location filename="../tray.py" line="699"/>
        <source>%n finding(s) to fix</source>
        <translation>
            <numerusform>%n 项检查发现需要处理</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../tray.py" line="700"/>
        <source>Follow the numbered steps under each finding below.</source>
        <translation>按下方每项发现列出的编号步骤处理。</translation>
    </message>
    <message>
        <location filename="../tray.py" line="705"/>
        <source>This computer was revoked by IT: contact IT</source>
        <translation>本机已被 IT 吊销：请联系 IT</translation>
    </message>
    <message>
        <location filename="../tray.py" line="708"/>
        <source>No policy key: IT&apos;s policies cannot be verified; contact IT</source>
        <translation>没有策略公钥：无法验证 IT 的策略；请联系 IT</translation>
    </message>
    <message>
        <location filename="../tray.py" line="714"/>
        <source>The system keyring is missing or locked, so the age of your WeChat passwords cannot be checked</source>
        <translation>系统钥匙串未安装或已锁定，无法检查微信密码的更改时间</translation>
    </message>
    <message>
        <location filename="../tray.py" line="718"/>
        <source>Unlock your login keyring (GNOME Keyring or KWallet); if there is none, install gnome-keyring, log out and in again, or contact IT.</source>
        <translation>请解锁登录钥匙串（GNOME 钥匙串或 KWallet）；如果没有，请安装 gnome-keyring 后注销并重新登录，或联系 IT。</translation>
    </message>
    <message>
        <location filename="../tray.py" line="731"/>
        <source>Change it in WeChat, then record the change: menu “Record a WeChat password change…”.</source>
        <translation>请在微信中更改密码，然后记录更改：菜单“记录微信密码更改”。</translation>
    </message>
    <message>
        <location filename="../tray.py" line="736"/>
        <source>Record when you last changed it: menu “Record a WeChat password change…”.</source>
        <translation>请记录上次更改密码的日期：菜单“记录微信密码更改”。</translation>
    </message>
    <message>
        <location filename="../tray.py" line="743"/>
        <source>Read and confirm the new WeChat policy</source>
        <translation>阅读并确认新的微信管理制度</translation>
    </message>
    <message>
        <location filename="../tray.py" line="744"/>
        <source>Open “WeChat policy” in the menu and confirm it.</source>
        <translation>在菜单中打开“微信管理制度”并确认。</translation>
    </message>
    <message>
        <location filename="../tray.py" line="785"/>
        <source>Retrying in the background.</source>
        <translation>正在后台重试。</translation>
    </message>
    <message>
        <location filename="../tray.py" line="788"/>
        <source>Last contact: %1</source>
        <translation>上次联系：%1</translation>
    </message>
</context>
</TS>
