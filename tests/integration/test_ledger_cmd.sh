#!/usr/bin/env bash
# airlock-station ledger verify | list | show | export-index on a ledger made
# by real root and intermediate ceremonies (SoftHSM2), then extended in a
# copy with INTENT, ISSUED and REVOKED records for certificates that
# `openssl ca` issued, revoked and expired: export-index must reproduce the
# index.txt that `openssl ca` itself keeps, byte for byte. Edited, truncated
# and reordered ledgers are refused with exit 4 and the bad line named.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
if ! command -v softhsm2-util >/dev/null || [ ! -e "$SOFTHSM_MODULE" ] || [ ! -x "$PY" ]; then
	skip "ledger command tests" "needs softhsm2-util, $SOFTHSM_MODULE and $PY"
	exit 0
fi

softhsm_setup
M=$SOFTHSM_MODULE
softhsm_token root-ca 123456
softhsm_token inter-ca 654321
printf '123456\n' >"$TMP/rpin"; printf '654321\n' >"$TMP/ipin"; chmod 600 "$TMP"/?pin
RPIN="file:$TMP/rpin" IPIN="file:$TMP/ipin"
"$STATION" token keygen --token "pkcs11:token=root-ca?module-path=$M" --label root-key \
	--type ec:p384 --pin-source "$RPIN" >"$TMP/root.uri" 2>/dev/null || not_ok "root keygen"
"$STATION" token keygen --token "pkcs11:token=inter-ca?module-path=$M" --label inter-key \
	--type ec:p384 --pin-source "$IPIN" >"$TMP/inter.uri" 2>/dev/null || not_ok "intermediate keygen"
ROOTKEY=$(cat "$TMP/root.uri") INTERKEY=$(cat "$TMP/inter.uri")
H=$TMP/home
S() { "$STATION" --home "$H" "$@"; }

expect_ok "init" S init --domain example.internal
expect_ok "ledger verify on an empty ledger" S ledger verify
grep -q '^ledger ok: 0 records, head 0\{64\}$' "$TMP/out" && ok "empty ledger: 0 records, head of zeros" ||
	{ not_ok "empty ledger output"; diag <"$TMP/out"; }
expect_ok "ca root" S ca root --key "$ROOTKEY" --subject "/C=DE/O=Airlock Test/CN=Airlock Test Root" \
	--operator "Alice Operator" --witness "Bob Witness" --yes --pin-source "$RPIN"
expect_ok "ca intermediate" S ca intermediate --key "$INTERKEY" --issuer-key "$ROOTKEY" \
	--subject "/C=DE/O=Airlock Test/CN=Airlock Test Intermediate" --operator "Alice Operator" \
	--witness "Bob Witness" --yes --pin-source "$IPIN" --issuer-pin-source "$RPIN"

# --help and usage errors
for v in verify list show export-index; do
	if S ledger "$v" --help >"$TMP/out" 2>&1 && grep -q "ledger $v" "$TMP/out"; then
		ok "ledger $v --help"
	else not_ok "ledger $v --help"; diag <"$TMP/out"; fi
done
expect_ok "ledger --help" S ledger --help
expect_fail "ledger without a verb is a usage error" 2 "usage: airlock-station ledger" S ledger
expect_fail "an unknown verb is a usage error" 2 "unknown verb 'frobnicate'" S ledger frobnicate
expect_fail "an unknown option is a usage error" 2 "unknown option '--bogus'" S ledger list --bogus
expect_fail "an unknown record type is a usage error" 2 "unknown record type 'NOPE'" S ledger list --type NOPE
expect_fail "show needs a serial" 2 "exactly one SERIAL" S ledger show
expect_fail "show refuses a serial that is not hex" 2 "is not a serial number" S ledger show 12xz
expect_fail "--pem belongs to show only" 2 "does not apply" S ledger list --pem

# verify on the ceremony ledger
expect_ok "ledger verify after the ceremonies" S ledger verify
head=$($PY -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read().split(b"\n")[-2]).hexdigest())' "$H/ledger.jsonl")
grep -qx "ledger ok: 3 records, head $head" "$TMP/out" && ok "verify: 3 records and the SHA-256 of the last line" ||
	{ not_ok "verify output"; diag <"$TMP/out"; }
expect_ok "ledger verify --json" S ledger verify --json
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["ok"] is True and d["records"]==3 and d["head"]==sys.argv[2] and d["unresolved_intents"]==0 else 1)' \
	"$TMP/out" "$head" && ok "verify --json: ok, records, head, unresolved_intents" ||
	{ not_ok "verify --json"; diag <"$TMP/out"; }

# list
expect_ok "ledger list" S ledger list
[ "$(awk '{print $1, $3}' "$TMP/out" | tr '\n' ' ')" = "1 CA_ROOT 2 CA_INTERMEDIATE 3 STATION_KEY " ] &&
	ok "list: one line per record with seq and type" || { not_ok "list lines"; diag <"$TMP/out"; }
iserial=$(openssl x509 -in "$H/ca/intermediate.pem" -noout -serial | cut -d= -f2)
icanon=$(echo "$iserial" | tr 'A-F' 'a-f' | sed 's/^0*//')
awk '$3=="CA_INTERMEDIATE"{print $4}' "$TMP/out" | grep -qx "$icanon" &&
	ok "list: a ceremony record shows its certificate's serial" || { not_ok "list serial"; diag <"$TMP/out"; }
grep -q '/CN=Airlock Test Intermediate' "$TMP/out" && ok "list: the subject of a ceremony record" ||
	not_ok "list subject"
expect_ok "ledger list --json" S ledger list --json
$PY -c '
import json,sys
a=json.load(open(sys.argv[1]))
assert [r["type"] for r in a]==["CA_ROOT","CA_INTERMEDIATE","STATION_KEY"], a
assert all("cert" not in r and len(r["cert_sha256"])==64 for r in a)
assert a[1]["serial"]==sys.argv[2] and a[1]["seq"]==2
' "$TMP/out" "$icanon" && ok "list --json: records without cert, with cert_sha256 and serial" ||
	{ not_ok "list --json"; diag <"$TMP/out"; }
expect_ok "ledger list --type ca_root" S ledger list --type ca_root
[ "$(wc -l <"$TMP/out")" -eq 1 ] && grep -q CA_ROOT "$TMP/out" && ok "list --type keeps one type" ||
	{ not_ok "list --type"; diag <"$TMP/out"; }

# show, --pem: the certificate's fingerprint is the ledger's cert_sha256
want=$($PY -c 'import json,sys
for l in open(sys.argv[1]):
    r=json.loads(l)
    if r["type"]=="CA_INTERMEDIATE": print(r["cert_sha256"])' "$H/ledger.jsonl")
colons=$(echo "00$iserial" | sed 's/../&:/g; s/:$//')
expect_ok "ledger show SERIAL --pem (uppercase, colons, leading zeros)" S ledger show "$colons" --pem
cp "$TMP/out" "$TMP/show.pem"
if openssl x509 -in "$TMP/show.pem" -noout 2>"$TMP/err"; then
	ok "show --pem: openssl x509 reads the certificate"
else not_ok "show --pem not a certificate"; diag <"$TMP/err"; fi
fp=$(openssl x509 -in "$TMP/show.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f')
[ -n "$want" ] && [ "$fp" = "$want" ] && ok "show --pem: SHA-256 fingerprint equals the ledger's cert_sha256" ||
	not_ok "fingerprint $fp, ledger $want"
cmp -s "$TMP/show.pem" "$H/ca/intermediate.pem" && ok "show --pem: the same certificate as ca/intermediate.pem" ||
	not_ok "show --pem differs from ca/intermediate.pem"
expect_ok "ledger show SERIAL" S ledger show "$icanon"
grep -q '^CA_INTERMEDIATE record 2' "$TMP/out" && grep -q 'cert subject.*CN=Airlock Test Intermediate' "$TMP/out" &&
	ok "show: the record and its certificate's subject" || { not_ok "show text"; diag <"$TMP/out"; }
expect_ok "ledger show SERIAL --json" S ledger show "$icanon" --json
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["records"]; sys.exit(0 if d["serial"]==sys.argv[2] and len(r)==1 and r[0]["type"]=="CA_INTERMEDIATE" and "cert" not in r[0] else 1)' \
	"$TMP/out" "$icanon" && ok "show --json" || { not_ok "show --json"; diag <"$TMP/out"; }
expect_fail "show for an unknown serial exits 1" 1 "no record in the ledger names serial 1a2b3c" \
	S ledger show 1A2B3C

# certificates from `openssl ca`: A revoked (keyCompromise), B expired, C valid
C=$TMP/openssl-ca
mkdir -p "$C/new"
: >"$C/index.txt"
echo 4a01 >"$C/serial"
cat >"$C/ca.cnf" <<EOF
[ca]
default_ca = testca
[testca]
dir = $C
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = pol
unique_subject = no
[pol]
countryName = optional
organizationName = optional
commonName = supplied
EOF
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/ca.key" -out "$C/ca.pem" \
	-subj "/CN=Test Issuing CA" -days 60 2>/dev/null
for n in a b c; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/$n.key" \
		-out "$C/$n.csr" -subj "/C=DE/O=Airlock Test/CN=$n.example.internal" 2>/dev/null
done
openssl ca -batch -config "$C/ca.cnf" -in "$C/a.csr" -out "$C/a.pem" -notext 2>"$TMP/ossl" &&
	openssl ca -batch -config "$C/ca.cnf" -in "$C/b.csr" -out "$C/b.pem" -notext \
		-startdate 20200101000000Z -enddate 20210101000000Z 2>>"$TMP/ossl" &&
	openssl ca -batch -config "$C/ca.cnf" -in "$C/c.csr" -out "$C/c.pem" -notext 2>>"$TMP/ossl" &&
	openssl ca -batch -config "$C/ca.cnf" -revoke "$C/a.pem" -crl_reason keyCompromise 2>>"$TMP/ossl" &&
	openssl ca -batch -config "$C/ca.cnf" -updatedb 2>>"$TMP/ossl" ||
	{ not_ok "openssl ca could not issue the test certificates"; diag <"$TMP/ossl"; }

# Append records to a copy of the ledger exactly as station/ledger.h
# describes them: cJSON_PrintUnformatted form, prev = SHA-256 of the line
# before. Arguments are JSON objects with "type" and, optionally, "time".
cat >"$TMP/append.py" <<'EOF'
import hashlib, json, sys, time
path = sys.argv[1]
data = open(path, "rb").read()
lines = data.split(b"\n")[:-1] if data else []
seq = len(lines)
prev = hashlib.sha256(lines[-1]).hexdigest() if lines else "0" * 64
with open(path, "ab") as f:
    for arg in sys.argv[2:]:
        fields = json.loads(arg)
        rec = {"seq": seq + 1, "prev": prev,
               "time": fields.pop("time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
               "type": fields.pop("type")}
        rec.update(fields)
        line = json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode()
        f.write(line + b"\n")
        prev = hashlib.sha256(line).hexdigest()
        seq += 1
EOF
# issued N REQUEST_ID: INTENT and ISSUED records for $C/N.pem
issued() {
	local s der
	s=$(openssl x509 -in "$C/$1.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
	der=$(openssl x509 -in "$C/$1.pem" -outform DER | base64 -w0)
	$PY "$TMP/append.py" "$L" \
		"{\"type\":\"INTENT\",\"request_id\":\"$2\",\"serial\":\"$s\",\"tbs_sha256\":\"$(printf %064d 0)\"}" \
		"{\"type\":\"ISSUED\",\"serial\":\"$s\",\"request_id\":\"$2\",\"cert\":\"$der\",\"cert_sha256\":\"$(openssl x509 -in "$C/$1.pem" -outform DER | sha256sum | cut -c1-64)\"}"
}
H2=$TMP/home2
cp -a "$H" "$H2"
L=$H2/ledger.jsonl
S2() { "$STATION" --home "$H2" "$@"; }
issued a req-a && issued b req-b && issued c req-c
aserial=$(openssl x509 -in "$C/a.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
# the revocation time `openssl ca` recorded, as the REVOKED record's time
rdate=$(awk -F'\t' '$1=="R"{print $3}' "$C/index.txt" | cut -d, -f1)
rtime="20${rdate:0:2}-${rdate:2:2}-${rdate:4:2}T${rdate:6:2}:${rdate:8:2}:${rdate:10:2}Z"
$PY "$TMP/append.py" "$L" \
	"{\"type\":\"REVOKED\",\"time\":\"$rtime\",\"serial\":\"$aserial\",\"reason\":\"keyCompromise\"}" \
	'{"type":"INTENT","request_id":"req-d","serial":"7fd","tbs_sha256":"'"$(printf %064d 1)"'"}'
expect_ok "verify accepts the appended INTENT, ISSUED and REVOKED records" S2 ledger verify
grep -qx "ledger ok: 11 records, head .*" "$TMP/out" && ok "verify counts 11 records" || { not_ok "count"; diag <"$TMP/out"; }
grep -q "1 INTENT record is unresolved: run any signing command to mark it INDOUBT" "$TMP/err" &&
	ok "verify warns about the open INTENT" || { not_ok "no unresolved-INTENT warning"; diag <"$TMP/err"; }

expect_ok "export-index" S2 ledger export-index
cp "$TMP/out" "$TMP/index.txt"
if cmp -s "$TMP/index.txt" "$C/index.txt"; then
	ok "export-index equals the index.txt kept by openssl ca (V, E, R with keyCompromise)"
else
	not_ok "export-index differs from openssl ca's index.txt"
	diff "$C/index.txt" "$TMP/index.txt" | cat -A | diag
fi
$PY -c '
import re,sys
rows=[l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
assert len(rows)==3, rows
for r in rows:
    assert len(r)==6 and r[0] in "VRE" and re.fullmatch(r"[0-9]{12}Z",r[1]), r
    assert re.fullmatch(r"([0-9]{12}Z(,[A-Za-z]+)?)?",r[2]) and re.fullmatch(r"([0-9A-F]{2})+",r[3]), r
    assert r[4]=="unknown" and r[5].startswith("/C=DE/O=Airlock Test/CN="), r
' "$TMP/index.txt" && ok "export-index: 3 lines, six tab-separated columns" || { not_ok "index columns"; diag <"$TMP/index.txt"; }
st=$(awk -F'\t' '{printf "%s%s ", $1, ($3!="" ? "(" $3 ")" : "")}' "$TMP/index.txt")
case $st in "R($rdate,keyCompromise) E V ") ok "export-index: R for the revoked serial, E for the expired one" ;;
*) not_ok "statuses: $st" ;; esac
awk -F'\t' -v s="$(echo "$aserial" | tr a-f A-F)" '$1=="R"{exit $4!=s}' "$TMP/index.txt" &&
	ok "export-index: the R line is the revoked serial, uppercase" || not_ok "R serial"
if openssl ca -config "$C/ca.cnf" -gencrl -out "$TMP/crl.pem" 2>"$TMP/ossl" >/dev/null &&
	cp "$TMP/index.txt" "$C/index.txt" && openssl ca -config "$C/ca.cnf" -gencrl -out "$TMP/crl2.pem" 2>>"$TMP/ossl" &&
	openssl crl -in "$TMP/crl2.pem" -noout -text | grep -q "Serial Number: $(echo "$aserial" | tr a-f A-F)"; then
	ok "openssl ca -gencrl reads the exported index and lists the revoked serial"
else not_ok "openssl ca -gencrl on the exported index"; diag <"$TMP/ossl"; fi
expect_ok "export-index -o FILE" S2 ledger export-index -o "$TMP/idx.txt"
cmp -s "$TMP/idx.txt" "$TMP/index.txt" && ok "-o FILE holds the same index" || not_ok "-o FILE content"
expect_fail "export-index -o refuses an existing file" 7 "exists: refusing to replace it" \
	S2 ledger export-index -o "$TMP/idx.txt"
expect_ok "export-index -o FILE --force replaces it" S2 ledger export-index -o "$TMP/idx.txt" --force
expect_ok "export-index -o - is stdout" S2 ledger export-index -o -
cmp -s "$TMP/out" "$TMP/index.txt" && ok "-o - gives the same index" || not_ok "-o - content"

expect_ok "show a leaf serial" S2 ledger show "$aserial"
[ "$(grep -cE '^(INTENT|ISSUED|REVOKED) record' "$TMP/out")" -eq 3 ] && ok "show: INTENT, ISSUED and REVOKED for the serial" ||
	{ not_ok "show leaf records"; diag <"$TMP/out"; }
expect_fail "show --pem for a serial without a certificate" 1 "has no certificate" S2 ledger show 7FD --pem
expect_ok "list --type REVOKED" S2 ledger list --type REVOKED
grep -q "reason=keyCompromise" "$TMP/out" && [ "$(wc -l <"$TMP/out")" -eq 1 ] && ok "list: REVOKED with its reason" ||
	{ not_ok "list REVOKED"; diag <"$TMP/out"; }
expect_ok "list --json on the extended ledger" S2 ledger list --json
$PY -c 'import json,sys; a=json.load(open(sys.argv[1])); sys.exit(0 if len(a)==11 and not any("cert" in r for r in a) else 1)' "$TMP/out" &&
	ok "list --json: 11 records, no cert fields" || not_ok "list --json extended"

# the lock: verify still reads a ledger another process holds
$PY -c 'import fcntl,sys,time
f=open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); open(sys.argv[2], "w").close(); time.sleep(60)' "$L" "$TMP/locked" &
lockpid=$!
for i in $(seq 100); do [ -e "$TMP/locked" ] && break; sleep 0.1; done
expect_ok "verify while another process holds the ledger" S2 ledger verify
grep -q "in use by another process" "$TMP/err" && ok "verify says the ledger is in use" ||
	{ not_ok "verify lock note"; diag <"$TMP/err"; }
expect_fail "list refuses while another process holds the ledger" 7 "in use by another process" S2 ledger list
kill "$lockpid"; wait "$lockpid" 2>/dev/null

# broken chains
cp "$L" "$TMP/good.jsonl"
# lines 1-3 ceremonies, 4-5 INTENT/ISSUED req-a, 6 INTENT req-b: flip a bit
# in line 6 and line 7's prev no longer matches
$PY -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); i=b.index(b"\"req-b\""); b[i+2]^=1; open(p,"wb").write(b)' "$L"
expect_fail "verify: a flipped byte breaks the chain (exit 4, line named)" 4 "line 7: prev does not match" \
	S2 ledger verify
expect_fail "list refuses a broken ledger" 4 "line 7: prev does not match" S2 ledger list
S2 ledger verify --json >"$TMP/out" 2>/dev/null
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["ok"] is False and d["error"]=="AIRLOCK_E_FORMAT" and "line" in d["detail"] else 1)' "$TMP/out" &&
	ok "verify --json reports ok false with the detail" || { not_ok "verify --json broken"; diag <"$TMP/out"; }
sed -e 5d "$TMP/good.jsonl" >"$L"
expect_fail "verify: a deleted middle line (exit 4)" 4 "line 5: seq 6 where 5 was expected" S2 ledger verify
head -c -1 "$TMP/good.jsonl" >"$L"
expect_fail "verify: a torn last line (exit 4)" 4 "line 11 is torn" S2 ledger verify
{ head -n 4 "$TMP/good.jsonl"; sed -n 6p "$TMP/good.jsonl"; sed -n 5p "$TMP/good.jsonl"; tail -n +7 "$TMP/good.jsonl"; } >"$L"
expect_fail "verify: two records swapped (exit 4)" 4 "line 5: seq 6 where 5 was expected" S2 ledger verify
sed -e '6s/,"request_id"/, "request_id"/' "$TMP/good.jsonl" >"$L"
expect_fail "verify: a space added (not canonical)" 4 "line 6: .*canonical" S2 ledger verify
cp "$TMP/good.jsonl" "$L"
expect_ok "verify: the restored copy is fine again" S2 ledger verify

# a missing ledger
rm "$L"
expect_fail "verify: a missing ledger" 1 "does not exist|No such file" S2 ledger verify
exit $T_FAILED
