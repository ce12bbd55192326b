#!/usr/bin/env bash
# `airlock-station doctor`: the preflight, in a network namespace of its own
# (unshare --net) so that the interfaces and routes are the test's, and a
# mount namespace so that the udev rules directories and /etc/group are too.
#   - only loopback up: the network check passes;
#   - a veth pair up, then a default route over it: the check fails and
#     names the interfaces and the route; down again: it passes;
#   - udev rules missing, then installed by udev/install.sh;
#   - tokens on SoftHSM2 (--module) with their flags; the home's mode; the
#     clock against the ledger (faketime); exit statuses 0/1/2 and --json.
# AIRLOCK_DOCTOR_BIN names the binary to test (default: build/airlock-station).
if [ -z "${AIRLOCK_DOCTOR_NS:-}" ] && [ "$(id -u)" -eq 0 ] &&
	command -v unshare >/dev/null && command -v ip >/dev/null; then
	exec unshare --net --mount env AIRLOCK_DOCTOR_NS=1 bash -c \
		'mount --make-rprivate / && mount -t sysfs sysfs /sys && ip link set lo up && exec bash "$0"' "$0"
fi
. "$(dirname "$0")/lib.sh"
DOCTOR=${AIRLOCK_DOCTOR_BIN:-$STATION}

if [ -z "${AIRLOCK_DOCTOR_NS:-}" ]; then
	skip "doctor" "needs root, unshare and ip (util-linux, iproute2) for a private network namespace"
	exit 0
fi
if [ ! -x "$DOCTOR" ]; then
	not_ok "no $DOCTOR: run make first"
	exit 1
fi
if ! "$DOCTOR" doctor --help >/dev/null 2>&1; then
	not_ok "$DOCTOR has no doctor verb (station/main.c must list cmd_doctor)"
	exit 1
fi

# Private udev rules directories (empty) and a private /etc/group.
for d in /etc/udev/rules.d /run/udev/rules.d /usr/lib/udev/rules.d /lib/udev/rules.d; do
	[ -d "$d" ] && [ ! -L "$d" ] && mount -t tmpfs tmpfs "$d"
done
cp /etc/group "$TMP/group"
grep -q '^airlock:' "$TMP/group" || echo 'airlock:x:64999:' >>"$TMP/group"
mount --bind "$TMP/group" /etc/group

HOME_DIR=$TMP/home
if ! station_setup "$HOME_DIR"; then
	not_ok "station setup (SoftHSM2 tokens, ceremonies)"
	exit 1
fi

# doctor_json [ENV...]: run doctor --json; the document in $TMP/doc.json, the
# exit status in $rc.
doctor_json() {
	env "$@" "$DOCTOR" --home "$HOME_DIR" --module "$SOFTHSM_MODULE" doctor --json \
		>"$TMP/doc.json" 2>"$TMP/doc.err"
	rc=$?
}
# check_is CHECK STATUS [REGEX]: some finding of CHECK has STATUS (and a
# detail matching REGEX).
check_is() {
	python3 - "$TMP/doc.json" "$1" "$2" "${3:-}" <<'EOF'
import json, re, sys
doc = json.load(open(sys.argv[1]))
_, _, name, status, rx = sys.argv
hits = [c for c in doc["checks"] if c["check"] == name and c["status"] == status
        and (not rx or re.search(rx, c["detail"]))]
if status == "ok":  # and no finding of that check failed
    hits = hits and not [c for c in doc["checks"] if c["check"] == name and c["status"] == "fail"]
sys.exit(0 if hits else 1)
EOF
}
assert_check() { # NAME CHECK STATUS [REGEX]
	local name=$1; shift
	if check_is "$@"; then ok "$name"; else
		not_ok "$name"; cat "$TMP/doc.json" "$TMP/doc.err" | head -60 | diag; fi
}

# --- only loopback ------------------------------------------------------------
doctor_json
if python3 -m json.tool "$TMP/doc.json" >/dev/null 2>&1; then ok "doctor --json: one JSON document"; else
	not_ok "doctor --json: one JSON document"; cat "$TMP/doc.json" "$TMP/doc.err" | diag; fi
assert_check "only loopback up: network check passes" network ok 'no interface up but loopback'
assert_check "rules not installed: udev check fails" udev fail 'udev rules missing: 10-airlock-airgap.rules'
assert_check "group airlock present" group ok 'airlock'
assert_check "tokens visible with flags (root-ca)" tokens ok "token 'root-ca'.*PIN ok"
assert_check "tokens visible with flags (inter-ca)" tokens ok "token 'inter-ca'"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
t=[x for x in d["tokens"] if x["label"]=="root-ca"]
sys.exit(0 if t and t[0]["flags"]["user_pin_locked"] is False and "user_pin_final_try" in t[0]["flags"] else 1)' "$TMP/doc.json"; then
	ok "--json lists each token with its PIN flags"
else
	not_ok "--json lists each token with its PIN flags"; head -40 "$TMP/doc.json" | diag
fi
assert_check "home 0700 and ours" home ok 'mode 0700'
assert_check "clock after the ledger's newest record" clock ok 'newest record'
assert_check "free space reported" space ok 'MiB free'
if [ "$rc" -eq 1 ]; then ok "findings: exit 1"; else not_ok "findings: exit $rc, want 1"; fi

# --- the udev rules, installed ------------------------------------------------
AIRLOCK_NO_ACTIVATE=1 "$AIRLOCK_SRC/udev/install.sh" "$TMP/inst" /usr >/dev/null
cp "$TMP"/inst/usr/lib/udev/rules.d/*.rules /usr/lib/udev/rules.d/
doctor_json
assert_check "rules installed: udev check passes" udev ok '/usr/lib/udev/rules.d/71-airlock-media.rules'

# --- a veth pair up -------------------------------------------------------------
if ip link add airlk0 type veth peer name airlk1 2>"$TMP/ip.err" &&
	ip link set airlk0 up && ip link set airlk1 up; then
	doctor_json
	assert_check "veth up: network check fails, names the interface" network fail 'interface airlk0 is up'
	assert_check "... and its peer" network fail 'interface airlk1 is up'
	if [ "$rc" -eq 1 ]; then ok "network finding: exit 1"; else not_ok "network finding: exit $rc"; fi
	"$DOCTOR" --home "$HOME_DIR" --module "$SOFTHSM_MODULE" doctor >"$TMP/out" 2>"$TMP/err"
	if grep -qE '^FAIL +network +interface airlk0 is up' "$TMP/out" &&
		grep -qE -- '-> take every interface but lo down' "$TMP/out"; then
		ok "text output: the finding and what to do"
	else
		not_ok "text output: the finding and what to do"; cat "$TMP/out" | diag
	fi
	if ip route add default dev airlk0 2>>"$TMP/ip.err"; then
		doctor_json
		assert_check "default route: named" network fail 'IPv4 default route via airlk0'
	else
		not_ok "ip route add default dev airlk0"; diag <"$TMP/ip.err"
	fi
	ip link set airlk0 down; ip link set airlk1 down
	doctor_json
	assert_check "veth down again (route gone): network check passes" network ok
	ip link del airlk0
else
	not_ok "ip link add veth"; diag <"$TMP/ip.err"
fi

# --- the home -------------------------------------------------------------------
chmod 0755 "$HOME_DIR"
doctor_json
assert_check "home 0755: finding says chmod 700" home fail 'mode 0755; it must be 0700'
chmod 0700 "$HOME_DIR"
"$DOCTOR" --home "$TMP/nope" --module "$SOFTHSM_MODULE" doctor --json >"$TMP/doc.json" 2>"$TMP/doc.err"
assert_check "missing home: says how to make one" home fail "station home $TMP/nope: No such file"

# --- the clock --------------------------------------------------------------------
if command -v faketime >/dev/null; then
	faketime '2001-01-01 00:00:00' "$DOCTOR" --home "$HOME_DIR" --module "$SOFTHSM_MODULE" \
		doctor --json >"$TMP/doc.json" 2>"$TMP/doc.err"
	assert_check "clock behind the ledger: finding" clock fail 'is earlier than the ledger.s newest record'
else
	skip "clock behind the ledger" "faketime missing (Debian package faketime)"
fi

# --- the module -------------------------------------------------------------------
"$DOCTOR" --home "$HOME_DIR" --module "$TMP/no-such-module.so" doctor --json >"$TMP/doc.json" 2>"$TMP/doc.err"
assert_check "module missing: the real cause" tokens fail 'no-such-module.so'

# --- usage ------------------------------------------------------------------------
expect_fail "unknown option: usage, exit 2" 2 "unknown option" "$DOCTOR" doctor --bogus
expect_fail "stray argument: usage, exit 2" 2 "unexpected argument" "$DOCTOR" doctor extra

exit "$T_FAILED"
