"""One fixture image per rule and platform: what a machine with the tool really holds.

Every rule in checks/rules/*.toml (except the integrity / unrecognised catch-alls, tested
by their owners) must have an entry here for every platform it targets; test_rules.py fails
when one is missing, so a rule cannot ship without a fixture that proves it fires.
Key `ALL` serves every platform of the rule; a platform key overrides it.
"""

from __future__ import annotations

from checks.model import Platform
from tests.checks.images import (
    Bundle,
    ChromeExtension,
    Desktop,
    Dpkg,
    File,
    FirefoxAddon,
    Flatpak,
    Folder,
    Item,
    Npm,
    Pypi,
)

ALL = "all"

HOOK_SCRIPT = (
    "import frida\nsession = frida.attach('WeChat.exe')\n"
    'session.create_script(\'Interceptor.attach(Module.findExportByName("WeChatWin.dll", "x"))\')\n'
)
DECRYPT_SCRIPT = (
    "import hashlib\n# decrypt MicroMsg.db and MSG0.db\n"
    "key = hashlib.pbkdf2_hmac('sha1', raw, salt, 64000, 32)\n"
)
UIA_SCRIPT = (
    "import uiautomation as auto\n"
    "w = auto.WindowControl(ClassName='WeChatMainWndForPC')\nauto.SendKeys('hi{Enter}')\n"
)
DB_CONFIG = '{"data_dir": "/Users/alice/Documents/xwechat_files/wxid_abc123/db_storage"}'
KEY_FILE = '{"wxid": "wxid_abc123", "key": "' + "0f" * 32 + '"}'
MCP_CONFIG = '{"mcpServers": {"wechat": {"command": "uvx", "args": ["wechat-mcp"]}}}'
L, M, W = Platform.LINUX, Platform.MACOS, Platform.WINDOWS

WECHAT_MAC = "{applications}/WeChat.app"
WECHAT_WIN = "{program_files_x86}/Tencent/WeChat"
WEIXIN_WIN = "{program_files}/Tencent/Weixin"


def official_wechat_mac(*extra: str) -> Bundle:
    """The official WeChat bundle with extra files dropped into Contents/MacOS."""
    return Bundle(WECHAT_MAC, "com.tencent.xinWeChat", "WeChat", extra_files=extra)


FIXTURES: dict[str, dict[Platform | str, list[Item]]] = {
    # --- plugins (macOS) ---------------------------------------------------------------
    "wechattweak-macos": {
        M: [
            official_wechat_mac("WeChat.bak"),
            File(f"{WECHAT_MAC}/Contents/MacOS/WeChatTweak.framework/WeChatTweak"),
            File(
                f"{WECHAT_MAC}/Contents/MacOS/WeChatTweak.framework/Versions/A/Resources/Info.plist"
            ),
        ]
    },
    "wechatextension-macos": {
        M: [
            official_wechat_mac("WeChat_backup"),
            File(f"{WECHAT_MAC}/Contents/MacOS/WeChatExtension.framework/WeChatExtension"),
            File(
                f"{WECHAT_MAC}/Contents/MacOS/WeChatExtension.framework/Resources/shieldwords.txt"
            ),
        ]
    },
    "x1a0he-wechat-plugin": {
        M: [
            official_wechat_mac("WeChat.original", "X1a0HeWeChatPlugin.dylib"),
        ]
    },
    "wechatplugin-macos-tkkk": {
        M: [
            official_wechat_mac("WeChat_backup"),
            File(f"{WECHAT_MAC}/Contents/MacOS/WeChatPlugin.framework/WeChatPlugin"),
        ]
    },
    "macos-wechat-bundle-modified": {
        M: [official_wechat_mac("libUnknownHook.dylib")],
    },
    "wechatopendevtools": {
        ALL: [
            File("{home}/Tools/WeChatOpenDevTools-Python/main.py", "import frida\n"),
            File("{home}/Tools/WeChatOpenDevTools-Python/scripts/hook.js", "// hook\n"),
        ]
    },
    # --- patchers ----------------------------------------------------------------------
    "revokemsgpatcher": {
        W: [
            File(f"{WECHAT_WIN}/WeChat.exe"),
            File(f"{WECHAT_WIN}/[3.9.12.51]/WeChatWin.dll"),
            File(f"{WECHAT_WIN}/[3.9.12.51]/WeChatWin.dll.h.bak"),
            File("{downloads}/RevokeMsgPatcher.v2.1/RevokeMsgPatcher.exe"),
        ]
    },
    "betterwx": {
        W: [
            File(f"{WEIXIN_WIN}/Weixin.exe"),
            File(f"{WEIXIN_WIN}/Weixin2.exe"),
            File(f"{WEIXIN_WIN}/4.0.5.26/Weixin.dll"),
            File(f"{WEIXIN_WIN}/4.0.5.26/Weixin.dl2"),
            Folder("{localappdata}/com.betterwx-ui.app/EBWebView"),
        ]
    },
    "wechattweak-patcher-macos": {
        M: [
            official_wechat_mac(),
            File("{root}/opt/homebrew/Cellar/wechattweak/1.0/bin/wechattweak"),
            File("{root}/opt/homebrew/bin/wechattweak"),
        ]
    },
    # --- multi-open --------------------------------------------------------------------
    "wechatmo": {
        W: [
            File(f"{WECHAT_WIN}/WeChat.exe"),
            File(f"{WECHAT_WIN}/[3.9.10.19]/WeChatWin.dll"),
            File(f"{WECHAT_WIN}/[3.9.10.19]/WeChatWin.bak"),
        ]
    },
    "wechat-multi-manager": {
        W: [
            File("{desktop}/微信多开/微信多开管理器.exe"),
            File("{desktop}/微信多开/external_res/SunnyMultiWxMng.ico"),
            File("{desktop}/微信多开/external_res/handle.exe"),
            File("{desktop}/微信多开/user_files/statistics.json", "{}"),
        ]
    },
    "multiwechat-shilyx": {W: [File("{desktop}/MultiWeChat/MultiWeChat.exe")]},
    # --- bot frameworks ----------------------------------------------------------------
    "wechatferry": {ALL: [Pypi("wcferry", "39.6.0.0")]},
    "wxhelper-ttttupup": {
        W: [
            File("{downloads}/wxhelper/3.9.5.81-v11-wxhelper.dll"),
            File("{downloads}/wxhelper/微信DLL注入器V1.0.3.exe"),
        ]
    },
    "wxhook-pypi": {
        W: [
            Pypi("wxhook", "0.0.10"),
            File("{site_packages}/wxhook/tools/wxhook.dll"),
            File("{site_packages}/wxhook/tools/start-wechat.exe"),
        ]
    },
    "wechatpyapi": {
        W: [
            File("{documents}/WeChatPYAPI/WeChatPYAPI.cp39-win_amd64.pyd"),
            File("{documents}/WeChatPYAPI/libs/WeChatApi.dll"),
            File("{documents}/WeChatPYAPI/libs/inject_tool.exe"),
        ]
    },
    "ntwork-wecom": {W: [Pypi("ntwork", "0.1.3")]},
    "wechaty": {
        ALL: [
            Npm("wechaty", "1.20.2", folder="{home}/bots/node_modules"),
            Npm("wechaty-puppet-wechat4u", "1.14.14", folder="{home}/bots/node_modules"),
        ]
    },
    "wechaty-puppet-xp": {
        W: [Npm("wechaty-puppet-xp", "1.13.12", folder="{home}/xp-bot/node_modules")]
    },
    "itchat": {
        ALL: [
            Pypi("itchat-uos", "1.4.1"),
            File("{home}/bots/itchat.pkl"),
        ]
    },
    "wxpy": {ALL: [Pypi("wxpy", "0.3.9.8"), File("{home}/bots/wxpy.pkl")]},
    "wxauto": {
        W: [
            Pypi("wxautox", "39.1.42"),
            Folder("{desktop}/autoreply/wxauto文件"),
        ]
    },
    "pywechat-pyweixin": {W: [Pypi("pywechat127", "1.9.8")]},
    "pywechatspy": {
        W: [
            Pypi("PyWeChatSpy", "1.3.7"),
            File("{home}/projects/PyWeChatSpy/1644691589/WeChatSpy.dll"),
        ]
    },
    "gewechat": {
        ALL: [Pypi("gewechat-client", "0.2.2")],
        L: [Npm("gewechaty", "0.0.8", folder="{home}/gewe-bot/node_modules")],
    },
    "wechat-pyrobot": {W: [Pypi("wechat-pyrobot", "1.3.0")]},
    "wechat-pc-automation-libs": {
        W: [Pypi("wechatauto-replica", "1.2.8.1"), Pypi("wechatbot-new", "2.2.8.4")]
    },
    "wechat-protocol-bot-libs": {ALL: [Pypi("wxrobot", "0.13")]},
    "wechat4u": {ALL: [Npm("wechat4u", "0.7.14", folder="{home}/wx/node_modules")]},
    "chatgpt-on-wechat": {
        ALL: [
            File("{home}/code/chatgpt-on-wechat/app.py", "# bot\n"),
            File("{home}/code/chatgpt-on-wechat/config.json", "{}"),
        ]
    },
    "wxbot-webweixin": {ALL: [Pypi("wxbot", "1.2.2")]},
    "wechat-mcp-servers": {
        W: [Pypi("wechat-mcp", "0.1.11")],
        M: [Pypi("wechat-mcp-macos", "0.1.1")],
    },
    # --- database dumpers --------------------------------------------------------------
    "pywxdump": {
        ALL: [Pypi("pywxdump", "3.1.46")],
        W: [
            File("{desktop}/wxdump.exe"),
            File("{desktop}/wxdump_work/wxdump.log", "log\n"),
            File("{desktop}/wxdump_work/wxid_abc/merge_all.db"),
        ],
    },
    "memotrace-wechatmsg": {
        W: [
            File("{documents}/MemoTrace/MemoTrace.exe"),
            File("{documents}/MemoTrace/app/Database/Msg/MicroMsg.db"),
            File("{documents}/MemoTrace/app/Database/Msg/MSG.db"),
        ]
    },
    "wechat-dump-rs": {W: [File("{downloads}/wechat-dump-rs/wechat-dump-rs.exe")]},
    "wechat-dump-android": {
        ALL: [
            File("{home}/phone-backup/EnMicroMsg.db"),
            File("{home}/src/wechat-dump/android-interact.sh", "#!/bin/bash\n"),
        ]
    },
    "wechat-decipher-macos": {M: [File("{home}/src/wechat-decipher-macos/README.md", "DMCA\n")]},
    "sharpwxdump": {W: [File("{desktop}/tools/SharpWxDump.exe")]},
    "wechatbaktool": {
        W: [
            File("{program_files}/WechatBakTool/WechatBakTool.exe"),
            File("{program_files}/WechatBakTool/Tools/handle64.exe"),
        ]
    },
    "chatlog-sjzar": {
        ALL: [File("{home}/.chatlog/chatlog.json", '{"history": [], "last_account": "wx"}')]
    },
    "wxdb-pypi": {W: [Pypi("wxdb", "0.0.9")]},
    "wxq-chat-query": {ALL: [Pypi("wxq", "1.0.0")]},
    "wechatdbkey": {W: [File("{home}/go/src/WeChatDBKey/WeChatDBKey.exe")]},
    "wx-key": {
        W: [
            File("{downloads}/wx_key-windows-v2.1.8.zip"),
            File("{downloads}/wx_key-windows-v2.1.8/wx_key.exe"),
        ]
    },
    "echotrace": {
        W: [
            File("{desktop}/EchoTrace/echotrace.exe"),
            File("{desktop}/EchoTrace/data/flutter_assets/AssetManifest.json", "{}"),
        ]
    },
    "wechatdatabackup": {W: [File("{downloads}/wechatDataBackup/wechatDataBackup.exe")]},
    "wechatexporter-ios": {
        W: [File("{downloads}/v1.8.0.2_x64_win/WechatExport.exe")],
        M: [Bundle("{applications}/WechatExporter.app", "org.example.WechatExporter")],
    },
    # --- unofficial clients ------------------------------------------------------------
    "electronic-wechat": {
        M: [
            Bundle(
                "{applications}/Electronic WeChat.app",
                "com.electron.electronic-wechat",
                "Electronic WeChat",
            )
        ],
        L: [File("{home}/.ew.json", "{}")],
        W: [File("{home}/.ew.json", "{}")],
    },
    "deepin-wine-wechat": {
        L: [
            Dpkg("com.qq.weixin.deepin", "3.9.0.28deepin11"),
            File("{root}/opt/apps/com.qq.weixin.deepin/files/run.sh", "#!/bin/sh\n"),
            Desktop(
                "com.qq.weixin.deepin.desktop",
                "WeChat",
                "/opt/apps/com.qq.weixin.deepin/files/run.sh -u %u",
            ),
        ]
    },
    "wechat-linux-community-repackage": {
        L: [
            File("{root}/usr/bin/wechat-uos", "#!/bin/sh\n"),
            File("{root}/usr/lib/wechat-uos/license/etc/lsb-release"),
            Desktop("wechat-uos.desktop", "WeChat (UOS)", "/usr/bin/wechat-uos %U"),
            Flatpak("com.tencent.WeChat"),
        ]
    },
    # --- what a file or package is (content, metadata, configurations) ------------------
    "wechat-hook-injector-code": {
        ALL: [File("{downloads}/wxtools/inject.py", HOOK_SCRIPT)],
    },
    "wechat-db-decryptor-code": {
        ALL: [File("{documents}/dec/decrypt.py", DECRYPT_SCRIPT)],
    },
    "wechat-ui-automation-code": {W: [File("{desktop}/autoreply/reply.py", UIA_SCRIPT)]},
    "wechat-db-config": {ALL: [File("{documents}/ai-reader/config.json", DB_CONFIG)]},
    "wechat-extracted-db-key": {ALL: [File("{desktop}/out/key.json", KEY_FILE)]},
    "mcp-wechat-tool": {
        L: [File("{config}/Claude/claude_desktop_config.json", MCP_CONFIG)],
        M: [File("{app_support}/Claude/claude_desktop_config.json", MCP_CONFIG)],
        W: [File("{appdata}/Claude/claude_desktop_config.json", MCP_CONFIG)],
    },
    "package-meta-db-dumper": {ALL: [Pypi("wxchat-history-export", summary="导出微信聊天记录")]},
    "package-meta-injection": {ALL: [Pypi("wx-norevoke", summary="PC微信防撤回插件")]},
    "package-meta-bot": {
        ALL: [Npm("my-wx-helper", folder="{home}/bots/node_modules", dependencies=("wechaty",))]
    },
    "package-meta-multi-open": {ALL: [Pypi("wx-launcher", summary="微信多开启动器")]},
    # --- researched 2023-2026 -----------------------------------------------------------
    "chatautox": {W: [Pypi("chatautox", "6.9.1")]},
    "pgwxauto": {W: [Pypi("pgwxauto", "0.2.6")]},
    "pywxauto-miloira": {W: [Pypi("pywxauto", "1.1.0")]},
    "weclaw-cua": {ALL: [Pypi("weclaw-cua", "0.2.2")]},
    "comwechatrobot": {
        W: [
            Pypi("whochat", "1.3.5"),
            File("{site_packages}/whochat/ComWeChatRobot/CWeChatRobot.exe", b"MZ"),
            File("{home}/tools/ComWeChatRobot/CWeChatRobot.exe", b"MZ"),
        ]
    },
    "pywxdll": {W: [Pypi("pywxdll", "0.2.4")]},
    "ntchat": {W: [Pypi("ntchat2", "1.0.3")]},
    "qianxun-framework": {W: [Pypi("qianxun-wechat-sdk", "0.0.3")]},
    "reywechat": {W: [Pypi("reywechat", "1.0.1")]},
    "wechat-cli-frida": {ALL: [Pypi("wechat-cli", "0.2.5")]},
    "wechat-copilot": {M: [Pypi("wechat-copilot", "0.0.1")]},
    "wechat-claudecode-mcp": {ALL: [Pypi("wechat-claudecode-mcp", "0.1.0")]},
    "wdecipher": {W: [Pypi("wdecipher", "0.0.1")]},
    "daochu": {ALL: [Pypi("daochu", "0.2.0")]},
    "wechat-ios-backup-extractors": {ALL: [Pypi("wechat-backup", "2.1.0")]},
    # --- browser extensions ------------------------------------------------------------
    "wechat-need-web": {
        ALL: [ChromeExtension("kpjlemlmgdhebfgbelknhlmmkcdfkkgn", "wechat-need-web")],
        L: [FirefoxAddon("wechat-need-web@lqzh", "wechat-need-web")],
    },
}


def fixture_for(rule_id: str, platform: Platform) -> list[Item] | None:
    """The fixture items of a rule on a platform (platform entry, else the ALL entry)."""
    entry = FIXTURES.get(rule_id)
    if entry is None:
        return None
    if platform in entry:
        items = list(entry[platform])
        return items + list(entry.get(ALL, [])) if ALL in entry else items
    return list(entry[ALL]) if ALL in entry else None
