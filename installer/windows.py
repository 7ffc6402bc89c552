"""The Windows package sources: a WiX v4 installer definition (the agent as a service, the tray
at logon, SERVER_URL / ENROLLMENT_SECRET as MSI properties written under
HKLM\\SOFTWARE\\Policies\\wxguard) and an ADMX/ADML pair (en-US, zh-CN) for Group Policy.

The MSI itself is built on Windows by `build.ps1`; everything here is generated with
ElementTree and checked by `validate_windows`.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from agent import config
from installer.spec import WINDOWS_POLICY_KEY, BuildError, BuildSpec

WIX_NS = "http://wixtoolset.org/schemas/v4/wxs"
ADMX_NS = "http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions"
UPGRADE_CODE = "{6F1C2B9E-4D3A-4C8B-9E7F-2A5D8C1B3E40}"  # never change: it ties upgrades together
SERVICE = "wxguard-agent"
RUN_KEY = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Run"
# The policy key holds the secret, so only SYSTEM and Administrators may read it (the tray learns
# which keys are managed from the agent, not from the registry).
ONLY_ADMINS = "D:PAI(A;;KA;;;SY)(A;;KA;;;BA)"
LANGUAGES = ("en-US", "zh-CN")


_NAME_OF_KEY = {key: name for name, key in config.WINDOWS_VALUE_NAMES.items()}


@dataclass(frozen=True)
class GpoSetting:
    """One agent setting as a registry value under HKLM\\SOFTWARE\\Policies\\wxguard: the value
    name is the agent's (agent.config.WINDOWS_VALUE_NAMES), the range the agent's limits."""

    key: str  # agent/config.py key
    kind: str  # text | decimal | enum
    title: dict[str, str]
    help: dict[str, str]
    choices: tuple[str, ...] = ()

    @property
    def value_name(self) -> str:
        return _NAME_OF_KEY[self.key]

    @property
    def low(self) -> int:
        return math.ceil(config._LIMITS[self.key][0])

    @property
    def high(self) -> int:
        return math.floor(config._LIMITS[self.key][1])


# Every Group Policy value the agent reads (agent.config.WINDOWS_VALUE_NAMES) but the secret:
# GPOs are readable by every domain user, so the secret comes only from the MSI property.
GPO_SETTINGS = (
    GpoSetting(
        "server_url",
        "text",
        {"en-US": "Central server", "zh-CN": "中心服务器"},
        {
            "en-US": "The wxguard server's URL, e.g. https://wxguard.corp.example.",
            "zh-CN": "wxguard 服务器地址，例如 https://wxguard.corp.example。",
        },
    ),
    GpoSetting(
        "ca_file",
        "text",
        {"en-US": "Pinned CA certificate", "zh-CN": "固定的 CA 证书"},
        {
            "en-US": "PEM file of the CA that signed the server's TLS certificate.",
            "zh-CN": "签发服务器 TLS 证书的 CA 的 PEM 文件路径。",
        },
    ),
    GpoSetting(
        "policy_public_key",
        "text",
        {"en-US": "Policy public key", "zh-CN": "策略公钥"},
        {
            "en-US": "PEM file of the server's Ed25519 policy key (policy-public.pem).",
            "zh-CN": "服务器 Ed25519 策略公钥（policy-public.pem）的路径。",
        },
    ),
    GpoSetting(
        "scan_interval_s",
        "decimal",
        {"en-US": "Full scan interval (seconds)", "zh-CN": "完整扫描间隔（秒）"},
        {
            "en-US": "Seconds between full scans (60 to 604800); the signed policy may set it.",
            "zh-CN": "两次完整扫描之间的秒数（60 至 604800）；签名策略可覆盖。",
        },
    ),
    GpoSetting(
        "heartbeat_interval_s",
        "decimal",
        {"en-US": "Heartbeat interval (seconds)", "zh-CN": "心跳间隔（秒）"},
        {
            "en-US": "Seconds between heartbeats to the server (30 to 86400).",
            "zh-CN": "向服务器发送心跳的间隔秒数（30 至 86400）。",
        },
    ),
    GpoSetting(
        "log_level",
        "enum",
        {"en-US": "Log level", "zh-CN": "日志级别"},
        {"en-US": "The agent's log level.", "zh-CN": "代理的日志级别。"},
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    ),
    GpoSetting(
        "language",
        "enum",
        {"en-US": "Language", "zh-CN": "语言"},
        {
            "en-US": "Language of the agent's messages: follow Windows, Chinese or English.",
            "zh-CN": "代理消息的语言：跟随 Windows、中文或英文。",
        },
        choices=("", "zh", "en"),
    ),
    GpoSetting(
        "enforcement_grace_s",
        "decimal",
        {"en-US": "Enforcement grace period (seconds)", "zh-CN": "强制执行宽限期（秒）"},
        {
            "en-US": "In enforce mode, seconds between the warning and ending a denied client.",
            "zh-CN": "强制模式下，从警告到结束被禁止客户端之间的秒数。",
        },
    ),
    GpoSetting(
        "report_refresh_s",
        "decimal",
        {"en-US": "Report status refresh (seconds)", "zh-CN": "报告状态刷新间隔（秒）"},
        {
            "en-US": "How often the status and replies of employees' reports are fetched.",
            "zh-CN": "获取员工报告状态与回复的间隔秒数。",
        },
    ),
)
_CHOICE_NAMES = {
    "": {"en-US": "Follow Windows", "zh-CN": "跟随 Windows"},
    "zh": {"en-US": "Chinese", "zh-CN": "中文"},
    "en": {"en-US": "English", "zh-CN": "英文"},
}


def _choice_id(setting: GpoSetting, choice: str) -> str:
    return f"{setting.value_name}_{choice or 'System'}"


def _tostring(root: ElementTree.Element) -> str:
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(root, "unicode") + "\n"


def admx() -> str:
    ElementTree.register_namespace("", ADMX_NS)

    def el(parent: ElementTree.Element, tag: str, **attrs: str) -> ElementTree.Element:
        return ElementTree.SubElement(parent, f"{{{ADMX_NS}}}{tag}", attrs)

    root = ElementTree.Element(
        f"{{{ADMX_NS}}}policyDefinitions", revision="1.0", schemaVersion="1.0"
    )
    namespaces = el(root, "policyNamespaces")
    el(namespaces, "target", prefix="wxguard", namespace="Company.Policies.Wxguard")
    el(root, "resources", minRequiredRevision="1.0")
    supported = el(el(root, "supportedOn"), "definitions")
    el(supported, "definition", name="SUPPORTED_wxguard", displayName="$(string.SUPPORTED_wxguard)")
    el(el(root, "categories"), "category", name="wxguard", displayName="$(string.Category_wxguard)")
    policies = el(root, "policies")
    for setting in GPO_SETTINGS:
        name = setting.value_name
        policy = el(
            policies,
            "policy",
            name=name,
            **{"class": "Machine"},
            displayName=f"$(string.{name})",
            explainText=f"$(string.{name}_Help)",
            presentation=f"$(presentation.{name})",
            key=WINDOWS_POLICY_KEY,
        )
        el(policy, "parentCategory", ref="wxguard")
        el(policy, "supportedOn", ref="SUPPORTED_wxguard")
        elements = el(policy, "elements")
        if setting.kind == "text":
            el(elements, "text", id=name, valueName=name, required="true")
        elif setting.kind == "decimal":
            el(
                elements,
                "decimal",
                id=name,
                valueName=name,
                required="true",
                minValue=str(setting.low),
                maxValue=str(setting.high),
            )
        else:
            enum = el(elements, "enum", id=name, valueName=name, required="true")
            for choice in setting.choices:
                item = el(enum, "item", displayName=f"$(string.{_choice_id(setting, choice)})")
                el(el(item, "value"), "string").text = choice
    return _tostring(root)


def adml(language: str) -> str:
    ElementTree.register_namespace("", ADMX_NS)

    def el(
        parent: ElementTree.Element, tag: str, text: str | None = None, **attrs: str
    ) -> ElementTree.Element:
        node = ElementTree.SubElement(parent, f"{{{ADMX_NS}}}{tag}", attrs)
        node.text = text
        return node

    zh = language == "zh-CN"
    root = ElementTree.Element(
        f"{{{ADMX_NS}}}policyDefinitionResources", revision="1.0", schemaVersion="1.0"
    )
    el(root, "displayName", "wxguard")
    el(root, "description", "wxguard 微信合规代理设置" if zh else "wxguard agent settings")
    resources = el(root, "resources")
    strings = el(resources, "stringTable")
    el(
        strings,
        "string",
        "wxguard 0.1 及以上" if zh else "wxguard 0.1 and later",
        id="SUPPORTED_wxguard",
    )
    el(
        strings,
        "string",
        "wxguard 微信合规" if zh else "wxguard (WeChat policy)",
        id="Category_wxguard",
    )
    presentations = el(resources, "presentationTable")
    for setting in GPO_SETTINGS:
        name = setting.value_name
        el(strings, "string", setting.title[language], id=name)
        el(strings, "string", setting.help[language], id=f"{name}_Help")
        presentation = el(presentations, "presentation", id=name)
        if setting.kind == "text":
            box = el(presentation, "textBox", refId=name)
            el(box, "label", setting.title[language])
        elif setting.kind == "decimal":
            el(presentation, "decimalTextBox", setting.title[language], refId=name)
        else:
            for choice in setting.choices:
                label = _CHOICE_NAMES[choice][language] if choice in _CHOICE_NAMES else choice
                el(strings, "string", label, id=_choice_id(setting, choice))
            el(presentation, "dropdownList", setting.title[language], refId=name, noSort="true")
    return _tostring(root)


def _guid(name: str) -> str:
    return "{" + str(uuid.uuid5(uuid.UUID(UPGRADE_CODE), name)).upper() + "}"


def wxs(spec: BuildSpec) -> str:
    ElementTree.register_namespace("", WIX_NS)

    def el(parent: ElementTree.Element, tag: str, **attrs: str) -> ElementTree.Element:
        return ElementTree.SubElement(parent, f"{{{WIX_NS}}}{tag}", attrs)

    msi_version = ".".join(re.findall(r"\d+", spec.version)[:3]) or "0.0.0"
    root = ElementTree.Element(f"{{{WIX_NS}}}Wix")
    package = el(
        root,
        "Package",
        Name="wxguard",
        Manufacturer="Company IT",
        Version=msi_version,
        UpgradeCode=UPGRADE_CODE,
        Scope="perMachine",
        Compressed="yes",
    )
    el(
        package,
        "MajorUpgrade",
        DowngradeErrorMessage="A newer version of wxguard is installed; uninstall it first. "
        "已安装更新版本的 wxguard，请先卸载。",
    )
    el(package, "MediaTemplate", EmbedCab="yes")
    # Baked defaults; `msiexec /i wxguard.msi /qn SERVER_URL=… ENROLLMENT_SECRET=…` overrides.
    el(package, "Property", Id="SERVER_URL", Value=spec.server_url, Secure="yes")
    secret = el(package, "Property", Id="ENROLLMENT_SECRET", Secure="yes", Hidden="yes")
    if spec.secret:
        secret.set("Value", spec.secret)
    program_files = el(package, "StandardDirectory", Id="ProgramFiles64Folder")
    install = el(program_files, "Directory", Id="INSTALLFOLDER", Name="wxguard")
    el(install, "Directory", Id="APPDIR", Name="app")
    el(install, "Directory", Id="ETCDIR", Name="etc")

    service = el(
        package, "Component", Id="AgentService", Directory="INSTALLFOLDER", Guid=_guid("service")
    )
    el(service, "File", Id="ServiceWrapper", Source="winsw\\wxguard-service.exe", KeyPath="yes")
    el(service, "File", Id="ServiceConfig", Source="winsw\\wxguard-service.xml")
    el(
        service,
        "ServiceInstall",
        Id="AgentServiceInstall",
        Name=SERVICE,
        DisplayName="wxguard compliance agent",
        Description="Checks this PC against the WeChat policy and reports to IT.",
        Type="ownProcess",
        Start="auto",
        Account="LocalSystem",
        ErrorControl="normal",
        Vital="yes",
    )
    el(
        service,
        "ServiceControl",
        Id="AgentServiceControl",
        Name=SERVICE,
        Start="install",
        Stop="both",
        Remove="uninstall",
        Wait="yes",
    )
    keys = el(package, "Component", Id="PinnedKeys", Directory="ETCDIR", Guid=_guid("keys"))
    el(keys, "File", Id="PolicyKey", Source="etc\\policy-public.pem", KeyPath="yes")
    if spec.ca_pem:
        el(keys, "File", Id="ServerCa", Source="etc\\server-ca.pem")

    policies = el(
        package,
        "Component",
        Id="ManagedSettings",
        Directory="INSTALLFOLDER",
        Guid=_guid("policies"),
    )
    reg = el(policies, "RegistryKey", Root="HKLM", Key=WINDOWS_POLICY_KEY)
    el(reg, "PermissionEx", Sddl=ONLY_ADMINS)
    el(
        reg,
        "RegistryValue",
        Name=_NAME_OF_KEY["server_url"],
        Type="string",
        Value="[SERVER_URL]",
        KeyPath="yes",
    )
    el(
        reg,
        "RegistryValue",
        Name=_NAME_OF_KEY["policy_public_key"],
        Type="string",
        Value="[ETCDIR]policy-public.pem",
    )
    if spec.ca_pem:
        el(
            reg,
            "RegistryValue",
            Name=_NAME_OF_KEY["ca_file"],
            Type="string",
            Value="[ETCDIR]server-ca.pem",
        )
    by_key = {s.key: s for s in GPO_SETTINGS}
    for key, value in spec.settings.items():
        setting = by_key.get(key)
        if setting is None:
            continue  # fractions have no registry type nor Group Policy name (docs/deploy.md)
        if setting.kind == "decimal":
            if float(value) != int(value):
                raise BuildError(
                    f"Windows 注册表只能保存整数：{key}={value}",
                    f"Windows policy values are whole numbers: {key}={value}",
                )
            el(reg, "RegistryValue", Name=setting.value_name, Type="integer", Value=str(int(value)))
        else:
            el(reg, "RegistryValue", Name=setting.value_name, Type="string", Value=str(value))

    secret_comp = el(
        package,
        "Component",
        Id="EnrollmentSecret",
        Directory="INSTALLFOLDER",
        Guid=_guid("secret"),
        Condition="ENROLLMENT_SECRET",
    )
    el(
        secret_comp,
        "RegistryValue",
        Root="HKLM",
        Key=WINDOWS_POLICY_KEY,
        Name=_NAME_OF_KEY["enrollment_secret"],
        Type="string",
        Value="[ENROLLMENT_SECRET]",
        KeyPath="yes",
    )
    tray = el(package, "Component", Id="TrayAtLogon", Directory="INSTALLFOLDER", Guid=_guid("tray"))
    el(
        tray,
        "RegistryValue",
        Root="HKLM",
        Key=RUN_KEY,
        Name="wxguard-tray",
        Type="string",
        Value='"[APPDIR]python\\pythonw.exe" -I -B -m gui.main',
        KeyPath="yes",
    )
    feature = el(package, "Feature", Id="Main", Title="wxguard")
    for ref in ("AgentService", "PinnedKeys", "ManagedSettings", "EnrollmentSecret", "TrayAtLogon"):
        el(feature, "ComponentRef", Id=ref)
    el(feature, "ComponentGroupRef", Id="AppFiles")  # harvested from app\ by build.ps1
    return _tostring(root)


def winsw_config() -> str:
    root = ElementTree.Element("service")
    for tag, text in (
        ("id", SERVICE),
        ("name", "wxguard compliance agent"),
        ("description", "Checks this PC against the WeChat policy and reports to IT."),
        ("executable", "%BASE%\\app\\python\\python.exe"),
        (
            "arguments",
            '-I -B -c "import sys; from agent.cli import main; sys.exit(main())" '
            "agent run --mode system",
        ),
        ("startmode", "Automatic"),
        ("stoptimeout", "30 sec"),
    ):
        ElementTree.SubElement(root, tag).text = text
    ElementTree.SubElement(root, "onfailure", action="restart", delay="10 sec")
    ElementTree.SubElement(root, "log", mode="roll-by-size")
    return _tostring(root)


BUILD_PS1 = r"""# Build wxguard-@VERSION@.msi on Windows (PowerShell, from this folder). Needs: the wxguard
# source tree, Python 3.11 (py launcher) for pip, python.org's embeddable Python 3.11 zip,
# WinSW x64 (the service wrapper), and the WiX v4 tool with heat:
#   dotnet tool install --global wix --version 4.*
#   wix extension add -g WixToolset.Util.wixext/4
#   .\build.ps1 -Source C:\src\wxguard -EmbedZip python-3.11.9-embed-amd64.zip -WinSW WinSW-x64.exe
param(
    [Parameter(Mandatory)] [string] $Source,
    [Parameter(Mandatory)] [string] $EmbedZip,
    [Parameter(Mandatory)] [string] $WinSW
)
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot
Remove-Item -Recurse -Force app -ErrorAction SilentlyContinue
Expand-Archive $EmbedZip -DestinationPath app\python
# The embeddable Python ignores site-packages until its ._pth file names them; it also skips
# .pth files, so pywin32's folders (named pipe, tokens, DACLs) are listed here by hand.
$pth = Get-ChildItem app\python\python3*._pth | Select-Object -First 1
Add-Content $pth.FullName "Lib\site-packages"
Add-Content $pth.FullName "Lib\site-packages\win32"
Add-Content $pth.FullName "Lib\site-packages\win32\lib"
py -3.11 -m pip install --no-compile --target app\python\Lib\site-packages "$Source[gui]"
Copy-Item $WinSW winsw\wxguard-service.exe
wix heat dir app -cg AppFiles -dr APPDIR -gg -srd -sreg -scom -var var.AppDir -out app.wxs
wix build -arch x64 -ext WixToolset.Util.wixext -d AppDir=app wxguard.wxs app.wxs -o wxguard-@VERSION@.msi
Write-Host "built wxguard-@VERSION@.msi"
"""


def build_windows(spec: BuildSpec, out: Path) -> Path:
    """Write the Windows package sources to `out`; returns the folder."""
    files = {
        "wxguard.wxs": wxs(spec),
        "winsw/wxguard-service.xml": winsw_config(),
        "etc/policy-public.pem": spec.policy_key_pem,
        "policy/wxguard.admx": admx(),
        "build.ps1": BUILD_PS1.replace("@VERSION@", spec.version),
    }
    for language in LANGUAGES:
        files[f"policy/{language}/wxguard.adml"] = adml(language)
    if spec.ca_pem:
        files["etc/server-ca.pem"] = spec.ca_pem
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        os.chmod(path, 0o600 if name == "wxguard.wxs" else 0o644)
    validate_windows(out)
    return out


def _q(tag: str) -> str:
    return f"{{{ADMX_NS}}}{tag}"


def validate_windows(out: Path) -> None:
    """Well-formed XML; the ADMX has the schema's sections in order; every $(string.X) and
    $(presentation.X) it names exists in each ADML; the .wxs has what silent installs need."""
    admx_root = ElementTree.parse(out / "policy" / "wxguard.admx").getroot()
    if admx_root.tag != _q("policyDefinitions"):
        raise BuildError("ADMX 根元素错误", f"ADMX root is {admx_root.tag}")
    order = [child.tag.split("}")[1] for child in admx_root]
    expected = ["policyNamespaces", "resources", "supportedOn", "categories", "policies"]
    if order != expected:
        raise BuildError("ADMX 结构错误", f"ADMX sections {order}, expected {expected}")
    text = ElementTree.tostring(admx_root, "unicode")
    wanted_strings = set(re.findall(r"\$\(string\.([A-Za-z0-9_]+)\)", text))
    wanted_presentations = set(re.findall(r"\$\(presentation\.([A-Za-z0-9_]+)\)", text))
    element_ids: dict[str, set[str]] = {}
    for policy in admx_root.iter(_q("policy")):
        if policy.get("key") != WINDOWS_POLICY_KEY or policy.get("class") != "Machine":
            raise BuildError("ADMX 策略键错误", f"policy {policy.get('name')}: wrong key/class")
        elements = policy.find(_q("elements"))
        ids = {e.get("id", "") for e in elements} if elements is not None else set()
        element_ids[policy.get("name", "")] = ids
    for language in LANGUAGES:
        path = out / "policy" / language / "wxguard.adml"
        root = ElementTree.parse(path).getroot()
        if root.tag != _q("policyDefinitionResources"):
            raise BuildError("ADML 根元素错误", f"{path}: root is {root.tag}")
        strings = {s.get("id") for s in root.iter(_q("string")) if (s.text or "").strip()}
        missing = wanted_strings - strings
        if missing:
            raise BuildError(
                f"{path} 缺少字符串 {sorted(missing)}", f"{path} lacks strings {sorted(missing)}"
            )
        presentations = {p.get("id"): p for p in root.iter(_q("presentation"))}
        missing = wanted_presentations - set(presentations)
        if missing:
            raise BuildError(
                f"{path} 缺少 {sorted(missing)}", f"{path} lacks presentations {sorted(missing)}"
            )
        for name, ids in element_ids.items():
            refs = {c.get("refId") for c in presentations[name]}
            if refs != ids:
                raise BuildError(f"{path}: {name} 不匹配", f"{path}: {name} refIds {refs} != {ids}")
    wix = ElementTree.parse(out / "wxguard.wxs").getroot()
    found = {e.tag.split("}")[1] for e in wix.iter()}
    for tag in ("Package", "MajorUpgrade", "ServiceInstall", "ServiceControl", "RegistryKey"):
        if tag not in found:
            raise BuildError(f".wxs 缺少 {tag}", f"wxguard.wxs lacks <{tag}>")
    properties = {p.get("Id") for p in wix.iter(f"{{{WIX_NS}}}Property")}
    if not {"SERVER_URL", "ENROLLMENT_SECRET"} <= properties:
        raise BuildError(".wxs 缺少属性", "wxguard.wxs lacks SERVER_URL / ENROLLMENT_SECRET")
    ElementTree.parse(out / "winsw" / "wxguard-service.xml")
