#!/usr/bin/env bash
# Crash consistency of `airlock-station export` and `process` (SECURITY.md
# sections 2 and 6): SIGKILL at every write, fsync, rename and create under
# the station home and the export directory (enumerated by the tests/iofault
# shim; sampled evenly past 60, always keeping the first, the last and every
# fsync, rename and mkdir), then the same command again without faults.
# After each: the rerun exits 0, `ledger verify` is clean, every request is
# issued exactly once, the merge bundle is either complete (hashes, CMS
# signature to the root, entries ISSUED, ledger slice and checkpoint equal
# to the station's ledger) or absent after the crash and complete after the
# rerun, and the spool marks the request bundle done.
. "$(dirname "$0")/lib.sh"
. "$AIRLOCK_SRC/tests/iofault/crashlib.sh"

TPL=$TMP/tpl
mkdir -p "$TPL"
station_setup "$TPL/home" || { not_ok "station setup"; exit 1; }
/usr/bin/python3 "$AIRLOCK_SRC/tests/integration/mkreq.py" --out "$TMP/req" --count 6 >"$TMP/bid" 2>/dev/null ||
	{ not_ok "mkreq"; exit 1; }
BID=$(cat "$TMP/bid")
RUN=$TMP/run

# --- process: import, sign and export in one run ------------------------------
crash_fresh() { rm -rf "$RUN" && mkdir -p "$RUN/out" && cp -a "$TPL/home" "$RUN/home"; }
crash_cmd() { "$STATION" --home "$RUN/home" process "$TMP/req" --out "$RUN/out" --yes --pin-source "$PINSRC"; }
crash_matrix process "$BID" 6 done out

# --- export of a signed batch ---------------------------------------------------
"$STATION" --home "$TPL/home" import "$TMP/req" >/dev/null 2>&1 &&
	"$STATION" --home "$TPL/home" sign --yes --pin-source "$PINSRC" >/dev/null 2>&1 ||
	{ not_ok "import and sign the template"; exit 1; }
crash_cmd() { "$STATION" --home "$RUN/home" export "$RUN/out" --pin-source "$PINSRC"; }
crash_matrix export "$BID" 6 done out
exit $T_FAILED
