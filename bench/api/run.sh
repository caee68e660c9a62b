#!/usr/bin/env bash
# bench/api: GET /v1/containers with 1,000 containers in the store, wrk at 16 connections:
# p50 and p99 latency and requests per second (goal: p99 under 5 ms), and berthd's resident
# memory idle and with those 1,000 records.
#
# The containers' image is on a registry nobody answers (127.0.0.1:9), so the node holds 1,000
# records whose pulls fail and back off, as a node with many stored containers would, without
# running 1,000 containers on this machine.
#
#   sudo bench/api/run.sh [DURATION=10s] [CONNECTIONS=16]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
DURATION=${1:-10s}
CONNECTIONS=${2:-16}
[[ $(id -u) == 0 ]] || { echo "bench/api: needs root (containerd)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench/api: wrk not found (apt-get install wrk)" >&2; exit 1; }

if [[ -z ${BERTH_BENCH_SKIP_BUILD:-} ]]; then
  swift build -c release --product berthd >&2
  swift build -c release --product berth-logger >&2
fi
BIN=$(swift build -c release --show-bin-path)

WORK=$(mktemp -d /tmp/berth-bench-api.XXXXXX)
BERTHD_PID=
cleanup() {
  [[ -n $BERTHD_PID ]] && kill "$BERTHD_PID" 2>/dev/null && wait "$BERTHD_PID" 2>/dev/null || true
  scripts/test-env.sh stop "$WORK/services" >/dev/null 2>&1 || true
  ip link delete berthbench0 2>/dev/null || true
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
scripts/test-env.sh start-containerd "$WORK/services" 2>/dev/null
source "$WORK/services/env"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/secret"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
PROXY_PORT=$(free_port)
"$BIN/berthd" serve --containerd-socket "$BERTH_TEST_CONTAINERD_SOCKET" --namespace bench --data-dir "$WORK/data" \
  --jwt-secret-file "$WORK/secret" --api-listen "127.0.0.1:$PORT" --proxy-listen "127.0.0.1:$PROXY_PORT" \
  --cni-bridge berthbench0 --cni-subnet 10.213.0.0/16 --insecure-registry 127.0.0.1:9 --log-level warning \
  --node-cpu 100000 --node-ram 1Pi --node-storage 2Pi \
  >"$WORK/berthd.log" 2>&1 &
BERTHD_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
TOKEN=$("$BIN/berthd" token --jwt-secret-file "$WORK/secret" --sub bench --ttl 1h)
rss() { awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$BERTHD_PID/status"; }
IDLE=$(rss)

echo "creating 1,000 containers" >&2
python3 - "$PORT" "$TOKEN" <<'PY'
import json, sys, urllib.request
port, token = sys.argv[1], sys.argv[2]
for i in range(1000):
    body = json.dumps({"name": f"bench-{i}", "image": "127.0.0.1:9/bench/app:1", "env": {"INDEX": str(i)}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/containers", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    urllib.request.urlopen(request).read()
PY
sleep 20
LOADED=$(rss)
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" \
  "http://127.0.0.1:$PORT/v1/containers" | tee "$WORK/wrk.txt" >&2
BYTES=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/containers" | wc -c)
AFTER=$(rss)

echo
echo "GET /v1/containers, 1,000 containers (${BYTES} bytes), wrk $CONNECTIONS connections, $DURATION:"
awk '/^ +50%/ { print "  p50 " $2 } /^ +99%/ { print "  p99 " $2 " (goal < 5ms)" } /Requests\/sec/ { print "  requests/s " $2 }' "$WORK/wrk.txt"
echo "berthd RSS: idle ${IDLE} MiB, with 1,000 records ${LOADED} MiB, after the run ${AFTER} MiB"
