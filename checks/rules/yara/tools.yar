// Signatures of catalogued tools' own code: strings their sources show in every build.
// Each is referenced by the tool's rule in ../*.toml (`type = "content"`).

rule WeChatFerry_SDK
{
    meta:
        description = "WeChatFerry (wcferry): the SDK that injects spy.dll, or a client that loads it"
        source = "lich0821/WeChatFerry WeChatFerry/sdk/sdk.h (WxInitSDK, WxDestroySDK), spy/spy.def (InitSpy, CleanupSpy)"
    strings:
        $sdk1 = "WxInitSDK" ascii wide
        $sdk2 = "WxDestroySDK" ascii wide
        $spy1 = "InitSpy" fullword ascii wide
        $spy2 = "CleanupSpy" fullword ascii wide
        $dll = "spy.dll" ascii wide
    condition:
        ($sdk1 and $sdk2) or ($spy1 and $spy2) or ($sdk1 and $dll)
}

rule PyWxDump_Code
{
    meta:
        description = "PyWxDump and its republished forks: WeChat key search and database decryption"
        source = "xaoyaoo/PyWxDump pywxdump/wx_core (wx_info.py get_wx_info / get_key, WX_OFFS.json, decryption.py batch_decrypt)"
    strings:
        $f1 = "WX_OFFS" ascii wide
        $f2 = "batch_decrypt" ascii wide
        $f3 = "get_wx_info" ascii wide
        $f4 = "get_wx_db" ascii wide
        $f5 = "pywxdump" ascii wide
        $f6 = "merge_real_time_db" ascii wide
    condition:
        3 of them
}

rule Chatlog_Binary
{
    meta:
        description = "chatlog (sjzar) and its forks: the Go module path, or the V4 key-search message its builds and logs carry"
        source = "sjzar/chatlog go.mod (module github.com/sjzar/chatlog); internal/wechat/key/windows/v4: Starting %d workers for V4 key search"
    strings:
        $mod = "github.com/sjzar/chatlog/" ascii
        $ks = "workers for V4 key search" ascii wide
    condition:
        $mod or $ks
}

rule Wxauto_Code
{
    meta:
        description = "wxauto and its derivatives: UI automation of the WeChat PC client"
        source = "cluic/wxauto wxauto/wxauto.py: class WeChat, self.UiaAPI = uia.WindowControl(ClassName='WeChatMainWndForPC'); forks use Qt51514QWindowIcon for 4.x"
    strings:
        $a1 = "wxauto" ascii wide
        $a2 = "UiaAPI" ascii wide
        $a3 = "WeChatMainWndForPC" ascii wide
        $a4 = "Qt51514QWindowIcon" ascii wide
    condition:
        $a2 and ($a3 or $a4) and ($a1 or kind != "binary")
}
