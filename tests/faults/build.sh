#!/bin/sh
# Build tests/faults/p11fault.so into $BUILD/tests/faults/ (BUILD from the
# environment, default build). Idempotent: does nothing when the module is
# newer than its source. Prints the module's path on stdout.
set -eu
src=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$src/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$top/$BUILD ;; esac
out=$BUILD/tests/faults/p11fault.so
if [ ! -f "$out" ] || [ "$src/p11fault.c" -nt "$out" ] || [ "$top/pkcs11/ckr_list.h" -nt "$out" ] || [ "$0" -nt "$out" ]; then
	mkdir -p "$BUILD/tests/faults"
	${CC:-cc} -std=c11 -O2 -g -Wall -Wextra -Wformat=2 -Wshadow \
		-Wstrict-prototypes -Wmissing-prototypes -Wvla -Werror \
		-I"$top" -fPIC -shared -fvisibility=hidden \
		$(pkg-config --cflags p11-kit-1) \
		-o "$out.tmp.$$" "$src/p11fault.c" -ldl -lpthread
	mv -f "$out.tmp.$$" "$out"
fi
echo "$out"
