// Generic content rules: what a file *is*, whatever it is called. Each rule names the
// WeChat-specific half (the client's core modules, message databases, window classes)
// AND the tool half (injection, hooking, decryption, UI automation): either half alone is on
// ordinary machines (WeChat.exe names WeChatWin.dll; every debugger imports
// WriteProcessMemory), so neither is ever enough alone. The TOML rules in ../*.toml refer
// to these by rule name (`type = "content"`). The global `kind` is set per file by the
// content probe: "binary", "script" or "config".

global private rule wxguard_kind_declared { condition: kind != "" }

rule WeChat_Hook_Injector
{
    meta:
        description = "names WeChat's core modules together with process-injection or hooking primitives"
    strings:
        $core_win1 = "WeChatWin.dll" ascii wide
        $core_win1_lc = "wechatwin.dll" ascii wide
        $core_win2 = "Weixin.dll" ascii wide
        $core_win2_lc = "weixin.dll" ascii wide
        $core_win3 = "WeChatAppEx" ascii wide
        $core_win3_lc = "wechatappex" ascii wide
        $core_mac1 = "WeChat.app/Contents/MacOS/WeChat" ascii wide
        $core_mac2 = "com.tencent.xinWeChat" ascii wide
        $core_lin1 = "libwechatcommon.so" ascii wide
        $core_lin2 = "/opt/wechat/wechat" ascii wide
        $inj1 = "CreateRemoteThread" ascii wide
        $inj2 = "WriteProcessMemory" ascii wide
        $inj3 = "VirtualAllocEx" ascii wide
        $inj4 = "NtCreateThreadEx" ascii wide
        $inj5 = "RtlCreateUserThread" ascii wide
        $inj6 = "QueueUserAPC" ascii wide
        $inj7 = "SetWindowsHookEx" ascii wide
        $inj8 = "DYLD_INSERT_LIBRARIES" ascii wide
        $inj9 = "insert_dylib" ascii wide
        $inj10 = "task_for_pid" ascii wide
        $inj11 = "mach_vm_write" ascii wide
        $inj12 = "PTRACE_ATTACH" ascii wide
        $inj13 = "LD_PRELOAD" ascii wide
        $hook1 = "MH_CreateHook" ascii wide
        $hook2 = "MH_EnableHook" ascii wide
        $hook3 = "DetourAttach" ascii wide
        $hook4 = "DetourTransactionBegin" ascii wide
        $hook5 = "frida-gadget" ascii wide
        $hook6 = "Interceptor.attach" ascii wide
        $hook7 = "frida.attach" ascii wide
        $hook8 = "frida.get_local_device" ascii wide
        // Case: Windows file names are written as the vendor spells them or lower-cased; both
        // spellings are listed (a `nocase` string costs the scan ten times its speed).
        // ELF: the dynamic symbol names of ptrace(2) and dlopen(3) together (an injector
        // attaches and loads); each alone is in countless programs.
        $elf_ptrace = "ptrace" fullword ascii
        $elf_dlopen = "dlopen" fullword ascii
    condition:
        any of ($core_*) and (
            any of ($inj*) or any of ($hook*) or
            (uint32(0) == 0x464c457f and $elf_ptrace and $elf_dlopen)
        )
}

rule WeChat_DB_Decryptor
{
    meta:
        description = "names WeChat's message databases together with their cipher (SQLCipher, PBKDF2) or a key search in WeChat's memory"
    strings:
        $db1 = "MicroMsg.db" ascii wide
        $db1_lc = "micromsg.db" ascii wide
        $db2 = "EnMicroMsg.db" ascii wide
        $db2_lc = "enmicromsg.db" ascii wide
        $db3 = "db_storage" ascii wide
        // Literal names, not /MSG[0-9]*\.db/: that regex made the scan of a program 8x slower.
        $db4 = "MSG0.db" ascii wide
        $db4_plain = "MSG.db" ascii wide
        $db5 = "xwechat_files" ascii wide
        $db6 = "WeChat Files" ascii wide
        $db7 = "message_0.db" ascii wide
        $db8 = "Msg\\Multi" ascii wide
        $db9 = "Msg/Multi" ascii wide
        $cipher1 = "sqlcipher" ascii wide
        $cipher1_uc = "SQLCipher" ascii wide
        $cipher2 = "PBKDF2" ascii wide
        $cipher2_lc = "pbkdf2" ascii wide
        $cipher3 = "pbkdf2_hmac" ascii wide
        $cipher4 = "PRAGMA key" ascii wide
        $cipher4_lc = "pragma key" ascii wide
        $cipher5 = "cipher_page_size" ascii wide
        $cipher6 = "SQLite format 3\x00" ascii
        $mem1 = "ReadProcessMemory" ascii wide
        $mem2 = "pymem" ascii wide
        $mem3 = "mach_vm_read" ascii wide
        $mem4 = "vm_read_overwrite" ascii wide
        $mem5 = "/proc/%d/mem" ascii wide
        $core1 = "WeChatWin.dll" ascii wide
        $core1_lc = "wechatwin.dll" ascii wide
        $core2 = "Weixin.dll" ascii wide
        $core2_lc = "weixin.dll" ascii wide
        $core3 = "com.tencent.xinWeChat" ascii wide
        $core4 = "WeChat.exe" ascii wide
        $core4_lc = "wechat.exe" ascii wide
    condition:
        kind != "config" and any of ($db*) and (
            any of ($cipher*) or (any of ($mem*) and any of ($core*))
        )
}

rule WeChat_UI_Automation
{
    meta:
        description = "drives WeChat's own windows (their window class names) through UI automation"
    strings:
        $wnd1 = "WeChatMainWndForPC" ascii wide
        $wnd2 = "WeChatLoginWndForPC" ascii wide
        $wnd3 = "ChatWnd" fullword ascii wide
        $wnd4 = "mmui::MainWindow" ascii wide
        $wnd5 = "Qt51514QWindowIcon" ascii wide
        $auto1 = "uiautomation" ascii wide
        $auto2 = "pywinauto" ascii wide
        $auto3 = "WindowControl(" ascii wide
        $auto4 = "FindWindow" ascii wide
        $auto5 = "SendKeys" ascii wide
        $auto6 = "SendInput" ascii wide
        $auto7 = "keybd_event" ascii wide
        $auto8 = "pyautogui" ascii wide
        $auto9 = "IUIAutomation" ascii wide
    condition:
        kind != "config" and (any of ($wnd1, $wnd2, $wnd4, $wnd5) or ($wnd3 and $wnd1)) and any of ($auto*)
}

rule WeChat_DB_Pointer_Config
{
    meta:
        description = "a configuration file that points at WeChat's message databases"
    strings:
        $p1 = "db_storage" ascii wide
        $p2 = "xwechat_files" ascii wide
        $p3 = "MicroMsg.db" ascii wide
        $p3_lc = "micromsg.db" ascii wide
        $p4 = /MSG[0-9]{0,2}\.db/ ascii wide
        $p5 = /Msg(\\\\|\\|\/)Multi/ ascii wide
        $p6 = "EnMicroMsg.db" ascii wide
        $p7 = "message_0.db" ascii wide
    condition:
        kind == "config" and filesize < 2MB and any of them
}

rule WeChat_Extracted_Key
{
    meta:
        description = "a file that holds a 64-hex-digit database key beside a WeChat account id (wxid)"
    strings:
        $wxid = /wxid_[a-z0-9]{4,32}/ ascii wide
        $key = /(key|Key|KEY|密钥)["']?\s*[:=]\s*["']?[0-9a-fA-F]{64}\b/ ascii
    condition:
        kind == "config" and filesize < 2MB and $wxid and $key
}
