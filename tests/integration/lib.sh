# Shared shell helpers for integration tests (sourced). TAP-style output.
set -u
AIRLOCK_SRC=${AIRLOCK_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$AIRLOCK_SRC/$BUILD ;; esac
STATION=$BUILD/airlock-station
KV=$BUILD/airlock-kv
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

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
