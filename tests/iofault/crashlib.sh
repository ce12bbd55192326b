# Crash-point harness for the integration tests (sourced after
# tests/integration/lib.sh). See tests/iofault/README.md.
#
# A test sets RUN (a scratch directory: the station home is $RUN/home, the
# export directory $RUN/out), defines crash_cmd (the command under test,
# using $RUN/home and $RUN/out) and crash_fresh (puts a fresh copy of the
# prepared state under $RUN), then calls crash_matrix.

IOF_SO=$(BUILD=$BUILD "$AIRLOCK_SRC/tests/iofault/build.sh") || {
	not_ok "build tests/iofault/iofault.so"
	exit 1
}
CHECK_STATE="/usr/bin/python3 $AIRLOCK_SRC/tests/iofault/check_state.py"
CRASH_MAX=${CRASH_MAX:-60}
# a private copy: a rebuild of $BUILD while the test runs must not break it
cp "$STATION" "$TMP/airlock-station" && STATION=$TMP/airlock-station

# Under `make sanitize` the station links libasan, which must come first.
IOF_PRELOAD=$IOF_SO
iof_asan=$(ldd "$STATION" 2>/dev/null | awk '/libasan/ {print $3; exit}')
[ -n "$iof_asan" ] && IOF_PRELOAD=$iof_asan:$IOF_SO

# iof RULES LOG CMD...: CMD under the shim, counting only paths under $RUN.
iof() {
	local rules=$1 log=$2
	shift 2
	LD_PRELOAD=$IOF_PRELOAD IOFAULT_FILTER="$RUN/" IOFAULT_LOG=$log IOFAULT_RULES=$rules "$@"
}

# A boundary's path for messages and comparisons: relative to $RUN, with
# the random part of temporary names replaced.
iof_norm() { sed -e "s|$RUN/||g" -e 's/\.tmp-[a-z0-9]\{6\}/.tmp-X/g'; }

# crash_plan LOG: "K ACTION" lines. Every boundary gets `kill` (SIGKILL
# before the call) when there are at most CRASH_MAX, else the first, the
# last, every fsync/rename/mkdir and evenly spaced others up to CRASH_MAX.
# `kill-after` at every rename and the last boundary; `kill-mid` (half the
# bytes written, then SIGKILL: a torn record) at the first, a middle and the
# last write to the ledger.
crash_plan() {
	awk -F'\t' -v max="$CRASH_MAX" '
	$1 != "!" { n++; f[n] = $2; p[n] = $5
		if ($2 ~ /^(fsync|fdatasync|syncfs|rename|renameat|renameat2|mkdir)$/) must[n] = 1
		if ($2 == "write" && p[n] ~ /\/ledger\.jsonl$/) lw[++nlw] = n }
	END {
		must[1] = 1; must[n] = 1
		for (k = 1; k <= n; k++) if (must[k]) nm++
		room = max - nm; others = n - nm
		for (k = 1; k <= n; k++) {
			take = must[k]
			if (!take && others > 0 && room > 0) {
				# evenly: take when the running quota crosses an integer
				seen++
				if (int(seen * room / others) > int((seen - 1) * room / others)) take = 1
			}
			if (take || n <= max) print k, "kill"
		}
		for (k = 1; k <= n; k++) if (f[k] ~ /^rename/ || k == n) print k, "kill-after"
		if (nlw > 0) { print lw[1], "kill-mid"; if (nlw > 2) print lw[int((nlw + 1) / 2)], "kill-mid"; if (nlw > 1) print lw[nlw], "kill-mid" }
	}' "$1"
}

# crash_matrix NAME BID NREQ SPOOL [OUT]: enumerate the boundaries of
# crash_cmd, then crash at each planned one, rerun without faults and check.
# SPOOL: keep (the request bundle stays in the spool) or done. OUT: "out"
# when the command writes merge bundles into $RUN/out.
crash_matrix() {
	local name=$1 bid=$2 nreq=$3 spool=$4 out=${5:-} k act rc rc2 want got
	local enum=$TMP/$name.enum flog=$TMP/$name.flog plan=$TMP/$name.plan
	local outarg=() problems why desc rule nb=0 nfail=0 ntorn=0 ntmp=0 nindoubt=0
	[ -n "$out" ] && outarg=(--out "$RUN/out")
	crash_fresh
	rm -f "$enum"
	if ! iof "" "$enum" crash_cmd >"$TMP/$name.out" 2>"$TMP/$name.err"; then
		not_ok "$name: the run without faults under the shim"
		diag <"$TMP/$name.err"
		return
	fi
	nb=$(grep -vc '^!' "$enum")
	ok "$name: $nb write/fsync/rename/create boundaries under the station home and the export directory"
	awk -F'\t' '{print $2}' "$enum" | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}' |
		sed 's/, $/\n/' | diag
	crash_plan "$enum" >"$plan"
	echo "# $name: $(wc -l <"$plan") crash runs ($(grep -c ' kill$' "$plan") kill-before)"
	while read -r k act; do
		want=$(awk -F'\t' -v k="$k" '$1 == k {print $2 " " $5}' "$enum" | iof_norm)
		desc="$name: $act at boundary $k/$nb ($want)"
		crash_fresh
		rm -f "$flog"
		# kill-mid counts writes only: the boundary's index among writes
		if [ "$act" = kill-mid ]; then
			rule="kill-mid write at $(awk -F'\t' -v k="$k" '$1 == k {print $3}' "$enum")"
		else
			rule="$act any at $k"
		fi
		iof "$rule" "$flog" crash_cmd >"$TMP/c.out" 2>"$TMP/c.err"
		rc=$?
		got=$(awk -F'\t' '$1 == "!" {print $4 " " $6}' "$flog" 2>/dev/null | iof_norm)
		problems=()
		if [ "$rc" -ne 137 ] || [ "$got" != "$want" ]; then
			problems+=("the crash did not land: exit $rc, fired at '${got:-nothing}'")
		fi
		why=$($CHECK_STATE --home "$RUN/home" --bid "$bid" --requests "$nreq" --phase crash \
			"${outarg[@]}" --root "$RUN/home/ca/root.pem")
		[ $? -ne 0 ] && problems+=("after the crash: $(echo "$why" | grep '^problem' | tr '\n' ';')")
		grep -q 'torn line' <<<"$why" && ntorn=$((ntorn + 1))
		crash_cmd >"$TMP/r.out" 2>"$TMP/r.err"
		rc2=$?
		if [ "$rc2" -ne 0 ]; then
			problems+=("rerun exit $rc2: $(grep -v 'network check overridden' "$TMP/r.err" | tail -1)")
			if grep -q 'torn' "$TMP/r.err"; then
				# what an operator would do by hand (there is no
				# `ledger repair`): cut the torn tail, run again
				/usr/bin/python3 -c 'import sys; p=sys.argv[1]; b=open(p,"rb").read(); open(p,"wb").write(b[:b.rfind(b"\n")+1])' \
					"$RUN/home/ledger.jsonl"
				crash_cmd >"$TMP/r.out" 2>"$TMP/r.err" ||
					problems+=("rerun after cutting the torn line by hand: exit $?")
			fi
		fi
		"$STATION" --home "$RUN/home" ledger verify >"$TMP/v.out" 2>&1 ||
			problems+=("ledger verify: $(tail -1 "$TMP/v.out")")
		why=$($CHECK_STATE --home "$RUN/home" --bid "$bid" --requests "$nreq" --phase final \
			--spool "$spool" "${outarg[@]}" --root "$RUN/home/ca/root.pem")
		[ $? -ne 0 ] && problems+=("after the rerun: $(echo "$why" | grep '^problem' | tr '\n' ';')")
		grep -q 'temporaries left' <<<"$why" && ntmp=$((ntmp + 1))
		grep -q 'INDOUBT' <<<"$why" && nindoubt=$((nindoubt + 1))
		if [ ${#problems[@]} -eq 0 ]; then
			ok "$desc"
		else
			not_ok "$desc"
			printf '%s\n' "${problems[@]}" | diag
			nfail=$((nfail + 1))
		fi
		if [ -n "$why" ] && [ "${IOF_VERBOSE:-0}" = 1 ]; then echo "$why" | diag; fi
	done <"$plan"
	echo "# $name: $nfail failing crash points; torn ledger line after $ntorn;" \
		"INDOUBT serials after $nindoubt; temporaries left after $ntmp (never cleaned)"
}
