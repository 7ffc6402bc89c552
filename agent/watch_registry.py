"""Registry keys watched for changes (Windows): the profile list, so that an account's profile
made anywhere (`D:\\Profiles\\bob`, not only under `C:\\Users`, which the folder watcher sees)
is scanned when Windows writes it, not at the next periodic scan.

One thread per key waits on `RegNotifyChangeKeyValue` (subtree, names and values) through an
event, re-arming after each change; the caller's `on_change` then asks for a scan, whose
user refresh reads the key again (`Layout.refresh_users`) and watches the new profile's folder
(or, while Windows has not made it yet, its nearest existing ancestor: `Layout.pending_homes`).
A key that cannot be opened is tried again every `retry_s`; while it is not watched, the
periodic scans still read it.

Sources: RegNotifyChangeKeyValue,
https://learn.microsoft.com/en-us/windows/win32/api/winreg/nf-winreg-regnotifychangekeyvalue
("the function must be called on a persistent thread": the notification is armed and waited
for on the watcher's own thread; a change notified before the wait keeps the event signalled).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("wxguard.agent.watch_registry")

# RegNotifyChangeKeyValue's filter: subkeys added or removed, values set or deleted.
_REG_NOTIFY_CHANGE_NAME = 0x1
_REG_NOTIFY_CHANGE_LAST_SET = 0x4
_WAIT_OBJECT_0 = 0
_KEY_NOTIFY = 0x0010
_KEY_READ = 0x20019


class KeyNotifier(Protocol):
    """An armed notification on one registry key (made on the thread that waits on it)."""

    def wait(self, timeout_s: float) -> bool:
        """Whether the key (or a subkey) changed within `timeout_s`; re-armed before returning
        True, so a change made while the caller handles this one is not lost."""

    def close(self) -> None:
        """Release the key and the event."""


class RegistryWatcher:
    """Calls `on_change` (on its own thread) after each change of one registry key.

    `open_notifier` makes the notifier on the watcher's thread (`win32_notifier` on Windows;
    tests give a fake); it raises OSError when the key cannot be watched (tried again every
    `retry_s` seconds). `on_change` must be quick (it requests a scan)."""

    def __init__(
        self,
        name: str,
        open_notifier: Callable[[], KeyNotifier],
        on_change: Callable[[], None],
        *,
        retry_s: float = 30.0,
        poll_s: float = 0.5,
    ) -> None:
        self.name = name
        self._open = open_notifier
        self._on_change = on_change
        self._retry_s = retry_s
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.watching = False  # the key is watched now (a notifier is armed)
        self.error = ""  # why it is not, when it is not

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"wxguard-registry-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                notifier = self._open()
            except OSError as exc:
                self.watching, self.error = False, str(exc)
                log.warning("cannot watch the registry key %s (%s); retrying", self.name, exc)
                self._stop.wait(self._retry_s)
                continue
            self.watching, self.error = True, ""
            try:
                while not self._stop.is_set():
                    if notifier.wait(self._poll_s):
                        log.info("registry key %s changed", self.name)
                        self._on_change()
            except OSError as exc:  # the key was deleted or the handle went bad: open again
                self.watching, self.error = False, str(exc)
                log.warning("watching the registry key %s failed (%s); reopening", self.name, exc)
            finally:
                notifier.close()
        self.watching = False


def win32_notifier(subkey: str) -> Callable[[], KeyNotifier]:
    """A maker of notifiers on HKEY_LOCAL_MACHINE\\`subkey` (Windows only; raises OSError
    elsewhere or when the key cannot be opened for notification)."""

    def make() -> KeyNotifier:
        return _Win32KeyNotifier(subkey)

    return make


class _Win32KeyNotifier:
    def __init__(self, subkey: str) -> None:
        if sys.platform != "win32":
            raise OSError("registry notifications exist on Windows only")
        import ctypes
        import winreg

        self._advapi = ctypes.windll.advapi32
        self._kernel = ctypes.windll.kernel32
        self._kernel.CreateEventW.restype = ctypes.c_void_p
        self._key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, subkey, 0, _KEY_READ | _KEY_NOTIFY)
        self._event = self._kernel.CreateEventW(None, False, False, None)
        if not self._event:
            self._key.Close()
            raise ctypes.WinError()
        try:
            self._arm()
        except OSError:
            self.close()
            raise

    def _arm(self) -> None:
        if sys.platform == "win32":
            import ctypes

            status = self._advapi.RegNotifyChangeKeyValue(
                ctypes.c_void_p(int(self._key)),
                True,
                _REG_NOTIFY_CHANGE_NAME | _REG_NOTIFY_CHANGE_LAST_SET,
                ctypes.c_void_p(self._event),
                True,
            )
            if status != 0:
                raise ctypes.WinError(status)

    def wait(self, timeout_s: float) -> bool:
        if sys.platform != "win32":
            return False
        import ctypes

        result = self._kernel.WaitForSingleObject(
            ctypes.c_void_p(self._event), int(timeout_s * 1000)
        )
        if result != _WAIT_OBJECT_0:
            return False
        self._arm()
        return True

    def close(self) -> None:
        if sys.platform == "win32":
            import ctypes

            if self._event:
                self._kernel.CloseHandle(ctypes.c_void_p(self._event))
                self._event = None
            self._key.Close()
