#!/usr/bin/env bash
# Every rejection class of SECURITY.md §1 and §3 at the station, one hostile
# request each (tests/integration/mkreq.py --hostile): the specific rule on
# the review screen, no INTENT or ISSUED record (nothing reached the token),
# one REJECTED record per request, exit status 3, and terminal output free of
# escape sequences.
. "$(dirname "$0")/lib.sh"

H=$TMP/home
station_setup "$H" || { not_ok "station setup"; exit 1; }
MKREQ="/usr/bin/python3 $AIRLOCK_SRC/tests/integration/mkreq.py"
S() { "$STATION" --home "$H" "$@"; }

$MKREQ --out "$TMP/hostile" --hostile all >/dev/null 2>&1 || not_ok "mkreq --hostile"
expect_ok "import a bundle of hostile requests" S import "$TMP/hostile"
S review --json >"$TMP/review.json" 2>"$TMP/err" || not_ok "review --json"
declare -A want=(
	[outside]="policy.dns" [email-san]="csr.san" [uri-san]="csr.san"
	[ca-true]="csr.extension" [keycertsign]="csr.extension"
	[anyeku]="csr.extension" [name-constraints]="csr.extension"
	[bad-sig]="csr.signature" [rsa1024]="csr.key" [rsa-e3]="csr.key"
	[p521]="csr.key" [sha1]="csr.sig_alg" [cn-not-in-san]="csr.cn_not_in_san"
	[bidi-cn]="csr.subject" [ctrl-cn]="csr.subject" [trailing]="csr.encoding"
	[v2-request]="csr.encoding" [wildcard]="policy.dns"
	[underscore]="lint.e_dns_bad_char" [trailing-dot]="policy.dns"
	[snapshot]="policy.snapshot" [no-names]="csr.names"
)
for k in "${!want[@]}"; do
	got=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=[x for x in d["requests"] if x["entry"]=="h-"+sys.argv[2]]; print(r[0]["decision"]+" "+r[0].get("rule","") if r else "missing")' "$TMP/review.json" "$k")
	[ "$got" = "reject ${want[$k]}" ] && ok "hostile $k: rejected by ${want[$k]}" ||
		not_ok "hostile $k: got '$got', want 'reject ${want[$k]}'"
done
before=$(wc -l <"$H/ledger.jsonl")
S sign --yes --pin-source "$PINSRC" >"$TMP/out" 2>"$TMP/err"; rc=$?
[ $rc -eq 3 ] && ok "sign exits 3 when requests were rejected" || not_ok "sign exit $rc"
grep -q "0 signed, 0 signed before, ${#want[@]} rejected" "$TMP/err" && ok "sign reports 0 signed, ${#want[@]} rejected" ||
	{ not_ok "sign summary"; diag <"$TMP/err"; }
types=$(tail -n +$((before + 1)) "$H/ledger.jsonl" | /usr/bin/python3 -c 'import json,sys,collections; c=collections.Counter(json.loads(l)["type"] for l in sys.stdin); print(" ".join("%s=%d"%kv for kv in sorted(c.items())))')
[ "$types" = "REJECTED=${#want[@]}" ] && ok "the ledger gained only REJECTED records, one per request (no INTENT: nothing signed)" ||
	not_ok "ledger records after sign: $types"
for k in bad-sig ca-true; do
	grep -q "\"request_id\":\"kv:airlock-test.vault.azure.net/h-$k/" "$H/ledger.jsonl" &&
		ok "REJECTED record names the request ($k)" || not_ok "no REJECTED record for $k"
done
S review >"$TMP/screen" 2>&1
if grep -q $'\x1b' "$TMP/screen" || grep -q $'\xe2\x80\xae' "$TMP/screen"; then
	not_ok "escape or bidi characters reached the terminal"
else ok "review output holds no escape sequence or bidi override"; fi
grep -q 'app\\x1b\[2J' "$TMP/screen" && ok "a control character is shown escaped" || not_ok "escaped control character not shown"
expect_ok "ledger verify after rejections" S ledger verify

# a whole bundle refused before any request is looked at
$MKREQ --out "$TMP/big" --count 1 >/dev/null 2>&1
head -c 70000 /dev/urandom >"$TMP/big/e00000.csr"
/usr/bin/python3 - "$TMP/big" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]; m = json.load(open(d + "/manifest.json"))
data = open(d + "/e00000.csr", "rb").read()
m["entries"][0]["size"] = len(data); m["entries"][0]["sha256"] = hashlib.sha256(data).hexdigest()
open(d + "/manifest.json", "w").write(json.dumps(m, separators=(",", ":")))
PY
expect_fail "an oversized CSR file is refused before parsing" 4 "entries\[0\].size: 70000 bytes, over the CSR cap" S import "$TMP/big"
$MKREQ --out "$TMP/tamper" --count 2 >/dev/null 2>&1
printf 'x' >>"$TMP/tamper/e00001.csr"
expect_fail "a CSR changed after the manifest was written" 4 "e00001.csr" S import "$TMP/tamper"
$MKREQ --out "$TMP/link" --count 1 >/dev/null 2>&1
mv "$TMP/link/e00000.csr" "$TMP/real.csr"; ln -s "$TMP/real.csr" "$TMP/link/e00000.csr"
expect_fail "a symlinked entry on the stick" 4 "e00000.csr" S import "$TMP/link"
$MKREQ --out "$TMP/extra" --count 1 >/dev/null 2>&1
cp "$TMP/extra/e00000.csr" "$TMP/extra/stowaway.csr"
expect_fail "a file the manifest does not list" 4 "stowaway.csr" S import "$TMP/extra"
$MKREQ --out "$TMP/dup" --count 1 >/dev/null 2>&1
sed -i 's/"format":"airlock-bundle"/"format":"airlock-bundle","format":"airlock-bundle"/' "$TMP/dup/manifest.json"
expect_fail "a manifest with a duplicate key" 4 "duplicate" S import "$TMP/dup"
n=$(ls "$H/spool" | wc -l)
[ "$n" -eq 1 ] && ok "refused bundles left nothing in the spool" || not_ok "spool has $n entries"
exit $T_FAILED
