#!/usr/bin/env bash
# bench/proxy/callgrind.sh: instructions per proxied request, counted by valgrind's callgrind,
# which is repeatable whatever else the machine does (unlike requests per second).
#
# berth-proxy-bench (release) runs under callgrind with instrumentation off; after a warm-up,
# instrumentation goes on for a fixed run of wrk (1 thread, CONNECTIONS keep-alive connections)
# against it, then off. The summary is the instructions counted (Ir) divided by the requests wrk
# completed, and the functions that cost the most (self, inclusive of nothing), for finding where
# the instructions go. The upstream is an nginx on 127.0.0.1 answering a small static response,
# as in bench/proxy/run.sh.
#
#   bench/proxy/callgrind.sh [DURATION=10s] [CONNECTIONS=8]
#
# Environment: BERTH_BENCH_SKIP_BUILD=1 (use the release build as it is), BERTH_BENCH_KEEP=1
# (keep the work folder with callgrind.out), BERTH_BENCH_TOP=25 (functions listed),
# BERTH_BENCH_RELAY=1 (count `berth-proxy-bench --relay` instead, the plain NIO TCP relay that
# bench/proxy/run.sh shows for reference: what NIO itself costs per request, without HTTP).
# Needs: valgrind, objcopy, wrk, nginx, curl (apt-get install valgrind binutils wrk nginx-light curl).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
DURATION=${1:-10s}
CONNECTIONS=${2:-8}
TOP=${BERTH_BENCH_TOP:-25}
MODE=()
[[ ${BERTH_BENCH_RELAY:-} == 1 ]] && MODE=(--relay)
HOST_NAME=bench.localhost
log() { echo "bench/proxy/callgrind: $*" >&2; }
die() { log "$*"; exit 1; }
for tool in valgrind callgrind_control callgrind_annotate objcopy wrk nginx curl python3; do
  command -v "$tool" >/dev/null || die "missing $tool (apt-get install valgrind binutils wrk nginx-light curl python3)"
done
if [[ -z ${BERTH_BENCH_SKIP_BUILD:-} ]]; then
  swift build -c release --static-swift-stdlib --product berth-proxy-bench >&2
fi
PROXY_BENCH=$(swift build -c release --static-swift-stdlib --show-bin-path)/berth-proxy-bench
[[ -x $PROXY_BENCH ]] || die "no $PROXY_BENCH (build it, or run without BERTH_BENCH_SKIP_BUILD)"

WORK=$(mktemp -d /tmp/berth-bench-callgrind.XXXXXX)
chmod 0755 "$WORK" # nginx workers run as nobody
NGINX_PID=
PROXY_PID=
# Each stop on its own: under `set -e`, a `wait` that returns the TERM status ended the trap
# early, and the upstream nginx was left running (the relay exits 143 on TERM).
cleanup() {
  if [[ -n $PROXY_PID ]]; then kill -TERM "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; fi
  if [[ -n $NGINX_PID ]]; then kill -TERM "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
  if [[ ${BERTH_BENCH_KEEP:-} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

UP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/upstream/tmp"
cat >"$WORK/upstream/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/upstream/nginx.pid;
error_log $WORK/upstream/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/upstream/tmp/body;
  proxy_temp_path $WORK/upstream/tmp/proxy;
  fastcgi_temp_path $WORK/upstream/tmp/fastcgi;
  uwsgi_temp_path $WORK/upstream/tmp/uwsgi;
  scgi_temp_path $WORK/upstream/tmp/scgi;
  server {
    listen 127.0.0.1:$UP_PORT;
    location / { default_type text/plain; return 200 "hello from the upstream\n"; }
  }
}
EOF
nginx -e "$WORK/upstream/error.log" -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" </dev/null >"$WORK/nginx.log" 2>&1 &
NGINX_PID=$!

# Valgrind cannot read the DWARF the Swift toolchain writes ("possibly corrupted debuginfo"): a
# copy without it keeps the symbol table, so the functions still have names.
objcopy --strip-debug "$PROXY_BENCH" "$WORK/berth-proxy-bench"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out" \
  "$WORK/berth-proxy-bench" "${MODE[@]}" --listen 127.0.0.1:0 --upstream "127.0.0.1:$UP_PORT" --host "$HOST_NAME" \
  --port-file "$WORK/berth.port" </dev/null >"$WORK/berth.log" 2>&1 &
PROXY_PID=$!
for _ in $(seq 600); do [[ -s $WORK/berth.port ]] && break; sleep 0.1; done
[[ -s $WORK/berth.port ]] || die "berth-proxy-bench did not bind: $(tail -n 5 "$WORK/berth.log")"
PORT=$(cat "$WORK/berth.port")
body=$(curl -sS --max-time 30 -H "Host: $HOST_NAME" "http://127.0.0.1:$PORT/") || die "curl through the proxy failed"
[[ $body == "hello from the upstream" ]] || die "the proxy answered: $body"

log "warm-up: 3s"
wrk -t1 -c"$CONNECTIONS" -d3s -H "Host: $HOST_NAME" "http://127.0.0.1:$PORT/" >/dev/null
callgrind_control -z "$PROXY_PID" >/dev/null
callgrind_control -i on "$PROXY_PID" >/dev/null
log "counting: wrk -t1 -c$CONNECTIONS -d$DURATION"
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "Host: $HOST_NAME" "http://127.0.0.1:$PORT/" | tee "$WORK/wrk.txt" >&2
callgrind_control -i off "$PROXY_PID" >/dev/null
callgrind_control -d "$PROXY_PID" >/dev/null
sleep 1
REQUESTS=$(awk '/requests in/ { print $1 }' "$WORK/wrk.txt")
ERRORS=$(awk '/Non-2xx|Socket errors/ { print }' "$WORK/wrk.txt")
OUT=$(ls -t "$WORK"/callgrind.out* | head -n 1)
callgrind_annotate --threshold=100 "$OUT" 2>/dev/null >"$WORK/annotate.txt"
TOTAL=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$WORK/annotate.txt")
[[ -n $TOTAL && -n $REQUESTS && $REQUESTS -gt 0 ]] || die "no counts (requests: ${REQUESTS:-none}); see $WORK"

echo
echo "berth-proxy-bench ${MODE[*]:+${MODE[*]} }under callgrind, wrk -t1 -c$CONNECTIONS -d$DURATION: $REQUESTS requests${ERRORS:+ ($ERRORS)}"
echo "  instructions per request: $((TOTAL / REQUESTS))"
echo "  the $TOP functions with the most instructions of their own, per request:"
awk -v n="$REQUESTS" -v top="$TOP" '
  /file:function/ { on = 1; next }
  on && NF >= 2 && $1 ~ /^[0-9,]+$/ && shown < top {
    ir = $1; gsub(",", "", ir); $1 = ""; if ($2 ~ /^\(/) $2 = "";
    sub(/^ +/, ""); printf "  %8.0f  %s\n", ir / n, substr($0, 1, 150); shown++ }' "$WORK/annotate.txt"
