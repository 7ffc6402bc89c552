"""`wxguard-tray` entry point. The tray app arrives with its issue; until then, say so clearly."""

from __future__ import annotations

import sys


def main() -> int:
    sys.stderr.write(
        "wxguard-tray 尚未提供：托盘程序将在后续版本中加入。请先使用 `wxguard check` 检查本机。\n"
        "wxguard-tray is not available yet: the tray app arrives in a later release. "
        "Use `wxguard check` to scan this machine meanwhile.\n"
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
