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
BENCH=userns
# shellcheck source=bench/lib/node.sh
source bench/lib/node.sh
die() { bench_die "$@"; }
log() { bench_log "$@"; }
bench_require ctr curl umoci skopeo docker-registry python3 ip /usr/lib/cni/bridge /bin/busybox
bench_build

WORK=$(mktemp -d /tmp/berth-bench-userns.XXXXXX)
trap 'bench_cleanup $? berthuserns0' EXIT
bench_services
NS=bench-userns
SNAPSHOTS=$BERTH_TEST_CONTAINERD_ROOT/io.containerd.snapshotter.v1.overlayfs/snapshots

log "building the image (busybox httpd + ${SIZE_MB} MiB of random bytes)"
bench_httpd_image userns-big 'exec httpd -f -p $PORT -h /www' "$SIZE_MB"
start_berthd() { bench_berthd "$WORK/data-$1" berthuserns0 10.216.0.0/16 --user-namespaces "$1"; } # true|false
stop_berthd() { bench_stop_berthd; }
TOKEN=$(bench_token)
export TOKEN IMAGE
berth_start() { bench_first_answer "$1" 300; }
berth_delete_all() { bench_delete_all wait; }

remap_snapshots() { "${CTR[@]}" -n "$NS" snapshots ls | awk '$1 ~ /^berth-remap\// { print $1 }'; }
remove_remaps() {
  local name
  for name in $(remap_snapshots); do
    for _ in $(seq 100); do "${CTR[@]}" -n "$NS" snapshots rm "$name" 2>/dev/null && break; sleep 0.1; done
  done
  [[ -z $(remap_snapshots) ]] || die "could not remove the remapped snapshot"
}
snapshots_mib() { du -sxm "$SNAPSHOTS" | cut -f1; }

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

OFF=$(bench_median <"$WORK/off.ms")
FIRST=$(bench_median <"$WORK/first.ms")
LATER=$(bench_median <"$WORK/later.ms")
DISK=$(bench_median <"$WORK/disk.mib")
echo "image: ${SIZE_MB} MiB random layer + busybox; $RUNS runs each; medians"
echo "start, user namespaces off:                ${OFF} ms"
echo "start, user namespaces on, first (remap):  ${FIRST} ms"
echo "start, user namespaces on, later (reuse):  ${LATER} ms"
echo "remap cost (first - later):                $(python3 -c "print('%.1f' % ($FIRST - $LATER))") ms"
echo "remapped snapshot on disk:                 ${DISK} MiB (plus the two starts' writable layers, a few KiB)"
