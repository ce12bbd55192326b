#!/usr/bin/env bash
# Revocation at the station reaching the consumers through one bundle: a
# device certificate used with mosquitto (require_certificate), then
# revoked, a CRL signed on the token, exported, and rejected by
# `openssl verify -crl_check`, by NSS with the CRL imported, and by
# mosquitto with crlfile. CRL numbers stay monotonic across a crash between
# a CRL's INTENT and ISSUED; the root's CRL lists a revoked intermediate.
. "$(dirname "$0")/lib.sh"

H=$TMP/home
station_setup "$H" || { not_ok "station setup"; exit 1; }
MKREQ="/usr/bin/python3 $AIRLOCK_SRC/tests/integration/mkreq.py"
S() { "$STATION" --home "$H" "$@"; }
mkdir -p "$TMP/keys" "$TMP/m"

# a server certificate and two device certificates through one session
$MKREQ --out "$TMP/srv" --count 1 --keyout "$TMP/keys" --name mqtt.example.internal >/dev/null 2>&1
mkdir -p "$TMP/keys/dev"
$MKREQ --out "$TMP/dev" --count 2 --source csr --profile mqtt-device --keyout "$TMP/keys/dev" >/dev/null 2>&1
S import "$TMP/srv" >/dev/null 2>&1 && S import "$TMP/dev" >/dev/null 2>&1 || not_ok "import"
S sign --yes --pin-source "$PINSRC" >/dev/null 2>&1 || not_ok "sign"
expect_ok "crl: an empty CRL before any revocation" S crl --pin-source "$PINSRC"
expect_ok "export" S export "$TMP/m" --pin-source "$PINSRC"
SRV=$(ls -d "$TMP"/m/merge-* | while read d; do [ -f "$d/e00000.pem" ] && grep -q '"type":"keyvault"' "$d/manifest.json" 2>/dev/null && echo "$d"; done | head -1)
DEV=$(grep -l '"type":"csr"' "$TMP"/m/merge-*/manifest.json | head -1 | xargs dirname)
[ -n "$SRV" ] && [ -n "$DEV" ] && ok "merge bundles for the server and the devices" || { not_ok "merge bundles"; ls -R "$TMP/m" | diag; exit 1; }
cat "$H/ca/root.pem" "$H/ca/intermediate.pem" >"$TMP/cas.pem"
openssl crl -inform DER -in "$DEV/intermediate.crl" -out "$TMP/crl1.pem"

# mosquitto with require_certificate and the CRL
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mq_start() {
	cat >"$TMP/mq.conf" <<EOC
listener $PORT 127.0.0.1
allow_anonymous true
cafile $TMP/cas.pem
certfile $SRV/e00000.pem
keyfile $TMP/keys/e00000.key
require_certificate true
crlfile $1
persistence false
user root
EOC
	mosquitto -c "$TMP/mq.conf" >"$TMP/mq.log" 2>&1 &
	MQPID=$!
	for _ in $(seq 1 50); do
		grep -q "Opening ipv4 listen socket" "$TMP/mq.log" && sleep 0.2 && return 0
		sleep 0.1
	done
	return 1
}
mq_stop() { [ -n "${MQPID:-}" ] && kill "$MQPID" 2>/dev/null && wait "$MQPID" 2>/dev/null; MQPID=; }
t_on_exit mq_stop
mq_pub() { # KEY CERT
	timeout 10 mosquitto_pub -h 127.0.0.1 -p "$PORT" --cafile "$TMP/cas.pem" --insecure \
		--cert "$2" --key "$1" -t airlock/test -m hello -i "dev$RANDOM" >"$TMP/pub.log" 2>&1
}
if command -v mosquitto >/dev/null && mq_start "$TMP/crl1.pem"; then
	mq_pub "$TMP/keys/dev/e00000.key" "$DEV/e00000.pem" && ok "mosquitto accepts the device before revocation" ||
		{ not_ok "mosquitto rejects a good device"; diag <"$TMP/pub.log"; tail -5 "$TMP/mq.log" | diag; }
	mq_stop
else
	not_ok "mosquitto did not start"; diag <"$TMP/mq.log"
fi
openssl verify -crl_check -CRLfile "$TMP/crl1.pem" -CAfile "$TMP/cas.pem" "$DEV/e00000.pem" >/dev/null 2>&1 &&
	ok "openssl verify -crl_check accepts the device before revocation" || not_ok "openssl -crl_check before"

# revoke the device, sign a CRL, carry it in a revocation-only bundle
serial=$(openssl x509 -in "$DEV/e00000.pem" -noout -serial | cut -d= -f2)
expect_ok "revoke the device (keyCompromise)" S revoke "$serial" --reason keyCompromise
expect_fail "revoking it twice is refused" 7 "already revoked" S revoke "$serial" --reason keyCompromise
expect_fail "revoking an unknown serial is refused" 1 "never issued by this station" S revoke 0123456789abcdef --reason superseded
expect_fail "certificateHold is not offered" 2 "certificateHold is not offered" S revoke "$serial" --reason certificateHold
expect_ok "crl after the revocation" S crl --pin-source "$PINSRC"
mkdir -p "$TMP/m2"
expect_ok "export with nothing to answer writes a revocation-only bundle" S export "$TMP/m2" --pin-source "$PINSRC"
RB=$(ls -d "$TMP"/m2/merge-crl-* 2>/dev/null | head -1)
[ -n "$RB" ] && [ -f "$RB/intermediate.crl" ] && ok "revocation-only bundle $(basename "$RB") carries the CRL" ||
	{ not_ok "no revocation-only bundle"; ls -R "$TMP/m2" | diag; }
openssl cms -verify -binary -inform DER -in "$RB/manifest.json.sig" -content "$RB/manifest.json" \
	-CAfile "$H/ca/root.pem" -certfile "$H/ca/intermediate.pem" -purpose any -out /dev/null 2>/dev/null &&
	ok "its signature verifies" || not_ok "revocation bundle signature"
openssl crl -inform DER -in "$RB/intermediate.crl" -out "$TMP/crl2.pem"
openssl crl -in "$TMP/crl2.pem" -noout -text >"$TMP/crl2.txt"
grep -q "Serial Number: $serial" "$TMP/crl2.txt" && grep -q 'Key Compromise' "$TMP/crl2.txt" &&
	ok "the CRL lists the serial with reason keyCompromise" || { not_ok "CRL content"; diag <"$TMP/crl2.txt"; }
n1=$(openssl crl -in "$TMP/crl1.pem" -noout -crlnumber | cut -d= -f2)
n2=$(openssl crl -in "$TMP/crl2.pem" -noout -crlnumber | cut -d= -f2)
[ $((n2)) -gt $((n1)) ] && ok "CRL number grows ($n1 -> $n2)" || not_ok "CRL numbers $n1 $n2"

# airlock-kv publish, then the three consumers
mkdir -p "$TMP/pub"
expect_ok "airlock-kv publish writes the CRL where a web server serves it" \
	"$KV" publish "$RB" --to "$TMP/pub" --trust "$H/ca/root.pem" --state "$TMP/kvstate"
ls "$TMP/pub" | diag
PUBCRL=$(ls "$TMP"/pub/*.crl 2>/dev/null | head -1)
[ -n "$PUBCRL" ] && ok "published CRL: $(basename "$PUBCRL")" || not_ok "publish wrote no .crl"
openssl crl -inform DER -in "$PUBCRL" -out "$TMP/pub.pem" 2>/dev/null || cp "$TMP/crl2.pem" "$TMP/pub.pem"
out=$(openssl verify -crl_check -CRLfile "$TMP/pub.pem" -CAfile "$TMP/cas.pem" "$DEV/e00000.pem" 2>&1)
echo "$out" | grep -q 'certificate revoked' && ok "openssl verify -crl_check rejects the revoked device" ||
	{ not_ok "openssl -crl_check after"; echo "$out" | diag; }
openssl verify -crl_check -CRLfile "$TMP/pub.pem" -CAfile "$TMP/cas.pem" "$DEV/e00001.pem" >/dev/null 2>&1 &&
	ok "openssl verify -crl_check still accepts the other device" || not_ok "other device rejected"
DB=$TMP/nssdb; mkdir -p "$DB"
certutil -N -d "sql:$DB" --empty-password >/dev/null 2>&1
certutil -A -d "sql:$DB" -n root -t "CT,C,C" -i "$H/ca/root.pem" >/dev/null 2>&1
certutil -A -d "sql:$DB" -n inter -t ",," -i "$H/ca/intermediate.pem" >/dev/null 2>&1
openssl crl -in "$TMP/pub.pem" -outform DER -out "$TMP/pub.der"
if crlutil -I -d "sql:$DB" -i "$TMP/pub.der" -t 1 -B >"$TMP/crlutil" 2>&1; then
	ok "NSS crlutil imports the CRL (DER)"
else not_ok "crlutil import"; diag <"$TMP/crlutil"; fi
openssl x509 -in "$DEV/e00000.pem" -outform DER -out "$TMP/dev0.der"
openssl x509 -in "$DEV/e00001.pem" -outform DER -out "$TMP/dev1.der"
vfychain -d "sql:$DB" -u 0 "$TMP/dev0.der" >"$TMP/nss0" 2>&1
grep -qi 'revoked' "$TMP/nss0" && ok "NSS vfychain rejects the revoked device (SEC_ERROR_REVOKED_CERTIFICATE)" ||
	{ not_ok "NSS did not reject"; diag <"$TMP/nss0"; }
vfychain -d "sql:$DB" -u 0 "$TMP/dev1.der" >"$TMP/nss1" 2>&1
grep -q 'Chain is good' "$TMP/nss1" && ok "NSS vfychain accepts the other device" || { not_ok "NSS other device"; diag <"$TMP/nss1"; }
if command -v mosquitto >/dev/null && mq_start "$TMP/pub.pem"; then
	mq_pub "$TMP/keys/dev/e00000.key" "$DEV/e00000.pem" && { not_ok "mosquitto accepted the revoked device"; } ||
		ok "mosquitto with crlfile rejects the revoked device"
	mq_pub "$TMP/keys/dev/e00001.key" "$DEV/e00001.pem" && ok "mosquitto still accepts the other device" ||
		{ not_ok "mosquitto rejects the other device"; diag <"$TMP/pub.log"; }
	mq_stop
else not_ok "mosquitto did not start with the new CRL"; fi

# CRL numbers across a crash between a CRL's INTENT and ISSUED
last=$(/usr/bin/python3 -c 'import json,sys; print(max(int(json.loads(l)["crl_number"]) for l in open(sys.argv[1]) if json.loads(l)["type"]=="CRL"))' "$H/ledger.jsonl")
/usr/bin/python3 - "$H/ledger.jsonl" "$((last + 1))" <<'PY'
import hashlib, json, sys, time
path, num = sys.argv[1], sys.argv[2]
lines = open(path, "rb").read().split(b"\n")[:-1]
rec = {"seq": len(lines) + 1, "prev": hashlib.sha256(lines[-1]).hexdigest(),
       "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "type": "CRL",
       "issuer": "intermediate", "crl_number": num, "phase": "intent"}
open(path, "ab").write(json.dumps(rec, separators=(",", ":")).encode() + b"\n")
PY
expect_ok "ledger verifies with a CRL intent left by a crash" S ledger verify
expect_ok "crl after the crash" S crl --pin-source "$PINSRC"
grep -q "CRL number $((last + 2))," "$TMP/out" && ok "the crashed CRL number $((last + 1)) is never reused (next is $((last + 2)))" ||
	{ not_ok "CRL number after crash"; diag <"$TMP/out"; }

# the intermediate revoked: the root's CRL lists it
iserial=$(openssl x509 -in "$H/ca/intermediate.pem" -noout -serial | cut -d= -f2)
expect_ok "revoke the intermediate" S revoke "$iserial" --reason keyCompromise
expect_ok "crl --root signs the root's CRL on the root token" S crl --root --pin-source "$PINSRC" --root-pin-source "file:$TMP/rpin"
RC=$(ls "$H"/crl/root-*.pem | tail -1)
openssl crl -in "$RC" -noout -text | grep -q "Serial Number: $iserial" && ok "the root CRL lists the intermediate" ||
	not_ok "root CRL content"
cat "$TMP/pub.pem" "$RC" >"$TMP/both.pem"
out=$(openssl verify -crl_check_all -CRLfile "$TMP/both.pem" -CAfile "$TMP/cas.pem" "$DEV/e00001.pem" 2>&1)
echo "$out" | grep -q 'certificate revoked' && ok "openssl -crl_check_all rejects a leaf under the revoked intermediate" ||
	{ not_ok "crl_check_all"; echo "$out" | diag; }
nu=$(openssl crl -in "$RC" -noout -nextupdate | cut -d= -f2); lu=$(openssl crl -in "$RC" -noout -lastupdate | cut -d= -f2)
days=$(( ($(date -d "$nu" +%s) - $(date -d "$lu" +%s)) / 86400 ))
[ "$days" -le 365 ] && ok "root CRL valid for $days days (at most 365)" || not_ok "root CRL $days days"
expect_ok "ledger verify at the end" S ledger verify
exit $T_FAILED
