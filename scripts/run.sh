#!/usr/bin/env bash
# The run command: builds Berth and runs it in the foreground with everything in ./.berth-run/:
#
#   scripts/run.sh              (as root, on Debian 12 with Swift 6.3 on the PATH or in /opt/swift)
#
#   - installs what is missing: containerd runc containernetworking-plugins iptables iproute2
#     libsqlite3-dev curl (apt-get);
#   - builds berthd, berth-logger and the `berth` command line, in release mode (BERTH_RUN_BUILD=debug
#     builds faster, runs slower);
#   - keeps its state in ./.berth-run/: data/ (SQLite, logs), jwt-secret (a generated HS256
#     secret), admin-token, berthd.toml (empty: the host's /etc/berth/berthd.toml is not read);
#   - uses the containerd answering on /run/containerd/containerd.sock, or else starts a private
#     one under ./.berth-run/containerd/ (scripts/test-env.sh start-containerd);
#   - starts `berthd serve` (API on 127.0.0.1:8080, invocations on 127.0.0.1:8081 as
#     http://<name>.localhost:8081), prints an ADMIN token and how to deploy with `berth`, and waits;
#   - on Ctrl-C stops berthd and, if it started one, the private containerd with its containers
#     (containers on the host's containerd keep running, as under systemd). The next run recovers
#     what ./.berth-run/data says should be running.
#
# Environment: BERTH_RUN_BUILD=release|debug, BERTH_RUN_API=127.0.0.1:8080, BERTH_RUN_PROXY=127.0.0.1:8081.
# Extra arguments go to `berthd serve`, e.g. --insecure-registry 10.0.0.5:5000.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

die() { echo "run: $*" >&2; exit 1; }
log() { echo "run: $*" >&2; }

if [[ -d /opt/swift/usr/bin && ":$PATH:" != *:/opt/swift/usr/bin:* ]]; then
  PATH=/opt/swift/usr/bin:$PATH
fi
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
export PATH

BUILD=${BERTH_RUN_BUILD:-release}
# Release builds carry the Swift runtime and Foundation (README, "berthd's own memory").
STATIC=(); [[ $BUILD == release ]] && STATIC=(--static-swift-stdlib)
[[ $BUILD == release || $BUILD == debug ]] || die "BERTH_RUN_BUILD must be release or debug, not '$BUILD'"
API=${BERTH_RUN_API:-127.0.0.1:8080}
PROXY=${BERTH_RUN_PROXY:-127.0.0.1:8081}
PROXY_PORT=${PROXY##*:}
STATE=$ROOT/.berth-run
HOST_SOCKET=/run/containerd/containerd.sock

[[ $(id -u) == 0 ]] || die "containerd, network namespaces and mounts need root: sudo scripts/run.sh"
command -v swift >/dev/null || die "swift not found on PATH or in /opt/swift/usr/bin"

# 1. Packages.
PACKAGES=(containerd runc containernetworking-plugins iptables iproute2 libsqlite3-dev curl)
missing=()
for tool in containerd ctr containerd-shim-runc-v2 runc iptables ip curl setsid; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x /usr/lib/cni/bridge ]] || missing+=(/usr/lib/cni/bridge)
[[ -f /usr/include/sqlite3.h ]] || missing+=(sqlite3.h)
if ((${#missing[@]} > 0)); then
  command -v apt-get >/dev/null || die "missing ${missing[*]}; install: ${PACKAGES[*]}"
  log "missing ${missing[*]}; installing ${PACKAGES[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
fi

# 2. Build.
log "building berthd, berth-logger and berth ($BUILD)"
swift build -c "$BUILD" "${STATIC[@]}" --product berthd
swift build -c "$BUILD" "${STATIC[@]}" --product berth-logger
swift build -c "$BUILD" "${STATIC[@]}" --product berth
BIN=$(swift build -c "$BUILD" "${STATIC[@]}" --show-bin-path)
BERTHD=$BIN/berthd
[[ -x $BERTHD && -x $BIN/berth-logger && -x $BIN/berth ]] || die "the build left no $BERTHD, $BIN/berth-logger or $BIN/berth"

# 3. State: data folder, secret, an empty config file so that no host-wide config leaks in.
mkdir -p "$STATE/data"
# 0711, as /run/containerd: a private containerd's state lives under it, and runc, running as a
# user namespace's mapped root, must pass through to the container's rootfs. Nothing is listed.
chmod 0711 "$STATE"
if [[ ! -s $STATE/jwt-secret ]]; then
  (umask 077; head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n' >"$STATE/jwt-secret"; echo >>"$STATE/jwt-secret")
  log "generated the HS256 secret $STATE/jwt-secret"
fi
[[ -f $STATE/berthd.toml ]] || echo "# scripts/run.sh: settings come from its flags; see systemd/berthd.toml for the keys." >"$STATE/berthd.toml"

# 4. containerd: the host's, or a private one.
CTRD_DIR=
berthd_pid=
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n $berthd_pid ]] && kill -0 "$berthd_pid" 2>/dev/null; then
    log "stopping berthd (pid $berthd_pid)"
    kill -TERM "$berthd_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$berthd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$berthd_pid" 2>/dev/null && { log "berthd did not stop within 30s; killing it"; kill -KILL "$berthd_pid" 2>/dev/null || true; }
    wait "$berthd_pid" 2>/dev/null || true
  fi
  if [[ -n $CTRD_DIR ]]; then
    log "stopping the private containerd and its containers"
    scripts/test-env.sh stop "$CTRD_DIR" || status=1
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ctr --address "$HOST_SOCKET" --connect-timeout 2s version >/dev/null 2>&1; then
  SOCKET=$HOST_SOCKET
  log "using the running containerd at $SOCKET"
else
  CTRD_DIR=$STATE/containerd
  # unix socket paths are limited to 108 bytes; containerd adds ".ttrpc" to its socket's path.
  if (( ${#CTRD_DIR} + 40 > 107 )); then
    CTRD_DIR=/run/berth-run-$(echo -n "$ROOT" | md5sum | cut -c1-12)
    log "$STATE is too deep for unix socket paths; the private containerd lives in $CTRD_DIR"
  fi
  # A run killed before it could clean up leaves its pids file; stop what it lists first.
  [[ -e $CTRD_DIR/pids ]] && scripts/test-env.sh stop "$CTRD_DIR"
  log "no containerd answers on $HOST_SOCKET; starting a private one in $CTRD_DIR"
  scripts/test-env.sh start-containerd "$CTRD_DIR"
  # shellcheck disable=SC1091
  SOCKET=$(source "$CTRD_DIR/env" && echo "$BERTH_TEST_CONTAINERD_SOCKET")
  log "private containerd: $SOCKET (logs: $CTRD_DIR/logs/containerd.log)"
fi

# 5. berthd, in the background of this script so the script can print the token once it serves
# and stop it on Ctrl-C; its output comes to this terminal.
"$BERTHD" serve --config "$STATE/berthd.toml" --data-dir "$STATE/data" --jwt-secret-file "$STATE/jwt-secret" \
  --containerd-socket "$SOCKET" --api-listen "$API" --proxy-listen "$PROXY" --domain localhost "$@" &
berthd_pid=$!

deadline=$((SECONDS + 120))
until curl -fsS -o /dev/null "http://$API/healthz" 2>/dev/null; do
  kill -0 "$berthd_pid" 2>/dev/null || { wait "$berthd_pid" || true; berthd_pid=; die "berthd exited during startup (its error is above)"; }
  ((SECONDS < deadline)) || die "berthd did not answer on http://$API/healthz within 120s"
  sleep 0.2
done

TOKEN=$("$BERTHD" token --config "$STATE/berthd.toml" --jwt-secret-file "$STATE/jwt-secret" --sub admin --role ADMIN --ttl 24h)
(umask 077; echo "$TOKEN" >"$STATE/admin-token")

cat <<EOT

================================================================================
Berth is running: API http://$API, invocations http://<name>.localhost:$PROXY_PORT
Data: $STATE/data   containerd: $SOCKET   Ctrl-C stops it.

An ADMIN token (24 h; also in .berth-run/admin-token):

$TOKEN

In another shell (the same commands work from any machine that reaches the API):

  export PATH=$BIN:\$PATH
  berth login http://$API --token-file $STATE/admin-token
  # create hello-world and wait until it serves: pulling, starting, ready; prints its URL
  berth deploy hello-world --image nginxdemos/hello:0.4 --cpu 0.5 --ram 256Mi --port 80
  curl -sS http://hello-world.localhost:$PROXY_PORT/
  berth logs hello-world -f                # Ctrl-C to stop following
  # update: only the flags given change; a new revision, rolled out while the old one serves
  berth deploy hello-world --env GREETING=hi
  berth describe hello-world
  berth rollback hello-world               # revision 1's spec again, its image pinned by digest
  berth rm hello-world --yes

curl works as well: the API reference is http://$API/openapi.json (README: "The API").
================================================================================

EOT

# Wait for berthd (a signal to this script interrupts the wait and runs cleanup).
status=0
wait "$berthd_pid" || status=$?
berthd_pid=
log "berthd exited with status $status"
exit "$status"
