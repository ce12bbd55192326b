#!/usr/bin/env bash
# Run every fuzz harness (built by `tests/fuzz/build.sh fuzz`) with
# libFuzzer for SECONDS each, JOBS at a time (default 2).
#
#   tests/fuzz/run.sh SECONDS [HARNESS...]     e.g. run.sh 300 fuzz_csr
#
# Each harness starts from its checked-in corpus (tests/fuzz/corpus/NAME/,
# never written) and works in $BUILD/fuzz/work/NAME/. With MERGE=1, the
# inputs that add coverage are merged back into the checked-in corpus
# (libFuzzer -merge=1: only new coverage, so it stays small). Crashes, leaks
# and UB reports are written to $BUILD/fuzz/crashes/NAME-*, logs to
# $BUILD/fuzz/logs/NAME.log. Exit status 1 if any harness found something.
# FUZZ_ARGS adds libFuzzer options (e.g. "-fork=1 -ignore_crashes=1" to go
# on past a known crash).
set -uo pipefail
cd "$(dirname "$0")/../.."

SECS=${1:-}
case $SECS in '' | *[!0-9]*)
	echo "usage: tests/fuzz/run.sh SECONDS [HARNESS...]" >&2
	exit 2 ;;
esac
shift
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}
OUT=$BUILD/fuzz
# bundle, request and ledger inputs are files: keep them off the disk
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	export TMPDIR=/dev/shm
fi

if [ $# -gt 0 ]; then
	names=("$@")
else
	names=()
	for b in "$OUT"/fuzz_*; do
		[ -x "$b" ] && names+=("$(basename "$b")")
	done
fi
if [ ${#names[@]} -eq 0 ]; then
	echo "run.sh: no harness in $OUT (run tests/fuzz/build.sh fuzz)" >&2
	exit 1
fi
mkdir -p "$OUT/crashes" "$OUT/logs" "$OUT/work"

# -max_len: the largest input a harness reads whole is 128 KiB; longer
# mutations rarely help and slow every run.
run_one() {
	local name=$1 corp=tests/fuzz/corpus/${1#fuzz_} work=$OUT/work/$1
	local log=$OUT/logs/$1.log rc
	mkdir -p "$work" "$corp"
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	"$OUT/$name" -max_total_time="$SECS" -max_len=32768 -timeout=20 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$OUT/crashes/$name-" ${FUZZ_ARGS:-} \
		"$work" "$corp" \
		>"$log" 2>&1
	rc=$?
	if [ "${MERGE:-0}" = 1 ]; then
		"$OUT/$name" -merge=1 -max_len=32768 "$corp" "$work" \
			>>"$log" 2>&1
	fi
	printf '%-16s %s %s\n' "$name" \
		"$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" |
			grep -Eo '[0-9]+$' | tail -1) execs," \
		"$([ $rc -eq 0 ] && echo ok || echo "FOUND something (status $rc), see $log")"
	echo "$rc" >"$OUT/logs/$name.rc"
}

for n in "${names[@]}"; do
	rm -f "$OUT/logs/$n.rc"
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
	run_one "$n" &
done
wait
status=0
for n in "${names[@]}"; do
	[ "$(cat "$OUT/logs/$n.rc" 2>/dev/null)" = 0 ] || status=1
done
ls "$OUT"/crashes/ 2>/dev/null | sed 's/^/  artifact: /'
exit $status
