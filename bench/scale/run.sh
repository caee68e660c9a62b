#!/usr/bin/env bash
# bench/scale: instances, dispatch and the autoscaler (concurrency, minInstances, maxInstances).
#
# The image: busybox httpd whose CGI /cgi-bin/work sleeps 200 ms (usleep 200000), then answers a
# line of text (the CGI is written by the container's command, before httpd starts). Every
# container: cpu 0.1, ram 32Mi, concurrency 1 (one request per instance at a time). berthd with
# short autoscaler windows (stable 10s, panic 2s, scale-down delay 5s; BERTH_BENCH_STABLE_WINDOW,
# BERTH_BENCH_PANIC_WINDOW, BERTH_BENCH_SCALE_DOWN_DELAY), scale to zero off (bench_berthd).
#
# 1. Throughput per instance count. For each N in COUNTS (1,4,8): a container with maxInstances
#    N; warm-up: wrk at 16 connections (5 s at a time) until instances.ready is N (at most
#    120 s); then RUNS (3) times `wrk -t2 -c16 -dDURATION --latency --timeout 30s` to
#    /cgi-bin/work through berthd's proxy (Host: <name>.localhost). Medians of requests/s, p50,
#    p99; host and berthd CPU during the runs. The peer is the one-instance run of the same
#    bench run: the ratio rps(N)/rps(1) against the goal ≥ 0.9 × N while cores allow (each
#    request forks a CGI shell: on a 2-core machine the largest N may be CPU-bound).
# 2. Scale-up: a container with maxInstances 2, its one instance running and idle; 4 clients
#    start requests in a loop (the second request queues at once) at t0; GET
#    /v1/containers/{id}/instances every 25 ms until instance 1 is running, then until it serves a
#    request (inFlight > 0). RUNS times, medians; between runs, the wait until it is back to one
#    instance (the scale-down delay, the drain and the stop) is reported too.
# 3. Scale from zero: berthd restarted with --idle-pause-after 0s --idle-stop-after 2s; a
#    container (minInstances 0) waits until its status is idle and it has no task in
#    containerd, then one GET / through the proxy (curl's time_starttransfer, a new connection).
#    RUNS times, median.
#
#   sudo bench/scale/run.sh [DURATION=15] [RUNS=3] [COUNTS=1,4,8]
#
# BERTH_BENCH_SKIP_BUILD=1 uses the release build as it is; BERTH_BENCH_BIN=DIR other binaries
# (berthd and berth-logger). Progress goes to stderr, the summary to stdout. The exit status is
# 1 only when something failed (berthd gone, a container not running, instances that never
# became ready, requests answered with errors), not when a goal is missed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
DURATION=${1:-15}
RUNS=${2:-3}
COUNTS=${3:-1,4,8}
CONNECTIONS=16
THREADS=2
STABLE_WINDOW=${BERTH_BENCH_STABLE_WINDOW:-10s}
PANIC_WINDOW=${BERTH_BENCH_PANIC_WINDOW:-2s}
SCALE_DOWN_DELAY=${BERTH_BENCH_SCALE_DOWN_DELAY:-5s}
WARMUP_LIMIT=120
BENCH=scale
BEGAN=$SECONDS
# shellcheck source=bench/lib/node.sh
source bench/lib/node.sh
# shellcheck source=bench/lib/wrk.sh
source bench/lib/wrk.sh
# shellcheck source=bench/lib/network.sh
source bench/lib/network.sh
log() { bench_log "$@"; }
# The reason is kept for the summary (also from a command substitution's subshell).
die() {
  [[ -n ${WORK:-} && -d $WORK && ! -s $WORK/failure ]] && head -n 1 <<<"$1" >"$WORK/failure"
  bench_die "$@"
}
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || bench_die "DURATION must be whole seconds, not '$DURATION'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || bench_die "RUNS must be a positive number, not '$RUNS'"
[[ $COUNTS =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || bench_die "COUNTS must be instance counts like 1,4,8, not '$COUNTS'"
bench_require ctr curl umoci skopeo docker-registry python3 ip iptables /usr/lib/cni/bridge /bin/busybox
command -v wrk >/dev/null || bench_die "wrk not found (apt-get install wrk)"
bench_build

WORK=$(mktemp -d /tmp/berth-bench-scale.XXXXXX)
BRIDGE=berthscale0
SUBNET=10.218.0.0/16
NS=bench-scale
CPUS=$(nproc)
SUMMARY_DONE=
CIDS=()
# What a berthd that died could not release for its containers: their network namespaces and the
# bridge plugin's NAT rules, then their ephemeral storage mounts under WORK.
release_leftovers() {
  local id mount
  for id in "${CIDS[@]}"; do
    bench_release_network "$id"
  done
  awk -v dir="$WORK/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r | while IFS= read -r mount; do
    umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true
  done
}
cleanup() {
  local status=$?
  trap - EXIT
  set +e
  if [[ -z $SUMMARY_DONE && -d $WORK ]]; then
    summary
    echo "  FAILED: $(cat "$WORK/failure" 2>/dev/null || echo "exit status $status; see the messages above")"
  fi
  # After a failure: a berthd still running removes its containers; one that died leaves them.
  if [[ -n ${BERTHD_PID:-} ]] && kill -0 "$BERTHD_PID" 2>/dev/null; then
    [[ -n ${TOKEN:-} ]] && { (bench_delete_all wait) >/dev/null 2>&1 || true; }
  else
    release_leftovers
  fi
  bench_cleanup "$status" "$BRIDGE"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$WORK/wrk"
: >"$WORK/problems"
bench_services

# The CGI, written before httpd starts (bench_httpd_image adds no executable files); sh exits on
# SIGTERM (httpd as PID 1 would ignore it and wait out the stop grace period), so scale-down and
# idle stops measure Berth.
bench_httpd_image scale-cgi "$(cat <<'EOF'
mkdir -p /www/cgi-bin
cat >/www/cgi-bin/work <<'CGI'
#!/bin/sh
usleep 200000
printf 'Content-Type: text/plain\r\n\r\n'
echo "worked 200 ms"
CGI
chmod 755 /www/cgi-bin/work
trap 'exit 0' TERM
httpd -f -p $PORT -h /www &
wait
EOF
)"
AUTOSCALER_FLAGS=(--autoscaler-stable-window "$STABLE_WINDOW" --autoscaler-panic-window "$PANIC_WINDOW"
  --autoscaler-scale-down-delay "$SCALE_DOWN_DELAY")
# --log-level info (after bench_berthd's warning): the "scaling" and "woke up" lines.
bench_berthd "$WORK/data" "$BRIDGE" "$SUBNET" "${AUTOSCALER_FLAGS[@]}" --log-level info
TOKEN=$(bench_token)
export TOKEN IMAGE

# ---------------------------------------------------------------------------------------------
# Helpers

# api METHOD PATH [JSON]: the body goes to $WORK/response, the status code to stdout.
api() {
  local args=(-sS -o "$WORK/response" -w '%{http_code}' --max-time 60 -X "$1" "http://127.0.0.1:$API_PORT$2"
    -H "Authorization: Bearer $TOKEN")
  (($# > 2)) && args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" 2>/dev/null || echo 000
}

# The value of a Python expression over the JSON response `d` ("" when it has none).
field() {
  python3 -c 'import json, sys
try:
    d = json.load(open(sys.argv[1])); value = eval(sys.argv[2])
except Exception:
    value = None
print("" if value is None else value)' "$WORK/response" "$1"
}

berthd_alive() {
  kill -0 "$BERTHD_PID" 2>/dev/null && return 0
  local status=0
  wait "$BERTHD_PID" 2>/dev/null || status=$?
  BERTHD_PID=
  die "berthd exited (status $status); the end of its log:
$(grep -v 'GET /v1/containers' "$WORK/berthd.log" | tail -n 15)"
}

# create NAME JSON: POSTs, waits until the container runs; sets CID.
create() {
  local code status deadline=$((SECONDS + 120))
  code=$(api POST /v1/containers "$2")
  [[ $code == 201 ]] || die "POST /v1/containers ($1) answered $code: $(head -c 300 "$WORK/response")"
  CID=$(field 'd["id"]')
  CIDS+=("$CID")
  while :; do
    berthd_alive
    code=$(api GET "/v1/containers/$CID")
    status=
    [[ $code == 200 ]] && status=$(field 'd["status"]')
    [[ $status == running ]] && break
    if [[ $status == failed ]] || ((SECONDS >= deadline)); then
      die "$1 did not run (status ${status:-HTTP $code}: $(field 'd.get("statusMessage")'))"
    fi
    sleep 0.2
  done
}

ready_of() { # id
  if [[ $(api GET "/v1/containers/$1") == 200 ]]; then field 'd["instances"]["ready"]'; fi
}

# One request through the proxy on a new connection: "code first_byte_ms total_ms"; the body
# goes to $WORK/answer.
invoke() { # name path
  local out
  out=$(curl -sS -o "$WORK/answer" -w '%{http_code} %{time_starttransfer} %{time_total}' --max-time 60 \
    -H "Host: $1.localhost" "http://127.0.0.1:$PROXY_PORT$2" 2>"$WORK/answer.err") || out="000 0 0"
  awk '{ printf "%s %.2f %.2f\n", $1, $2 * 1000, $3 * 1000 }' <<<"$out"
}

check_answer() { # name path text
  local code
  read -r code _ _ <<<"$(invoke "$1" "$2")"
  [[ $code == 200 ]] && grep -q "$3" "$WORK/answer" \
    || die "GET $2 on $1 answered ${code/#000/nothing}: $(head -c 300 "$WORK/answer.err" "$WORK/answer" 2>/dev/null)"
}


run_wrk() { # name seconds output
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2s" --latency --timeout 30s -H "Host: $1.localhost" \
    "http://127.0.0.1:$PROXY_PORT/cgi-bin/work" >"$3" 2>&1
}

# CPU counters: "host_busy host_total berthd_ticks" (clock ticks).
cpu_sample() {
  local berthd
  berthd=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$BERTHD_PID/stat" 2>/dev/null || echo 0)
  awk -v b="$berthd" '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t, b; exit }' /proc/stat
}
# Host busy % of all CPUs and berthd's % of one core between two samples.
cpu_share() { # before after
  awk -v hz="$(getconf CLK_TCK)" -v cpus="$CPUS" -v a="$1" -v b="$2" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    dt = y[2] - x[2]; if (dt <= 0) { print "0 0"; exit }
    printf "%.0f %.0f\n", (y[1] - x[1]) * 100 / dt, (y[3] - x[3]) * 100 / (dt / cpus) }'
}

median_col() { awk -v c="$1" '{ print $c }' | bench_median; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
problem() { log "$*"; echo "$*" >>"$WORK/problems"; }

# ---------------------------------------------------------------------------------------------
# Summary (also from the EXIT trap after a failure: what was measured by then)

summary() {
  SUMMARY_DONE=1
  local one n file rps p50 p99 non2xx errors host berthd ready ratio goal verdict
  echo
  echo "bench/scale: busybox httpd CGI sleeping 200 ms, concurrency 1, cpu 0.1, ram 32Mi, through berthd's proxy ($((SECONDS - BEGAN)) s in all)"
  echo "  autoscaler: stable window $STABLE_WINDOW, panic window $PANIC_WINDOW, scale-down delay $SCALE_DOWN_DELAY; $CPUS CPUs"
  echo "  wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, $RUNS runs per count, medians; ideal: 5 requests/s per instance"
  one=
  [[ -s $WORK/scale-1.tsv ]] && one=$(median_col 1 <"$WORK/scale-1.tsv")
  printf '  %-9s  %-14s  %10s  %8s  %8s  %9s  %8s  %10s  %-11s  %s\n' instances "ready (warm-up)" "requests/s" "p50 ms" "p99 ms" "non-2xx/err" "host CPU" "berthd CPU" "ratio to 1" "goal ≥ 0.9×N"
  for n in ${COUNTS//,/ }; do
    file=$WORK/scale-$n.tsv
    [[ -s $file ]] || continue
    rps=$(median_col 1 <"$file"); p50=$(median_col 2 <"$file"); p99=$(median_col 3 <"$file")
    non2xx=$(awk '{ s += $4 } END { print s }' "$file"); errors=$(awk '{ s += $5 } END { print s }' "$file")
    host=$(median_col 7 <"$file"); berthd=$(median_col 8 <"$file")
    ready=$(cat "$WORK/ready-$n" 2>/dev/null || echo "?")
    ratio=-; goal=-; verdict=-
    if [[ -n $one ]]; then
      ratio=$(awk -v a="$rps" -v b="$one" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
      goal=$(awk -v n="$n" 'BEGIN { printf "%.1f", 0.9 * n }')
      verdict=$(awk -v r="$ratio" -v g="$goal" 'BEGIN { print (r + 0 >= g + 0) ? "met" : "missed" }')
    fi
    printf '  %-9s  %-14s  %10s  %8s  %8s  %9s  %7s%%  %9s%%  %-11s  %s\n' "$n" "$ready" "$rps" "$p50" "$p99" "$non2xx/$errors" "$host" "$berthd" "$ratio" "$goal: $verdict"
  done
  [[ -z $one && -s $WORK/scale-${COUNTS%%,*}.tsv ]] && echo "  (no one-instance run in COUNTS: no ratios)"
  if [[ -n $one ]] && ((CPUS <= 2)); then
    echo "  note: $CPUS CPUs; every request forks busybox httpd's CGI shell, and berthd's proxy, wrk and the"
    echo "  instances share them: a missed goal at the largest counts may be the cores, not the dispatch (host"
    echo "  CPU counts every process on the machine, berthd CPU is its share of one core)"
  fi
  if [[ -s $WORK/up.tsv ]]; then
    echo "  scale-up 1 → 2 (maxInstances 2, 4 clients): first queued request → instance 1 running: median $(median_col 1 <"$WORK/up.tsv") ms (runs: $(awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $1 }' "$WORK/up.tsv"))"
    echo "                                               → instance 1 serving a request: median $(median_col 2 <"$WORK/up.tsv") ms"
    [[ -s $WORK/down.s ]] && echo "  scale-down 2 → 1 after the load ends: median $(bench_median <"$WORK/down.s") s (scale-down delay $SCALE_DOWN_DELAY, stable window $STABLE_WINDOW)"
  fi
  if [[ -s $WORK/zero.ms ]]; then
    echo "  scale from zero (--idle-pause-after 0s --idle-stop-after 2s, stopped, no task): GET / first byte median $(median_col 1 <"$WORK/zero.ms") ms (runs: $(awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $1 }' "$WORK/zero.ms"))"
    local woke
    woke=$({ grep 'woke up' "$WORK/berthd.log" || true; } | sed -n 's/.*after=\([0-9.e+-]*\) \(seconds\|milliseconds\|ms\|s\)\b.*/\1 \2/p' \
      | awk '{ v = $1 + 0; if ($2 == "seconds" || $2 == "s") v *= 1000; printf "%.1f\n", v }')
    [[ -n $woke ]] && echo "    berthd's own \"woke up\" durations ($(wc -l <<<"$woke") wakes): median $(bench_median <<<"$woke") ms"
  fi
  local noisy
  noisy=$(grep -E -c '^[^ ]* (warning|error|critical) ' "$WORK/berthd.log" 2>/dev/null || true)
  if ((${noisy:-0} > 0)); then
    echo "  berthd logged $noisy warnings or errors (count, level, message):"
    grep -E '^[^ ]* (warning|error|critical) ' "$WORK/berthd.log" \
      | sed -E 's/^[^ ]* ([a-z]+) .* (\[[A-Za-z0-9]+\] [^[]*)$/\1 \2/' | sort | uniq -c | sort -rn | head -n 8 | cut -c1-200 | sed 's/^ */    /'
  fi
  if [[ -s $WORK/problems ]]; then
    echo "  problems:"
    sed 's/^/    /' "$WORK/problems"
  fi
}

# ---------------------------------------------------------------------------------------------
# 1. Throughput per instance count

for n in ${COUNTS//,/ }; do
  name=scale-$n
  log "$name: concurrency 1, maxInstances $n"
  create "$name" "{\"name\":\"$name\",\"image\":\"$IMAGE\",\"cpu\":0.1,\"ram\":\"32Mi\",\"concurrency\":1,\"maxInstances\":$n}"
  check_answer "$name" /cgi-bin/work "worked 200 ms"

  # Warm-up: load in 5 s pieces until instances.ready is n.
  started=$(now); reached=; ready=0; piece=0
  while :; do
    run_wrk "$name" 5 "$WORK/wrk/warmup-$n-$piece.txt" &
    wrk_pid=$!
    while kill -0 "$wrk_pid" 2>/dev/null; do
      ready=$(ready_of "$CID"); ready=${ready:-0}
      [[ -z $reached ]] && ((ready >= n)) && reached=$(elapsed "$started" "$(now)")
      sleep 0.25
    done
    wait "$wrk_pid" || die "wrk failed in the warm-up: $(tail -n 5 "$WORK/wrk/warmup-$n-$piece.txt")"
    berthd_alive
    piece=$((piece + 1))
    [[ -n $reached ]] && break
    if awk -v a="$(elapsed "$started" "$(now)")" -v l="$WARMUP_LIMIT" 'BEGIN { exit !(a >= l) }'; then
      api GET "/v1/containers/$CID/instances" >/dev/null
      problem "$name: only $ready of $n instances ready after ${WARMUP_LIMIT} s of load; instances: $(head -c 600 "$WORK/response")"
      break
    fi
  done
  if [[ -n $reached ]]; then echo "$n after ${reached} s" >"$WORK/ready-$n"; else echo "$ready of $n!" >"$WORK/ready-$n"; fi
  log "$name: $(cat "$WORK/ready-$n") of load; measuring, $RUNS × ${DURATION} s"

  : >"$WORK/scale-$n.tsv"
  for ((run = 1; run <= RUNS; run++)); do
    out=$WORK/wrk/$n-$run.txt
    before=$(cpu_sample)
    run_wrk "$name" "$DURATION" "$out" || die "wrk against $name failed: $(tail -n 5 "$out")"
    after=$(cpu_sample)
    berthd_alive
    result=$(parse_wrk "$out") || die "could not read wrk's output for $name: $(cat "$out")"
    ready=$(ready_of "$CID")
    echo "$result $(cpu_share "$before" "$after") ${ready:-?}" >>"$WORK/scale-$n.tsv"
    read -r rps p50 p99 non2xx errors requests host berthd ready <<<"$(tail -n1 "$WORK/scale-$n.tsv")"
    log "$name run $run/$RUNS: $rps requests/s, p50 $p50 ms, p99 $p99 ms, $requests requests, non-2xx $non2xx, socket errors $errors, host CPU $host %, berthd $berthd % of a core, ready $ready"
    ((non2xx == 0)) || problem "$name run $run: $non2xx responses not 2xx"
    ((errors == 0)) || problem "$name run $run: $errors socket errors ($(grep 'Socket errors' "$out" | sed 's/^ *//'))"
    [[ $ready == "$n" ]] || problem "$name run $run: $ready of $n instances ready at its end"
  done
  bench_delete_all wait
done

# ---------------------------------------------------------------------------------------------
# 2. Scale-up: first queued request → second instance running and serving

scale_up() { # id name → "running_ms serving_ms down_s|timeout non200 requests"
  python3 - "$1" "$2" <<'PY'
import http.client, json, os, sys, threading, time
cid, name = sys.argv[1], sys.argv[2]
api, proxy, token = int(os.environ["API_PORT"]), int(os.environ["PROXY_PORT"]), os.environ["TOKEN"]
h = {"Authorization": "Bearer " + token}
conn = [None]
def instances():
    for attempt in range(3):
        try:
            if conn[0] is None:
                conn[0] = http.client.HTTPConnection("127.0.0.1", api, timeout=10)
            conn[0].request("GET", f"/v1/containers/{cid}/instances", headers=h)
            r = conn[0].getresponse(); body = r.read()
            if r.status != 200:
                sys.exit(f"GET instances answered {r.status}: {body[:200]!r}")
            return json.loads(body)["instances"]
        except (OSError, http.client.HTTPException):
            conn[0] = None
    sys.exit("GET instances failed three times")
LIVE = {"pending", "pulling", "starting", "running", "paused"}
def extra(items):
    return [i for i in items if i["instance"] >= 1 and i["status"] in LIVE]
# Start from one idle instance.
deadline = time.monotonic() + 30
while extra(instances()) or any(i["inFlight"] for i in instances()):
    if time.monotonic() > deadline:
        sys.exit(f"more than one instance before the run: {instances()}")
    time.sleep(0.1)
stop = threading.Event()
codes = []
def client():
    while not stop.is_set():
        try:
            c = http.client.HTTPConnection("127.0.0.1", proxy, timeout=60)
            c.request("GET", "/cgi-bin/work", headers={"Host": f"{name}.localhost"})
            r = c.getresponse(); r.read(); c.close()
            codes.append(r.status)
        except (OSError, http.client.HTTPException) as error:
            codes.append(str(error))
clients = [threading.Thread(target=client) for _ in range(4)]
t0 = time.monotonic()
for t in clients: t.start()
running = serving = None
seen = []
while time.monotonic() - t0 < 60:
    items = instances(); at = time.monotonic()
    one = [i for i in items if i["instance"] == 1]
    if one and (not seen or seen[-1] != one[0]["status"]):
        seen.append(one[0]["status"])
    if running is None and one and one[0]["status"] == "running":
        running = at
    if running is not None and one and one[0]["inFlight"] > 0:
        serving = at
        break
    time.sleep(0.025)
stop.set()
for t in clients: t.join(timeout=90)
ended = time.monotonic()
if running is None or serving is None:
    sys.exit(f"instance 1 not {'running' if running is None else 'serving'} within 60 s of the load (its statuses: {seen}; instances: {instances()})")
print(f"bench/scale: instance 1 statuses seen: {' → '.join(seen)}", file=sys.stderr)
# Back to one instance: the scale-down delay, the stable window, the drain and the stop.
down = "timeout"
while time.monotonic() - ended < 120:
    if not extra(instances()):
        down = "%.1f" % (time.monotonic() - ended)
        break
    time.sleep(0.1)
bad = [c for c in codes if c != 200]
print("%.1f %.1f %s %d %d" % ((running - t0) * 1000, (serving - t0) * 1000, down, len(bad), len(codes)))
if bad:
    print(f"bench/scale: answers other than 200: {sorted(set(map(str, bad)))}", file=sys.stderr)
PY
}

log "scale-up: concurrency 1, maxInstances 2, $RUNS runs"
create scale-up "{\"name\":\"scale-up\",\"image\":\"$IMAGE\",\"cpu\":0.1,\"ram\":\"32Mi\",\"concurrency\":1,\"maxInstances\":2}"
check_answer scale-up /cgi-bin/work "worked 200 ms"
: >"$WORK/up.tsv"; : >"$WORK/down.s"
for ((run = 1; run <= RUNS; run++)); do
  result=$(scale_up "$CID" scale-up) || die "scale-up run $run failed"
  berthd_alive
  read -r running_ms serving_ms down bad total <<<"$result"
  echo "$running_ms $serving_ms" >>"$WORK/up.tsv"
  log "scale-up run $run/$RUNS: instance 1 running after $running_ms ms, serving after $serving_ms ms; back to one instance after ${down} s; $total requests, $bad not 200"
  ((bad == 0)) || problem "scale-up run $run: $bad of $total requests not answered 200"
  if [[ $down == timeout ]]; then
    api GET "/v1/containers/$CID/instances" >/dev/null
    problem "scale-up run $run: still more than one instance 120 s after the load; instances: $(head -c 600 "$WORK/response")"
    bench_delete_all wait
    create scale-up "{\"name\":\"scale-up\",\"image\":\"$IMAGE\",\"cpu\":0.1,\"ram\":\"32Mi\",\"concurrency\":1,\"maxInstances\":2}"
  else
    echo "$down" >>"$WORK/down.s"
  fi
done
bench_delete_all wait

# ---------------------------------------------------------------------------------------------
# 3. Scale from zero: a stopped container's first answer

# The same data folder: a new database beside this one's image would be another node identity.
log "scale from zero: berthd again, --idle-pause-after 0s --idle-stop-after 2s, $RUNS wakes"
bench_stop_berthd
bench_berthd "$WORK/data" "$BRIDGE" "$SUBNET" "${AUTOSCALER_FLAGS[@]}" --log-level info \
  --idle-pause-after 0s --idle-stop-after 2s
create scale-zero "{\"name\":\"scale-zero\",\"image\":\"$IMAGE\",\"cpu\":0.1,\"ram\":\"32Mi\"}"
check_answer scale-zero / "hello from bench/scale"

task_state() { # the container's tasks in containerd: none, or their states
  "${CTR[@]}" -n "$NS" tasks ls 2>/dev/null | awk -v prefix="$CID-r" 'index($1, prefix) == 1 { s = s (s ? "," : "") $3 } END { print s ? s : "none" }'
}
: >"$WORK/zero.ms"
for ((run = 1; run <= RUNS; run++)); do
  deadline=$((SECONDS + 60))
  while :; do
    berthd_alive
    status=
    [[ $(api GET "/v1/containers/$CID") == 200 ]] && status=$(field 'd["status"]')
    state=$(task_state)
    [[ $status == idle && $state == none ]] && break
    ((SECONDS < deadline)) || die "scale-zero was not stopped within 60 s (status ${status:-?}, task $state)"
    sleep 0.05
  done
  sleep 0.3 # let the stop settle (shim, network release)
  read -r code first total <<<"$(invoke scale-zero /)"
  [[ $code == 200 ]] && grep -q "hello from bench/scale" "$WORK/answer" \
    || die "the wake of scale-zero answered ${code/#000/nothing}: $(head -c 300 "$WORK/answer.err" "$WORK/answer" 2>/dev/null)"
  echo "$first $total" >>"$WORK/zero.ms"
  log "wake $run/$RUNS: first byte after $first ms"
done
bench_delete_all wait

summary
if [[ -s $WORK/problems ]]; then
  echo "bench/scale: failed: $(wc -l <"$WORK/problems") problem(s), listed above" >&2
  exit 1
fi
