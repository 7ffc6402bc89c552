#!/usr/bin/env bash
# Sets up everything wxguard's commands and tests need on a fresh Debian 12 machine:
# Debian packages (when run as root) and a virtual environment with the project installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use for real parts: tray hosts on a virtual display (XEmbed: trayer;
# StatusNotifierItem over D-Bus, as KDE, deepin, UKUI and GNOME's AppIndicator extension: a
# standalone watcher and tray from haskell-status-notifier-item-utils and
# haskell-gtk-sni-tray-utils), a Secret
# Service keyring, PostgreSQL, Chromium, a C compiler for the LD_PRELOAD injection test,
# Debian's Python (the .deb's own environment) and systemd-analyze for the unit file.
# squashfs-tools (mksquashfs) and hivex (hivexregedit) build AppImage and registry fixtures.
# MinGW-w64, clang, lld and llvm-lipo build real Windows (PE) and macOS (Mach-O) programs for the
# content rules' tests (tests/checks/test_content_native.py).
DEBS=(
  xvfb xauth trayer haskell-status-notifier-item-utils haskell-gtk-sni-tray-utils
  x11-utils imagemagick libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0
  libxkbcommon-x11-0 libxcb-xinerama0 libxcb-randr0 libxcb-shape0 libxcb-render-util0 libxcb-image0
  libegl1 libgl1 libfontconfig1 libdbus-1-3 dbus dbus-x11 fonts-noto-cjk
  gnome-keyring libsecret-tools
  postgresql-15
  chromium chromium-driver
  osslsigncode squashfs-tools libhivex-bin libwin-hivex-perl
  gcc libc6-dev curl
  gcc-mingw-w64-x86-64-win32 clang-14 lld-14 llvm-14
  python3.11 python3.11-venv systemd
)
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  missing=()
  for pkg in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "setup: not root; skipping Debian packages (${DEBS[*]}): install them yourself for the full test suite" >&2
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.wxguard-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[gui,server,dev]"
  touch "$stamp"
fi
echo "setup: ready (.venv)"
