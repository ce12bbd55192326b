#!/usr/bin/env bash
# Hostile inputs at the station (SECURITY.md §3, §6): 35 broken request
# bundles (tests/hostile/mkhostile.py: JSON, names, links, files) and 22
# hostile requests (mkreq.py --hostile). Each is refused with its specific
# error; the token signs nothing (C_Sign counted by tests/faults/p11fault.so);
# the issuance records are unchanged; each refusal is one REJECTED record.
. "$(dirname "$0")/lib.sh"

FAULT=$BUILD/tests/faults/p11fault.so
[ -f "$FAULT" ] || bash "$AIRLOCK_SRC/tests/faults/build.sh" >/dev/null 2>&1
[ -f "$FAULT" ] || { not_ok "no $FAULT"; exit 1; }
export P11FAULT_MODULE=$SOFTHSM_MODULE P11FAULT_COUNTS=$TMP/counts
SOFTHSM_MODULE=$FAULT
H=$TMP/home
station_setup "$H" || { not_ok "station setup through the fault module"; exit 1; }
grep -q 'p11fault.so' "$H/ca/intermediate.json" && ok "the station's keys are reached through the counting module" ||
	not_ok "key URIs do not name p11fault.so"
S() { "$STATION" --home "$H" "$@"; }
MKREQ="/usr/bin/python3 $AIRLOCK_SRC/tests/integration/mkreq.py"
issuance() { grep -cE '"type":"(INTENT|ISSUED|ABORTED|INDOUBT)"' "$H/ledger.jsonl"; }
rejected() { grep -c '"type":"REJECTED"' "$H/ledger.jsonl"; }
csign() { awk '$1=="C_Sign"{print $2}' "$P11FAULT_COUNTS" 2>/dev/null || echo 0; }

$MKREQ --out "$TMP/good" --count 2 >/dev/null 2>&1
/usr/bin/python3 "$AIRLOCK_SRC/tests/hostile/mkhostile.py" "$TMP/good" "$TMP/cases" >"$TMP/cases.txt" 2>/dev/null
n=$(wc -l <"$TMP/cases.txt")
[ "$n" -ge 30 ] && ok "$n hostile bundles made" || not_ok "only $n hostile bundles"
before_iss=$(issuance)
while IFS=$'\t' read -r name regex; do
	before_rej=$(rejected)
	S import "$TMP/cases/$name" >"$TMP/o" 2>"$TMP/e"; rc=$?
	if [ $rc -ne 0 ] && grep -qiE -- "$regex" "$TMP/e" && ! grep -q 'internal error' "$TMP/e"; then
		ok "bundle $name: refused (exit $rc): $(head -c 140 "$TMP/e" | tr '\n' ' ')"
	else
		not_ok "bundle $name: exit $rc, want non-zero and /$regex/"; diag <"$TMP/e"
	fi
	[ "$(rejected)" -eq $((before_rej + 1)) ] || not_ok "bundle $name: not exactly one REJECTED record"
done <"$TMP/cases.txt"
[ -z "$(ls "$H/spool")" ] && ok "no hostile bundle reached the spool" || { not_ok "spool not empty"; ls "$H/spool" | diag; }
[ "$(issuance)" -eq "$before_iss" ] && ok "issuance records unchanged by the hostile bundles" || not_ok "issuance records changed"
[ "$(rejected)" -ge "$n" ] && ok "one REJECTED record per refused bundle ($(rejected))" || not_ok "REJECTED records: $(rejected)"
grep -q '"request_id":"bundle:name-traversal"' "$H/ledger.jsonl" && ok "a REJECTED record names the refused bundle" ||
	not_ok "REJECTED record does not name the bundle"

# hostile requests inside a well-formed bundle: zero signatures
$MKREQ --out "$TMP/hreq" --hostile all >/dev/null 2>&1
S import "$TMP/hreq" >/dev/null 2>&1 || not_ok "import of the hostile requests"
before_rej=$(rejected)
rm -f "$P11FAULT_COUNTS"
S sign --yes --pin-source "$PINSRC" >"$TMP/o" 2>"$TMP/e"; rc=$?
[ $rc -eq 3 ] && ok "sign over 22 hostile requests exits 3" || { not_ok "sign exit $rc"; diag <"$TMP/e"; }
[ "$(csign)" = 0 ] && ok "the token made zero signatures (C_Sign count $(csign))" || not_ok "C_Sign called $(csign) times"
[ "$(issuance)" -eq "$before_iss" ] && ok "issuance records unchanged by the hostile requests" || not_ok "issuance changed"
[ "$(rejected)" -eq $((before_rej + 22)) ] && ok "22 REJECTED records, one per hostile request" ||
	not_ok "REJECTED delta $(( $(rejected) - before_rej ))"
expect_ok "ledger verify after everything hostile" S ledger verify
exit $T_FAILED
