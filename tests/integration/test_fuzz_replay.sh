#!/usr/bin/env bash
# Replay every fuzz harness over its checked-in corpus (tests/fuzz/), with
# the build's compiler and no libFuzzer: one TAP line per harness. An input
# that crashes or aborts a harness fails it, naming the input.
#
# BUILD, CC, OPT and SAN are passed to tests/fuzz/build.sh, so that a
# sanitizer build (`make sanitize`) replays under ASan+UBSan.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
OUT=$BUILD/fuzz-replay
export BUILD

echo "# building the replay harnesses in $OUT"
if ! log=$(tests/fuzz/build.sh replay 2>&1); then
	echo "not ok - tests/fuzz/build.sh replay failed"
	printf '%s\n' "$log" | tail -30 | sed 's/^/#   /'
	exit 1
fi

n=0 failed=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	corpus=tests/fuzz/corpus/${name#fuzz_}
	n=$((n + 1))
	if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
		echo "not ok - $name: no corpus in $corpus"
		failed=$((failed + 1))
		continue
	fi
	# leaks are for `make fuzz`: OpenSSL's and libp11's one-time
	# allocations are not this test's business
	out=$(ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		timeout 120 "$OUT/$name" "$corpus" 2>&1)
	rc=$?
	count=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) inputs replayed$/\1/p')
	if [ "$rc" -eq 0 ] && [ -n "$count" ]; then
		echo "ok - $name: $count inputs replayed"
	else
		echo "not ok - $name: replay failed (status $rc)"
		failed=$((failed + 1))
		printf '%s\n' "$out" | grep -v '^[0-9]* inputs replayed$' |
			tail -25 | sed 's/^/#   /'
	fi
done
echo "1..$n"
[ "$failed" -eq 0 ]
