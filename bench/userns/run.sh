#!/usr/bin/env bash
# bench/userns: what user namespaces cost on runc 1.1 (no idmapped mounts), where the first
# start of an image in a user namespace makes its remapped snapshot (every file copied up and
# chowned onto the container range, see Sources/Runtime/Storage/RemappedImage.swift).
#
# The image: busybox httpd plus one layer of SIZE_MB (default 1024) incompressible bytes, in
# the private registry and pulled once. Through berthd (create → first answer via its proxy),
# RUNS times each (default 5), medians:
#   - user namespaces off: a start (the baseline);
#   - on, first start of the image: the remap, then the start (the remapped snapshot is removed
#     before each run, so every run pays it);
#   - on, a later start of the same image: reuses the remapped snapshot;
# and the disk the remapped snapshot takes (du of containerd's overlayfs snapshots folder, before
# and after the remap).
#
#   sudo bench/userns/run.sh [RUNS=5] [SIZE_MB=1024]
#
# BERTH_BENCH_SKIP_BUILD=1 uses the release build as it is; BERTH_BENCH_BIN=.build/debug another one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUNS=${1:-5}
SIZE_MB=${2:-1024}
die() { echo "bench/userns: $*" >&2; exit 1; }
log() { echo "bench/userns: $*" >&2; }
[[ $(id -u) == 0 ]] || die "needs root (containerd, mounts, chown)"
for tool in ctr curl umoci skopeo docker-registry python3 ip /usr/lib/cni/bridge /bin/busybox; do
  command -v "$tool" >/dev/null || [[ -x $tool ]] || die "$tool not found (apt-get install containerd curl umoci skopeo docker-registry containernetworking-plugins busybox-static)"
done

if [[ -z ${BERTH_BENCH_SKIP_BUILD:-} ]]; then
  swift build -c release --product berthd >&2
  swift build -c release --product berth-logger >&2
fi
BIN=${BERTH_BENCH_BIN:-$(swift build -c release --show-bin-path)}

WORK=$(mktemp -d /tmp/berth-bench-userns.XXXXXX)
BERTHD_PID=
cleanup() {
  local status=$?
  if ((status != 0)) && [[ -f $WORK/berthd.log ]]; then
    local kept
    kept=$(mktemp /tmp/berth-bench-userns-berthd.XXXXXX) && cp "$WORK/berthd.log" "$kept" \
      && echo "bench/userns: failed; berthd's log is in $kept" >&2
  fi
  stop_berthd
  scripts/test-env.sh stop "$WORK/services" >/dev/null 2>&1 || true
  ip link delete berthuserns0 2>/dev/null || true
  rm -rf --one-file-system "$WORK"
  exit "$status"
}
stop_berthd() {
  if [[ -n $BERTHD_PID ]]; then
    kill "$BERTHD_PID" 2>/dev/null && wait "$BERTHD_PID" 2>/dev/null || true
    BERTHD_PID=
  fi
}
trap cleanup EXIT

scripts/test-env.sh start "$WORK/services" 2>/dev/null
# shellcheck disable=SC1091
source "$WORK/services/env"
CTR=(ctr --address "$BERTH_TEST_CONTAINERD_SOCKET")
NS=bench-userns
# runc, inside the user namespace, reaches the bundle's rootfs under containerd's state folder:
# its parents must be traversable by others, as containerd's own /run/containerd (0711) is.
chmod o+x "$WORK" "$WORK/services" "$(dirname "$BERTH_TEST_CONTAINERD_SOCKET")"
SNAPSHOTS=$BERTH_TEST_CONTAINERD_ROOT/io.containerd.snapshotter.v1.overlayfs/snapshots

log "building the image (busybox httpd + ${SIZE_MB} MiB of random bytes)"
IMAGE_DIR=$WORK/image
umoci init --layout "$IMAGE_DIR/oci" >/dev/null
umoci new --image "$IMAGE_DIR/oci:big"
umoci unpack --image "$IMAGE_DIR/oci:big" "$IMAGE_DIR/bundle" >/dev/null
mkdir -p "$IMAGE_DIR/bundle/rootfs/bin" "$IMAGE_DIR/bundle/rootfs/www" "$IMAGE_DIR/bundle/rootfs/data"
cp /bin/busybox "$IMAGE_DIR/bundle/rootfs/bin/busybox"
for applet in sh httpd; do ln -s busybox "$IMAGE_DIR/bundle/rootfs/bin/$applet"; done
echo "hello from bench/userns" >"$IMAGE_DIR/bundle/rootfs/www/index.html"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$IMAGE_DIR/bundle/rootfs/data/blob"
umoci repack --image "$IMAGE_DIR/oci:big" "$IMAGE_DIR/bundle" >/dev/null
rm -rf "$IMAGE_DIR/bundle"
umoci config --image "$IMAGE_DIR/oci:big" --config.env PATH=/bin --config.env PORT=8080 \
  --config.cmd sh --config.cmd -c --config.cmd 'exec httpd -f -p $PORT -h /www' >/dev/null
IMAGE=$BERTH_TEST_REGISTRY/bench/userns-big:1
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$IMAGE_DIR/oci:big" "docker://$IMAGE"
rm -rf "$IMAGE_DIR"

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/secret"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API_PORT=$(free_port)
PROXY_PORT=$(free_port)
start_berthd() { # true|false
  "$BIN/berthd" serve --containerd-socket "$BERTH_TEST_CONTAINERD_SOCKET" --namespace "$NS" --data-dir "$WORK/data-$1" \
    --jwt-secret-file "$WORK/secret" --api-listen "127.0.0.1:$API_PORT" --proxy-listen "127.0.0.1:$PROXY_PORT" \
    --cni-bridge berthuserns0 --cni-subnet 10.216.0.0/16 --insecure-registry "$BERTH_TEST_REGISTRY" \
    --idle-pause-after 0s --idle-stop-after 0s --user-namespaces "$1" --log-level warning >>"$WORK/berthd.log" 2>&1 &
  BERTHD_PID=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$API_PORT/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$API_PORT/readyz" >/dev/null || die "berthd did not become ready; see $WORK/berthd.log"
}
TOKEN=$("$BIN/berthd" token --jwt-secret-file "$WORK/secret" --sub bench --role ADMIN --ttl 2h)
export API_PORT PROXY_PORT TOKEN IMAGE

# POST, then poll the proxy every 2 ms; prints milliseconds to the first answer.
berth_start() { # name
  python3 - "$1" <<'PY'
import http.client, json, os, sys, time
name = sys.argv[1]
api, proxy, token, image = int(os.environ["API_PORT"]), int(os.environ["PROXY_PORT"]), os.environ["TOKEN"], os.environ["IMAGE"]
start = time.monotonic()
c = http.client.HTTPConnection("127.0.0.1", api)
c.request("POST", "/v1/containers", json.dumps({"name": name, "image": image, "ram": "32Mi"}),
          {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
r = c.getresponse(); r.read()
assert r.status == 201, r.status
while True:
    try:
        p = http.client.HTTPConnection("127.0.0.1", proxy, timeout=5)
        p.request("GET", "/", headers={"Host": f"{name}.localhost"})
        resp = p.getresponse(); body = resp.read()
        if resp.status == 200 and b"hello" in body:
            break
    except OSError:
        pass
    if time.monotonic() - start > 300:
        sys.exit("not ready within 300 s")
    time.sleep(0.002)
print("%.1f" % ((time.monotonic() - start) * 1000))
PY
}

berth_delete_all() {
  python3 - <<'PY'
import http.client, json, os
api, token = int(os.environ["API_PORT"]), os.environ["TOKEN"]
h = {"Authorization": "Bearer " + token}
c = http.client.HTTPConnection("127.0.0.1", api)
c.request("GET", "/v1/containers?all=true", headers=h)
for item in json.loads(c.getresponse().read())["containers"]:
    c.request("DELETE", "/v1/containers/" + item["id"], headers=h); c.getresponse().read()
PY
  # Deletion finishes in the background: wait until containerd has no container left.
  for _ in $(seq 600); do
    [[ -z $("${CTR[@]}" -n "$NS" containers ls -q) ]] && return 0
    sleep 0.1
  done
  die "containers were not removed"
}

remap_snapshots() { "${CTR[@]}" -n "$NS" snapshots ls | awk '$1 ~ /^berth-remap\// { print $1 }'; }
remove_remaps() {
  local name
  for name in $(remap_snapshots); do
    for _ in $(seq 100); do "${CTR[@]}" -n "$NS" snapshots rm "$name" 2>/dev/null && break; sleep 0.1; done
  done
  [[ -z $(remap_snapshots) ]] || die "could not remove the remapped snapshot"
}
snapshots_mib() { du -sxm "$SNAPSHOTS" | cut -f1; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

log "user namespaces off: warm-up (pull), then $RUNS starts"
start_berthd false
berth_start warmup >/dev/null
berth_delete_all
: >"$WORK/off.ms"
for i in $(seq 1 "$RUNS"); do
  berth_start "off$i" >>"$WORK/off.ms"
  berth_delete_all
  log "off run $i/$RUNS: $(tail -n1 "$WORK/off.ms") ms"
done
stop_berthd

log "user namespaces on: $RUNS first starts (remap each time) and later starts"
start_berthd true
: >"$WORK/first.ms"; : >"$WORK/later.ms"; : >"$WORK/disk.mib"
for i in $(seq 1 "$RUNS"); do
  remove_remaps
  before=$(snapshots_mib)
  berth_start "first$i" >>"$WORK/first.ms"
  after=$(snapshots_mib)
  echo $((after - before)) >>"$WORK/disk.mib"
  [[ $(remap_snapshots | wc -l) == 1 ]] || die "expected one remapped snapshot"
  berth_start "later$i" >>"$WORK/later.ms"
  berth_delete_all
  log "on run $i/$RUNS: first $(tail -n1 "$WORK/first.ms") ms, later $(tail -n1 "$WORK/later.ms") ms, disk +$(tail -n1 "$WORK/disk.mib") MiB"
done
stop_berthd

OFF=$(median <"$WORK/off.ms")
FIRST=$(median <"$WORK/first.ms")
LATER=$(median <"$WORK/later.ms")
DISK=$(median <"$WORK/disk.mib")
echo "image: ${SIZE_MB} MiB random layer + busybox; $RUNS runs each; medians"
echo "start, user namespaces off:                ${OFF} ms"
echo "start, user namespaces on, first (remap):  ${FIRST} ms"
echo "start, user namespaces on, later (reuse):  ${LATER} ms"
echo "remap cost (first - later):                $(python3 -c "print('%.1f' % ($FIRST - $LATER))") ms"
echo "remapped snapshot on disk:                 ${DISK} MiB (plus the two starts' writable layers, a few KiB)"
