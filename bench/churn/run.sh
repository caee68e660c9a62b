#!/usr/bin/env bash
# bench/churn: CYCLES (1,000) create → running → delete → gone cycles against one berthd,
# WORKERS (4) at a time. Reports the medians of create → running and delete → gone, berthd's
# resident memory at the start, every 100 cycles and at the end (goal: flat), and what the
# cycles left on the host: bench/lib/inventory.py's full listings (containerd objects, network
# namespaces, veths, iptables rules, mounts, loop devices, cgroups, addresses) before and after,
# diffed (goal: no difference).
#
#   sudo bench/churn/run.sh [CYCLES=1000] [WORKERS=4]
#
# Needs what scripts/test.sh installs (containerd, runc, CNI plugins, docker-registry, umoci,
# skopeo, busybox-static, curl, python3). BERTH_BENCH_SKIP_BUILD=1 uses the build as it is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
CYCLES=${1:-1000}
WORKERS=${2:-4}
die() { echo "bench/churn: $*" >&2; exit 1; }
log() { echo "bench/churn: $*" >&2; }
[[ $(id -u) == 0 ]] || die "needs root (containerd, network namespaces)"
for tool in ctr curl umoci skopeo docker-registry python3 ip iptables /usr/lib/cni/bridge /bin/busybox; do
  command -v "$tool" >/dev/null || [[ -x $tool ]] || die "$tool not found (apt-get install containerd curl umoci skopeo docker-registry containernetworking-plugins busybox-static iptables iproute2)"
done

# BERTH_BENCH_BUILD=debug measures the debug build (quicker to build; RSS and times are not
# the release figures).
BUILD=${BERTH_BENCH_BUILD:-release}
if [[ -z ${BERTH_BENCH_SKIP_BUILD:-} ]]; then
  swift build -c "$BUILD" --product berthd >&2
  swift build -c "$BUILD" --product berth-logger >&2
fi
BIN=$(swift build -c "$BUILD" --show-bin-path)

WORK=$(mktemp -d /tmp/berth-bench-churn.XXXXXX)
chmod 0711 "$WORK"
BERTHD_PID=
BRIDGE=berthchurn0
cleanup() {
  local status=$?
  if ((status != 0)) && [[ -f $WORK/berthd.log ]]; then
    local kept
    kept=$(mktemp /tmp/berth-bench-churn-berthd.XXXXXX) && cp "$WORK/berthd.log" "$kept" \
      && echo "bench/churn: failed; berthd's log is in $kept" >&2
  fi
  [[ -n $BERTHD_PID ]] && kill "$BERTHD_PID" 2>/dev/null && wait "$BERTHD_PID" 2>/dev/null || true
  scripts/test-env.sh stop "$WORK/services" >/dev/null 2>&1 || true
  ip link delete "$BRIDGE" 2>/dev/null || true
  for tool in iptables ip6tables; do
    for table in filter nat; do
      "$tool" -w -t "$table" -S 2>/dev/null | grep -e "BERTH-[A-Z]*-$BRIDGE" | grep '^-A' | sed 's/^-A/-D/' | while read -r rule; do
        eval "$tool -w -t $table $rule" 2>/dev/null || true
      done || true
      for chain in "BERTH-IN-$BRIDGE" "BERTH-FWD-$BRIDGE"; do
        "$tool" -w -t "$table" -F "$chain" 2>/dev/null && "$tool" -w -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
  rm -rf --one-file-system "$WORK"
  exit "$status"
}
trap cleanup EXIT

scripts/test-env.sh start "$WORK/services" 2>/dev/null
# shellcheck disable=SC1091
source "$WORK/services/env"
NS=bench-churn
STATE=$(dirname "$BERTH_TEST_CONTAINERD_ROOT")/state

# busybox httpd that exits on SIGTERM (as a well-behaved service does), so a delete measures
# Berth, not the stop grace period.
IMAGE_DIR=$WORK/image
umoci init --layout "$IMAGE_DIR/oci" >/dev/null
umoci new --image "$IMAGE_DIR/oci:httpd"
umoci unpack --image "$IMAGE_DIR/oci:httpd" "$IMAGE_DIR/bundle" >/dev/null
mkdir -p "$IMAGE_DIR/bundle/rootfs/bin" "$IMAGE_DIR/bundle/rootfs/www"
cp /bin/busybox "$IMAGE_DIR/bundle/rootfs/bin/busybox"
for applet in sh httpd; do ln -s busybox "$IMAGE_DIR/bundle/rootfs/bin/$applet"; done
echo "hello from bench/churn" >"$IMAGE_DIR/bundle/rootfs/www/index.html"
umoci repack --image "$IMAGE_DIR/oci:httpd" "$IMAGE_DIR/bundle" >/dev/null
umoci config --image "$IMAGE_DIR/oci:httpd" --config.env PATH=/bin --config.env PORT=8080 \
  --config.cmd sh --config.cmd -c --config.cmd 'trap "exit 0" TERM; httpd -f -p $PORT -h /www & wait' >/dev/null
IMAGE=$BERTH_TEST_REGISTRY/bench/churn-httpd:1
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$IMAGE_DIR/oci:httpd" "docker://$IMAGE"

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/secret"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API_PORT=$(free_port)
PROXY_PORT=$(free_port)
"$BIN/berthd" serve --containerd-socket "$BERTH_TEST_CONTAINERD_SOCKET" --namespace "$NS" --data-dir "$WORK/data" \
  --jwt-secret-file "$WORK/secret" --api-listen "127.0.0.1:$API_PORT" --proxy-listen "127.0.0.1:$PROXY_PORT" \
  --cni-bridge "$BRIDGE" --cni-subnet 10.216.0.0/16 --insecure-registry "$BERTH_TEST_REGISTRY" \
  --idle-pause-after 0s --idle-stop-after 0s --log-level warning \
  --node-cpu 64 --node-storage 1Pi >"$WORK/berthd.log" 2>&1 &
BERTHD_PID=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$API_PORT/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$API_PORT/readyz" >/dev/null || die "berthd did not become ready; see $WORK/berthd.log"
TOKEN=$("$BIN/berthd" token --jwt-secret-file "$WORK/secret" --sub bench --role ADMIN --ttl 4h)
export API_PORT TOKEN IMAGE BERTHD_PID

inventory() {
  python3 bench/lib/inventory.py --socket "$BERTH_TEST_CONTAINERD_SOCKET" --namespace "$NS" --state "$STATE" \
    --bridge "$BRIDGE" --data "$WORK/data" --ids "$WORK/ids"
}
: >"$WORK/ids"

# The cycles: each worker creates, waits for running, deletes, waits for 404; ids go to
# $WORK/ids (so the inventory finds whatever of theirs is left), RSS every 100 cycles.
churn() { # cycles workers
  python3 - "$1" "$2" "$WORK/ids" "$WORK/cycles.ms" "$WORK/rss" <<'PY'
import http.client, json, os, sys, threading, time
cycles, workers, ids_file, times_file, rss_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
api, token, image, pid = int(os.environ["API_PORT"]), os.environ["TOKEN"], os.environ["IMAGE"], os.environ["BERTHD_PID"]
h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
lock = threading.Lock()
state = {"next": 0, "done": 0, "failed": None}
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
def call(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", api, timeout=120)
    c.request(method, path, json.dumps(body) if body is not None else None, h)
    r = c.getresponse(); data = r.read(); c.close()
    return r.status, data
def until(predicate, what, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise RuntimeError(what)
rss_log = open(rss_file, "w")
rss_log.write("0 %.1f\n" % rss()); rss_log.flush()
times = open(times_file, "w")
def worker():
    while True:
        with lock:
            if state["next"] >= cycles or state["failed"]:
                return
            n = state["next"]; state["next"] += 1
        try:
            start = time.monotonic()
            status, data = call("POST", "/v1/containers", {"name": f"churn-{n}", "image": image, "ram": "16Mi", "cpu": 0.1, "ephemeralStorage": "64Mi"})
            if status != 201:
                raise RuntimeError(f"POST answered {status}: {data[:200]!r}")
            cid = json.loads(data)["id"]
            with lock:
                with open(ids_file, "a") as f: f.write(cid + "\n")
            def running():
                s, d = call("GET", "/v1/containers/" + cid)
                st = json.loads(d).get("status") if s == 200 else None
                if st == "failed":
                    raise RuntimeError(f"container {cid} failed: {d[:300]!r}")
                return st == "running"
            until(running, f"{cid} not running within 120 s")
            up = time.monotonic()
            status, data = call("DELETE", "/v1/containers/" + cid)
            if status != 204:
                raise RuntimeError(f"DELETE answered {status}: {data[:200]!r}")
            until(lambda: call("GET", "/v1/containers/" + cid)[0] == 404, f"{cid} still there 120 s after DELETE")
            gone = time.monotonic()
            with lock:
                times.write("%.1f %.1f\n" % ((up - start) * 1000, (gone - up) * 1000)); times.flush()
                state["done"] += 1
                if state["done"] % 100 == 0:
                    rss_log.write("%d %.1f\n" % (state["done"], rss())); rss_log.flush()
                    print(f"bench/churn: {state['done']}/{cycles} cycles, berthd RSS {rss():.1f} MiB", file=sys.stderr)
        except Exception as error:
            with lock:
                state["failed"] = state["failed"] or f"cycle {n}: {error}"
            return
threads = [threading.Thread(target=worker) for _ in range(workers)]
for t in threads: t.start()
for t in threads: t.join()
if state["failed"]:
    sys.exit("bench/churn: " + state["failed"])
PY
}

log "warm-up (pull, bridge, policy)"
churn 2 1
mv "$WORK/cycles.ms" "$WORK/warmup.ms"
# Teardown runs in the background after DELETE: settle before taking the baseline.
sleep 3
inventory >"$WORK/before.txt"
log "$CYCLES cycles, $WORKERS at a time"
STARTED=$SECONDS
churn "$CYCLES" "$WORKERS"
ELAPSED=$((SECONDS - STARTED))
# What is left once background teardown is done: the same listings as before, or what differs
# after 60 s.
for _ in $(seq 60); do
  inventory >"$WORK/after.txt"
  cmp -s "$WORK/before.txt" "$WORK/after.txt" && break
  sleep 1
done
sleep 2
END_RSS=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$BERTHD_PID/status")

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "bench/churn: $CYCLES create → running → delete → gone cycles, $WORKERS at a time, in ${ELAPSED} s"
echo "  create → running: median $(awk '{ print $1 }' "$WORK/cycles.ms" | median) ms"
echo "  delete → gone (404): median $(awk '{ print $2 }' "$WORK/cycles.ms" | median) ms"
echo "  berthd RSS (MiB) at cycle: $(awk '{ printf "%s%s=%s", (NR > 1 ? ", " : ""), $1, $2 }' "$WORK/rss"), end (settled)=$END_RSS"
echo "  host objects before: $(wc -l <"$WORK/before.txt"), after: $(wc -l <"$WORK/after.txt") (listings compared line by line)"
if diff -u "$WORK/before.txt" "$WORK/after.txt" >"$WORK/leaks.diff"; then
  echo "  left on the host: nothing (goal: nothing)"
else
  echo "  left on the host (- before, + after):"
  grep -E '^[-+][^-+]' "$WORK/leaks.diff" | sed 's/^/    /'
  exit 1
fi
