<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en" sourcelanguage="en">
<context>
    <name>StatusWindow</name>
    <message numerus="yes">
        <location filename="../status_window.py" line="134"/>
        <source>%n finding(s) need your attention.</source>
        <translation>
            <numerusform>%n finding needs your attention.</numerusform>
            <numerusform>%n findings need your attention.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../status_window.py" line="139"/>
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
        <location filename="../tray.py" line="525"/>
        <source>%n finding(s) to fix.</source>
        <translation>
            <numerusform>%n finding to fix.</numerusform>
            <numerusform>%n findings to fix.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../tray.py" line="559"/>
        <source>%n new finding(s)</source>
        <translation>
            <numerusform>%n new finding</numerusform>
            <numerusform>%n new findings</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../tray.py" line="651"/>
        <source>%n finding(s) to fix</source>
        <translation>
            <numerusform>%n finding to fix</numerusform>
            <numerusform>%n findings to fix</numerusform>
        </translation>
    </message>
</context>
</TS>
