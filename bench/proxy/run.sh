#!/usr/bin/env bash
# bench/proxy: Berth's invocation proxy against nginx, and waking idle containers through it.
#
# 1. Throughput. One upstream, an nginx on 127.0.0.1 answering a small static response
#    (keep-alive, its own temporary configuration). wrk (-t THREADS -c CONNECTIONS -d DURATION
#    --latency, Host: bench.localhost) against:
#      direct  the upstream itself (the baseline);
#      nginx   a second nginx as reverse proxy to it: upstream keepalive 64, proxy_http_version
#              1.1, Connection "", worker_processes = cores, and the forwarding headers Berth's
#              proxy adds (X-Forwarded-For/-Proto/-Host, Forwarded);
#      berth   Berth's proxy: the Proxy target's ProxyServer as berthd runs it (default
#              configuration, one event loop per core, metrics), in berth-proxy-bench with a fixed
#              route table bench.localhost → the upstream;
#      relay   for reference, no goal: `berth-proxy-bench --relay`, a plain TCP relay on SwiftNIO
#              (a connection to the upstream per client connection, bytes forwarded as read, no
#              HTTP): what NIO's channel pipeline itself costs, so the gap between berth and
#              nginx splits into NIO's share and the HTTP layer's and Berth's.
#    ROUNDS rounds, the order rotating each round; medians of requests/s and p99. Reported: the
#    ratio berth/nginx of requests/s (goal ≥ 1.0), relay/nginx, and each proxy's added p99 (its
#    p99 − direct's).
# 2. Wake-up, with a real berthd (release) on a private containerd and a private registry, and a
#    busybox httpd image (sh -c 'exec httpd -f -p $PORT -h /www'):
#      paused   berthd --idle-pause-after 1s --idle-stop-after 0s: wait until the container is idle
#               and `ctr tasks ls` says PAUSED, then curl's time_starttransfer for
#               http://<name>.localhost:<proxy port>/ (a new connection); WAKES times → median
#               (goal < 10 ms);
#      stopped  a second berthd, --idle-pause-after 0s --idle-stop-after 1s (--stop-grace-period
#               1s): wait until idle with no task in containerd; then, in the same quiet state, the
#               peer: `ctr run -d --net-host` of the same image (as berthd pulled it) with PORT set
#               to a free port, plus connecting every 1 ms until the first response byte; then
#               curl's time_starttransfer through Berth's proxy. WAKES each → medians and the ratio
#               Berth/peer (goal ≤ 1.3).
#    berthd's own "woke up" durations (from its log) are shown beside curl's.
#
#   sudo bench/proxy/run.sh [ROUNDS=3] [DURATION=10s] [CONNECTIONS=64]
#
# Environment:
#   BERTH_BENCH_SKIP_BUILD=1   use the release build as it is
#   BERTH_BENCH_THREADS=2      wrk threads
#   BERTH_BENCH_WAKES=10       wakes of each kind
#   BERTH_BENCH_ONLY=throughput|wake   one part only
#   BERTHD=PATH                another berthd for the wake-up part (berth-logger beside it)
#   BERTH_BENCH_KEEP=1         keep the work folder (configurations, wrk outputs, berthd logs)
# Progress goes to stderr, the summary to stdout. When a part fails (berthd exits, a wake gets no
# answer), the summary still shows what was measured, then the failure; the exit status is 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=bench/lib/wrk.sh
source bench/lib/wrk.sh
# shellcheck source=bench/lib/network.sh
source bench/lib/network.sh
ROUNDS=${1:-3}
DURATION=${2:-10s}
CONNECTIONS=${3:-64}
THREADS=${BERTH_BENCH_THREADS:-2}
WAKES=${BERTH_BENCH_WAKES:-10}
ONLY=${BERTH_BENCH_ONLY:-}
HOST_NAME=bench.localhost
NS=bench-proxy
BRIDGE=bproxy0
SUBNET=10.216.0.0/24
WORK=

log() { echo "bench/proxy: $*" >&2; }
# The first line of the reason is kept for the summary (also from a command substitution's subshell).
die() { # reason [details]
  echo "bench/proxy: $1" >&2
  (($# > 1)) && echo "$2" >&2
  [[ -n $WORK && -d $WORK && ! -s $WORK/failure ]] && head -n 5 <<<"$1" >"$WORK/failure"
  exit 1
}
[[ $(id -u) == 0 ]] || die "needs root (containerd, network namespaces): sudo bench/proxy/run.sh"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number, not '$ROUNDS'"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive number, not '$CONNECTIONS'"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "BERTH_BENCH_THREADS must be a positive number, not '$THREADS'"
[[ $WAKES =~ ^[1-9][0-9]*$ ]] || die "BERTH_BENCH_WAKES must be a positive number, not '$WAKES'"
[[ -z $ONLY || $ONLY == throughput || $ONLY == wake ]] || die "BERTH_BENCH_ONLY must be throughput or wake, not '$ONLY'"
((CONNECTIONS >= THREADS)) || die "CONNECTIONS ($CONNECTIONS) must be at least the wrk threads ($THREADS)"
missing=()
for tool in wrk nginx ctr containerd runc curl skopeo umoci docker-registry python3 setsid ip; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x /bin/busybox ]] || missing+=(/bin/busybox)
[[ -x /usr/lib/cni/bridge || -x /opt/cni/bin/bridge ]] || missing+=(cni-bridge)
((${#missing[@]} == 0)) || die "missing ${missing[*]} (apt-get install wrk nginx-light containerd runc curl skopeo umoci docker-registry python3 iproute2 containernetworking-plugins busybox-static)"

[[ -n ${BERTHD:-} ]] && BERTHD=$(realpath -- "$BERTHD")
if [[ -z ${BERTH_BENCH_SKIP_BUILD:-} ]]; then
  [[ -z ${BERTHD:-} ]] && swift build -c release --static-swift-stdlib --product berthd >&2
  [[ -z ${BERTHD:-} ]] && swift build -c release --static-swift-stdlib --product berth-logger >&2
  swift build -c release --static-swift-stdlib --product berth-proxy-bench >&2
fi
BIN=$(swift build -c release --static-swift-stdlib --show-bin-path)
PROXY_BENCH=$BIN/berth-proxy-bench
BERTHD=${BERTHD:-$BIN/berthd}
[[ -x $PROXY_BENCH ]] || die "no $PROXY_BENCH (build it, or run without BERTH_BENCH_SKIP_BUILD)"
[[ -x $BERTHD ]] || die "no $BERTHD (build it, or run without BERTH_BENCH_SKIP_BUILD)"
[[ -x $(dirname "$BERTHD")/berth-logger ]] || die "no berth-logger beside $BERTHD"

WORK=$(mktemp -d /tmp/berth-bench-proxy.XXXXXX)
# 0711: a private containerd may live below, and runc as a user namespace's mapped root passes through.
chmod 0711 "$WORK"
chmod 0755 "$WORK" # nginx workers run as nobody
CORES=$(nproc)

# ---------------------------------------------------------------------------------------------
# Processes: exactly what this script started, stopped by pid.

declare -A PIDS=()
BRIDGE_EXISTED=0
ip link show "$BRIDGE" >/dev/null 2>&1 && BRIDGE_EXISTED=1
CTRD_DIR=
SOCKET=
BERTHD_PID=
API_PORT=
PROXY_PORT=
TOKEN=
CONTAINER_ID=
CONTAINER_IDS=()
SUMMARY_DONE=

stop_pid() { # name pid seconds
  local name=$1 pid=$2 seconds=$3
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + seconds))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) did not stop within ${seconds}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

started() { # name pid
  PIDS[$1]=$2
}

stop_started() { # name seconds
  local pid=${PIDS[$1]:-}
  [[ -n $pid ]] || return 0
  stop_pid "$1" "$pid" "$2"
  unset "PIDS[$1]"
}


cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  if [[ -z $SUMMARY_DONE && -n $WORK && -d $WORK ]]; then
    summary
    echo "  FAILED: $(cat "$WORK/failure" 2>/dev/null || echo "exit status $status; see the messages above")"
  fi
  if [[ -n $CONTAINER_ID && -n $BERTHD_PID ]] && kill -0 "$BERTHD_PID" 2>/dev/null; then
    curl -s -o /dev/null --max-time 30 -X DELETE -H "Authorization: Bearer $TOKEN" \
      "http://127.0.0.1:$API_PORT/v1/containers/$CONTAINER_ID"
    for _ in $(seq 100); do
      [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$API_PORT/v1/containers/$CONTAINER_ID") == 404 ]] && break
      sleep 0.2
    done
  fi
  local name
  for name in "${!PIDS[@]}"; do stop_started "$name" 30; done
  [[ -n $CTRD_DIR ]] && scripts/test-env.sh stop "$CTRD_DIR" >/dev/null 2>&1
  local id
  for id in "${CONTAINER_IDS[@]}"; do bench_release_network "$id"; done
  if ((!BRIDGE_EXISTED)) && ip link show "$BRIDGE" >/dev/null 2>&1; then ip link delete "$BRIDGE" 2>/dev/null; fi
  if [[ -n $WORK && -d $WORK ]]; then
    # What a berthd that died could not unmount (its containers' ephemeral storage).
    local mount
    awk -v dir="$WORK/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r | while IFS= read -r mount; do
      umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null
    done
    if [[ ${BERTH_BENCH_KEEP:-} == 1 ]]; then
      log "kept $WORK"
    elif awk -v dir="$WORK/" 'index($2, dir) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
      log "something is still mounted under $WORK; left it in place"
    else
      rm -rf --one-file-system "$WORK"
    fi
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_ports() { # count
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# Succeeds when GET PATH on 127.0.0.1:PORT answers with any HTTP status.
http_answers() ( # port [path]
  port=$1 path=${2:-/} line=
  exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$HOST_NAME" >&3
  IFS= read -r -t 2 line <&3 || true
  [[ $line == HTTP/* ]]
)

wait_answers() { # name port [path]
  local deadline=$((SECONDS + 30))
  until http_answers "$2" "${3:-/}" 2>/dev/null; do
    kill -0 "${PIDS[$1]}" 2>/dev/null || die "$1 exited during startup: $(tail -n 5 "$WORK/$1.log" 2>/dev/null)"
    ((SECONDS < deadline)) || die "$1 did not answer on 127.0.0.1:$2 within 30s; see $WORK/$1.log"
    sleep 0.05
  done
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
verdict() { awk "BEGIN { exit !($1) }" && echo "met" || echo "NOT met"; }
count() { if [[ -f $1 ]]; then grep -c . "$1" || true; else echo 0; fi; }

# =============================================================================================
# 1. Throughput: direct, nginx, Berth's proxy.

TARGETS=(direct nginx berth relay)
declare -A URL=()

nginx_common() { # dir: the settings both nginx instances share
  cat <<EOF
daemon off;
worker_processes $CORES;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 8192; }
EOF
}
nginx_http_common() { # dir
  cat <<EOF
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  client_body_temp_path $1/tmp/body;
  proxy_temp_path $1/tmp/proxy;
  fastcgi_temp_path $1/tmp/fastcgi;
  uwsgi_temp_path $1/tmp/uwsgi;
  scgi_temp_path $1/tmp/scgi;
EOF
}

start_nginx() { # name
  nginx -t -q -e "$WORK/$1/error.log" -p "$WORK/$1" -c "$WORK/$1/nginx.conf" 2>"$WORK/$1.log" \
    || die "nginx rejects $WORK/$1/nginx.conf: $(cat "$WORK/$1.log")"
  setsid nginx -e "$WORK/$1/error.log" -p "$WORK/$1" -c "$WORK/$1/nginx.conf" </dev/null >>"$WORK/$1.log" 2>&1 &
  started "$1" $!
}


# berth-proxy-bench to the upstream on a port of its own, in $WORK/NAME.port once it answers.
start_proxy_bench() { # name [options...]
  local name=$1
  shift
  setsid "$PROXY_BENCH" "$@" --listen 127.0.0.1:0 --upstream "127.0.0.1:$up_port" \
    --port-file "$WORK/$name.port" </dev/null >"$WORK/$name.log" 2>&1 &
  started "$name" $!
  for _ in $(seq 200); do [[ -s $WORK/$name.port ]] && break; sleep 0.05; done
  [[ -s $WORK/$name.port ]] || die "berth-proxy-bench $* did not bind: $(tail -n 5 "$WORK/$name.log")"
  wait_answers "$name" "$(cat "$WORK/$name.port")"
  log "berth-proxy-bench $* on 127.0.0.1:$(cat "$WORK/$name.port")"
}

run_wrk() { # target duration output
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2" --latency -H "Host: $HOST_NAME" "${URL[$1]}" >"$3" 2>&1 \
    || die "wrk against $1 failed: $(tail -n 5 "$3")"
}

throughput() {
  local up_port nginx_port berth_port relay_port target body round k order out result
  read -r up_port nginx_port <<<"$(free_ports 2)"
  mkdir -p "$WORK/upstream/tmp" "$WORK/nginx/tmp" "$WORK/wrk"
  {
    nginx_common "$WORK/upstream"
    echo "http {"
    nginx_http_common "$WORK/upstream"
    cat <<EOF
  server {
    listen 127.0.0.1:$up_port backlog=4096;
    location / {
      default_type text/plain;
      return 200 "hello from the upstream\n";
    }
  }
}
EOF
  } >"$WORK/upstream/nginx.conf"
  {
    nginx_common "$WORK/nginx"
    echo "http {"
    nginx_http_common "$WORK/nginx"
    cat <<EOF
  upstream bench_upstream {
    server 127.0.0.1:$up_port;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$nginx_port backlog=4096;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$http_host;
      proxy_set_header Forwarded "for=\$remote_addr;host=\$http_host;proto=\$scheme";
    }
  }
}
EOF
  } >"$WORK/nginx/nginx.conf"

  log "throughput: the upstream nginx on 127.0.0.1:$up_port, nginx as reverse proxy on 127.0.0.1:$nginx_port, berth-proxy-bench"
  start_nginx upstream
  wait_answers upstream "$up_port"
  start_nginx nginx
  wait_answers nginx "$nginx_port"
  start_proxy_bench berth --host "$HOST_NAME"
  berth_port=$(cat "$WORK/berth.port")
  start_proxy_bench relay --relay
  relay_port=$(cat "$WORK/relay.port")

  URL=([direct]="http://127.0.0.1:$up_port/" [nginx]="http://127.0.0.1:$nginx_port/" [berth]="http://127.0.0.1:$berth_port/"
    [relay]="http://127.0.0.1:$relay_port/")
  for target in "${TARGETS[@]}"; do
    body=$(curl -sS --max-time 5 -H "Host: $HOST_NAME" -w ' %{http_code}' "${URL[$target]}") || die "$target: curl failed"
    [[ $body == "hello from the upstream"*" 200" ]] || die "$target answered unexpectedly: $body"
  done

  log "warm-up: 2s of wrk against each"
  for target in "${TARGETS[@]}"; do run_wrk "$target" 2s "$WORK/wrk/warmup-$target.txt"; done
  for target in "${TARGETS[@]}"; do : >"$WORK/wrk/$target.tsv"; done
  for ((round = 1; round <= ROUNDS; round++)); do
    order=()
    for ((k = 0; k < ${#TARGETS[@]}; k++)); do order+=("${TARGETS[$(((round - 1 + k) % ${#TARGETS[@]}))]}"); done
    for target in "${order[@]}"; do
      out=$WORK/wrk/round$round-$target.txt
      run_wrk "$target" "$DURATION" "$out"
      result=$(parse_wrk "$out") || die "could not read wrk's output for $target: $(cat "$out")"
      echo "$result" >>"$WORK/wrk/$target.tsv"
      read -r rps p50 p99 non2xx errors requests <<<"$result"
      log "round $round/$ROUNDS $target: $rps requests/s, p50 $p50 ms, p99 $p99 ms, $requests requests, non-2xx $non2xx, socket errors $errors"
    done
  done
  [[ $(cat "$WORK/berth.log") == "listening on 127.0.0.1:$berth_port" ]] \
    || log "berth-proxy-bench's log: $(tail -n 20 "$WORK/berth.log")"
  grep -q . "$WORK/nginx/error.log" 2>/dev/null && log "nginx's error log: $(tail -n 5 "$WORK/nginx/error.log")"
  stop_started berth 30
  stop_started relay 10
  stop_started nginx 10
  stop_started upstream 10
}

# =============================================================================================
# 2. Wake-up: a real berthd on a private containerd and registry.

CTR=()
IMAGE=
PEER_IMAGE=
NAME=

wake_environment() {
  log "wake-up: a private containerd and registry, the busybox httpd image"
  CTRD_DIR=$WORK/ctrd
  scripts/test-env.sh start-containerd "$CTRD_DIR" 2>"$WORK/containerd-start.log" \
    || die "the private containerd did not start: $(tail -n 5 "$WORK/containerd-start.log")"
  # shellcheck disable=SC1091
  SOCKET=$(source "$CTRD_DIR/env" && echo "$BERTH_TEST_CONTAINERD_SOCKET")
  CTR=(ctr --address "$SOCKET" --connect-timeout 5s -n "$NS")

  local registry_port registry rootfs image_dir=$WORK/image
  read -r registry_port <<<"$(free_ports 1)"
  registry=127.0.0.1:$registry_port
  mkdir -p "$WORK/registry/storage"
  cat >"$WORK/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $WORK/registry/storage
http:
  addr: $registry
  secret: $(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
EOF
  setsid docker-registry serve "$WORK/registry/config.yml" </dev/null >"$WORK/registry.log" 2>&1 &
  started registry $!
  wait_answers registry "$registry_port" /v2/

  umoci init --layout "$image_dir/oci" >/dev/null
  umoci new --image "$image_dir/oci:httpd"
  umoci unpack --image "$image_dir/oci:httpd" "$image_dir/bundle" >/dev/null
  rootfs=$image_dir/bundle/rootfs
  mkdir -p "$rootfs"/{bin,etc,www,tmp}
  cp /bin/busybox "$rootfs/bin/busybox"
  ln -s busybox "$rootfs/bin/sh"
  ln -s busybox "$rootfs/bin/httpd"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$rootfs/etc/group"
  echo "hello from bench/proxy" >"$rootfs/www/index.html"
  umoci repack --image "$image_dir/oci:httpd" "$image_dir/bundle" >/dev/null
  umoci config --image "$image_dir/oci:httpd" --config.env PATH=/bin --config.env PORT=8080 \
    --config.cmd sh --config.cmd -c --config.cmd 'exec httpd -f -p $PORT -h /www' >/dev/null
  IMAGE=$registry/bench/httpd:1
  REGISTRY=$registry
  skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$image_dir/oci:httpd" "docker://$IMAGE" \
    || die "skopeo could not push $IMAGE"

  (umask 077; od -An -tx1 -N32 -v /dev/urandom | tr -d ' \n' >"$WORK/secret")
  echo "# bench/proxy: settings come from the flags." >"$WORK/berthd.toml"
}

# The end of berthd's log; when it crashed, the last lines before and the crashed thread's frames.
berthd_log_tail() { # label [lines]
  local file=$WORK/berthd-$1.log
  if grep -q '^\*\*\* Program crashed' "$file" 2>/dev/null; then
    echo "    (the last lines before the crash, polling GETs left out:)"
    awk '/^\*\*\* Signal/ { exit } NF && !/GET \/v1\/containers\// { print }' "$file" | tail -n 8 | sed 's/^/    /'
    awk '/^\*\*\* Program crashed/ { print; next }
         / crashed:$/ { frames = 1; print; next }
         frames && /^\.\.\.$/ { exit }
         frames && NF { print }' "$file" | sed 's/^/    /'
  else
    grep -v 'GET /v1/containers/' "$file" 2>/dev/null | tail -n "${2:-20}" | sed 's/^/    /'
  fi
}

# Dies when berthd is gone, with the end of its log.
berthd_alive() { # label
  kill -0 "$BERTHD_PID" 2>/dev/null && return 0
  local status=0
  wait "$BERTHD_PID" 2>/dev/null || status=$?
  unset "PIDS[berthd-$1]"
  if ((status == 132)); then
    status="132: SIGILL, a Swift runtime trap"
  elif ((status > 128)); then
    status="$status: killed by signal $((status - 128))"
  fi
  die "berthd ($1) exited (status $status)" "  berthd's log:
$(berthd_log_tail "$1")"
}

# Both parts run one node (one data folder) with other idle settings: a second berthd with a new
# database would find the first one's image in the namespace and refuse to start (its owner is
# another node identity).
start_berthd() { # label pause-after stop-after
  local label=$1
  read -r API_PORT PROXY_PORT <<<"$(free_ports 2)"
  setsid "$BERTHD" serve --config "$WORK/berthd.toml" --containerd-socket "$SOCKET" --namespace "$NS" \
    --data-dir "$WORK/berthd-data" --jwt-secret-file "$WORK/secret" \
    --api-listen "127.0.0.1:$API_PORT" --proxy-listen "127.0.0.1:$PROXY_PORT" --domain localhost \
    --cni-bridge "$BRIDGE" --cni-subnet "$SUBNET" --insecure-registry "$REGISTRY" \
    --idle-pause-after "$2" --idle-stop-after "$3" --stop-grace-period 1s --log-level info \
    </dev/null >"$WORK/berthd-$label.log" 2>&1 &
  BERTHD_PID=$!
  started "berthd-$label" "$BERTHD_PID"
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "http://127.0.0.1:$API_PORT/readyz" 2>/dev/null; do
    berthd_alive "$label"
    ((SECONDS < deadline)) || die "berthd ($label) was not ready within 60s" "  berthd's log:
$(berthd_log_tail "$label")"
    sleep 0.1
  done
  TOKEN=$("$BERTHD" token --config "$WORK/berthd.toml" --jwt-secret-file "$WORK/secret" --sub bench --ttl 2h) \
    || die "berthd token failed"
}

stop_berthd() { # label
  stop_started "berthd-$1" 30
  BERTHD_PID=
}

# api METHOD PATH [JSON]: the body goes to $WORK/response, the status code to stdout.
api() {
  local args=(-sS -o "$WORK/response" -w '%{http_code}' --max-time 60 -X "$1" "http://127.0.0.1:$API_PORT$2"
    -H "Authorization: Bearer $TOKEN")
  (($# > 2)) && args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" 2>/dev/null
}

json_field() { # key: of the JSON object in $WORK/response
  python3 -c 'import json, sys
try:
    value = json.load(open(sys.argv[1])).get(sys.argv[2])
except Exception:
    value = None
print("" if value is None else value)' "$WORK/response" "$1"
}

deploy() { # label name
  local label=$1 code status message deadline
  NAME=$2
  code=$(api POST /v1/containers "{\"name\":\"$NAME\",\"image\":\"$IMAGE\",\"ram\":\"32Mi\",\"keepWarm\":false}") || code=000
  [[ $code == 201 ]] || die "POST /v1/containers answered $code: $(cat "$WORK/response" 2>/dev/null)"
  CONTAINER_ID=$(json_field id)
  [[ -n $CONTAINER_ID ]] || die "POST /v1/containers answered without an id: $(cat "$WORK/response")"
  CONTAINER_IDS+=("$CONTAINER_ID")
  deadline=$((SECONDS + 120))
  while :; do
    berthd_alive "$label"
    code=$(api GET "/v1/containers/$CONTAINER_ID") || code=000
    status=
    [[ $code == 200 ]] && status=$(json_field status)
    [[ $status == running ]] && break
    if [[ $status == failed ]] || ((SECONDS >= deadline)); then
      message=$(json_field statusMessage)
      die "$NAME did not run (status ${status:-HTTP $code}${message:+: $message})" "  berthd's log:
$(berthd_log_tail "$label")"
    fi
    sleep 0.2
  done
  invoke "$label" >/dev/null
}

delete_container() {
  local code
  code=$(api DELETE "/v1/containers/$CONTAINER_ID") || code=000
  [[ $code == 204 || $code == 404 ]] || die "DELETE answered $code: $(cat "$WORK/response")"
  for _ in $(seq 300); do
    code=$(api GET "/v1/containers/$CONTAINER_ID") || code=000
    [[ $code == 404 ]] && { CONTAINER_ID=; return 0; }
    sleep 0.2
  done
  die "$NAME is still there 60s after DELETE"
}

# One request through berthd's proxy on a new connection; prints curl's time_starttransfer in ms.
invoke() { # label
  local out code seconds
  rm -f "$WORK/invocation" "$WORK/invocation.err"
  out=$(curl -sS -o "$WORK/invocation" -D "$WORK/invocation.headers" -w '%{http_code} %{time_starttransfer}' --max-time 60 \
    --resolve "$NAME.localhost:$PROXY_PORT:127.0.0.1" "http://$NAME.localhost:$PROXY_PORT/" 2>"$WORK/invocation.err") \
    || out="000 0"
  read -r code seconds <<<"$out"
  if [[ $code != 200 ]] || ! grep -q "hello from bench/proxy" "$WORK/invocation"; then
    sleep 0.5 # a berthd that crashed is writing its backtrace: wait until it is done
    for _ in $(seq 300); do
      grep -q '^\*\*\* Signal' "$WORK/berthd-$1.log" 2>/dev/null && kill -0 "$BERTHD_PID" 2>/dev/null || break
      sleep 0.1
    done
    die "a request to $NAME (http://$NAME.localhost:$PROXY_PORT/) answered ${code/#000/nothing} ($(cat "$WORK/invocation.err" "$WORK/invocation" 2>/dev/null | head -c 300))" "  berthd's log:
$(berthd_log_tail "$1")"
  fi
  # berthd's Server-Timing field: the phases of the wake this request waited for.
  { grep -i '^server-timing:' "$WORK/invocation.headers" || true; } | tr -d '\r' >>"$WORK/$1.timing"
  calc "%.2f\n" "$seconds * 1000"
}

# The median of each Server-Timing phase over a label's wakes: "queued 0.1, pulled 2.3, ...".
wake_phases() { # label
  [[ -s $WORK/$1.timing ]] || { echo "none recorded"; return 0; }
  python3 - "$WORK/$1.timing" <<'PY'
import re, statistics, sys
phases = {}
for line in open(sys.argv[1]):
    for name, dur in re.findall(r"([a-z]+);dur=([0-9.]+)", line):
        phases.setdefault(name, []).append(float(dur))
print(", ".join(f"{name} {statistics.median(v):.1f}" for name, v in phases.items()))
PY
}

# The container's task state in containerd: RUNNING, PAUSED, ..., or none.
task_state() {
  local tasks
  tasks=$("${CTR[@]}" tasks ls 2>&1) || { echo "unknown (ctr: ${tasks//$'\n'/ })"; return 0; }
  awk -v prefix="$CONTAINER_ID-r" 'index($1, prefix) == 1 { state = $3 } END { print state == "" ? "none" : state }' <<<"$tasks"
}

wait_idle() { # label paused|stopped
  local deadline=$((SECONDS + 60)) code status state
  while :; do
    berthd_alive "$1"
    code=$(api GET "/v1/containers/$CONTAINER_ID") || code=000
    status=
    [[ $code == 200 ]] && status=$(json_field status)
    state=$(task_state)
    if [[ $status == idle ]]; then
      [[ $2 == paused && $state == PAUSED ]] && break
      [[ $2 == stopped && $state == none ]] && break
    fi
    ((SECONDS < deadline)) || die "$NAME was not $2 within 60s (status ${status:-HTTP $code}, task $state)" "  berthd's log:
$(berthd_log_tail "$1")"
    sleep 0.05
  done
  sleep 0.3 # let the pause or stop settle (shim, network release)
}

# berthd's own wake-up durations in ms, from its "woke up" log lines.
berthd_wakes() { # label source
  { grep 'woke up' "$WORK/berthd-$1.log" 2>/dev/null || true; } | { grep "from=$2" || true; } \
    | sed -n 's/.*after=\([0-9.e+-]*\) \(seconds\|milliseconds\|ms\|s\)\b.*/\1 \2/p' \
    | awk '{ v = $1 + 0; if ($2 == "seconds" || $2 == "s") v *= 1000; printf "%.2f\n", v }'
}

wake_paused() {
  local i ms
  log "wake-up from paused: berthd --idle-pause-after 1s --idle-stop-after 0s, $WAKES wakes"
  start_berthd paused 1s 0s
  deploy paused wake-paused
  : >"$WORK/paused.ms"
  for ((i = 1; i <= WAKES; i++)); do
    wait_idle paused paused
    ms=$(invoke paused)
    echo "$ms" >>"$WORK/paused.ms"
    log "paused wake $i/$WAKES: first byte after $ms ms"
  done
  delete_container
  stop_berthd paused
}

# ctr run -d --net-host of the image with PORT set, then connect every 1 ms until the first byte
# of the response; prints "total_ms ctr_run_ms".
peer_run() { # id
  local port
  read -r port <<<"$(free_ports 1)"
  python3 - "$1" "$port" "$PEER_IMAGE" "${CTR[@]}" <<'PY'
import socket, subprocess, sys, time
cid, port, image, ctr = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
start = time.monotonic()
run = subprocess.run(ctr + ["run", "-d", "--net-host", "--env", f"PORT={port}", image, cid], capture_output=True)
if run.returncode != 0:
    sys.exit("ctr run failed: " + run.stderr.decode(errors="replace").strip())
ran = time.monotonic()
while True:
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: peer\r\nConnection: close\r\n\r\n")
        if s.recv(1):
            break
    except OSError:
        pass
    finally:
        s.close()
    if time.monotonic() - start > 60:
        sys.exit("the peer did not answer within 60 s")
    time.sleep(0.001)
end = time.monotonic()
print("%.2f %.2f" % ((end - start) * 1000, (ran - start) * 1000))
PY
}

peer_remove() { # id
  "${CTR[@]}" tasks kill -s SIGKILL "$1" >/dev/null 2>&1 || true
  for _ in $(seq 200); do "${CTR[@]}" tasks delete "$1" >/dev/null 2>&1 && break; sleep 0.05; done
  "${CTR[@]}" containers delete "$1" >/dev/null 2>&1 || true
}

wake_stopped() {
  local i ms peer_ms run_ms
  log "wake-up from stopped: berthd --idle-pause-after 0s --idle-stop-after 1s, $WAKES wakes, each after ctr run -d of the same image"
  start_berthd stopped 0s 1s
  deploy stopped wake-stopped

  PEER_IMAGE=$IMAGE
  if ! "${CTR[@]}" images ls -q 2>/dev/null | grep -qxF "$IMAGE"; then
    PEER_IMAGE=$("${CTR[@]}" images ls -q 2>/dev/null | head -n1)
    [[ -n $PEER_IMAGE ]] || die "berthd's image is not in containerd's namespace $NS (ctr images ls is empty)"
  fi
  log "peer image: $PEER_IMAGE (as berthd pulled it)"

  # A first peer run, not counted (the snapshot for ctr's own container, caches).
  wait_idle stopped stopped
  if ! peer_run peer-warmup >/dev/null 2>"$WORK/peer-warmup.err"; then
    log "the peer's warm-up run failed ($(cat "$WORK/peer-warmup.err")); pulling the image with ctr and trying again"
    peer_remove peer-warmup
    "${CTR[@]}" images pull --plain-http "$IMAGE" >/dev/null || die "ctr images pull --plain-http $IMAGE failed"
    PEER_IMAGE=$IMAGE
    peer_run peer-warmup >/dev/null || die "the peer's warm-up run failed again"
  fi
  peer_remove peer-warmup

  : >"$WORK/stopped.ms"; : >"$WORK/peer.ms"; : >"$WORK/peer-run.ms"
  for ((i = 1; i <= WAKES; i++)); do
    wait_idle stopped stopped
    read -r peer_ms run_ms <<<"$(peer_run "peer-$i")"
    [[ -n $peer_ms ]] || die "the peer's run $i failed"
    peer_remove "peer-$i"
    sleep 0.2
    [[ $(task_state) == none ]] || die "$NAME has a task again before its wake ($(task_state))"
    ms=$(invoke stopped)
    echo "$ms" >>"$WORK/stopped.ms"
    echo "$peer_ms" >>"$WORK/peer.ms"
    echo "$run_ms" >>"$WORK/peer-run.ms"
    log "stopped wake $i/$WAKES: berth first byte after $ms ms; ctr run -d + first byte $peer_ms ms (ctr run $run_ms ms)"
  done
  delete_container
  stop_berthd stopped
}

# =============================================================================================
# Summary: what was measured (also after a failure).

summary() {
  local target rps ratio n
  echo
  if [[ -s $WORK/wrk/berth.tsv && -s $WORK/wrk/nginx.tsv && -s $WORK/wrk/direct.tsv && -s $WORK/wrk/relay.tsv ]]; then
    declare -A RPS=() P50=() P99=()
    for target in "${TARGETS[@]}"; do
      RPS[$target]=$(awk '{ print $1 }' "$WORK/wrk/$target.tsv" | median)
      P50[$target]=$(awk '{ print $2 }' "$WORK/wrk/$target.tsv" | median)
      P99[$target]=$(awk '{ print $3 }' "$WORK/wrk/$target.tsv" | median)
    done
    n=$(count "$WORK/wrk/berth.tsv")
    ratio=$(calc "%.3f" "${RPS[berth]} / ${RPS[nginx]}")
    echo "bench/proxy: throughput ($CORES cores; wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, Host: $HOST_NAME; median of $n rounds, order rotating)"
    printf '  %-26s %11s %9s %9s %11s\n' "" "requests/s" "p50 ms" "p99 ms" "added p99"
    printf '  %-26s %11.0f %9.3f %9.3f %11s\n' "direct (upstream nginx)" "${RPS[direct]}" "${P50[direct]}" "${P99[direct]}" "-"
    declare -A LABEL=([nginx]="nginx reverse proxy" [berth]="berth proxy" [relay]="NIO TCP relay (reference)")
    for target in nginx berth relay; do
      printf '  %-26s %11.0f %9.3f %9.3f %+8.3f ms\n' "${LABEL[$target]}" \
        "${RPS[$target]}" "${P50[$target]}" "${P99[$target]}" "$(calc "%.3f" "${P99[$target]} - ${P99[direct]}")"
    done
    echo "  ratio berth/nginx requests/s: $ratio (goal >= 1.0: $(verdict "$ratio >= 1.0"))"
    echo "  ratio relay/nginx requests/s: $(calc "%.3f" "${RPS[relay]} / ${RPS[nginx]}") (NIO with no HTTP: the floor of a proxy on NIO; no goal)"
    echo "  added p99: berth $(calc "%+.3f" "${P99[berth]} - ${P99[direct]}") ms, nginx $(calc "%+.3f" "${P99[nginx]} - ${P99[direct]}") ms (berth's minus nginx's: $(calc "%+.3f" "${P99[berth]} - ${P99[nginx]}") ms)"
    for target in "${TARGETS[@]}"; do
      awk -v t="$target" '{ r += $6; n += $4; e += $5 } END { printf "  %s: %d requests in all rounds, %d non-2xx, %d socket errors\n", t, r, n, e }' "$WORK/wrk/$target.tsv"
    done
  elif [[ $ONLY != wake ]]; then
    echo "bench/proxy: throughput: not measured"
  fi
  [[ $ONLY == throughput ]] && return 0
  echo "bench/proxy: wake-up through berthd's proxy (curl time_starttransfer on a new connection; medians)"
  n=$(count "$WORK/paused.ms")
  if ((n > 0)); then
    local paused own
    paused=$(median <"$WORK/paused.ms")
    own=$(berthd_wakes paused paused | median)
    echo "  from paused:  $paused ms over $n of $WAKES wakes (min $(sort -g "$WORK/paused.ms" | head -n1), max $(sort -g "$WORK/paused.ms" | tail -n1); berthd's own wake $own ms) (goal < 10 ms: $(verdict "$paused < 10"))"
  else
    echo "  from paused:  not measured"
  fi
  n=$(count "$WORK/stopped.ms")
  if ((n > 0)); then
    local stopped peer peer_run own
    stopped=$(median <"$WORK/stopped.ms")
    peer=$(median <"$WORK/peer.ms")
    peer_run=$(median <"$WORK/peer-run.ms")
    own=$(berthd_wakes stopped stopped | median)
    ratio=$(calc "%.2f" "$stopped / $peer")
    echo "  from stopped: $stopped ms over $n of $WAKES wakes (min $(sort -g "$WORK/stopped.ms" | head -n1), max $(sort -g "$WORK/stopped.ms" | tail -n1); berthd's own wake $own ms)"
    echo "  peer, ctr run -d --net-host + first byte: $peer ms over the same $n rounds (ctr run -d alone $peer_run ms)"
    echo "  ratio stopped wake / peer: $ratio (goal <= 1.3: $(verdict "$ratio <= 1.3"))"
    echo "  phases of berthd's stopped wake, from its Server-Timing field (medians, ms): $(wake_phases stopped)"
  else
    echo "  from stopped: not measured"
  fi
  local label
  for label in paused stopped; do
    [[ -f $WORK/berthd-$label.log ]] || continue
    echo "  berthd ($label): $(grep -cE '^[^ ]+ (warning|error|critical) ' "$WORK/berthd-$label.log" || true) warnings or errors logged$(grep -q '^\*\*\* Program crashed' "$WORK/berthd-$label.log" && echo "; it CRASHED: $(grep -m1 '^\*\*\* Program crashed' "$WORK/berthd-$label.log")")"
  done
}

[[ $ONLY == wake ]] || throughput
if [[ $ONLY != throughput ]]; then
  wake_environment
  wake_paused
  wake_stopped
fi
summary
SUMMARY_DONE=1
