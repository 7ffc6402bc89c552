#!/usr/bin/env bash
# The main job: a local central server on SQLite, the agent enrolled to it, and the tray.
# Everything lives under ./run (kept between runs); Ctrl-C stops it all.
#   WXGUARD_PORT (default 8700)   the server's loopback port
#   WXGUARD_RUN  (default ./run)  where the server's data and the agent's state live
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
RUN="${WXGUARD_RUN:-$PWD/run}"
PORT="${WXGUARD_PORT:-8700}"
URL="http://127.0.0.1:$PORT"
mkdir -p "$RUN"
pids=()
cleanup() {
  trap - EXIT INT TERM
  # Newest first: the tray, the agent, the server, then the bus (and the keyring on it).
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# 0. A private D-Bus session bus (a dbus-daemon of our own, stopped on exit: no dbus-launch
# is autolaunched and left behind) with a real keyring on it (gnome-keyring's Secret
# Service, unlocked with a password kept beside the run's data, ending with the bus), so the
# tray's password features work.
if command -v dbus-daemon >/dev/null && command -v gnome-keyring-daemon >/dev/null; then
  { read -r DBUS_SESSION_BUS_ADDRESS; read -r bus_pid; } < <(
    dbus-daemon --session --fork --nopidfile --print-address=1 --print-pid=1)
  export DBUS_SESSION_BUS_ADDRESS
  pids+=("$bus_pid")
  mkdir -p "$RUN/keyring"
  chmod 700 "$RUN/keyring"
  [ -f "$RUN/keyring/password" ] || (umask 077; head -c 18 /dev/urandom | base64 >"$RUN/keyring/password")
  eval "$(XDG_DATA_HOME="$RUN/keyring" gnome-keyring-daemon --unlock --components=secrets \
    <"$RUN/keyring/password" | sed 's/^/export /')"
  backend="$(python -c 'import keyring; print(type(keyring.get_keyring()).__module__)' 2>/dev/null || true)"
  echo "keyring:    gnome-keyring on a private D-Bus session (data in $RUN/keyring; backend $backend)"
else
  echo "keyring:    none (install dbus and gnome-keyring for the password features)"
fi

# 1. The central server (first run: database, policy key pair, admin account).
if [ ! -f "$RUN/server/wxguard.db" ]; then
  (umask 077; wxguard-server init --data "$RUN/server" --admin admin >"$RUN/server-init.txt")
  echo "The administrator 'admin' was created. Its password was saved to $RUN/server-init.txt"
  echo "(readable only by you). Note it, then delete that file: rm $RUN/server-init.txt"
fi
wxguard-server run --data "$RUN/server" --host 127.0.0.1 --port "$PORT" >"$RUN/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -s -o /dev/null "$URL/login" && break
  sleep 0.2
done

# 2. The agent, with its state in $RUN/agent, enrolled to the server.
export WXGUARD_HOME="$RUN/agent"
mkdir -p "$WXGUARD_HOME"
wxguard agent run --mode system >"$RUN/agent.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  [ -S "$WXGUARD_HOME/agent.sock" ] && break
  sleep 0.1
done
if ! wxguard status --format json 2>/dev/null | grep -q '"enrolled": true'; then
  secret="$(wxguard-server secret create --data "$RUN/server" | tail -1)"
  wxguard enroll --server "$URL" --secret "$secret" --policy-key "$RUN/server/policy-public.pem"
fi

# 3. The tray: on this desktop, or on a virtual display with a tray host when there is none.
if [ -z "${DISPLAY:-}" ] && command -v Xvfb >/dev/null && command -v trayer >/dev/null; then
  export DISPLAY=:73
  Xvfb "$DISPLAY" -screen 0 1280x800x24 -nolisten tcp >"$RUN/xvfb.log" 2>&1 &
  pids+=($!)
  sleep 1
  trayer --edge top --align right --widthtype request --height 32 >"$RUN/trayer.log" 2>&1 &
  pids+=($!)
  sleep 1
  echo "no display: the tray runs on the virtual display $DISPLAY (screenshot: import -display $DISPLAY -window root shot.png)"
fi
QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-xcb}" wxguard-tray >"$RUN/tray.log" 2>&1 &
pids+=($!)

echo
wxguard status || true
echo
if [ -f "$RUN/server-init.txt" ]; then
  echo "dashboard:  $URL/   (administrator 'admin'; password saved in $RUN/server-init.txt: note it, then delete the file)"
else
  echo "dashboard:  $URL/   (administrator 'admin')"
fi
echo "agent:      WXGUARD_HOME=$WXGUARD_HOME wxguard status | scan-now | report …"
echo "logs:       $RUN/*.log, $WXGUARD_HOME/logs/agent.log"
echo "Ctrl-C stops the server, the agent and the tray."
wait -n "${pids[@]}" || true
