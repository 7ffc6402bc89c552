"""D-Bus side of the StatusNotifierItem tests: read what a tray exports to an SNI host (the
item's properties, its com.canonical.dbusmenu menu), click its menu items as the host does,
and stand in for the desktop's notification server to record the balloons.

Specs: https://www.freedesktop.org/wiki/Specifications/StatusNotifierItem/ (item, watcher),
https://github.com/AyatanaIndicators/libdbusmenu/blob/master/libdbusmenu-glib/dbus-menu.xml
(menu), https://specifications.freedesktop.org/notification-spec/latest/ (Notify)."""

from __future__ import annotations

import threading
import time
from typing import Any

from jeepney import DBusAddress, MessageType, message_bus, new_method_call, new_method_return
from jeepney.io.blocking import DBusConnection, open_dbus_connection

PROPS = "org.freedesktop.DBus.Properties"
WATCHER = ("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher")
ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"


class Bus:
    """A client connection to one D-Bus session bus."""

    def __init__(self, address: str) -> None:
        self.conn: DBusConnection = open_dbus_connection(bus=address)

    def close(self) -> None:
        self.conn.close()

    def call(
        self,
        dest: str,
        path: str,
        interface: str,
        method: str,
        signature: str | None = None,
        body: tuple[Any, ...] = (),
    ) -> tuple[Any, ...]:
        msg = new_method_call(DBusAddress(path, dest, interface), method, signature, body)
        reply = self.conn.send_and_get_reply(msg, timeout=10)
        if reply.header.message_type == MessageType.error:
            raise RuntimeError(f"{interface}.{method}: {reply.body}")
        return tuple(reply.body)

    def prop(self, dest: str, path: str, interface: str, name: str) -> Any:
        (variant,) = self.call(dest, path, PROPS, "Get", "ss", (interface, name))
        return variant[1]  # jeepney gives a variant as (signature, value)

    def items(self) -> list[str]:
        """The watcher's RegisteredStatusNotifierItems ("service" or "service/path")."""
        return list(self.prop(*WATCHER, WATCHER[0], "RegisteredStatusNotifierItems"))

    def wait_item(self, timeout: float = 30) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.items()
            if found:
                service, _, path = found[0].partition("/")
                return service, "/" + path if path else "/StatusNotifierItem"
            time.sleep(0.1)
        raise TimeoutError("no StatusNotifierItem registered with the watcher")

    def item(self, item: tuple[str, str]) -> dict[str, Any]:
        (props,) = self.call(*item, PROPS, "GetAll", "s", (ITEM,))
        return {k: v[1] for k, v in props.items()}

    def menu(self, item: tuple[str, str]) -> list[dict[str, Any]]:
        """The item's menu as the host reads it: one dict per entry (id, label, visible,
        enabled, type), in order."""
        path = self.prop(*item, ITEM, "Menu")
        _revision, (_root, _props, children) = self.call(
            item[0], path, MENU, "GetLayout", "iias", (0, -1, [])
        )
        out = []
        for _sig, (ident, props, _sub) in children:
            entry = {k: v[1] for k, v in props.items()}
            out.append(
                {
                    "id": ident,
                    "label": str(entry.get("label", "")),
                    "visible": bool(entry.get("visible", True)),
                    "enabled": bool(entry.get("enabled", True)),
                    "type": str(entry.get("type", "standard")),
                }
            )
        return out

    def click(self, item: tuple[str, str], ident: int) -> None:
        path = self.prop(*item, ITEM, "Menu")
        self.call(item[0], path, MENU, "AboutToShow", "i", (0,))
        self.call(
            item[0], path, MENU, "Event", "isvu", (ident, "clicked", ("i", 0), int(time.time()))
        )


class NotificationServer:
    """org.freedesktop.Notifications on the bus, as a desktop's notification daemon: records
    every Notify (summary, body) and answers GetCapabilities / GetServerInformation."""

    def __init__(self, address: str) -> None:
        self.conn: DBusConnection = open_dbus_connection(bus=address)
        self.conn.send_and_get_reply(
            message_bus.RequestName("org.freedesktop.Notifications"), timeout=10
        )
        self.shown: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        count = 0
        while not self._stop.is_set():
            try:
                msg = self.conn.receive(timeout=0.2)
            except TimeoutError:
                continue
            except OSError:
                return
            if msg.header.message_type != MessageType.method_call:
                continue
            member = msg.header.fields.get(3)  # HeaderFields.member
            if member == "Notify":
                count += 1
                self.shown.append((str(msg.body[3]), str(msg.body[4])))
                self.conn.send(new_method_return(msg, "u", (count,)))
            elif member == "GetCapabilities":
                self.conn.send(new_method_return(msg, "as", (["body", "actions"],)))
            elif member == "GetServerInformation":
                self.conn.send(new_method_return(msg, "ssss", ("test", "wxguard", "1", "1.2")))
            else:
                self.conn.send(new_method_return(msg))

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.conn.close()
