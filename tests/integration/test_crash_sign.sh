#!/usr/bin/env bash
# Crash consistency of `airlock-station sign` (SECURITY.md sections 2 and 6):
# SIGKILL at every write, fsync, rename and create under the station home
# of a 6-request batch (enumerated by the tests/iofault shim, not random),
# then the same command again without faults. After each: the rerun exits 0,
# `ledger verify` is clean, no serial is used twice, every INTENT is
# resolved, every request is issued exactly once, the request bundle stays
# in the spool.
. "$(dirname "$0")/lib.sh"
. "$AIRLOCK_SRC/tests/iofault/crashlib.sh"

TPL=$TMP/tpl
mkdir -p "$TPL"
station_setup "$TPL/home" || { not_ok "station setup"; exit 1; }
/usr/bin/python3 "$AIRLOCK_SRC/tests/integration/mkreq.py" --out "$TMP/req" --count 6 >"$TMP/bid" 2>/dev/null ||
	{ not_ok "mkreq"; exit 1; }
BID=$(cat "$TMP/bid")
"$STATION" --home "$TPL/home" import "$TMP/req" >/dev/null 2>&1 || { not_ok "import"; exit 1; }

RUN=$TMP/run
crash_fresh() { rm -rf "$RUN" && mkdir -p "$RUN/out" && cp -a "$TPL/home" "$RUN/home"; }
crash_cmd() { "$STATION" --home "$RUN/home" sign --yes --pin-source "$PINSRC"; }
crash_matrix sign "$BID" 6 keep
exit $T_FAILED
