#!/bin/sh
# Build tests/iofault/iofault.so into $BUILD/tests/iofault/ (BUILD from the
# environment, default build). Idempotent: does nothing when the shim is
# newer than its source and this script. Prints the shim's path on stdout.
set -eu
src=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$src/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$top/$BUILD ;; esac
out=$BUILD/tests/iofault/iofault.so
if [ ! -f "$out" ] || [ "$src/iofault.c" -nt "$out" ] || [ "$src/build.sh" -nt "$out" ]; then
	mkdir -p "$BUILD/tests/iofault"
	${CC:-cc} -std=c11 -O2 -g -Wall -Wextra -Wformat=2 -Wshadow \
		-Wstrict-prototypes -Wmissing-prototypes -Wvla -Werror \
		-fPIC -shared -fvisibility=hidden \
		-o "$out.tmp.$$" "$src/iofault.c" -ldl -lpthread
	mv -f "$out.tmp.$$" "$out"
fi
echo "$out"
