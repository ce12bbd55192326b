#!/usr/bin/env bash
# Build the fuzz harnesses (tests/fuzz/fuzz_*.c).
#
#   tests/fuzz/build.sh replay   $CC (default cc), no libFuzzer: each harness
#                                linked with tests/fuzz/replay_main.c, into
#                                $BUILD/fuzz-replay/ (what `make check` runs)
#   tests/fuzz/build.sh fuzz     clang -fsanitize=fuzzer,address,undefined,
#                                into $BUILD/fuzz/ (what `make fuzz` runs)
#
# The project's modules are compiled here from their sources, with the
# Makefile's flags, into per-mode archives: the Makefile's own objects are
# never touched, and a harness pulls in only the modules it uses. Rebuilds
# are incremental (sources, headers from the .d files, and the flags).
# Environment: BUILD (default build), CC, OPT, SAN (replay mode; as the
# Makefile, so `make sanitize` can replay under ASan+UBSan), FUZZ_CC
# (default clang), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/../.."

MODE=${1:-}
BUILD=${BUILD:-build}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

VERSION=$(sed -n 's/^VERSION[[:space:]]*:=[[:space:]]*//p' Makefile)
STATION_PKGS="libcrypto libp11 libpcsclite libcjson"
KV_PKGS="libcrypto libcurl libcjson"
PKG_CFLAGS=$(pkg-config --cflags $STATION_PKGS $KV_PKGS p11-kit-1)
LIBS=$(pkg-config --libs $STATION_PKGS $KV_PKGS)
P11VER=$(pkg-config --modversion libp11 2>/dev/null || true)
WARN="-Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
-Wmissing-prototypes -Wvla -Werror"
HARDEN="-D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE"

case $MODE in
replay)
	CC=${CC:-cc}
	OPT=${OPT:--O2 -g}
	SAN=${SAN:-}
	OUT=$BUILD/fuzz-replay
	OBJ_SAN=$SAN
	LINK_SAN=$SAN
	;;
fuzz)
	CC=${FUZZ_CC:-clang}
	OPT="-O1 -g"
	SAN="-fsanitize=address,undefined -fno-omit-frame-pointer \
-fno-sanitize-recover=all"
	# _FORTIFY_SOURCE's checked copies hide overflows from ASan
	HARDEN="-U_FORTIFY_SOURCE -fstack-protector-strong -fPIE"
	OUT=$BUILD/fuzz
	OBJ_SAN="$SAN -fsanitize=fuzzer-no-link"
	LINK_SAN="$SAN -fsanitize=fuzzer"
	;;
*)
	echo "usage: tests/fuzz/build.sh replay|fuzz" >&2
	exit 2
	;;
esac

CPPFLAGS=(-D_GNU_SOURCE -I. "-DAIRLOCK_VERSION=\"$VERSION\""
	"-DLIBP11_BUILD_VERSION=\"$P11VER\"")
# shellcheck disable=SC2206 # word splitting of flag strings is intended
CFLAGS=(-std=c11 $OPT $WARN $HARDEN $OBJ_SAN)
# shellcheck disable=SC2206
LDFLAGS=(-pie -Wl,-z,relro,-z,now $LINK_SAN)

mkdir -p "$OUT/obj"
# Different flags (CC, OPT, SAN changed): start again.
stamp="$CC ${CPPFLAGS[*]} $PKG_CFLAGS ${CFLAGS[*]} ${LDFLAGS[*]} $LIBS"
if [ ! -f "$OUT/flags" ] || [ "$(cat "$OUT/flags")" != "$stamp" ]; then
	rm -rf "$OUT/obj" "$OUT"/*.a
	mkdir -p "$OUT/obj"
	printf '%s\n' "$stamp" >"$OUT/flags"
fi

# 1 if OBJ must be rebuilt from SRC: missing, or older than the source or
# any header its .d file names.
stale() {
	local src=$1 obj=$2 dep
	[ -f "$obj" ] || return 0
	[ "$src" -nt "$obj" ] && return 0
	[ -f "${obj%.o}.d" ] || return 0
	for dep in $(sed -e 's/\\$//' -e '/^[^ ].*:[[:space:]]*$/d' \
		-e 's/^[^:]*://' "${obj%.o}.d"); do
		[ -e "$dep" ] || return 0
		[ "$dep" -nt "$obj" ] && return 0
	done
	return 1
}

failed=0
compile() {
	local src=$1 obj=$2
	mkdir -p "$(dirname "$obj")"
	# shellcheck disable=SC2086
	if ! $CC "${CPPFLAGS[@]}" $PKG_CFLAGS "${CFLAGS[@]}" -MMD -MP \
		-c -o "$obj" "$src"; then
		echo "build.sh: $src did not compile" >&2
		rm -f "$obj"
		return 1
	fi
}

run_job() {
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
		wait -n || failed=1
	done
	"$@" &
}

obj_of() { echo "$OUT/obj/${1%.c}.o"; }

# Module groups, as the Makefile's: no main(), no command, no cli.
group_srcs() {
	local f
	case $1 in
	support) echo tests/fuzz/scratch.c tests/fuzz/bundle_input.c ;;
	lib) ls lib/*.c ;;
	p11) ls pkcs11/*.c ;;
	station | kv)
		for f in "$1"/*.c; do
			case ${f##*/} in main.c | cmd_*.c | cli.c) ;;
			*) echo "$f" ;; esac
		done
		;;
	esac
}
MODGROUPS="support lib p11 station kv"

EXTRA_SRCS=""
[ "$MODE" = replay ] && EXTRA_SRCS="tests/fuzz/replay_main.c"
HARNESSES=$(ls tests/fuzz/fuzz_*.c)

for g in $MODGROUPS; do
	for src in $(group_srcs "$g"); do
		obj=$(obj_of "$src")
		stale "$src" "$obj" && run_job compile "$src" "$obj"
	done
done
for src in $EXTRA_SRCS $HARNESSES; do
	obj=$(obj_of "$src")
	stale "$src" "$obj" && run_job compile "$src" "$obj"
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done

# A module that does not compile (someone's work in progress) only matters
# if a harness needs it: the link says so.
for g in $MODGROUPS; do
	a=$OUT/lib$g.a objs=()
	for src in $(group_srcs "$g"); do
		obj=$(obj_of "$src")
		[ -f "$obj" ] && objs+=("$obj")
	done
	need=0
	[ -f "$a" ] || need=1
	for o in "${objs[@]}"; do [ "$o" -nt "$a" ] && need=1; done
	if [ "$need" = 1 ]; then
		rm -f "$a"
		ar rcs "$a" "${objs[@]}"
	fi
done

# Which module groups each harness links (in link order).
groups_of() {
	case $1 in
	fuzz_json) echo "lib" ;;
	fuzz_uri) echo "p11 lib" ;;
	fuzz_kvjson | fuzz_challenge) echo "kv lib" ;;
	*) echo "station p11 lib" ;;
	esac
}

linkfail=0
for src in $HARNESSES; do
	name=$(basename "$src" .c)
	bin=$OUT/$name
	objs=("$(obj_of "$src")")
	[ "$MODE" = replay ] && objs+=("$(obj_of tests/fuzz/replay_main.c)")
	archives=("$OUT/libsupport.a")
	for g in $(groups_of "$name"); do archives+=("$OUT/lib$g.a"); done
	need=0
	[ -f "$bin" ] || need=1
	for f in "${objs[@]}" "${archives[@]}"; do
		[ -f "$f" ] || { need=2; break; }
		[ "$f" -nt "$bin" ] && need=1
	done
	if [ "$need" = 2 ]; then
		echo "build.sh: $name: an object is missing (see above)" >&2
		rm -f "$bin"
		linkfail=1
		continue
	fi
	[ "$need" = 1 ] || continue
	# shellcheck disable=SC2086
	if ! $CC "${LDFLAGS[@]}" -o "$bin" "${objs[@]}" \
		-Wl,--start-group "${archives[@]}" -Wl,--end-group $LIBS; then
		echo "build.sh: $name did not link" >&2
		rm -f "$bin"
		linkfail=1
	fi
done
[ "$linkfail" = 0 ] || exit 1
exit 0
