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
BENCH=churn
# shellcheck source=bench/lib/node.sh
source bench/lib/node.sh
log() { bench_log "$@"; }
bench_require ctr curl umoci skopeo docker-registry python3 ip iptables /usr/lib/cni/bridge /bin/busybox
bench_build

WORK=$(mktemp -d /tmp/berth-bench-churn.XXXXXX)
BRIDGE=berthchurn0
trap 'bench_cleanup $? "$BRIDGE"' EXIT
bench_services
NS=bench-churn
STATE=$(dirname "$BERTH_TEST_CONTAINERD_ROOT")/state

# busybox httpd that exits on SIGTERM (as a well-behaved service does), so a delete measures
# Berth, not the stop grace period.
bench_httpd_image churn-httpd 'trap "exit 0" TERM; httpd -f -p $PORT -h /www & wait'
bench_berthd "$WORK/data" "$BRIDGE" 10.216.0.0/16
TOKEN=$(bench_token)
export TOKEN IMAGE

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
END_RSS=$(bench_rss)

echo
echo "bench/churn: $CYCLES create → running → delete → gone cycles, $WORKERS at a time, in ${ELAPSED} s"
echo "  create → running: median $(awk '{ print $1 }' "$WORK/cycles.ms" | bench_median) ms"
echo "  delete → gone (404): median $(awk '{ print $2 }' "$WORK/cycles.ms" | bench_median) ms"
echo "  berthd RSS (MiB) at cycle: $(awk '{ printf "%s%s=%s", (NR > 1 ? ", " : ""), $1, $2 }' "$WORK/rss"), end (settled)=$END_RSS"
echo "  host objects before: $(wc -l <"$WORK/before.txt"), after: $(wc -l <"$WORK/after.txt") (listings compared line by line)"
if diff -u "$WORK/before.txt" "$WORK/after.txt" >"$WORK/leaks.diff"; then
  echo "  left on the host: nothing (goal: nothing)"
else
  echo "  left on the host (- before, + after):"
  grep -E '^[-+][^-+]' "$WORK/leaks.diff" | sed 's/^/    /'
  exit 1
fi
