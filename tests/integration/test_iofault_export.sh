#!/usr/bin/env bash
# I/O faults at the station (SECURITY.md sections 2 and 6), injected with
# the tests/iofault shim: ENOSPC, EIO, short writes and fsync failure on the
# ledger (sign and export) and on the export medium, a station home on a
# full tmpfs, and a read-only export medium. Each must give a clean abort
# (non-zero exit, a message naming the file and the cause), lose nothing
# (`ledger verify` clean, the request bundle still in the spool, no
# half-written merge bundle) and succeed once the fault is gone.
. "$(dirname "$0")/lib.sh"
. "$AIRLOCK_SRC/tests/iofault/crashlib.sh"

TPL=$TMP/tpl
mkdir -p "$TPL"
station_setup "$TPL/home" || { not_ok "station setup"; exit 1; }
/usr/bin/python3 "$AIRLOCK_SRC/tests/integration/mkreq.py" --out "$TMP/req" --count 3 >"$TMP/bid" 2>/dev/null ||
	{ not_ok "mkreq"; exit 1; }
BID=$(cat "$TMP/bid")
"$STATION" --home "$TPL/home" import "$TMP/req" >/dev/null 2>&1 || { not_ok "import"; exit 1; }
cp -a "$TPL/home" "$TPL/imported"
"$STATION" --home "$TPL/home" sign --yes --pin-source "$PINSRC" >/dev/null 2>&1 || { not_ok "sign"; exit 1; }
RUN=$TMP/run
mounted=()
t_on_exit 'for m in "${mounted[@]}"; do umount "$m" 2>/dev/null; done'

SIGN() { "$STATION" --home "$RUN/home" sign --yes --pin-source "$PINSRC"; }
EXPORT() { "$STATION" --home "$RUN/home" export "$RUN/out" --pin-source "$PINSRC"; }
fresh() { # fresh imported|signed
	rm -rf "$RUN" && mkdir -p "$RUN/out" &&
		cp -a "$TPL/$([ "$1" = imported ] && echo imported || echo home)" "$RUN/home"
}

# The boundaries of a clean export and a clean sign, to aim rules at the Kth
# call of a function on a given path.
fresh signed; iof "" "$TMP/export.enum" EXPORT >/dev/null 2>&1 || not_ok "export under the shim"
fresh imported; iof "" "$TMP/sign.enum" SIGN >/dev/null 2>&1 || not_ok "sign under the shim"
# nth ENUM FUNC REGEX: the per-function index of the first FUNC call on a
# path matching REGEX (relative to $RUN)
nth() { iof_norm <"$TMP/$1.enum" | awk -F'\t' -v f="$2" -v re="$3" '$2 == f && $5 ~ re {print $3; exit}'; }

# fault NAME CMD STATE RULES REGEX [AFTER]: run CMD (SIGN or EXPORT) from a
# fresh STATE (imported or signed) with RULES, expect a non-zero exit with
# REGEX on stderr, nothing lost, then success without the shim. AFTER
# "ok" expects the fault to be absorbed (exit 0) instead.
fault() {
	local name=$1 cmd=$2 state=$3 rules=$4 re=$5 after=${6:-} rc why spool=keep
	[ "$cmd" = EXPORT ] && spool=done
	fresh "$state"
	rm -f "$TMP/f.log"
	iof "$rules" "$TMP/f.log" $cmd >"$TMP/f.out" 2>"$TMP/f.err"
	rc=$?
	if ! grep -q '^!' "$TMP/f.log"; then
		not_ok "$name: the fault never fired ($rules)"
		return
	fi
	if [ "$after" = ok ]; then
		[ $rc -eq 0 ] && ok "$name: absorbed, exit 0" ||
			{ not_ok "$name: want exit 0, got $rc"; diag <"$TMP/f.err"; }
	elif [ $rc -ne 0 ] && [ $rc -ne 137 ] && grep -qE -- "$re" "$TMP/f.err"; then
		ok "$name: clean abort (exit $rc): $(grep -v 'network check' "$TMP/f.err" | tail -1 | sed "s|$RUN/||g" | cut -c1-150)"
	else
		not_ok "$name: want a non-zero exit and /$re/, got exit $rc"
		grep -v 'network check' "$TMP/f.err" | diag
	fi
	"$STATION" --home "$RUN/home" ledger verify >"$TMP/v" 2>&1 && ok "$name: ledger verifies after the fault" ||
		{ not_ok "$name: ledger does not verify after the fault"; diag <"$TMP/v"; }
	why=$($CHECK_STATE --home "$RUN/home" --bid "$BID" --requests 3 --phase crash --out "$RUN/out" \
		--spool "$([ "$after" = ok ] && echo any || echo keep)" --root "$RUN/home/ca/root.pem")
	[ $? -eq 0 ] && ok "$name: nothing lost, no half-written merge bundle${why:+ (${why//$'\n'/; })}" ||
		{ not_ok "$name: state after the fault"; echo "$why" | diag; }
	$cmd >"$TMP/r.out" 2>"$TMP/r.err"
	rc=$?
	if [ "$cmd" = SIGN ] && [ $rc -eq 0 ]; then EXPORT >"$TMP/r.out" 2>"$TMP/r.err"; rc=$?; spool=done; fi
	why=$($CHECK_STATE --home "$RUN/home" --bid "$BID" --requests 3 --phase final --spool "$spool" \
		--out "$RUN/out" --root "$RUN/home/ca/root.pem")
	[ $rc -eq 0 ] && "$STATION" --home "$RUN/home" ledger verify >/dev/null 2>&1 && [ -z "$(grep '^problem' <<<"$why")" ] &&
		ok "$name: success once the fault is gone" ||
		{ not_ok "$name: once the fault is gone (exit $rc)"; { grep -v 'network check' "$TMP/r.err"; echo "$why"; } | diag; }
}

L=ledger.jsonl
# --- the ledger -----------------------------------------------------------------
fault "sign, ENOSPC appending INTENT" SIGN imported "enospc write at 1 on $L" \
	"ledger\.jsonl.*No space left on device"
fault "sign, EIO appending ISSUED" SIGN imported "eio write at 4 on $L" \
	"ledger\.jsonl.*Input/output error"
fault "sign, fsync of the INTENTs fails" SIGN imported "fsyncfail fsync at 1 on $L" \
	"ledger\.jsonl.*fsync failed.*Input/output error"
fault "sign, fsync of the ISSUEDs fails" SIGN imported "fsyncfail fsync at 2 on $L" \
	"ledger\.jsonl.*fsync failed.*Input/output error"
fault "sign, a short write appending INTENT" SIGN imported "short write at 1 on $L" "" ok
fault "sign, a short write then ENOSPC (a full disk mid-record)" SIGN imported \
	"short write at 2 on $L; enospc write at 3 on $L" "ledger\.jsonl.*No space left on device"
fault "export, ENOSPC appending CHECKPOINT" EXPORT signed "enospc write at 1 on $L" \
	"ledger\.jsonl.*No space left on device"
fault "export, fsync of CHECKPOINT fails" EXPORT signed "fsyncfail fsync at 1 on $L" \
	"ledger\.jsonl.*fsync failed"

# --- the export medium ----------------------------------------------------------
fault "export, EIO writing a certificate" EXPORT signed "eio write at 2 on /out/" \
	"e0000[0-9]\.pem.*Input/output error"
fault "export, ENOSPC writing the manifest" EXPORT signed \
	"enospc write at $(nth export write 'manifest\.json$')" "manifest\.json.*(full|ENOSPC|No space)"
fault "export, ENOSPC creating the bundle directory" EXPORT signed "enospc mkdir at 1 on /out/" \
	"merge-$BID.*(full|No space)"
fault "export, a short write of a certificate" EXPORT signed "short write at 2 on /out/" "" ok
fault "export, fsync of a certificate fails" EXPORT signed "fsyncfail fsync at 1 on /out/" \
	"e0000[0-9]\.pem.*fsync failed.*Input/output error"
fault "export, EIO renaming the bundle into place" EXPORT signed "eio renameat2 at 1 on /out/" \
	"merge-$BID.*rename.*Input/output error"
fault "export, fsync of the export directory fails after the rename" EXPORT signed \
	"fsyncfail fsync at $(nth export fsync '^out$')" "merge-$BID.*(durable|fsync).*Input/output error"
fault "export, ENOSPC writing export-state.json" EXPORT signed "enospc write at 1 on export-state" \
	"export-state\.json.*(full|No space|ENOSPC)"

# --- real media: a full tmpfs under the home, a read-only export medium -------------
if [ "$(id -u)" -eq 0 ] && mkdir -p "$TMP/ro" && mount -t tmpfs -o size=1m tmpfs "$TMP/ro" 2>/dev/null; then
	mounted+=("$TMP/ro")
	fresh signed
	mount -o remount,ro "$TMP/ro"
	expect_fail "export onto a read-only medium: a clear message" 1 "Read-only file system" \
		"$STATION" --home "$RUN/home" export "$TMP/ro" --pin-source "$PINSRC"
	grep -q "$BID\|merge" "$TMP/err" && ok "the read-only message names the bundle or the medium" ||
		{ not_ok "the read-only message names neither the bundle nor the medium"; diag <"$TMP/err"; }
	"$STATION" --home "$RUN/home" ledger verify >/dev/null 2>&1 && [ -d "$RUN/home/spool/$BID" ] &&
		ok "read-only medium: ledger intact, request bundle still in the spool" || not_ok "read-only medium: state lost"
	mount -o remount,rw "$TMP/ro"
	expect_ok "export succeeds once the medium is writable" \
		"$STATION" --home "$RUN/home" export "$TMP/ro" --pin-source "$PINSRC"

	# the station home itself on a full medium: the ledger append meets a
	# real ENOSPC, possibly in the middle of a record
	mkdir -p "$TMP/full"
	if mount -t tmpfs -o size=256k tmpfs "$TMP/full" 2>/dev/null; then
		mounted+=("$TMP/full")
		cp -a "$TPL/imported" "$TMP/full/home"
		dd if=/dev/zero of="$TMP/full/filler" bs=4k 2>/dev/null
		sz=$(stat -c %s "$TMP/full/home/ledger.jsonl")
		echo "# ledger $sz bytes, $((4096 - sz % 4096)) free in its last page"
		expect_fail "sign with the station home full: a clear message" 1 "ledger\.jsonl.*No space left on device" \
			"$STATION" --home "$TMP/full/home" sign --yes --pin-source "$PINSRC"
		rm -f "$TMP/full/filler"
		"$STATION" --home "$TMP/full/home" ledger verify >"$TMP/v" 2>&1 && ok "full home: ledger verifies after ENOSPC" ||
			{ not_ok "full home: ledger does not verify after ENOSPC"; diag <"$TMP/v"; }
		expect_ok "full home: sign succeeds once there is room" \
			"$STATION" --home "$TMP/full/home" sign --yes --pin-source "$PINSRC"
	fi
else
	skip "read-only and full media" "needs root to mount tmpfs"
fi
exit $T_FAILED
