"""Real local accounts for attack and live tests (`useradd` / `userdel`, root only).

`useradd` refuses while another process holds the lock on /etc/passwd ("cannot lock
/etc/passwd; try again later", exit 1): accounts are made and removed with a bounded retry.
"""

from __future__ import annotations

import pwd
import subprocess
import time

_LOCK_WAIT_S = 30.0


def _run(argv: list[str], check: bool) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + _LOCK_WAIT_S
    while True:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        locked = "lock" in done.stderr
        if done.returncode == 0 or not locked or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr}")
    return done


def add_user(
    name: str,
    *,
    home: bool = False,
    shell: str = "/usr/sbin/nologin",
    system: bool = False,
    home_dir: str | None = None,
    skel: str | None = None,
) -> pwd.struct_passwd:
    """A new account `name`; with `home`, its home is created (under /home, or at
    `home_dir`, filled from the skeleton folder `skel` if given)."""
    argv = ["useradd", "--shell", shell, "--create-home" if home else "--no-create-home"]
    if system:
        argv.append("--system")
    if home_dir is not None:
        argv += ["--home-dir", home_dir]
    if skel is not None:
        argv += ["--skel", skel]
    _run([*argv, name], check=True)
    return pwd.getpwnam(name)


def remove_user(name: str, *, home: bool = False) -> None:
    """Remove `name` (and its home with `home`); an account already gone is fine."""
    _run(["userdel", *(["--remove"] if home else []), name], check=False)
