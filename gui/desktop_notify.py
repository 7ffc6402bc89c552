"""Desktop notifications without a tray icon, for desktops with no tray host (stock GNOME):
`org.freedesktop.Notifications.Notify` on the session bus, which GNOME Shell, KDE, deepin,
UKUI and Xfce all serve. Spec: https://specifications.freedesktop.org/notification-spec/latest/
Linux only (jeepney, which the keyring already needs there); elsewhere nothing is shown."""

from __future__ import annotations

import sys


def notify(title: str, body: str, icon: str = "dialog-warning", timeout_s: float = 3.0) -> bool:
    """Show one notification; True when the desktop's notification server took it. False
    (never an exception) with no session bus, no server or not on Linux. Blocks for at most
    `timeout_s` seconds."""
    if sys.platform != "linux":
        return False
    try:
        from jeepney import DBusAddress, MessageType, new_method_call
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:
        return False
    address = DBusAddress(
        "/org/freedesktop/Notifications",
        bus_name="org.freedesktop.Notifications",
        interface="org.freedesktop.Notifications",
    )
    message = new_method_call(
        address, "Notify", "susssasa{sv}i", ("wxguard", 0, icon, title, body, [], {}, -1)
    )
    try:
        with open_dbus_connection(bus="SESSION", auth_timeout=timeout_s) as conn:
            reply = conn.send_and_get_reply(message, timeout=timeout_s)
    except (OSError, KeyError, ValueError, TimeoutError):
        return False
    return bool(reply.header.message_type == MessageType.method_return)
