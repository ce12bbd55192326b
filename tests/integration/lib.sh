# Shared shell helpers for integration tests (sourced). TAP-style output.
set -u
AIRLOCK_SRC=${AIRLOCK_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$AIRLOCK_SRC/$BUILD ;; esac
STATION=$BUILD/airlock-station
KV=$BUILD/airlock-kv
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
# Test machines are online; the station's air-gap check is overridden (and
# recorded) unless a test unsets this to check the refusal itself.
export AIRLOCK_ALLOW_NETWORK=1

T_FAILED=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/airlock-test.XXXXXX")
t_cleanup_hooks=()
t_on_exit() { t_cleanup_hooks+=("$1"); }
t_exit() {
	local h
	for h in "${t_cleanup_hooks[@]}"; do eval "$h" || true; done
	rm -rf "$TMP"
}
trap t_exit EXIT

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; T_FAILED=1; }
skip() { echo "ok - $1 # SKIP $2"; }
diag() { sed 's/^/#   /'; }

# expect_ok NAME CMD...: CMD must exit 0.
expect_ok() {
	local name=$1; shift
	if "$@" >"$TMP/out" 2>"$TMP/err"; then ok "$name"; else
		not_ok "$name (exit $?)"; cat "$TMP/out" "$TMP/err" | head -20 | diag; fi
}
# expect_fail NAME STATUS REGEX CMD...: CMD must exit STATUS and print REGEX on stderr.
expect_fail() {
	local name=$1 want=$2 re=$3 rc; shift 3
	"$@" >"$TMP/out" 2>"$TMP/err"; rc=$?
	if [ "$rc" -eq "$want" ] && grep -qE -- "$re" "$TMP/err"; then ok "$name"; else
		not_ok "$name (exit $rc, want $want and /$re/)"; cat "$TMP/out" "$TMP/err" | head -20 | diag; fi
}

# softhsm_setup: a private SoftHSM2 configuration and token directory.
softhsm_setup() {
	mkdir -p "$TMP/softhsm/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$TMP/softhsm/tokens" >"$TMP/softhsm/softhsm2.conf"
	export SOFTHSM2_CONF=$TMP/softhsm/softhsm2.conf
}
# softhsm_token LABEL PIN: a fresh token in the first free slot.
softhsm_token() {
	softhsm2-util --init-token --free --label "$1" --so-pin 87654321 --pin "$2" >/dev/null
}

# station_setup HOME: SoftHSM tokens root-ca and inter-ca with EC P-384 keys,
# a station home for example.internal, and both ceremonies. Sets ROOTKEY,
# INTERKEY and PINSRC (file: source of the intermediate's PIN).
station_setup() {
	local home=$1
	softhsm_setup
	softhsm_token root-ca 123456
	softhsm_token inter-ca 654321
	printf '123456\n' >"$TMP/rpin"; printf '654321\n' >"$TMP/ipin"; chmod 600 "$TMP/rpin" "$TMP/ipin"
	PINSRC="file:$TMP/ipin"
	ROOTKEY=$("$STATION" token keygen --token "pkcs11:token=root-ca?module-path=$SOFTHSM_MODULE" \
		--label root-key --type ec:p384 --pin-source "file:$TMP/rpin" 2>/dev/null)
	INTERKEY=$("$STATION" token keygen --token "pkcs11:token=inter-ca?module-path=$SOFTHSM_MODULE" \
		--label inter-key --type ec:p384 --pin-source "$PINSRC" 2>/dev/null)
	"$STATION" --home "$home" init --domain example.internal >/dev/null &&
		"$STATION" --home "$home" ca root --key "$ROOTKEY" --subject "/CN=Airlock Test Root" \
			--operator A --witness B --yes --pin-source "file:$TMP/rpin" >/dev/null 2>&1 &&
		"$STATION" --home "$home" ca intermediate --key "$INTERKEY" --issuer-key "$ROOTKEY" \
			--subject "/CN=Airlock Test Intermediate" --operator A --witness B --yes \
			--pin-source "$PINSRC" --issuer-pin-source "file:$TMP/rpin" >/dev/null 2>&1
}
