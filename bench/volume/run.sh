#!/usr/bin/env bash
# bench/volume: filling a volume through the file API against writing the same file straight
# into a filesystem of the same kind.
#
# - Berth: `curl -T FILE PUT /v1/volumes/bench/files/blob` (HTTP streaming into berthd, which
#   writes a hidden file on the volume, fsyncs it and renames it into place).
# - Peer, same run, same file, same disk: `dd bs=1M conv=fsync` into an ext4 image of the same
#   size made and loop-mounted with berthd's options (journal, nosuid, nodev, noatime).
# RUNS times each (default 5), alternating, the page cache dropped before each; medians, MB/s and
# the ratio Berth/dd (goal ≤ 1.3). Then berthd's resident memory after the uploads (goal < 60 MB:
# a streamed upload holds a chunk at a time, not the file).
#
#   sudo bench/volume/run.sh [RUNS=5] [FILE_MB=1024]
#
# BERTH_BENCH_SKIP_BUILD=1 uses the release build as it is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUNS=${1:-5}
FILE_MB=${2:-1024}
BENCH=volume
# shellcheck source=bench/lib/node.sh
source bench/lib/node.sh
bench_require ctr curl umoci skopeo docker-registry python3 ip iptables mkfs.ext4 dd
bench_build

WORK=$(mktemp -d /tmp/berth-bench-volume.XXXXXX)
PEER=$WORK/peer
cleanup() {
  local status=$?
  umount "$PEER/fs" 2>/dev/null || true
  # The volume stays mounted until deleted; delete it before berthd stops.
  [[ -n ${TOKEN:-} && -n ${API_PORT:-} ]] && curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$API_PORT/v1/volumes/bench" || true
  bench_cleanup "$status" berthvol0
  exit "$status"
}
trap cleanup EXIT
bench_services
bench_berthd "$WORK/data" berthvol0 10.97.0.0/24
TOKEN=$(bench_token)
export TOKEN
SIZE_MB=$((FILE_MB * 2 + 256))
AUTH=(-H "Authorization: Bearer $TOKEN")
API=http://127.0.0.1:$API_PORT

curl -sf "${AUTH[@]}" -H 'Content-Type: application/json' "$API/v1/volumes" \
  -d "{\"name\": \"bench\", \"size\": \"${SIZE_MB}Mi\"}" >/dev/null || bench_die "cannot create the volume"
mkdir -p "$PEER/fs"
truncate -s "${SIZE_MB}M" "$PEER/volume.img"
mkfs.ext4 -q -F -m 0 -O has_journal -E lazy_itable_init=1,lazy_journal_init=1,nodiscard "$PEER/volume.img"
mount -o loop,noatime,nosuid,nodev "$PEER/volume.img" "$PEER/fs"

bench_log "a $FILE_MB MB incompressible file, $RUNS uploads each way"
head -c "$((FILE_MB << 20))" /dev/urandom >"$WORK/blob"

seconds() { python3 -c 'import sys, time; print(f"{time.time():.3f}")'; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
berth_once() {
  drop_caches
  local start end code
  start=$(seconds)
  code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" -T "$WORK/blob" "$API/v1/volumes/bench/files/blob")
  end=$(seconds)
  [[ $code == 200 || $code == 201 ]] || bench_die "upload answered $code"
  python3 -c "print(f'{$end - $start:.3f}')"
}
peer_once() {
  drop_caches
  local start end
  start=$(seconds)
  dd if="$WORK/blob" of="$PEER/fs/blob.new" bs=1M conv=fsync status=none
  mv "$PEER/fs/blob.new" "$PEER/fs/blob"
  end=$(seconds)
  python3 -c "print(f'{$end - $start:.3f}')"
}

: >"$WORK/berth.times"
: >"$WORK/peer.times"
for run in $(seq "$RUNS"); do
  if ((run % 2)); then
    berth_once >>"$WORK/berth.times"; peer_once >>"$WORK/peer.times"
  else
    peer_once >>"$WORK/peer.times"; berth_once >>"$WORK/berth.times"
  fi
done
# The file came out as it went in.
cmp -s <(curl -sf "${AUTH[@]}" "$API/v1/volumes/bench/files/blob") "$WORK/blob" || bench_die "the downloaded file differs"

berth=$(bench_median <"$WORK/berth.times")
peer=$(bench_median <"$WORK/peer.times")
rss=$(bench_rss)
python3 - "$berth" "$peer" "$FILE_MB" "$rss" <<'PY'
import sys
berth, peer, mb, rss = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
print(f"upload {mb} MB into a volume: berth PUT median {berth:.2f} s ({mb / berth:.0f} MB/s), "
      f"dd conv=fsync median {peer:.2f} s ({mb / peer:.0f} MB/s), ratio {berth / peer:.2f} (goal <= 1.3)")
print(f"berthd RSS after the uploads: {rss:.1f} MiB (goal < 60)")
PY
