#!/usr/bin/env bash
# Installs Berth as a systemd service, as root:
#
#   scripts/install.sh
#
#   - builds berthd, berth-logger and the `berth` command line in release mode;
#   - installs them to $PREFIX/bin (default /usr/local/bin); berth-logger must sit next to berthd,
#     where the runtime looks for it. A running berthd and running loggers keep their old
#     binaries: the new ones replace the files by rename, never by writing into them;
#   - installs systemd/berthd.service to /etc/systemd/system/ (replacing an older copy);
#   - installs systemd/berthd.toml as /etc/berth/berthd.toml only if none exists (yours is kept);
#   - generates /etc/berth/jwt-secret (mode 0600, 32 random bytes as hex) only if none exists;
#   - runs `systemctl daemon-reload` when systemd is running (skipped in a container without it).
#
# It does not enable, start or restart anything; it prints what to run next. Running it again is
# safe: it only rebuilds and replaces the binaries and the unit.
#
# Environment: PREFIX (default /usr/local); BUILD=release|debug (default release); SKIP_BUILD=1
# (install what the build folder already holds); DESTDIR (stage every file under this folder, for
# packaging or a dry run: nothing outside it is touched and systemctl is not called).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "install: $*" >&2; exit 1; }
log() { echo "install: $*" >&2; }

PREFIX=${PREFIX:-/usr/local}
BUILD=${BUILD:-release}
# Release builds carry the Swift runtime and Foundation (README, "berthd's own memory").
STATIC=(); [[ $BUILD == release ]] && STATIC=(--static-swift-stdlib)
DESTDIR=${DESTDIR:-}
[[ $BUILD == release || $BUILD == debug ]] || die "BUILD must be release or debug, not '$BUILD'"
# Where the files go ($DESTDIR prefixed) and where they will be once installed (not prefixed).
INSTALLED_BIN=$PREFIX/bin
BIN=$DESTDIR$INSTALLED_BIN
CONFIG_DIR=$DESTDIR/etc/berth
CONFIG=$CONFIG_DIR/berthd.toml
SECRET=$CONFIG_DIR/jwt-secret
UNIT_DIR=$DESTDIR/etc/systemd/system

[[ -n $DESTDIR || $(id -u) == 0 ]] || die "run as root (sudo scripts/install.sh): it writes $BIN, $CONFIG_DIR and $UNIT_DIR"

if [[ -d /opt/swift/usr/bin && ":$PATH:" != *:/opt/swift/usr/bin:* ]]; then
  PATH=/opt/swift/usr/bin:$PATH
fi

if [[ -z ${SKIP_BUILD:-} ]]; then
  command -v swift >/dev/null || die "swift not found on PATH or in /opt/swift/usr/bin"
  [[ -f /usr/include/sqlite3.h ]] || die "sqlite3.h not found: apt-get install libsqlite3-dev"
  log "building berthd, berth-logger and berth ($BUILD)"
  swift build -c "$BUILD" "${STATIC[@]}" --product berthd
  swift build -c "$BUILD" "${STATIC[@]}" --product berth-logger
  swift build -c "$BUILD" "${STATIC[@]}" --product berth
fi
BUILT=$(swift build -c "$BUILD" "${STATIC[@]}" --show-bin-path 2>/dev/null || echo ".build/$BUILD")
for binary in berthd berth-logger berth; do
  [[ -x $BUILT/$binary ]] || die "$BUILT/$binary is missing; build it (without SKIP_BUILD)"
done

# Copies to a temporary name in the destination folder, then renames over the old file, so a
# running binary is never written into (that would fail with "Text file busy", or worse, succeed).
install_file() { # mode source destination
  local temporary
  temporary="$(dirname "$3")/.$(basename "$3").new.$$"
  install -m "$1" "$2" "$temporary"
  mv -f "$temporary" "$3"
}

install -d -m 0755 "$BIN"
install_file 0755 "$BUILT/berthd" "$BIN/berthd"
install_file 0755 "$BUILT/berth-logger" "$BIN/berth-logger"
install_file 0755 "$BUILT/berth" "$BIN/berth"
log "installed $BIN/berthd, $BIN/berth-logger and $BIN/berth"

# The unit names /usr/local/bin/berthd; follow PREFIX if it is another.
install -d -m 0755 "$UNIT_DIR"
unit=$(mktemp)
trap 'rm -f "$unit"' EXIT
sed "s|/usr/local/bin/berthd|$INSTALLED_BIN/berthd|g" systemd/berthd.service >"$unit"
if cmp -s "$unit" "$UNIT_DIR/berthd.service"; then
  log "$UNIT_DIR/berthd.service is up to date"
else
  install_file 0644 "$unit" "$UNIT_DIR/berthd.service"
  log "installed $UNIT_DIR/berthd.service"
fi

install -d -m 0755 "$CONFIG_DIR"
if [[ -e $CONFIG ]]; then
  if cmp -s systemd/berthd.toml "$CONFIG"; then
    log "$CONFIG is the shipped default"
  else
    log "kept your $CONFIG (the shipped default is systemd/berthd.toml)"
  fi
else
  install -m 0644 systemd/berthd.toml "$CONFIG"
  log "installed $CONFIG"
fi

if [[ -e $SECRET ]]; then
  log "kept the existing $SECRET"
else
  (
    umask 077
    head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n' >"$SECRET.new.$$"
    echo >>"$SECRET.new.$$"
    mv "$SECRET.new.$$" "$SECRET"
  )
  chmod 0600 "$SECRET"
  log "generated $SECRET (HS256 secret, mode 0600)"
fi

# sd_booted(3): systemd is PID 1 when this folder exists.
if [[ -n $DESTDIR ]]; then
  log "staged under $DESTDIR; skipped systemctl daemon-reload"
  running=
elif [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
  systemctl daemon-reload
  log "systemctl daemon-reload done"
  running=$(systemctl is-active berthd 2>/dev/null || true)
else
  log "systemd is not running here (a container?); skipped systemctl daemon-reload"
  running=
fi

command -v containerd >/dev/null || log "note: containerd is not installed; berthd needs it (apt-get install containerd runc containernetworking-plugins iptables)"

cat <<EOT

Berth is installed. Next:
  1. Review /etc/berth/berthd.toml (proxy.listen, proxy.domain, auth.*, registry.*).
EOT
if [[ $running == active ]]; then
  echo "  2. systemctl restart berthd        # containers keep running across the restart"
else
  echo "  2. systemctl enable --now berthd"
fi
cat <<EOT
  3. journalctl -u berthd -f
  4. A token for the API (HS256 secret above):
       TOKEN=\$($INSTALLED_BIN/berthd token --config /etc/berth/berthd.toml --sub admin --role ADMIN --ttl 1h)
       curl -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:8080/v1/containers
EOT
