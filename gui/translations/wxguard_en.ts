<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en" sourcelanguage="en">
<context>
    <name>PasswordStatus</name>
    <message numerus="yes">
        <location filename="../password_dialog.py" line="47"/>
        <source>overdue since %1 (%n day(s))</source>
        <translation>
            <numerusform>overdue since %1 (%n day)</numerusform>
            <numerusform>overdue since %1 (%n days)</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../password_dialog.py" line="51"/>
        <source>due on %1 (in %n day(s))</source>
        <translation>
            <numerusform>due on %1 (in %n day)</numerusform>
            <numerusform>due on %1 (in %n days)</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>StatusWindow</name>
    <message numerus="yes">
        <location filename="../status_window.py" line="140"/>
        <source>%n finding(s) need your attention.</source>
        <translation>
            <numerusform>%n finding needs your attention.</numerusform>
            <numerusform>%n findings need your attention.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../status_window.py" line="137"/>
        <location filename="../status_window.py" line="145"/>
        <source>%n thing(s) need your attention.</source>
        <translation>
            <numerusform>%n thing needs your attention.</numerusform>
            <numerusform>%n things need your attention.</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>Tray</name>
    <message numerus="yes">
        <location filename="../tray.py" line="529"/>
        <source>%n finding(s) to fix.</source>
        <translation>
            <numerusform>%n finding to fix.</numerusform>
            <numerusform>%n findings to fix.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../tray.py" line="563"/>
        <source>%n new finding(s)</source>
        <translation>
            <numerusform>%n new finding</numerusform>
            <numerusform>%n new findings</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../tray.py" line="657"/>
        <source>%n finding(s) to fix</source>
        <translation>
            <numerusform>%n finding to fix</numerusform>
            <numerusform>%n findings to fix</numerusform>
        </translation>
    </message>
</context>
</TS>
