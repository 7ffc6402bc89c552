"""Tray benchmark on a real tray host: time from launch to the icon being shown (goal < 1.5 s)
and the tray's resident memory (goal < 120 MB), against a real agent in user mode.

Also home of `virtual_display()`: Xvfb plus the `trayer` system tray on a free display, used by
the GUI tests that need a real tray host, and of `sni_display()`: the same with a
StatusNotifierItem host over D-Bus (or no tray host at all).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_display(start: int = 90, stop: int = 200) -> int:
    for n in range(start, stop):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def virtual_display(width: int = 1280, height: int = 800) -> Iterator[str]:
    """Xvfb on a free display with `trayer` as the system tray; yields the DISPLAY value."""
    n = free_display()
    display = f":{n}"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    trayer: subprocess.Popen[bytes] | None = None
    try:
        _wait(lambda: Path(f"/tmp/.X11-unix/X{n}").exists(), 10, "Xvfb")
        env = dict(os.environ, DISPLAY=display)
        trayer = subprocess.Popen(
            [
                "trayer",
                "--edge",
                "top",
                "--align",
                "right",
                "--widthtype",
                "pixel",
                "--width",
                "160",
                "--height",
                "32",
                "--SetDockType",
                "true",
                "--transparent",
                "false",
                "--tint",
                "0x303030",
                "--expand",
                "false",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3)
        if trayer.poll() is not None:
            raise RuntimeError("trayer did not start")
        yield display
    finally:
        if trayer is not None:
            _stop(trayer)
        _stop(xvfb)


def _xvfb(width: int, height: int) -> tuple[subprocess.Popen[bytes], str]:
    """Xvfb on a display number it picks itself (`-displayfd`: no race with other Xvfbs)."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    if not number:
        _stop(xvfb)
        raise RuntimeError("Xvfb did not start")
    return xvfb, f":{number}"


@contextlib.contextmanager
def sni_display(
    width: int = 1280, height: int = 800, host: bool = True
) -> Iterator[dict[str, str]]:
    """Xvfb, a private D-Bus session bus and a StatusNotifierItem tray host, as KDE, deepin,
    UKUI and GNOME's AppIndicator extension host tray icons: `status-notifier-watcher`
    (Debian haskell-status-notifier-item-utils) and `gtk-sni-tray-standalone`
    (haskell-gtk-sni-tray-utils), a bar along the top. With `host=False`: the display and the
    bus only, a desktop with no tray at all (stock GNOME). Yields the environment variables
    (DISPLAY, DBUS_SESSION_BUS_ADDRESS) for the programs run on it.
    Spec: https://www.freedesktop.org/wiki/Specifications/StatusNotifierItem/"""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        xvfb, display = _xvfb(width, height)
        procs.append(xvfb)
        bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        procs.append(bus)
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        if not address:
            raise RuntimeError("dbus-daemon did not start")
        env = {"DISPLAY": display, "DBUS_SESSION_BUS_ADDRESS": address}
        if host:
            full = dict(os.environ, **env)
            for argv in (
                ["status-notifier-watcher"],
                ["gtk-sni-tray-standalone", "--top", "--end", "--size", "28"],
            ):
                procs.append(
                    subprocess.Popen(
                        argv, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                    )
                )
                time.sleep(0.5)
                if procs[-1].poll() is not None:
                    raise RuntimeError(f"{argv[0]} did not start")
            _wait(lambda: _host_registered(full), 15, "the StatusNotifierItem host")
        yield env
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _host_registered(env: dict[str, str]) -> bool:
    answer = subprocess.run(
        [
            "dbus-send",
            "--session",
            "--print-reply",
            "--dest=org.kde.StatusNotifierWatcher",
            "/StatusNotifierWatcher",
            "org.freedesktop.DBus.Properties.Get",
            "string:org.kde.StatusNotifierWatcher",
            "string:IsStatusNotifierHostRegistered",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return "boolean true" in answer.stdout


@contextlib.contextmanager
def real_agent(home: Path) -> Iterator[Path]:
    """`wxguard agent run --mode user` under its own WXGUARD_HOME and HOME, in a private D-Bus
    session with an unlocked gnome-keyring (user mode keeps its keys in the keyring); yields
    its socket."""
    env = dict(os.environ, WXGUARD_HOME=str(home), HOME=str(home))
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    wxguard = Path(PYTHON).parent / "wxguard"
    script = (
        "echo -n bench | gnome-keyring-daemon --unlock --components=secrets >/dev/null; "
        f"exec {wxguard} agent run --mode user"
    )
    agent = subprocess.Popen(
        ["dbus-run-session", "--", "sh", "-c", script],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # one process group: the bus, the keyring and the agent
    )
    socket = home / "agent.sock"
    try:
        _wait(lambda: socket.exists() or agent.poll() is not None, 30, "the agent's socket")
        if agent.poll() is not None:
            raise RuntimeError("the agent exited at start")
        yield socket
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _group_alive(agent.pid) and time.monotonic() < deadline:
            agent.poll()  # reap our direct child so the group can empty
            time.sleep(0.05)
        if _group_alive(agent.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(agent.pid, signal.SIGKILL)
        agent.wait(5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def launch_once(display: str, socket: Path, settings: Path) -> tuple[float, float, str]:
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", WXGUARD_TRAY_REPORT_STARTUP="1")
    t0 = time.monotonic()
    tray = subprocess.Popen(
        [PYTHON, "-m", "gui.main", "--socket", str(socket), "--settings", str(settings)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert tray.stdout is not None
        line = tray.stdout.readline().decode()
        shown = time.monotonic() - t0
        if "shown" not in line:
            raise RuntimeError(f"the tray did not report its icon: {line!r}")
        time.sleep(2.0)  # let it load status, findings and policy before measuring memory
        return shown, rss_mb(tray.pid), line.strip()
    finally:
        _stop(tray)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--settle", type=float, default=3.0, help="seconds to let the agent finish its first scan"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, virtual_display() as display:
        home = Path(tmp) / "agent"
        home.mkdir()
        with real_agent(home) as socket:
            time.sleep(args.settle)
            results = [
                launch_once(display, socket, Path(tmp) / f"tray{i}.ini") for i in range(args.runs)
            ]
    shown = [r[0] for r in results]
    rss = [r[1] for r in results]
    print(
        f"tray launch → icon shown: median {statistics.median(shown):.3f} s "
        f"(min {min(shown):.3f}, max {max(shown):.3f}; goal < 1.5 s)"
    )
    print(
        f"tray RSS after start:     median {statistics.median(rss):.1f} MB "
        f"(max {max(rss):.1f}; goal < 120 MB)"
    )
    print(f"tray's own report:        {results[-1][2]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
