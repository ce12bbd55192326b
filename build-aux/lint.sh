#!/usr/bin/env bash
# Source checks, TAP output: clang-format clean, no banned calls (STYLE.md),
# TLS verification never switched off. Run by `make lint` and `make check`.
set -u
cd "$(dirname "$0")/.."
failed=0
srcs=$(git ls-files '*.c' '*.h' 2>/dev/null)
[ -n "$srcs" ] || srcs=$(find lib pkcs11 station kv tests -name '*.[ch]' -not -path '*/node_modules/*')

if out=$(clang-format --dry-run -Werror $srcs 2>&1); then
	echo "ok - sources match .clang-format (make format)"
else
	echo "not ok - sources differ from .clang-format: run make format"
	echo "$out" | grep -E '^[^ ]+:[0-9]+:[0-9]+:' | head -10 | sed 's/^/#   /'
	failed=1
fi
banned=$(grep -nE '(^|[^_a-z0-9])(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|sscanf)[[:space:]]*\(' $srcs | grep -v '^tests/' || true)
if [ -z "$banned" ]; then
	echo "ok - no strcpy/strcat/sprintf/gets/strtok/atoi/sscanf"
else
	echo "not ok - banned calls (STYLE.md)"; echo "$banned" | sed 's/^/#   /'; failed=1
fi
tlsoff=$(grep -nE 'VERIFY(PEER|HOST)[[:space:]]*,[[:space:]]*0' $srcs || true)
if [ -z "$tlsoff" ]; then
	echo "ok - TLS verification never switched off"
else
	echo "not ok - TLS verification switched off"; echo "$tlsoff" | sed 's/^/#   /'; failed=1
fi
exit $failed
