#!/usr/bin/env bash
# The test command: installs the test tools if any is missing, starts private test services
# (containerd, registries, token server; see scripts/test-env.sh), builds and runs the Swift tests
# against them, and stops exactly what it started.
#
#   sudo scripts/test.sh [swift test arguments, e.g. --filter RegistryClientTests]
#
# Set BERTH_TEST_KEEP=1 to keep the services' folder (logs, registry storage) after the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -d /opt/swift/usr/bin && ":$PATH:" != *:/opt/swift/usr/bin:* ]]; then
  PATH=/opt/swift/usr/bin:$PATH
fi
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
export PATH

PACKAGES=(containerd runc containernetworking-plugins docker-registry umoci skopeo busybox-static
  apache2-utils openssl iptables iproute2 protobuf-compiler libsqlite3-dev zstd python3-cryptography curl binutils)

missing=()
for tool in containerd ctr containerd-shim-runc-v2 runc docker-registry umoci skopeo htpasswd openssl \
  iptables ip protoc zstd gzip tar python3 curl objcopy ldd; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x /bin/busybox ]] || missing+=(/bin/busybox)
[[ -x /usr/lib/cni/bridge ]] || missing+=(/usr/lib/cni/bridge)
[[ -f /usr/include/sqlite3.h ]] || missing+=(sqlite3.h)

if ((${#missing[@]} > 0)); then
  echo "test.sh: missing ${missing[*]}; installing the test tools" >&2
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "test.sh: run as root on Debian/Ubuntu (sudo scripts/test.sh), or install: ${PACKAGES[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
fi

command -v swift >/dev/null || { echo "test.sh: swift not found on PATH or in /opt/swift/usr/bin" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "test.sh: containerd and its snapshots need root: sudo scripts/test.sh" >&2; exit 1; }

# Under /tmp rather than $TMPDIR: unix socket paths must stay short.
DIR=$(mktemp -d /tmp/berth-test.XXXXXX)
# 0711, as /run/containerd: the private containerd's state is below, and runc, running as a user
# namespace's mapped root, must pass through it to the container's rootfs.
chmod 0711 "$DIR"
cleanup() {
  local status=$?
  scripts/test-env.sh stop "$DIR" || status=1
  if [[ -n ${BERTH_TEST_KEEP:-} ]]; then
    echo "test.sh: kept $DIR (logs in $DIR/logs)" >&2
  elif awk -v dir="$DIR/" 'index($2, dir) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    echo "test.sh: left $DIR in place: something is still mounted under it" >&2
  else
    rm -rf --one-file-system "$DIR"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
scripts/test-env.sh start "$DIR"
echo "test.sh: test services up in $((SECONDS - started))s" >&2
# shellcheck disable=SC1091
source "$DIR/env"

swift build --build-tests
status=0
swift test --skip-build "$@" || status=$?
if ((status != 0)); then
  echo "test.sh: swift test failed ($status); service logs: $DIR/logs (BERTH_TEST_KEEP=1 keeps them)" >&2
fi
exit "$status"
