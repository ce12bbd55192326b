#!/usr/bin/env bash
# The signing session end to end on SoftHSM2: a 1,000-request bundle through
# one `process` run from a read-only ext4 stick image, the merge bundle's
# signature checked with `openssl cms -verify`, chains checked by OpenSSL,
# GnuTLS and NSS, nothing signed twice, export to a full medium failing
# cleanly and succeeding once there is room, and kill -9 in the middle of a
# batch followed by a clean recovery.
. "$(dirname "$0")/lib.sh"

H=$TMP/home
station_setup "$H" || { not_ok "station setup"; exit 1; }
MKREQ="/usr/bin/python3 $AIRLOCK_SRC/tests/integration/mkreq.py"
S() { "$STATION" --home "$H" "$@"; }

mounted=()
t_on_exit 'for m in "${mounted[@]}"; do umount "$m" 2>/dev/null; done'

# --- a read-only stick (ext4 image: this kernel has no vfat) -----------------
mkdir -p "$TMP/stage" "$TMP/stick"
$MKREQ --out "$TMP/stage/req-1000" --count 1000 >"$TMP/bid" 2>/dev/null || not_ok "mkreq 1000"
$MKREQ --out "$TMP/stage/req-mixed" --count 2 --source csr --profile mqtt-device >/dev/null 2>&1
stick_ro=0
if [ "$(id -u)" -eq 0 ] && truncate -s 64M "$TMP/stick.img" && mkfs.ext4 -q -d "$TMP/stage" "$TMP/stick.img" 2>/dev/null &&
	mount -o loop,ro,nosuid,nodev,noexec "$TMP/stick.img" "$TMP/stick" 2>/dev/null; then
	mounted+=("$TMP/stick")
	stick_ro=1
	ok "request bundles on a read-only ext4 stick image"
else
	skip "read-only stick image" "needs root and loop devices; using a plain directory"
	cp -r "$TMP/stage/." "$TMP/stick/"
fi

mkdir -p "$TMP/merge"
start=$SECONDS
if S process "$TMP/stick/req-1000" --out "$TMP/merge" --yes --pin-source "$PINSRC" >"$TMP/p.out" 2>"$TMP/p.err"; then
	ok "process: 1,000 requests in one run ($((SECONDS - start)) s)"
else not_ok "process 1000"; diag <"$TMP/p.err"; fi
grep -q "1000 signed, 0 signed before, 0 rejected" "$TMP/p.err" && ok "1000 signed, none rejected" ||
	{ not_ok "process summary"; diag <"$TMP/p.err"; }
M="$TMP/merge/merge-$(cat "$TMP/bid")"
[ -f "$M/manifest.json" ] && ok "merge bundle written: $(basename "$M")" || not_ok "no merge bundle"
n=$(ls "$M"/e*.pem 2>/dev/null | wc -l)
[ "$n" -eq 1000 ] && ok "merge bundle carries 1,000 chains" || not_ok "merge bundle has $n chains"
if openssl cms -verify -binary -inform DER -in "$M/manifest.json.sig" -content "$M/manifest.json" \
	-CAfile "$H/ca/root.pem" -certfile "$H/ca/intermediate.pem" -purpose any -out /dev/null 2>"$TMP/v"; then
	ok "openssl cms -verify: the manifest signature chains to the root"
else not_ok "cms verify"; diag <"$TMP/v"; fi
cp "$M/manifest.json" "$TMP/manifest.edited"; sed -i 's/"kind":"merge"/"kind":"merge" /' "$TMP/manifest.edited"
openssl cms -verify -binary -inform DER -in "$M/manifest.json.sig" -content "$TMP/manifest.edited" \
	-CAfile "$H/ca/root.pem" -certfile "$H/ca/intermediate.pem" -purpose any -out /dev/null 2>/dev/null &&
	not_ok "an edited manifest still verifies" || ok "an edited manifest does not verify"
bad=0
for f in "$M"/e00000.pem "$M"/e00499.pem "$M"/e00999.pem; do
	openssl verify -x509_strict -CAfile "$H/ca/root.pem" -untrusted "$H/ca/intermediate.pem" \
		-purpose sslserver "$f" >/dev/null 2>&1 || bad=1
done
[ $bad -eq 0 ] && ok "openssl verify -x509_strict -purpose sslserver: sampled chains" || not_ok "openssl verify chains"
certtool --verify --load-ca-certificate "$H/ca/root.pem" --infile "$M/e00042.pem" >"$TMP/v" 2>&1 &&
	ok "GnuTLS certtool --verify: a leaf with its intermediate" || { not_ok "certtool leaf"; diag <"$TMP/v"; }
openssl x509 -in "$M/e00042.pem" -out "$TMP/leaf.der" -outform DER
openssl x509 -in "$H/ca/intermediate.pem" -out "$TMP/int.der" -outform DER
openssl x509 -in "$H/ca/root.pem" -out "$TMP/root.der" -outform DER
vfychain -pp -u 1 "$TMP/leaf.der" "$TMP/int.der" -t "$TMP/root.der" >"$TMP/v" 2>&1 && grep -q 'Chain is good' "$TMP/v" &&
	ok "NSS vfychain (SSL server usage): leaf, intermediate, root" || { not_ok "vfychain leaf"; diag <"$TMP/v"; }
expect_ok "ledger verify after 1,000 issuances" S ledger verify
dups=$(/usr/bin/python3 -c 'import json,sys,collections; c=collections.Counter(json.loads(l).get("serial") for l in open(sys.argv[1]) if json.loads(l)["type"]=="INTENT"); print(sum(1 for v in c.values() if v>1), len(c))' "$H/ledger.jsonl")
[ "$dups" = "0 1000" ] && ok "1,000 INTENTs, no serial used twice" || not_ok "serials: $dups"
[ $stick_ro -eq 1 ] && { touch "$TMP/stick/x" 2>/dev/null && not_ok "stick writable" || ok "the stick stayed read-only"; }

# --- a request signed once is never signed again ----------------------------
$MKREQ --out "$TMP/again" --count 3 >"$TMP/bid2" 2>/dev/null
S import "$TMP/again" >/dev/null 2>&1
S sign --yes --pin-source "$PINSRC" >/dev/null 2>&1 || not_ok "sign (first)"
issued=$(grep -c '"type":"ISSUED"' "$H/ledger.jsonl")
S sign --yes --pin-source "$PINSRC" >/dev/null 2>"$TMP/err" || not_ok "sign (second)"
grep -q "0 signed, 3 signed before" "$TMP/err" && [ "$(grep -c '"type":"ISSUED"' "$H/ledger.jsonl")" -eq "$issued" ] &&
	ok "signing again finds the requests already issued and signs nothing" || { not_ok "re-sign"; diag <"$TMP/err"; }

# --- export onto a full medium, then with room ------------------------------
if [ "$(id -u)" -eq 0 ] && mkdir -p "$TMP/full" && mount -t tmpfs -o size=64k tmpfs "$TMP/full" 2>/dev/null; then
	mounted+=("$TMP/full")
	head -c 60000 /dev/zero >"$TMP/full/filler" 2>/dev/null
	lines=$(wc -l <"$H/ledger.jsonl")
	expect_fail "export onto a full medium fails cleanly" 1 "(full|No space)" \
		S export "$TMP/full" --pin-source "$PINSRC"
	[ -z "$(ls -A "$TMP/full" | grep -v '^filler$')" ] && ok "nothing half-written left on the full medium" ||
		{ not_ok "leftovers on the full medium"; ls -A "$TMP/full" | diag; }
	S ledger verify >/dev/null 2>&1 && ok "ledger intact after the failed export" || not_ok "ledger broken by a failed export"
	[ -d "$H/spool/$(cat "$TMP/bid2")" ] && ok "the request bundle stays in the spool for the next try" || not_ok "spool lost the request"
	rm -f "$TMP/full/filler"
	umount "$TMP/full"; mount -t tmpfs -o size=4m tmpfs "$TMP/full"
	expect_ok "export succeeds once there is room" S export "$TMP/full" --pin-source "$PINSRC"
	[ -f "$TMP/full/merge-$(cat "$TMP/bid2")/manifest.json" ] && ok "merge bundle written after the retry" || not_ok "no merge bundle after retry"
else
	skip "export onto a full medium" "needs root to mount a size-capped tmpfs"
fi

# --- kill -9 in the middle of a batch ---------------------------------------
$MKREQ --out "$TMP/crash" --count 600 >/dev/null 2>&1
S import "$TMP/crash" >/dev/null 2>&1
base=$(wc -l <"$H/ledger.jsonl")
"$STATION" --home "$H" sign --yes --pin-source "$PINSRC" >/dev/null 2>&1 &
pid=$!
# kill once the second chunk's INTENTs are on disk (256 per chunk): its
# signatures are then under way
intents0=$(grep -c '"type":"INTENT"' "$H/ledger.jsonl")
for _ in $(seq 1 2000); do
	n=$(grep -c '"type":"INTENT"' "$H/ledger.jsonl")
	[ "$n" -gt "$((intents0 + 256))" ] && break
	sleep 0.005
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
open_intents=$(/usr/bin/python3 -c '
import json,sys
st={}
for l in open(sys.argv[1]):
    if not l.endswith("\n"): break
    r=json.loads(l)
    if r["type"]=="INTENT": st[r["serial"]]="open"
    elif r["type"] in ("ISSUED","ABORTED","INDOUBT"): st[r["serial"]]="closed"
print(sum(1 for v in st.values() if v=="open"))' "$H/ledger.jsonl")
[ "$open_intents" -gt 0 ] && ok "killed mid-batch with $open_intents INTENT records open" ||
	skip "kill -9 mid-batch" "the batch finished before the kill landed"
S ledger verify --json >/dev/null 2>&1; S ledger list >/dev/null 2>&1
if ! S ledger verify >/dev/null 2>&1; then
	# a torn last line is possible after SIGKILL mid-write
	not_ok "ledger does not verify after kill -9"; S ledger verify 2>&1 | diag
fi
S sign --yes --pin-source "$PINSRC" >/dev/null 2>"$TMP/err" || { not_ok "sign after the crash"; diag <"$TMP/err"; }
/usr/bin/python3 - "$H/ledger.jsonl" >"$TMP/check" <<'PY'
import json, sys, collections
recs = [json.loads(l) for l in open(sys.argv[1])]
intent = collections.Counter(r["serial"] for r in recs if r["type"] == "INTENT")
issued_req = collections.Counter(r["request_id"] for r in recs if r["type"] == "ISSUED")
state = {}
for r in recs:
    if r["type"] == "INTENT": state[r["serial"]] = "open"
    elif r["type"] in ("ISSUED", "ABORTED", "INDOUBT"): state[r["serial"]] = r["type"]
crash = [r for r in recs if r["type"] == "INTENT" and "/app-" in r["request_id"]]
print("dup_serials", sum(1 for v in intent.values() if v > 1))
print("open", sum(1 for v in state.values() if v == "open"))
print("indoubt", sum(1 for v in state.values() if v == "INDOUBT"))
print("dup_issued_requests", sum(1 for v in issued_req.values() if v > 1))
PY
grep -q '^dup_serials 0$' "$TMP/check" && ok "after recovery: no serial used twice" || not_ok "duplicate serials"
grep -q '^open 0$' "$TMP/check" && ok "after recovery: every INTENT resolved (ISSUED or INDOUBT)" || not_ok "open INTENTs remain"
grep -q '^dup_issued_requests 0$' "$TMP/check" && ok "after recovery: no request issued twice" || not_ok "a request was issued twice"
if [ "$open_intents" -gt 0 ]; then
	indoubt=$(awk '/^indoubt/{print $2}' "$TMP/check")
	[ "$indoubt" -eq "$open_intents" ] && ok "each open INTENT became INDOUBT ($indoubt serials burned)" ||
		not_ok "INDOUBT $indoubt vs open $open_intents"
fi
want=$((issued + 600))
got=$(grep -c '"type":"ISSUED"' "$H/ledger.jsonl")
[ "$got" -eq "$want" ] && ok "every crashed request signed again under a new serial ($got ISSUED)" || not_ok "ISSUED $got, want $want"
expect_ok "ledger verify clean after the crash and recovery" S ledger verify
# --- the air-gap check: refused with a network up, allowed offline ----------
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null; then
	$MKREQ --out "$TMP/gap" --count 1 >/dev/null 2>&1
	S import "$TMP/gap" >/dev/null 2>&1
	cat >"$TMP/gap.sh" <<EOS
mount -t sysfs sysfs /sys
ip link set lo up
ip link add veth-a type veth peer name veth-b && ip link set veth-a up && ip link set veth-b up
unset AIRLOCK_ALLOW_NETWORK
"$STATION" --home "$H" sign --yes --pin-source "$PINSRC" >"$TMP/gap.out" 2>"$TMP/gap.err"; echo \$? >"$TMP/gap.rc1"
"$STATION" --home "$H" --allow-network sign --yes --pin-source "$PINSRC" >>"$TMP/gap.out" 2>>"$TMP/gap.err"; echo \$? >"$TMP/gap.rc2"
EOS
	unshare --net --mount bash "$TMP/gap.sh"
	[ "$(cat "$TMP/gap.rc1")" = 7 ] && grep -q "veth-a is up" "$TMP/gap.err" &&
		ok "sign refuses to run with a network interface up, and names it" ||
		{ not_ok "air-gap refusal (exit $(cat "$TMP/gap.rc1"))"; diag <"$TMP/gap.err"; }
	[ "$(cat "$TMP/gap.rc2")" = 0 ] && grep -q '"network":"network check overridden: ' "$H/ledger.jsonl" &&
		ok "--allow-network signs and records the override in the ledger" ||
		{ not_ok "--allow-network (exit $(cat "$TMP/gap.rc2"))"; diag <"$TMP/gap.err"; }
else
	skip "air-gap check" "needs root, unshare and ip to make a network namespace"
fi
# --- two token sessions at once --------------------------------------------
$MKREQ --out "$TMP/par" --count 300 >/dev/null 2>&1
S import "$TMP/par" >/dev/null 2>&1
before=$(grep -c '"type":"ISSUED"' "$H/ledger.jsonl")
if S sign --yes --sessions 2 --pin-source "$PINSRC" >/dev/null 2>"$TMP/err"; then
	ok "sign --sessions 2"
else not_ok "sign --sessions 2"; diag <"$TMP/err"; fi
after=$(grep -c '"type":"ISSUED"' "$H/ledger.jsonl")
[ $((after - before)) -eq 300 ] && ok "two sessions: 300 ISSUED records" || not_ok "two sessions: $((after - before)) ISSUED"
/usr/bin/python3 - "$H/ledger.jsonl" <<'PY' && ok "two sessions: ISSUED in INTENT order, no serial twice" || not_ok "two sessions: order or duplicates"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
intents = [r["serial"] for r in recs if r["type"] == "INTENT"][-300:]
issued = [r["serial"] for r in recs if r["type"] == "ISSUED"][-300:]
sys.exit(0 if intents == issued and len(set(issued)) == 300 else 1)
PY
expect_ok "ledger verify after parallel signing" S ledger verify
exit $T_FAILED
