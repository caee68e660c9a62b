#!/usr/bin/env bash
# bench/api: GET /v1/containers with 1,000 containers in the store, wrk at 16 connections:
# p50 and p99 latency and requests per second of the default page (100 containers; goal: p99
# under 5 ms), and for reference of the whole list in one page (pageSize=1000); berthd's
# resident memory idle and with those 1,000 records.
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
  swift build -c release --static-swift-stdlib --product berthd >&2
  swift build -c release --static-swift-stdlib --product berth-logger >&2
fi
BIN=$(swift build -c release --static-swift-stdlib --show-bin-path)

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
measure() { # label query
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PORT/v1/containers$2" | tee "$WORK/wrk-$1.txt" >&2
}
measure page ""
measure all "?pageSize=1000"
PAGE_BYTES=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/containers" | wc -c)
ALL_BYTES=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/containers?pageSize=1000" | wc -c)
AFTER=$(rss)

# wrk prints latencies as 1.23ms, 812.00us or 1.02s.
ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }
P99=$(ms "$(awk '/^ +99%/ { print $2 }' "$WORK/wrk-page.txt")")
report() { # label file
  awk -v label="$1" '/^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 } /Requests\/sec/ { rps = $2 }
    END { printf "  %-34s p50 %-9s p99 %-9s requests/s %s\n", label, p50, p99, rps }' "$2"
}
echo
echo "GET /v1/containers with 1,000 containers in the store, wrk $CONNECTIONS connections, $DURATION:"
report "default page (100, ${PAGE_BYTES} bytes)" "$WORK/wrk-page.txt"
report "pageSize=1000 (${ALL_BYTES} bytes)" "$WORK/wrk-all.txt"
if awk -v p="$P99" 'BEGIN { exit !(p < 5) }'; then
  echo "  goal: default page p99 < 5 ms: met (${P99} ms)"
else
  echo "  goal: default page p99 < 5 ms: NOT met (${P99} ms)"
fi
echo "berthd RSS: idle ${IDLE} MiB, with 1,000 records ${LOADED} MiB, after the runs ${AFTER} MiB"
