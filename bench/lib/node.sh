# bench/lib/node.sh: what the node benchmarks (start, churn, userns) share, sourced by them
# after they set BENCH (their name, for messages and folder names):
#   bench_require TOOL…          dies naming the packages when a tool is missing
#   bench_build                  release build of berthd and berth-logger; sets BIN
#   bench_services               private containerd and registry (scripts/test-env.sh), sourced
#   bench_httpd_image NAME CMD [BLOB_MB]
#                                busybox httpd image (page "hello from bench/$BENCH", CMD run
#                                by sh -c, optional incompressible /data/blob), pushed; sets IMAGE
#   bench_berthd DATA BRIDGE SUBNET [FLAG…]
#                                berthd on private ports, scale to zero off, ready; sets BERTHD_PID
#   bench_stop_berthd, bench_token, bench_rss (MiB), bench_median (stdin column)
#   bench_cleanup BRIDGE…        for the EXIT trap: keeps berthd's log on failure, stops berthd
#                                and the services, removes the bridges and their policy chains
#
# BERTH_BENCH_SKIP_BUILD=1 uses the build as it is; BERTH_BENCH_BUILD=debug measures a debug
# build (quicker to build; its times and memory are not the release figures); BERTH_BENCH_BIN
# names another folder of binaries.

bench_die() { echo "bench/$BENCH: $*" >&2; exit 1; }
bench_log() { echo "bench/$BENCH: $*" >&2; }

bench_require() {
  [[ $(id -u) == 0 ]] || bench_die "needs root (containerd, network namespaces, mounts)"
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || [[ -x $tool ]] || bench_die "$tool not found (apt-get install containerd curl umoci skopeo docker-registry containernetworking-plugins busybox-static iptables iproute2 python3)"
  done
}

bench_build() {
  local build=${BERTH_BENCH_BUILD:-release}
  local static=(); [[ $build == release ]] && static=(--static-swift-stdlib) # as scripts/run.sh builds
  if [[ -z ${BERTH_BENCH_SKIP_BUILD:-} && -z ${BERTH_BENCH_BIN:-} ]]; then
    swift build -c "$build" "${static[@]}" --product berthd >&2
    swift build -c "$build" "${static[@]}" --product berth-logger >&2
  fi
  BIN=${BERTH_BENCH_BIN:-$(swift build -c "$build" "${static[@]}" --show-bin-path)}
}

# WORK must be set (a fresh mktemp -d). 0711 as /run/containerd: runc, as a user namespace's
# mapped root, passes through to the bundle's rootfs below containerd's state folder.
bench_services() {
  chmod 0711 "$WORK"
  scripts/test-env.sh start "$WORK/services" 2>/dev/null
  # shellcheck disable=SC1091
  source "$WORK/services/env"
  CTR=(ctr --address "$BERTH_TEST_CONTAINERD_SOCKET")
}

bench_httpd_image() { # name command [blob MiB]
  local dir=$WORK/image-$1
  umoci init --layout "$dir/oci" >/dev/null
  umoci new --image "$dir/oci:httpd"
  umoci unpack --image "$dir/oci:httpd" "$dir/bundle" >/dev/null
  mkdir -p "$dir/bundle/rootfs/bin" "$dir/bundle/rootfs/www"
  cp /bin/busybox "$dir/bundle/rootfs/bin/busybox"
  local applet
  for applet in sh httpd; do ln -s busybox "$dir/bundle/rootfs/bin/$applet"; done
  echo "hello from bench/$BENCH" >"$dir/bundle/rootfs/www/index.html"
  if [[ -n ${3:-} ]]; then
    mkdir -p "$dir/bundle/rootfs/data"
    head -c "$(($3 << 20))" /dev/urandom >"$dir/bundle/rootfs/data/blob"
  fi
  umoci repack --image "$dir/oci:httpd" "$dir/bundle" >/dev/null
  rm -rf "$dir/bundle"
  umoci config --image "$dir/oci:httpd" --config.env PATH=/bin --config.env PORT=8080 \
    --config.cmd sh --config.cmd -c --config.cmd "$2" >/dev/null
  IMAGE=$BERTH_TEST_REGISTRY/bench/$1:1
  skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$dir/oci:httpd" "docker://$IMAGE"
  rm -rf "$dir"
}

bench_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Overcommits on purpose (--node-cpu, --node-storage): the benches run more containers than a
# 2-core machine's capacity.
bench_berthd() { # data bridge subnet [flags…]
  local data=$1 bridge=$2 subnet=$3
  shift 3
  bench_secret
  API_PORT=${API_PORT:-$(bench_free_port)}
  PROXY_PORT=${PROXY_PORT:-$(bench_free_port)}
  "$BIN/berthd" serve --containerd-socket "$BERTH_TEST_CONTAINERD_SOCKET" --namespace "bench-$BENCH" --data-dir "$data" \
    --jwt-secret-file "$WORK/secret" --api-listen "127.0.0.1:$API_PORT" --proxy-listen "127.0.0.1:$PROXY_PORT" \
    --cni-bridge "$bridge" --cni-subnet "$subnet" --insecure-registry "$BERTH_TEST_REGISTRY" \
    --idle-pause-after 0s --idle-stop-after 0s --log-level warning \
    --node-cpu 64 --node-storage 1Pi "$@" >>"$WORK/berthd.log" 2>&1 &
  BERTHD_PID=$!
  local _
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$API_PORT/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$API_PORT/readyz" >/dev/null || bench_die "berthd did not become ready; see $WORK/berthd.log"
  export API_PORT PROXY_PORT BERTHD_PID
}

bench_stop_berthd() {
  if [[ -n ${BERTHD_PID:-} ]]; then
    kill "$BERTHD_PID" 2>/dev/null && wait "$BERTHD_PID" 2>/dev/null || true
    BERTHD_PID=
  fi
}

bench_secret() { [[ -f $WORK/secret ]] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/secret"; }

bench_token() { bench_secret; "$BIN/berthd" token --jwt-secret-file "$WORK/secret" --sub bench --role ADMIN --ttl 4h; }

bench_rss() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$BERTHD_PID/status"; }
# The resident memory by kind: anonymous (the heap: what berthd allocated) and file-backed (its
# code and libraries, as much of them as ran), and the threads.
bench_rss_split() {
  awk '/RssAnon/ { a = $2 } /RssFile/ { f = $2 } /Threads/ { t = $2 }
    END { printf "anonymous %.1f MiB, file %.1f MiB, %d threads", a / 1024, f / 1024, t }' "/proc/$BERTHD_PID/status"
}

bench_median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

bench_cleanup() { # bridges…
  local status=$1
  shift
  if ((status != 0)) && [[ -f $WORK/berthd.log ]]; then
    # A fresh name, never a fixed one under /tmp: a planted link there would redirect root's copy.
    local kept
    kept=$(mktemp "/tmp/berth-bench-$BENCH-berthd.XXXXXX") && cp "$WORK/berthd.log" "$kept" \
      && echo "bench/$BENCH: failed; berthd's log is in $kept" >&2
  fi
  bench_stop_berthd
  scripts/test-env.sh stop "$WORK/services" >/dev/null 2>&1 || true
  local bridge tool table chain
  for bridge in "$@"; do
    ip link delete "$bridge" 2>/dev/null || true
    for tool in iptables ip6tables; do
      for table in filter nat; do
        "$tool" -w -t "$table" -S 2>/dev/null | grep -e "BERTH-[A-Z]*-$bridge" | grep '^-A' | sed 's/^-A/-D/' | while read -r rule; do
          eval "$tool -w -t $table $rule" 2>/dev/null || true
        done || true
        for chain in "BERTH-IN-$bridge" "BERTH-FWD-$bridge"; do
          "$tool" -w -t "$table" -F "$chain" 2>/dev/null && "$tool" -w -t "$table" -X "$chain" 2>/dev/null || true
        done
      done
    done
  done
  rm -rf --one-file-system "$WORK" 2>/dev/null || echo "bench/$BENCH: left $WORK in place: something is still mounted under it" >&2
}

bench_first_answer() { python3 bench/lib/first-answer.py "$@"; } # name [timeout s]

# DELETEs every container; with "wait", returns once containerd has none left (teardown runs in
# the background after the 204).
bench_delete_all() { # [wait]
  python3 - <<'PY'
import http.client, json, os
api, token = int(os.environ["API_PORT"]), os.environ["TOKEN"]
h = {"Authorization": "Bearer " + token}
c = http.client.HTTPConnection("127.0.0.1", api)
c.request("GET", "/v1/containers?all=true&pageSize=1000", headers=h)
for item in json.loads(c.getresponse().read())["containers"]:
    c.request("DELETE", "/v1/containers/" + item["id"], headers=h); c.getresponse().read()
PY
  [[ ${1:-} == wait ]] || return 0
  local _
  for _ in $(seq 600); do
    [[ -z $("${CTR[@]}" -n "bench-$BENCH" containers ls -q) ]] && return 0
    sleep 0.1
  done
  bench_die "containers were not removed"
}
