#!/usr/bin/env bash
# bench/pull: `berthd image pull` against containerd's own client, `ctr images pull --plain-http`,
# on the same ~200 MB multi-layer image from a local registry, each run into a fresh containerd
# (an empty content store), alternating which goes first. Reports medians and their ratio
# (goal ≤ 1.0), then berthd's peak RSS pulling an image with a 1 GiB layer (goal < 100 MB).
#
#   sudo bench/pull/run.sh [RUNS=5] [LAYER_MB=50,50,50,50] [BIG_MB=1024]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUNS=${1:-5}
LAYERS=${2:-50,50,50,50}
BIG=${3:-1024}
[[ $(id -u) == 0 ]] || { echo "bench/pull: needs root (containerd)" >&2; exit 1; }

if [[ -z ${BERTH_BENCH_SKIP_BUILD:-} ]]; then
  swift build -c release --static-swift-stdlib --product berthd >&2
  swift build -c release --static-swift-stdlib --product berth-logger >&2
fi
BERTHD=$(swift build -c release --static-swift-stdlib --show-bin-path)/berthd

WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
ENVDIR=$WORK/services
RUNDIR=$WORK/run
cleanup() {
  scripts/test-env.sh stop "$RUNDIR" >/dev/null 2>&1 || true
  scripts/test-env.sh stop "$ENVDIR" >/dev/null 2>&1 || true
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
scripts/test-env.sh start "$ENVDIR" 2>/dev/null
source "$ENVDIR/env"
REGISTRY=$BERTH_TEST_REGISTRY

push() { # name sizes compression
  python3 bench/lib/make-image.py "$WORK/$1" "$1" "$2" --compression "$3" --busybox >/dev/null
  skopeo copy -q --insecure-policy --dest-tls-verify=false --preserve-digests \
    "oci:$WORK/$1:$1" "docker://$REGISTRY/bench/$1:1"
  rm -rf "$WORK/$1"
}
echo "building images (layers of $LAYERS MB, gzip; and one $BIG MB uncompressed layer)" >&2
push multi "$LAYERS" gzip
push big "$BIG" none

measure() { # tool ref → prints "seconds maxrss_kib"
  scripts/test-env.sh start-containerd "$RUNDIR" 2>/dev/null
  local sock=$RUNDIR/containerd/containerd.sock result
  if [[ $1 == berthd ]]; then
    result=$(python3 bench/lib/maxrss.py "$BERTHD" image pull --plain --containerd-socket "$sock" \
      --namespace bench --insecure-registry "$REGISTRY" "$2" 2>&1 >/dev/null | tail -n1)
  else
    result=$(python3 bench/lib/maxrss.py ctr --address "$sock" -n bench images pull --plain-http "$2" \
      2>&1 >/dev/null | tail -n1)
  fi
  scripts/test-env.sh stop "$RUNDIR" >/dev/null 2>&1
  rm -rf --one-file-system "$RUNDIR"
  [[ $result == wall=* ]] || { echo "bench/pull: $1 failed: $result" >&2; exit 1; }
  local wall=${result#wall=} ; wall=${wall%% *}
  echo "$wall ${result##*maxrss_kib=}"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

berthd_times=() ctr_times=()
for ((i = 1; i <= RUNS; i++)); do
  order=(berthd ctr); ((i % 2 == 0)) && order=(ctr berthd)
  for tool in "${order[@]}"; do
    read -r wall rss < <(measure "$tool" "$REGISTRY/bench/multi:1")
    echo "run $i $tool: ${wall}s, peak RSS $((rss / 1024)) MiB" >&2
    if [[ $tool == berthd ]]; then berthd_times+=("$wall"); else ctr_times+=("$wall"); fi
  done
done

rss_runs=()
for ((i = 1; i <= 3; i++)); do
  read -r wall rss < <(measure berthd "$REGISTRY/bench/big:1")
  echo "1 GiB layer, run $i: ${wall}s, peak RSS $((rss / 1024)) MiB" >&2
  rss_runs+=("$rss")
done

b=$(printf '%s\n' "${berthd_times[@]}" | median)
c=$(printf '%s\n' "${ctr_times[@]}" | median)
r=$(printf '%s\n' "${rss_runs[@]}" | median)
echo
echo "pull of $REGISTRY/bench/multi:1 (busybox + layers of $LAYERS MB, gzip), $RUNS runs each, fresh containerd per run:"
printf '  berthd image pull        median %.3f s\n' "$b"
printf '  ctr images pull          median %.3f s\n' "$c"
printf '  ratio berthd/ctr         %.3f (goal <= 1.0)\n' "$(awk -v b="$b" -v c="$c" 'BEGIN { print b / c }')"
printf 'berthd peak RSS, image with a %s MB layer: median of 3 = %d MiB (goal < 100 MB)\n' "$BIG" "$((r / 1024))"
