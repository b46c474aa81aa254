#!/usr/bin/env bash
# tests/js/run_objstore.sh -- run tests/js/objstore.mjs (nats.js object
# store and KV) against a server this script starts and stops itself.
#
#   tests/js/run_objstore.sh                 the server is $DIALTONE_BIN,
#                                            else $DIALTONE_BIN_DEFAULT
#   DIALTONE_BIN=/usr/sbin/nats-server tests/js/run_objstore.sh
#
# Exit: the test's status (0 pass, 1 fail), or 77 (meson's "skipped") when
# node, tests/js/node_modules (`npm ci --prefix tests/js`, done by
# tools/setup) or the server binary is missing.
#
# NOTES: the server runs on ephemeral loopback ports with JetStream in a
# temp store dir, in its own process group; it is stopped by its PID
# (SIGTERM, then SIGKILL to its group if it outlives STOP_S) and the temp
# dir is removed on every exit path.  Every wait is bounded.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
START_S=10      # server start, per attempt
STOP_S=5        # server stop after SIGTERM
TEST_S=25       # the node test (it has its own 18 s watchdog)

skip() { echo "SKIP: $*"; exit 77; }

NODE=$(command -v node || command -v nodejs || true)
[ -n "$NODE" ] || skip "node is not installed (tools/setup installs nodejs)"
[ -d "$HERE/node_modules/nats" ] ||
  skip "tests/js/node_modules missing (run: npm ci --prefix tests/js)"
BIN=${DIALTONE_BIN:-${DIALTONE_BIN_DEFAULT:-}}
[ -n "$BIN" ] && [ -x "$BIN" ] ||
  skip "server binary not set or not executable (DIALTONE_BIN='$BIN')"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/dt-objstore-XXXXXX") || exit 1
PID=""

# Stops the server; STOP_RC is its exit status (137: it had to be killed).
STOP_RC=0
stop_server() {
  [ -n "$PID" ] || return 0
  kill -TERM "$PID" 2>/dev/null
  local i
  for ((i = 0; i < STOP_S * 10; i++)); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$PID" 2>/dev/null; then
    echo "run_objstore: server pid $PID ignored SIGTERM for ${STOP_S}s" >&2
    kill -KILL -- "-$PID" 2>/dev/null
  fi
  wait "$PID" 2>/dev/null
  STOP_RC=$?
  # whatever the server spawned (Dialtone's workers) goes with it
  kill -KILL -- "-$PID" 2>/dev/null
  PID=""
}
cleanup() {
  stop_server
  rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
  "$NODE" -e 'const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# 0 once the client port greets with INFO and the monitor port accepts.
ready() (
  exec 2>/dev/null
  exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
  IFS= read -r -t 1 line <&3 || exit 1
  [[ "$line" == INFO* ]] || exit 1
  exec 4<>"/dev/tcp/127.0.0.1/$HTTP" || exit 1
)

mkdir -p "$TMP/store"
printf 'jetstream {\n  store_dir: "%s"\n}\n' "$TMP/store" >"$TMP/server.conf"

# $DIALTONE_TEST_ARGS: more flags for Dialtone only (as tests/lib/dt_harness.c)
EXTRA=()
if [ -n "${DIALTONE_TEST_ARGS:-}" ] && [[ "$(basename "$BIN")" == dialtone* ]]; then
  read -r -a EXTRA <<<"$DIALTONE_TEST_ARGS"
fi

# One start attempt: 0 ready, 2 port taken (retry), 1 other failure.
start_server() {
  PORT=$(free_port) && HTTP=$(free_port) || return 1
  [ "$PORT" != "$HTTP" ] || return 2
  # setsid: its own process group, so its workers can be reaped with it
  setsid "$BIN" -a 127.0.0.1 -p "$PORT" -m "$HTTP" -c "$TMP/server.conf" \
    "${EXTRA[@]}" </dev/null >>"$TMP/server.log" 2>&1 &
  PID=$!
  local i
  for ((i = 0; i < START_S * 10; i++)); do
    if ! kill -0 "$PID" 2>/dev/null; then
      wait "$PID" 2>/dev/null
      PID=""
      grep -qi "address already in use" "$TMP/server.log" && return 2
      return 1
    fi
    ready && return 0
    sleep 0.1
  done
  return 1
}

rc=1
for attempt in 1 2 3; do
  start_server
  rc=$?
  [ "$rc" -eq 2 ] || break
  echo "run_objstore: port taken, retrying" >&2
done
if [ "$rc" -ne 0 ]; then
  echo "run_objstore: $BIN did not start; its log:" >&2
  tail -n 40 "$TMP/server.log" >&2
  exit 1
fi

echo "run_objstore: $BIN on nats://127.0.0.1:$PORT"
timeout -k 2 "$TEST_S" "$NODE" "$HERE/objstore.mjs" "nats://127.0.0.1:$PORT"
status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "run_objstore: node test killed after ${TEST_S}s"
  status=1
fi
if ! kill -0 "$PID" 2>/dev/null; then
  echo "run_objstore: the server died during the test" >&2
  status=1
fi
# A clean stop is part of the test: a crash or sanitizer abort at exit
# (status >= 128) fails it, and so does any non-zero status from Dialtone
# (nats-server exits 1 on SIGTERM).
stop_server
if [ "$STOP_RC" -ge 128 ] ||
   { [ "$STOP_RC" -ne 0 ] && [[ "$(basename "$BIN")" == dialtone* ]]; }; then
  echo "run_objstore: the server exited with status $STOP_RC on SIGTERM" >&2
  status=1
fi
# and so does a sanitizer report from any of the server's processes
if grep -Eq "(Address|Leak|UndefinedBehavior)Sanitizer|runtime error:" \
     "$TMP/server.log"; then
  echo "run_objstore: sanitizer report in the server log" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "run_objstore: server log (tail):" >&2
  tail -n 40 "$TMP/server.log" >&2
fi
exit "$status"
