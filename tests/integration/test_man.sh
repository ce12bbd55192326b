#!/usr/bin/env bash
# Man pages: clean under mandoc -Tlint (warnings and errors; STYLE notes
# about manuals not installed on this machine are not failures), and every
# verb that --help lists is documented.
. "$(dirname "$0")/lib.sh"

cd "$AIRLOCK_SRC"
found=0
for m in docs/*.[1-8]; do
	[ -f "$m" ] || continue
	found=1
	if out=$(mandoc -Tlint -Wwarning "$m" 2>&1) && [ -z "$out" ]; then
		ok "mandoc -Tlint $m"
	else
		not_ok "mandoc -Tlint $m"; echo "$out" | diag
	fi
done
[ $found -eq 1 ] || not_ok "no man pages in docs/"
if [ -f docs/airlock-station.1 ]; then
	verbs=$("$STATION" --help | awk '/^verbs:/{f=1; next} f && /^  [a-z]/{print $1} /^$/{if(f)exit}')
	for v in $verbs; do
		grep -qE "^\.It Cm $v( |$)" docs/airlock-station.1 && ok "airlock-station.1 documents '$v'" ||
			not_ok "airlock-station.1 does not document '$v'"
	done
fi
exit $T_FAILED
