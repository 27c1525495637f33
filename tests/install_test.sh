#!/usr/bin/env bash
# install.sh into a staging root (DESTDIR), twice: everything lands where it should, nothing outside
# the root is touched, and a second run keeps the administrator's config and rules.
set -euo pipefail
cd "$(dirname "$0")/.."

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
fail() { echo "install test FAILED: $*" >&2; exit 1; }

etc_existed=no; [ -e /etc/centralita ] && etc_existed=yes

DESTDIR="$stage" ./install.sh > "$stage.log" 2>&1 || { cat "$stage.log"; fail "install.sh exited non-zero"; }

bin="$stage/usr/local/bin/centralita"
[ -x "$bin" ] || fail "no binary at $bin"
"$bin" --version | grep -q centralita || fail "installed binary does not run"
[ -f "$stage/etc/centralita/centralita.toml" ] || fail "no config"
[ "$(stat -c %a "$stage/etc/centralita/centralita.toml")" = 640 ] || fail "config mode is not 0640"
grep -q '^data_dir = "/var/lib/centralita"' "$stage/etc/centralita/centralita.toml" || fail "config does not point at /var/lib/centralita"
"$bin" config check --config "$stage/etc/centralita/centralita.toml" > /dev/null || fail "installed config is not valid"
[ -d "$stage/var/lib/centralita" ] || fail "no data dir"
[ "$(stat -c %a "$stage/var/lib/centralita")" = 750 ] || fail "data dir mode is not 0750"
[ -d "$stage/etc/centralita/rules" ] || fail "no rules dir"
for example in rules/examples/* rules/examples/fixtures/*; do
  [ -e "$stage/etc/centralita/rules/examples/${example#rules/examples/}" ] || fail "rule example $example not copied"
done
[ -f "$stage/etc/centralita/rules/README.md" ] || fail "rules/README.md not copied"
ls "$stage/etc/centralita/rules/"*.rhai > /dev/null 2>&1 && fail "an example rule was switched on by the install"
unit="$stage/etc/systemd/system/centralita.service"
grep -q '^ExecStart=/usr/local/bin/centralita serve --config /etc/centralita/centralita.toml$' "$unit" || fail "unit ExecStart"
grep -q '^User=centralita$' "$unit" || fail "unit user"
[ "$etc_existed" = yes ] || [ ! -e /etc/centralita ] || fail "touched /etc/centralita outside DESTDIR"

# Second run: an upgrade keeps what the administrator changed.
echo '# edited by the administrator' >> "$stage/etc/centralita/centralita.toml"
first_rule="examples/auto_reply.rhai"
echo '// edited' >> "$stage/etc/centralita/rules/$first_rule"
DESTDIR="$stage" ./install.sh > "$stage.log" 2>&1 || { cat "$stage.log"; fail "second install.sh run failed"; }
grep -q 'edited by the administrator' "$stage/etc/centralita/centralita.toml" || fail "upgrade overwrote the config"
grep -q '// edited' "$stage/etc/centralita/rules/$first_rule" || fail "upgrade overwrote a rule"
rm -f "$stage.log"
echo "install test passed (DESTDIR install, then an upgrade that keeps config and rules)"
