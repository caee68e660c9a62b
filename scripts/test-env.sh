#!/usr/bin/env bash
# Starts and stops the services the integration tests talk to, all private to one folder:
# containerd, a plain registry, a Basic-auth registry, a token-auth registry and its fake token
# server. Everything listens on a unix socket under DIR or on 127.0.0.1.
#
#   scripts/test-env.sh start DIR   writes DIR/env (export lines) and DIR/pids
#   scripts/test-env.sh start-containerd DIR   only containerd (benchmarks start one per run)
#   scripts/test-env.sh stop DIR    stops exactly what start started; safe to run twice
set -euo pipefail

SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
USER_NAME=berth
SERVICE=berth-test-registry
ISSUER=berth-test-issuer

die() { echo "test-env: $*" >&2; exit 1; }
log() { echo "test-env: $*" >&2; }

# Field 22 of /proc/PID/stat: the start time, so a recycled pid is never mistaken for ours.
start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  set -- $stat
  echo "${20}"
}

record_pid() { # name pid
  local started
  started=$(start_time "$2") || die "$1 (pid $2) exited right away; see $DIR/logs/$1.log"
  echo "$1 $2 $started" >>"$DIR/pids"
}

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

# Succeeds when GET /v2/ (or PATH) on 127.0.0.1:PORT answers with any HTTP status.
http_answers() ( # port [path]
  port=$1 path=${2:-/v2/} line=
  exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
  IFS= read -r -t 2 line <&3 || true
  [[ $line == HTTP/* ]]
)

wait_for() { # name pid seconds command...
  local name=$1 pid=$2 seconds=$3; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || die "$name exited during startup; see $DIR/logs/$name.log:
$(tail -n 20 "$DIR/logs/$name.log" 2>/dev/null)"
    ((SECONDS < deadline)) || die "$name did not answer within ${seconds}s; see $DIR/logs/$name.log"
    sleep 0.05
  done
}

write_containerd_config() { # folder
  cat >"$1/config.toml" <<EOF
version = 2
root = "$1/root"
state = "$1/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$1/containerd.sock"

[ttrpc]
  address = "$1/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$1/opt"
EOF
}

write_registry_config() { # name port auth-yaml
  local folder="$DIR/registry/$1"
  mkdir -p "$folder/storage"
  cat >"$folder/config.yml" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: $1
storage:
  filesystem:
    rootdirectory: $folder/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$2
  secret: $(openssl rand -hex 16)
$3
EOF
}

spawn() { # name command...
  local name=$1; shift
  setsid "$@" </dev/null >>"$DIR/logs/$name.log" 2>&1 &
  record_pid "$name" $!
  echo $!
}

start() {
  [[ -e $DIR/pids ]] && die "$DIR/pids exists: stop the environment there first"
  trap 'status=$?; ((status == 0)) || { log "start failed; stopping what it started"; stop; }' EXIT
  for tool in containerd ctr runc docker-registry skopeo htpasswd openssl python3 setsid; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/test.sh installs what is missing)"
  done
  mkdir -p "$DIR"/{logs,scratch,registry,token,containerd/{root,state,opt}}
  DIR=$(cd "$DIR" && pwd)
  : >"$DIR/pids"

  local password plain_port basic_port token_reg_port token_port
  password=$(openssl rand -hex 16)
  read -r plain_port basic_port token_reg_port token_port <<<"$(free_ports 4)"

  local ctrd="$DIR/containerd"
  write_containerd_config "$ctrd"
  local containerd_pid
  containerd_pid=$(spawn containerd containerd --root "$ctrd/root" --state "$ctrd/state" \
    --address "$ctrd/containerd.sock" --config "$ctrd/config.toml")

  htpasswd -Bbn "$USER_NAME" "$password" >"$DIR/registry/htpasswd" 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$ISSUER" \
    -keyout "$DIR/token/key.pem" -out "$DIR/token/cert.pem" >/dev/null 2>&1 \
    || die "openssl could not make the token signing certificate"

  write_registry_config plain "$plain_port" ""
  write_registry_config basic "$basic_port" "auth:
  htpasswd:
    realm: berth-test
    path: $DIR/registry/htpasswd"
  write_registry_config token "$token_reg_port" "auth:
  token:
    realm: http://127.0.0.1:$token_port/token
    service: $SERVICE
    issuer: $ISSUER
    rootcertbundle: $DIR/token/cert.pem"

  local plain_pid basic_pid token_reg_pid token_pid
  plain_pid=$(spawn registry-plain docker-registry serve "$DIR/registry/plain/config.yml")
  basic_pid=$(spawn registry-basic docker-registry serve "$DIR/registry/basic/config.yml")
  token_reg_pid=$(spawn registry-token docker-registry serve "$DIR/registry/token/config.yml")
  token_pid=$(spawn token-server python3 "$SCRIPTS/fake-token-server.py" --port "$token_port" \
    --key "$DIR/token/key.pem" --cert "$DIR/token/cert.pem" \
    --user "$USER_NAME" --password "$password" --issuer "$ISSUER")

  wait_for registry-plain "$plain_pid" 20 http_answers "$plain_port"
  wait_for registry-basic "$basic_pid" 20 http_answers "$basic_port"
  wait_for registry-token "$token_reg_pid" 20 http_answers "$token_reg_port"
  wait_for token-server "$token_pid" 20 http_answers "$token_port" /stats
  wait_for containerd "$containerd_pid" 20 ctr --address "$ctrd/containerd.sock" --connect-timeout 2s version

  cat >"$DIR/env" <<EOF
export BERTH_TEST_CONTAINERD_SOCKET=$ctrd/containerd.sock
export BERTH_TEST_CONTAINERD_ROOT=$ctrd/root
export BERTH_TEST_REGISTRY=127.0.0.1:$plain_port
export BERTH_TEST_REGISTRY_ROOT=$DIR/registry/plain/storage
export BERTH_TEST_BASIC_REGISTRY=127.0.0.1:$basic_port
export BERTH_TEST_TOKEN_REGISTRY=127.0.0.1:$token_reg_port
export BERTH_TEST_TOKEN_SERVER=127.0.0.1:$token_port
export BERTH_TEST_REGISTRY_USER=$USER_NAME
export BERTH_TEST_REGISTRY_PASSWORD=$password
export BERTH_TEST_SCRATCH=$DIR/scratch
EOF
  trap - EXIT
  log "started in $DIR (containerd pid $containerd_pid; registries on $plain_port, $basic_port, $token_reg_port; token server on $token_port)"
}

# A process is ours when its command line names a path under DIR: the containerds (ours and any
# a test started under scratch and could not stop) and the shims they spawned.
pids_naming_dir() {
  local proc argv0 cmdline
  for proc in /proc/[0-9]*; do
    argv0=
    IFS= read -r -d '' argv0 <"$proc/cmdline" 2>/dev/null || true
    [[ ${argv0##*/} == containerd || ${argv0##*/} == containerd-shim* ]] || continue
    cmdline=$(tr '\0' ' ' <"$proc/cmdline" 2>/dev/null) || continue
    [[ $cmdline == *" $DIR/"* ]] && echo "${proc#/proc/}"
  done
  return 0
}

terminate() { # seconds pid...
  local seconds=$1; shift
  (($# == 0)) && return 0
  kill -TERM "$@" 2>/dev/null || true
  local deadline=$((SECONDS + seconds)) pid alive
  while :; do
    alive=()
    for pid in "$@"; do [[ -d /proc/$pid ]] && alive+=("$pid"); done
    ((${#alive[@]} == 0)) && return 0
    if ((SECONDS >= deadline)); then
      log "killing ${alive[*]} after ${seconds}s"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      sleep 0.2
      return 0
    fi
    sleep 0.05
  done
}

# Deletes every task through each containerd under DIR that still answers, so runc's state,
# the cgroups and the shims go the way containerd itself removes them.
delete_tasks_via_containerd() {
  local sock ns id
  while IFS= read -r sock; do
    local ctr=(timeout 15 ctr --address "$sock" --connect-timeout 2s)
    "${ctr[@]}" version >/dev/null 2>&1 || continue
    for ns in $("${ctr[@]}" namespaces ls -q 2>/dev/null); do
      for id in $("${ctr[@]}" --namespace "$ns" tasks ls -q 2>/dev/null); do
        "${ctr[@]}" --namespace "$ns" tasks delete --force "$id" >/dev/null 2>&1 \
          || log "could not delete task $ns/$id through $sock"
      done
    done
  done < <(find "$DIR" -maxdepth 4 -type s -name containerd.sock 2>/dev/null)
}

# What containerd could not delete: runc containers whose rootfs lies under DIR (that check keeps
# the host's own containers safe), then any task init a shim recorded under DIR, which takes its
# pid namespace with it.
force_delete_leftover_tasks() {
  local state runc_root id pidfile pid
  for state in /run/containerd/runc/*/*/state.json; do
    [[ -f $state ]] && grep -qF "\"rootfs\":\"$DIR/" "$state" || continue
    runc_root=${state%/*/state.json}
    id=${state%/state.json}; id=${id##*/}
    runc --root "$runc_root" delete --force "$id" >/dev/null 2>&1 || log "runc could not delete $id"
  done
  while IFS= read -r pidfile; do
    pid=$(cat "$pidfile" 2>/dev/null) || continue
    [[ $pid =~ ^[0-9]+$ && -d /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null || true
  done < <(find "$DIR" -path '*io.containerd.runtime.v2.task*' -name init.pid 2>/dev/null)
}

unmount_under_dir() {
  local mounts
  for _ in 1 2 3; do
    mounts=$(awk -v dir="$DIR/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r)
    [[ -z $mounts ]] && return 0
    while IFS= read -r mount; do
      umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true
    done <<<"$mounts"
  done
  awk -v dir="$DIR/" 'index($2, dir) == 1 { print "test-env: still mounted: " $2 }' /proc/mounts >&2
}

stop() {
  [[ -d $DIR ]] || return 0
  DIR=$(cd "$DIR" && pwd)
  local name pid started pids=()
  if [[ -f $DIR/pids ]]; then
    while read -r name pid started; do
      [[ -n $pid && $(start_time "$pid" 2>/dev/null) == "$started" ]] && pids+=("$pid")
    done <"$DIR/pids"
  fi
  delete_tasks_via_containerd
  force_delete_leftover_tasks
  terminate 10 "${pids[@]}"
  mapfile -t pids < <(pids_naming_dir)
  terminate 5 "${pids[@]}"
  force_delete_leftover_tasks
  unmount_under_dir
  rm -f "$DIR/pids" "$DIR/env"
}

# containerd alone, for benchmarks that want an empty content store per run.
start_containerd_only() {
  [[ -e $DIR/pids ]] && die "$DIR/pids exists: stop the environment there first"
  trap 'status=$?; ((status == 0)) || { log "start failed; stopping what it started"; stop; }' EXIT
  mkdir -p "$DIR"/{logs,containerd/{root,state,opt}}
  DIR=$(cd "$DIR" && pwd)
  : >"$DIR/pids"
  local ctrd="$DIR/containerd" containerd_pid
  write_containerd_config "$ctrd"
  containerd_pid=$(spawn containerd containerd --root "$ctrd/root" --state "$ctrd/state" \
    --address "$ctrd/containerd.sock" --config "$ctrd/config.toml")
  wait_for containerd "$containerd_pid" 20 ctr --address "$ctrd/containerd.sock" --connect-timeout 2s version
  echo "export BERTH_TEST_CONTAINERD_SOCKET=$ctrd/containerd.sock" >"$DIR/env"
  trap - EXIT
}

case "${1:-}" in
  start-containerd) [[ $# -eq 2 ]] || die "usage: $0 start-containerd DIR"; DIR=$2; start_containerd_only ;;
  start) [[ $# -eq 2 ]] || die "usage: $0 start DIR"; DIR=$2; start ;;
  stop) [[ $# -eq 2 ]] || die "usage: $0 stop DIR"; DIR=$2; stop ;;
  *) die "usage: $0 start|start-containerd|stop DIR" ;;
esac
