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
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# 1. The central server (first run: database, policy key pair, admin account).
if [ ! -f "$RUN/server/wxguard.db" ]; then
  wxguard-server init --data "$RUN/server" --admin admin | tee "$RUN/server-init.txt"
  chmod 600 "$RUN/server-init.txt"
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
echo "dashboard:  $URL/   (administrator 'admin'; password in $RUN/server-init.txt)"
echo "agent:      WXGUARD_HOME=$WXGUARD_HOME wxguard status | scan-now | report …"
echo "logs:       $RUN/*.log, $WXGUARD_HOME/logs/agent.log"
echo "Ctrl-C stops the server, the agent and the tray."
wait -n "${pids[@]}" || true
