"""Clean machines: the official clients at their real places, the name traps, ordinary software.

None of this may produce a finding. The name traps are programs and packages whose names
look like WeChat's but are not WeChat: WeeChat (an IRC client), wxWidgets / wxPython /
wxMaxima (`wx`), wechatpy (a server SDK for official accounts), mini-program typings.
"""

from __future__ import annotations

from checks.model import Platform
from tests.checks.images import (
    Bundle,
    ChromeExtension,
    Desktop,
    Dpkg,
    File,
    Flatpak,
    Folder,
    Item,
    LaunchAgent,
    Npm,
    Pypi,
    StartupShortcut,
    XdgAutostart,
)

# Traps every platform can hold: Python and npm packages named like WeChat / wx.
_PACKAGE_TRAPS: list[Item] = [
    Pypi("wechatpy", "1.8.18"),
    Pypi("wxPython", "4.2.1"),
    Pypi("wxautocompletectrl", "1.0.0"),
    Pypi("werobot", "1.13.1"),
    # WeCom group-robot webhook clients call Tencent's documented server API: not bots of ours.
    Pypi("wechat-work-webhook", "0.0.2"),
    Pypi("wxworkbot", "0.0.2"),
    Pypi("requests", "2.32.3"),
    Pypi("frida", "16.5.9"),
    Pypi("uiautomation", "2.0.29"),
    Npm("miniprogram-api-typings", "5.2.3", folder="{home}/miniapp/node_modules"),
    Npm("@types/wechat-miniprogram", "1.0.0", folder="{home}/miniapp/node_modules"),
    Npm("typescript", "5.6.3", folder="{home}/miniapp/node_modules"),
    Npm("miniprogram-ci", "2.1.42", folder="{home}/miniapp/node_modules"),
    Npm("minigame-api-typings", "3.8.20", folder="{home}/miniapp/node_modules"),
    Npm("@dcloudio/uni-mp-weixin", "2.0.0", folder="{home}/miniapp/node_modules"),
    Npm("jweixin-module", "1.6.0", folder="{home}/miniapp/node_modules"),
    Npm("passport-wechat", "2.0.4", folder="{home}/miniapp/node_modules"),
    Npm("frida", "16.5.9", folder="{home}/miniapp/node_modules"),
]

LINUX_CLEAN: list[Item] = [
    # Official WeChat for Linux (deb from linux.weixin.qq.com) and the UOS builds.
    Dpkg("wechat", "4.0.1.11"),
    File("{root}/opt/wechat/wechat"),
    File("{root}/opt/wechat/RadiumWMPF/runtime/WeChatAppEx"),
    File("{root}/usr/bin/wechat", '#!/bin/sh\nexec /opt/wechat/wechat "$@"\n'),
    Desktop("wechat.desktop", "WeChat", "/usr/bin/wechat %U"),
    Dpkg("com.tencent.weixin", "2.1.5"),
    File("{root}/opt/apps/com.tencent.weixin/files/weixin/weixin"),
    Desktop(
        "com.tencent.weixin.desktop",
        "微信",
        "/opt/apps/com.tencent.weixin/files/weixin/weixin %U",
    ),
    Dpkg("com.tencent.wework", "4.1.0"),
    File("{root}/opt/apps/com.tencent.wework/files/wxwork"),
    Folder("{home}/.xwechat"),
    File("{documents}/xwechat_files/wxid_abc/db_storage/session/session.db"),
    # WeeChat, the IRC client.
    Dpkg("weechat", "4.1.1-1"),
    Dpkg("weechat-core", "4.1.1-1"),
    Dpkg("weechat-curses", "4.1.1-1"),
    File("{root}/usr/bin/weechat"),
    Desktop("weechat.desktop", "WeeChat", "weechat"),
    Folder("{config}/weechat"),
    # wxWidgets, wxPython, wxMaxima.
    Dpkg("libwxgtk3.2-1", "3.2.4+dfsg-4"),
    Dpkg("libwxbase3.2-1", "3.2.4+dfsg-4"),
    Dpkg("python3-wxgtk4.0", "4.2.1+dfsg-3"),
    Dpkg("wxmaxima", "23.12.0-1"),
    Desktop("io.github.wxmaxima_developers.wxMaxima.desktop", "wxMaxima", "wxmaxima %F"),
    # Ordinary software.
    Dpkg("firefox-esr", "128.5.0esr-1"),
    Dpkg("python3", "3.12.6-1"),
    Dpkg("nodejs", "20.18.0"),
    Dpkg("bubblewrap", "0.9.0-1"),
    Dpkg("adb", "1:34.0.4-1"),
    Flatpak("org.mozilla.firefox"),
    Flatpak("com.valvesoftware.Steam"),
    XdgAutostart("nextcloud.desktop", "Nextcloud", "/usr/bin/nextcloud --background"),
    ChromeExtension("cjpalhdlnbpafiamejdnhcphjbkeiagm", "uBlock Origin"),
    File("{home}/src/project/README.md", "# project\n"),
    File("{home}/src/project/config.json", "{}"),
    File("{home}/Downloads/QR.png", b"\x89PNG"),
    *_PACKAGE_TRAPS,
]

MACOS_CLEAN: list[Item] = [
    # Official WeChat and WeCom (企业微信) at their real places with their real bundle ids.
    Bundle(
        "{applications}/WeChat.app",
        "com.tencent.xinWeChat",
        "WeChat",
        version="4.0.5",
        team_id="5A4RE8SF68",
    ),
    Bundle(
        "{applications}/企业微信.app",
        "com.tencent.WeWorkMac",
        "企业微信",
        "企业微信",
        team_id="88L2Q4487U",
    ),
    Folder("{library}/Containers/com.tencent.xinWeChat/Data/Library/Preferences"),
    Folder("{library}/Group Containers/5A4RE8SF68.com.tencent.xinWeChat"),
    Folder("{library}/Containers/com.tencent.WeWorkMac"),
    # WeChat DevTools, Tencent's mini-program IDE (named like WeChat, not a chat client).
    Bundle(
        "{applications}/wechatwebdevtools.app",
        "com.tencent.webplusdevtools",
        "wechatwebdevtools",
        "wechatdevtools",
        team_id="FN2V63AD2J",
    ),
    # wxMaxima (wxWidgets), WeeChat from Homebrew.
    Bundle("{applications}/wxMaxima.app", "org.wxMaxima", "wxMaxima"),
    File("{root}/opt/homebrew/bin/weechat"),
    File("{root}/opt/homebrew/Cellar/weechat/4.4.3/bin/weechat"),
    # Ordinary software.
    Bundle("{applications}/Visual Studio Code.app", "com.microsoft.VSCode", "Code", "Electron"),
    Bundle("{applications}/Slack.app", "com.tinyspeck.slackmacgap", "Slack"),
    Folder("{documents}/WeChat policy"),
    LaunchAgent("com.google.keystone.agent", ("/Library/Google/GoogleSoftwareUpdate/ksinstall",)),
    ChromeExtension("cjpalhdlnbpafiamejdnhcphjbkeiagm", "uBlock Origin"),
    File("{home}/src/project/package.json", "{}"),
    File("{root}/usr/local/bin/python3"),
    *_PACKAGE_TRAPS,
]

WINDOWS_CLEAN: list[Item] = [
    # Official WeChat 3.9 (Program Files (x86)\Tencent\WeChat, versioned "[x.y.z.w]" folder).
    File("{program_files_x86}/Tencent/WeChat/WeChat.exe"),
    File("{program_files_x86}/Tencent/WeChat/WeChatUpdate.exe"),
    File("{program_files_x86}/Tencent/WeChat/[3.9.12.51]/WeChatWin.dll"),
    File("{program_files_x86}/Tencent/WeChat/[3.9.12.51]/mmmojo.dll"),
    File("{program_files_x86}/Tencent/WeChat/[3.9.12.51]/mmmojo_64.dll"),
    # Official Weixin 4.x (Program Files\Tencent\Weixin, versioned folder without brackets).
    File("{program_files}/Tencent/Weixin/Weixin.exe"),
    File("{program_files}/Tencent/Weixin/4.0.5.26/Weixin.dll"),
    File("{program_files}/Tencent/Weixin/4.0.5.26/mmmojo_64.dll"),
    # Official WeCom.
    File("{program_files_x86}/WXWork/WXWork.exe"),
    File("{program_files_x86}/WXWork/4.1.30.6008/WXWorkResources.dll"),
    File("{program_files_x86}/WXWork/4.1.30.6008/WXWorkStrings.dll"),
    # WeChat's own plugins and data (XPlugin runtime, chat databases) are not findings.
    File(
        "{appdata}/Tencent/WeChat/XPlugin/Plugins/RadiumWMPF/11581/extracted/runtime/WeChatAppEx.exe"
    ),
    File("{appdata}/Tencent/xwechat/XPlugin/Plugins/WeChatOcr/8011/extracted/wxocr.dll"),
    File("{appdata}/Tencent/WeChat/All Users/config/config.data"),
    File("{documents}/WeChat Files/wxid_abc/Msg/MicroMsg.db"),
    File("{documents}/WeChat Files/wxid_abc/Msg/Multi/MSG0.db"),
    File("{documents}/xwechat_files/wxid_abc/db_storage/session/session.db"),
    File("{documents}/xwechat_files/all_users/config/global_config"),
    StartupShortcut("OneDrive.lnk"),
    # WeChat DevTools, Tencent's mini-program IDE (named like WeChat, not a chat client).
    File("{program_files_x86}/Tencent/微信web开发者工具/cli.bat", "@echo off\r\n"),
    File("{program_files_x86}/Tencent/微信web开发者工具/code/package.nw/package.json", "{}"),
    # wxWidgets / wxPython applications.
    File("{program_files}/wxMaxima/wxmaxima.exe"),
    File("{program_files}/Audacity/Audacity.exe"),
    # Ordinary software.
    File("{program_files}/Microsoft VS Code/Code.exe"),
    File("{program_files}/nodejs/node.exe"),
    File("{program_files}/Google/Chrome/Application/chrome.exe"),
    File("{localappdata}/Programs/Python/Python312/python.exe"),
    File("{program_files}/Sysinternals/handle.exe"),
    ChromeExtension("cjpalhdlnbpafiamejdnhcphjbkeiagm", "uBlock Origin"),
    File("{desktop}/report.docx"),
    *_PACKAGE_TRAPS,
]

CLEAN: dict[Platform, list[Item]] = {
    Platform.LINUX: LINUX_CLEAN,
    Platform.MACOS: MACOS_CLEAN,
    Platform.WINDOWS: WINDOWS_CLEAN,
}
