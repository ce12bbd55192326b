#!/usr/bin/env bash
# Tokens fail (SECURITY.md section 4): the real airlock-station on SoftHSM2
# through the fault-injecting module tests/faults/p11fault.so. The ceremonies
# run through the module with no faults, so HOME/ca/*.json name it in their
# key URIs; later commands get faults by P11FAULT_RULES and report their
# PKCS#11 calls in P11FAULT_COUNTS. Covered: the PIN flags, a wrong PIN from
# the token, the token lost in the middle of a batch (five CKRs), a fault at
# key lookup, a slow token, the counter file after kill -9, and hostile
# requests reaching the token zero times.
. "$(dirname "$0")/lib.sh"

P11F=$(BUILD=$BUILD "$AIRLOCK_SRC/tests/faults/build.sh" 2>"$TMP/build.err") ||
	{ not_ok "build tests/faults/p11fault.so"; diag <"$TMP/build.err"; exit 1; }
ok "p11fault.so built: $P11F"
SOFTHSM_MODULE=$P11F
H=$TMP/home
station_setup "$H" || { not_ok "station setup through p11fault.so"; exit 1; }
MKREQ="/usr/bin/python3 $AIRLOCK_SRC/tests/integration/mkreq.py"
S() { "$STATION" --home "$H" "$@"; }
grep -q "module-path=$P11F\"" "$H/ca/intermediate.json" && grep -q "module-path=$P11F\"" "$H/ca/station.json" &&
	ok "the ceremonies recorded p11fault.so as the key URIs' module-path" ||
	{ not_ok "key URIs do not name p11fault.so"; diag <"$H/ca/intermediate.json"; exit 1; }
INTERKEY_URI=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key_uri"])' "$H/ca/intermediate.json")

# fault RULES CMD...: run CMD (S: the station on HOME) with these fault rules,
# no terminal (setsid) and a fresh counter file; sets rc and leaves $TMP/out,
# $TMP/err and $TMP/counts.
fault() {
	local rules=$1; shift
	[ "$1" = S ] && { shift; set -- "$STATION" --home "$H" "$@"; }
	rm -f "$TMP/counts"
	P11FAULT_RULES=$rules P11FAULT_COUNTS=$TMP/counts setsid -w "$@" \
		>"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
}
# calls FUNCTION: how often the last command called it ("none" without a file).
calls() {
	[ -f "$TMP/counts" ] || { echo none; return; }
	awk -v f="$1" '$1 == f { n = $2 } END { print (n == "" ? 0 : n) }' "$TMP/counts"
}
# check NAME CONDITION: ok if the shell CONDITION holds, else not ok with the
# command's stderr shown.
check() {
	if eval "$2"; then ok "$1"; else not_ok "$1"; head -8 "$TMP/err" | diag; fi
}
lines() { wc -l <"$H/ledger.jsonl"; }
newbundle() { $MKREQ --out "$TMP/$1" --count "$2" >/dev/null 2>&1 && S import "$TMP/$1" >/dev/null 2>&1; }
PIN="--pin-source $PINSRC"

# ledger_state FROM [BATCH_FROM]: facts about the ledger as KEY=VALUE words.
# FROM: lines before the scenario; BATCH_FROM: lines before the failed run,
# whose ISSUED must be the first INTENTs and ABORTED the rest.
cat >"$TMP/ledger.py" <<'PY'
import collections, json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
start = int(sys.argv[2]); new = recs[start:]
out = collections.Counter(r["type"] for r in new)
intents = collections.Counter(r["serial"] for r in recs if r["type"] == "INTENT")
state = {}
for r in recs:
    if r["type"] == "INTENT": state[r["serial"]] = "open"
    elif r["type"] in ("ISSUED", "ABORTED", "INDOUBT"): state[r["serial"]] = r["type"]
aborted = {r["serial"] for r in recs if r["type"] == "ABORTED"}
issued = collections.Counter(r["request_id"] for r in recs if r["type"] == "ISSUED")
res = {t: out.get(t, 0) for t in ("INTENT", "ISSUED", "ABORTED", "INDOUBT", "REJECTED")}
res["open"] = sum(1 for v in state.values() if v == "open")
res["dup_serials"] = sum(1 for v in intents.values() if v > 1)
res["aborted_issued"] = sum(1 for r in recs if r["type"] == "ISSUED" and r["serial"] in aborted)
res["dup_issued"] = sum(1 for v in issued.values() if v > 1)
res["requests_issued"] = len({r["request_id"] for r in new if r["type"] == "ISSUED"})
if len(sys.argv) > 3:
    b = recs[int(sys.argv[3]):]
    order = [r["serial"] for r in b if r["type"] == "INTENT"]
    iss = [r["serial"] for r in b if r["type"] == "ISSUED"]
    abo = [r["serial"] for r in b if r["type"] == "ABORTED"]
    res["prefix"] = int(iss == order[:len(iss)] and abo == order[len(iss):])
print(" ".join("%s=%s" % kv for kv in res.items()))
PY
ledger_state() { /usr/bin/python3 "$TMP/ledger.py" "$H/ledger.jsonl" "$@"; }

# --- the counter file itself ----------------------------------------------
fault "" "$STATION" token selftest "$INTERKEY_URI" $PIN
check "a selftest through p11fault.so works and is counted (C_Sign $(calls C_Sign), C_Login $(calls C_Login))" \
	'[ "$rc" -eq 0 ] && [ "$(calls C_Sign)" = 1 ] && [ "$(calls C_Login)" = 1 ]'

# --- PIN flags read before login ---------------------------------------------
newbundle low 2
fault "flags +CKF_USER_PIN_COUNT_LOW" S sign --yes $PIN
check "PIN count low: sign logs in and signs (exit $rc, C_Login $(calls C_Login))" \
	'[ "$rc" -eq 0 ] && [ "$(calls C_Login)" = 1 ] && [ "$(calls C_Sign)" = 2 ]'
check "PIN count low: sign warns on stderr before the login" 'grep -qi "warning: .*few tries remain" "$TMP/err"'
fault "flags +CKF_USER_PIN_COUNT_LOW" "$STATION" token selftest "$INTERKEY_URI" $PIN
check "PIN count low: token selftest warns and logs in" \
	'[ "$rc" -eq 0 ] && [ "$(calls C_Login)" = 1 ] && grep -q "few tries remain" "$TMP/err"'

newbundle final 2
before=$(lines)
fault "flags +CKF_USER_PIN_FINAL_TRY" S sign --yes $PIN
check "final PIN try, no terminal: refused (exit $rc), C_Login never called ($(calls C_Login))" \
	'[ "$rc" -ne 0 ] && [ "$(calls C_Login)" = 0 ] && [ "$(calls C_Sign)" = 0 ]'
check "final PIN try: the message says so" 'grep -q "final PIN try" "$TMP/err"'
check "final PIN try: the ledger is unchanged" '[ "$(lines)" -eq "$before" ]'

fault "flags +CKF_USER_PIN_LOCKED" S sign --yes $PIN
check "PIN locked: exit 5 (got $rc), C_Login never called ($(calls C_Login))" \
	'[ "$rc" -eq 5 ] && [ "$(calls C_Login)" = 0 ] && [ "$(calls C_Sign)" = 0 ]'
check "PIN locked: CKR_PIN_LOCKED named, an SO unblock asked for" 'grep -qE "CKR_PIN_LOCKED.*(SO|security officer).*unblock" "$TMP/err"'

fault "flags +CKF_PROTECTED_AUTHENTICATION_PATH; pinpad $(cat "$TMP/ipin")" S sign --yes --pin-source "file:$TMP/no-such-pin-file"
check "PIN pad: the PIN source is never read, login on the pad, 2 signed (exit $rc)" \
	'[ "$rc" -eq 0 ] && [ "$(calls C_Login)" = 1 ] && [ "$(calls C_Sign)" = 2 ]'
check "PIN pad: sign tells the operator to use the pad" 'grep -qi "PIN pad" "$TMP/err"'

newbundle wrongpin 2
before=$(lines)
fault "fail C_Login at 1 CKR_PIN_INCORRECT" S sign --yes $PIN
check "wrong PIN from the token: exit 5 (got $rc), C_Login called exactly once ($(calls C_Login))" \
	'[ "$rc" -eq 5 ] && [ "$(calls C_Login)" = 1 ] && [ "$(calls C_Sign)" = 0 ]'
check "wrong PIN: CKR_PIN_INCORRECT named" 'grep -q "CKR_PIN_INCORRECT" "$TMP/err"'
check "wrong PIN: the ledger is unchanged" '[ "$(lines)" -eq "$before" ]'
fault "" S sign --yes $PIN
check "with the right PIN the pending requests are signed" '[ "$rc" -eq 0 ] && [ "$(calls C_Sign)" = 2 ]'

# --- the token lost in the middle of a batch ------------------------------
declare -A remedy=(
	[CKR_DEVICE_REMOVED]="token is gone" [CKR_TOKEN_NOT_PRESENT]="token is gone"
	[CKR_SESSION_HANDLE_INVALID]="session with the token was lost"
	[CKR_DEVICE_ERROR]="session with the token was lost" [CKR_GENERAL_ERROR]="C_Sign: CKR_GENERAL_ERROR")
n=20 i=0 exported=0
for ckr in CKR_DEVICE_REMOVED CKR_SESSION_HANDLE_INVALID CKR_TOKEN_NOT_PRESENT CKR_DEVICE_ERROR CKR_GENERAL_ERROR; do
	k=$((1 + (i * 7 + 6) % n)); i=$((i + 1)) # the k-th signature fails: 7, 14, 1, 8, 15
	newbundle "batch-$ckr" $n || not_ok "$ckr: import $n requests"
	start=$(lines)
	fault "fail C_Sign at $k $ckr" S sign --yes $PIN
	cp "$TMP/err" "$TMP/batch.err"
	check "$ckr at signature $k of $n: exit 5 (got $rc) after exactly $k C_Sign calls ($(calls C_Sign))" \
		'[ "$rc" -eq 5 ] && [ "$(calls C_Sign)" = "$k" ]'
	check "$ckr: the message names $ckr and says what happened (${remedy[$ckr]})" \
		'grep -q "$ckr" "$TMP/err" && grep -q "${remedy[$ckr]}" "$TMP/err"'
	expect_ok "$ckr: ledger verify after the failed batch" S ledger verify
	st=$(ledger_state "$start" "$start")
	case " $st " in
	*" INTENT=$n ISSUED=$((k - 1)) ABORTED=$((n - k + 1)) "*" open=0 dup_serials=0 "*" prefix=1 ") \
		ok "$ckr: $((k - 1)) signed before the failure are ISSUED, the other $((n - k + 1)) INTENTs ABORTED" ;;
	*) not_ok "$ckr: ledger after the failure: $st" ;;
	esac
	if [ "$ckr" = CKR_DEVICE_REMOVED ]; then
		check "$ckr: the message does not repeat itself" \
			'! grep -q "token operation failed: token operation failed" "$TMP/batch.err"'
		check "$ckr: the ABORTED records name $ckr as the reason" \
			'tail -n +$((start + 1)) "$H/ledger.jsonl" | grep "\"ABORTED\"" | grep -q "$ckr"'
		/usr/bin/python3 - "$H/ledger.jsonl" "$start" >"$TMP/first.pem" <<'PY'
import base64, json, sys, textwrap
recs = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]):]
c = next(r["cert"] for r in recs if r["type"] == "ISSUED")
print("-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(c, 64)) + "\n-----END CERTIFICATE-----")
PY
		openssl verify -CAfile "$H/ca/root.pem" -untrusted "$H/ca/intermediate.pem" "$TMP/first.pem" >/dev/null 2>&1 &&
			ok "$ckr: a certificate issued before the failure verifies to the root" ||
			not_ok "$ckr: the certificate issued before the failure does not verify"
	fi
	resume=$(lines)
	fault "" S sign --yes $PIN
	check "$ckr: the token back, sign again signs the other $((n - k + 1)) (exit $rc, C_Sign $(calls C_Sign))" \
		'[ "$rc" -eq 0 ] && [ "$(calls C_Sign)" = $((n - k + 1)) ] &&
		grep -q ": $((n - k + 1)) signed, " "$TMP/err"'
	st=$(ledger_state "$start")
	case " $st " in
	*" open=0 dup_serials=0 aborted_issued=0 dup_issued=0 requests_issued=$n "*)
		ok "$ckr: after the resume all $n requests issued once, under new serials (aborted serials never reused)" ;;
	*) not_ok "$ckr: ledger after the resume: $st" ;;
	esac
	exported=$((exported + n))
done
expect_ok "ledger verify after five failed and resumed batches" S ledger verify
mkdir -p "$TMP/merge"
fault "" S export "$TMP/merge" $PIN
got=$(ls "$TMP"/merge/merge-*/e*.pem 2>/dev/null | wc -l)
check "export after the resumed batches: exit $rc, $got chains (the station key signed $(calls C_Sign) manifests)" \
	'[ "$rc" -eq 0 ] && [ "$got" -ge "$exported" ]'

# --- a fault while looking up the key -----------------------------------------
newbundle lookup 3
for rule in "fail C_FindObjectsInit at 1 CKR_DEVICE_ERROR" "fail C_GetAttributeValue at 1 CKR_DEVICE_ERROR" \
	"fail C_GetAttributeValue from 1 CKR_DEVICE_ERROR"; do
	fn=${rule#fail }; fn=${fn%% *}
	before=$(lines)
	fault "$rule" S sign --yes $PIN
	check "$rule: exit 5 (got $rc), no C_Sign ($(calls C_Sign)), ledger unchanged" \
		'[ "$rc" -eq 5 ] && [ "$(calls C_Sign)" = 0 ] && [ "$(lines)" -eq "$before" ]'
	check "$rule: the message names $fn and CKR_DEVICE_ERROR" 'grep -q "$fn: CKR_DEVICE_ERROR" "$TMP/err"'
done
fault "" S sign --yes $PIN
check "without the fault the 3 requests are signed" '[ "$rc" -eq 0 ] && [ "$(calls C_Sign)" = 3 ]'

# --- a slow token ----------------------------------------------------------------
newbundle slow 5
t0=$(date +%s%N)
fault "delay C_Sign 200" S sign --yes $PIN
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# slow token: 5 signatures at 200 ms each took $ms ms"
check "a slow token (200 ms per C_Sign) still signs 5 (exit $rc, C_Sign $(calls C_Sign))" \
	'[ "$rc" -eq 0 ] && [ "$(calls C_Sign)" = 5 ] && grep -q "5 signed" "$TMP/err"'
check "the delay took effect (at least 1000 ms)" '[ "$ms" -ge 1000 ]'

# --- the counter file survives kill -9 -------------------------------------------
newbundle killed 5
rm -f "$TMP/counts"
P11FAULT_RULES="delay C_Sign 300" P11FAULT_COUNTS=$TMP/counts \
	"$STATION" --home "$H" sign --yes $PIN >/dev/null 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 100); do
	[ "$(calls C_Sign)" != none ] && [ "$(calls C_Sign)" -ge 2 ] && break
	sleep 0.05
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
n_killed=$(calls C_Sign)
check "the counter file is readable after kill -9 mid-batch (C_Sign $n_killed of 5)" \
	'[ "$n_killed" != none ] && [ "$n_killed" -ge 2 ] && [ "$n_killed" -lt 5 ]'
fault "" S sign --yes $PIN
st=$(ledger_state 0)
check "after the kill the batch is finished and nothing is open ($st)" \
	'[ "$rc" -eq 0 ] && case " $st " in *" open=0 dup_serials=0 aborted_issued=0 dup_issued=0 "*) true ;; *) false ;; esac'

# --- hostile requests never reach the token -------------------------------------
$MKREQ --out "$TMP/hostile" --hostile all >/dev/null 2>&1 && S import "$TMP/hostile" >/dev/null 2>&1 ||
	not_ok "import the hostile bundle"
before=$(ledger_state 0)
start=$(lines)
fault "" S sign --yes $PIN
check "hostile requests: sign exits 3 (got $rc) and logged in (C_Login $(calls C_Login))" \
	'[ "$rc" -eq 3 ] && [ "$(calls C_Login)" = 1 ]'
check "hostile requests: zero signatures on the token (C_SignInit $(calls C_SignInit), C_Sign $(calls C_Sign))" \
	'[ "$(calls C_Sign)" = 0 ] && [ "$(calls C_SignInit)" = 0 ]'
st=$(ledger_state "$start")
case " $st " in
*" INTENT=0 ISSUED=0 ABORTED=0 INDOUBT=0 REJECTED="[1-9]*) ok "hostile requests: only REJECTED records ($st)" ;;
*) not_ok "hostile requests: ledger $st" ;;
esac
expect_ok "ledger verify at the end" S ledger verify
# --- two sessions, the token lost in the middle ---------------------------------
newbundle par 30 || not_ok "import the parallel bundle"
start=$(lines)
fault "fail C_Sign from 10 CKR_DEVICE_REMOVED" S sign --yes --sessions 2 $PIN
st=$(ledger_state "$start")
iss=$(echo "$st" | sed -n 's/.* ISSUED=\([0-9]*\).*/\1/p')
abo=$(echo "$st" | sed -n 's/.* ABORTED=\([0-9]*\).*/\1/p')
check "two sessions, token removed at signature 10: exit 5 and CKR_DEVICE_REMOVED named" \
	'[ "$rc" -eq 5 ] && grep -q CKR_DEVICE_REMOVED "$TMP/err"'
check "two sessions: every signature the token made is ISSUED, the rest ABORTED ($st)" \
	'[ "$iss" -eq 9 ] && [ $((iss + abo)) -eq 30 ] && case " $st " in *" open=0 dup_serials=0 aborted_issued=0 "*) true ;; *) false ;; esac'
fault "" S sign --yes --sessions 2 $PIN
st=$(ledger_state "$start")
# (exit 3: the hostile bundle above is still in the spool, rejected again)
check "two sessions: the resumed run signs the rest once ($st)" \
	'[ "$rc" -eq 3 ] && grep -q "21 signed" "$TMP/err" && case " $st " in *" open=0 dup_serials=0 aborted_issued=0 dup_issued=0 requests_issued=30 "*) true ;; *) false ;; esac'
expect_ok "ledger verify after the parallel run" S ledger verify
exit $T_FAILED
