#!/usr/bin/env bash
# Installs centralita on a systemd machine: the binary, a `centralita` system user, the config in
# /etc/centralita (only if absent), the data dir /var/lib/centralita, the rules dir (example rules
# copied only where no file of that name exists) and a systemd unit.
#
# Safe to run again: an upgrade replaces the binary and the unit and keeps data, config and rules.
#
#   sudo ./install.sh                  build (cargo build --release --locked) and install
#   DESTDIR=/tmp/stage ./install.sh    install into a staging root; no user, no systemctl, no chown
#   PREFIX=/opt/centralita             where the binary goes (default /usr/local)
#   CENTRALITA_BINARY=path             install this binary instead of building one
set -euo pipefail
cd "$(dirname "$0")"

DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/usr/local}"
bin_dir="$DESTDIR$PREFIX/bin"
etc_dir="$DESTDIR/etc/centralita"
data_dir="$DESTDIR/var/lib/centralita"
unit_dir="$DESTDIR/etc/systemd/system"

say() { printf 'install.sh: %s\n' "$*"; }

if [ -n "${CENTRALITA_BINARY:-}" ]; then
  binary="$CENTRALITA_BINARY"
else
  command -v cargo >/dev/null || {
    say "cargo is not on root's path: build first, then run: sudo CENTRALITA_BINARY=target/release/centralita ./install.sh"
    exit 1
  }
  say "building (cargo build --release --locked)"
  cargo build --release --locked
  binary="target/release/centralita"
fi
[ -x "$binary" ] || { say "no binary at $binary"; exit 1; }

# Copy next to the target and rename: a running server keeps its old file until restarted.
install -d -m 0755 "$bin_dir"
install -m 0755 "$binary" "$bin_dir/.centralita.new"
mv -f "$bin_dir/.centralita.new" "$bin_dir/centralita"
say "binary: $bin_dir/centralita"

install -d -m 0755 "$etc_dir"
if [ -e "$etc_dir/centralita.toml" ]; then
  say "config kept: $etc_dir/centralita.toml"
else
  config_tmp="$(mktemp)"
  "$binary" config example | sed 's|^data_dir = .*|data_dir = "/var/lib/centralita"|' > "$config_tmp"
  install -m 0640 "$config_tmp" "$etc_dir/centralita.toml"
  rm -f "$config_tmp"
  say "config written: $etc_dir/centralita.toml"
fi

# The examples go to rules/examples, which the server does not load: an administrator copies the
# ones wanted one level up. Nothing an administrator edited is overwritten.
install -d -m 0755 "$etc_dir/rules" "$etc_dir/rules/examples" "$etc_dir/rules/examples/fixtures"
for example in rules/README.md rules/examples/* rules/examples/fixtures/*; do
  [ -f "$example" ] || continue
  case "$example" in
    rules/examples/*) target="$etc_dir/rules/examples/${example#rules/examples/}" ;;
    *) target="$etc_dir/${example}" ;;
  esac
  if [ -e "$target" ]; then
    say "rule kept: $target"
  else
    install -m 0644 "$example" "$target"
    say "rule example: $target"
  fi
done

install -d -m 0750 "$data_dir"

install -d -m 0755 "$unit_dir"
cat > "$unit_dir/centralita.service" <<UNIT
[Unit]
Description=centralita contact center
Documentation=https://localhost:8443/api/v1/openapi.json
After=network-online.target
Wants=network-online.target

[Service]
User=centralita
Group=centralita
WorkingDirectory=/var/lib/centralita
ExecStart=$PREFIX/bin/centralita serve --config /etc/centralita/centralita.toml
Restart=on-failure
# Exit code 2 is a configuration problem: restarting will not fix it.
RestartPreventExitStatus=2
TimeoutStopSec=30
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=/var/lib/centralita

[Install]
WantedBy=multi-user.target
UNIT
chmod 0644 "$unit_dir/centralita.service"
say "systemd unit: $unit_dir/centralita.service"

if [ -n "$DESTDIR" ]; then
  say "staged under $DESTDIR (no user created, nothing started)"
  exit 0
fi

if ! id centralita >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/centralita --no-create-home --shell /usr/sbin/nologin centralita
  say "system user created: centralita"
fi
chown -R centralita:centralita /var/lib/centralita
chown root:centralita /etc/centralita/centralita.toml

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if systemctl is-active --quiet centralita; then
    systemctl restart centralita
    say "restarted the running service with the new binary"
  else
    say "start it with: systemctl enable --now centralita   (then: journalctl -u centralita)"
  fi
else
  say "no systemd here; run: sudo -u centralita $PREFIX/bin/centralita serve --config /etc/centralita/centralita.toml"
fi
