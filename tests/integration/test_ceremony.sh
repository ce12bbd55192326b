#!/usr/bin/env bash
# Root and intermediate ceremonies on two SoftHSM2 tokens: the chain verifies
# with OpenSSL (-x509_strict), GnuTLS certtool and NSS vfychain; the
# transcript is there for witnesses; refusals for an existing output, an
# extractable key, a key that does not match its certificate, validity beyond
# the issuer or the profile; a dry run touches no token.
. "$(dirname "$0")/lib.sh"

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
"$STATION" token keygen --token "pkcs11:token=root-ca?module-path=$M" --label other-key \
	--type ec:p384 --pin-source "$RPIN" >"$TMP/other.uri" 2>/dev/null || not_ok "other keygen"
ROOTKEY=$(cat "$TMP/root.uri") INTERKEY=$(cat "$TMP/inter.uri")
H=$TMP/home
S() { "$STATION" --home "$H" "$@"; }

# station home and policy
expect_ok "init with --domain" S init --domain example.internal
for f in airlock.conf ledger.jsonl ca spool out transcripts; do
	[ -e "$H/$f" ] || not_ok "init made no $f"
done
grep -q '^dns_suffixes = example.internal$' "$H/airlock.conf" && ok "--domain seeds the leaf profiles" ||
	not_ok "--domain not in airlock.conf"
grep -qiE 'pin|module-path' <(grep -v '^#' "$H/airlock.conf") && not_ok "PIN or module path in the configuration" ||
	ok "no PIN or module path in the configuration"
expect_fail "init refuses to overwrite" 7 "init never overwrites" S init
expect_ok "policy check passes on the default configuration" S policy check
expect_ok "policy show --json" S policy show --json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); n=[p["name"] for p in d["profiles"]]; sys.exit(0 if n==["root","intermediate","tls-server","tls-client","mtls","mqtt-device"] else 1)' "$TMP/out" &&
	ok "policy show lists the six profiles" || { not_ok "policy show profiles"; diag <"$TMP/out"; }

# dry run first: no token touched, nothing written
pkcs11-tool --module "$M" --token-label root-ca --login --pin 123456 --list-objects >"$TMP/before" 2>&1
pkcs11-tool --module "$M" --token-label inter-ca --login --pin 654321 --list-objects >>"$TMP/before" 2>&1
expect_ok "ca root --dry-run" S ca root --key "$ROOTKEY" --subject "/CN=Dry Root" \
	--operator Alice --witness Bob --dry-run
grep -q 'DRY RUN' "$TMP/out" && grep -q 'read aloud:' "$TMP/out" && ok "dry run prints the transcript it would produce" ||
	not_ok "dry-run transcript"
expect_ok "ca intermediate --dry-run" S ca intermediate --key "$INTERKEY" --issuer-key "$ROOTKEY" \
	--subject "/CN=Dry Intermediate" --operator Alice --witness Bob --dry-run
pkcs11-tool --module "$M" --token-label root-ca --login --pin 123456 --list-objects >"$TMP/after" 2>&1
pkcs11-tool --module "$M" --token-label inter-ca --login --pin 654321 --list-objects >>"$TMP/after" 2>&1
cmp -s "$TMP/before" "$TMP/after" && ok "dry runs leave both tokens unchanged" || not_ok "dry run changed a token"
[ -z "$(find "$H/ca" "$H/transcripts" -type f)" ] && ok "dry runs write nothing into the home" || not_ok "dry run wrote files"
[ "$(wc -l <"$H/ledger.jsonl")" -eq 0 ] && ok "dry runs leave the ledger empty" || not_ok "dry run wrote the ledger"

# refusals before the real ceremony
expect_fail "more days than the root profile allows" 3 "more than profile root allows" \
	S ca root --key "$ROOTKEY" --subject "/CN=X" --days 9000 --operator A --witness B --yes --pin-source "$RPIN"
expect_fail "no operator name and no tty" 2 "operator's name" \
	setsid "$STATION" --home "$H" ca root --key "$ROOTKEY" --subject "/CN=X" --yes --pin-source "$RPIN"
pkcs11-tool --module "$M" --token-label root-ca --login --pin 123456 --keypairgen \
	--key-type EC:secp384r1 --label loose --usage-sign --extractable >/dev/null 2>&1
expect_fail "an extractable key is refused for a CA" 7 "CKA_EXTRACTABLE=true" \
	S ca root --key "pkcs11:token=root-ca;object=loose?module-path=$M" --subject "/CN=X" \
	--operator A --witness B --yes --pin-source "$RPIN"

# the real ceremonies
expect_ok "ca root" S ca root --key "$ROOTKEY" --subject "/C=DE/O=Airlock Test/CN=Airlock Test Root" \
	--operator "Alice Operator" --witness "Bob Witness" --witness "Carol Witness" --yes --pin-source "$RPIN"
expect_ok "ca intermediate" S ca intermediate --key "$INTERKEY" --issuer-key "$ROOTKEY" \
	--subject "/C=DE/O=Airlock Test/CN=Airlock Test Intermediate" --operator "Alice Operator" \
	--witness "Bob Witness" --yes --pin-source "$IPIN" --issuer-pin-source "$RPIN"
cat "$TMP/err" | diag
for f in root.pem intermediate.pem chain.pem station.pem root.json intermediate.json station.json; do
	[ -s "$H/ca/$f" ] || not_ok "ca/$f missing"
done

# three verifiers
if openssl verify -x509_strict -CAfile "$H/ca/root.pem" "$H/ca/intermediate.pem" >"$TMP/v" 2>&1; then
	ok "openssl verify -x509_strict: intermediate chains to root"
else not_ok "openssl verify intermediate"; diag <"$TMP/v"; fi
if openssl verify -x509_strict -CAfile "$H/ca/root.pem" -untrusted "$H/ca/intermediate.pem" \
	-purpose any "$H/ca/station.pem" >"$TMP/v" 2>&1; then
	ok "openssl verify -x509_strict: station certificate chains to root"
else not_ok "openssl verify station"; diag <"$TMP/v"; fi
openssl x509 -in "$H/ca/root.pem" -noout -text >"$TMP/roottext"
grep -q 'CA:TRUE' "$TMP/roottext" && grep -A1 'Key Usage: critical' "$TMP/roottext" | grep -q 'Certificate Sign, CRL Sign' &&
	ok "root: CA:TRUE, KU critical keyCertSign+cRLSign" || not_ok "root extensions"
openssl x509 -in "$H/ca/intermediate.pem" -noout -text >"$TMP/itext"
grep -q 'CA:TRUE, pathlen:0' "$TMP/itext" && grep -q 'Permitted:' "$TMP/itext" && grep -q 'DNS:example.internal' "$TMP/itext" &&
	ok "intermediate: pathlen 0 and name constraint from --domain" || not_ok "intermediate extensions"
serial=$(openssl x509 -in "$H/ca/intermediate.pem" -noout -serial | cut -d= -f2)
[ ${#serial} -eq 32 ] && case $serial in [0-7]*) true ;; *) false ;; esac &&
	ok "serial is 16 octets, positive ($serial)" || not_ok "serial $serial"
if certtool --verify --load-ca-certificate "$H/ca/root.pem" --infile "$H/ca/intermediate.pem" >"$TMP/v" 2>&1; then
	ok "GnuTLS certtool --verify accepts the intermediate"
else not_ok "certtool intermediate"; diag <"$TMP/v"; fi
cat "$H/ca/station.pem" "$H/ca/intermediate.pem" "$H/ca/root.pem" >"$TMP/full.pem"
if certtool --verify-chain --infile "$TMP/full.pem" >"$TMP/v" 2>&1; then
	ok "GnuTLS certtool --verify-chain accepts station, intermediate, root"
else not_ok "certtool --verify-chain"; diag <"$TMP/v"; fi
if vfychain -pp -u 11 -a "$H/ca/intermediate.pem" -t -a "$H/ca/root.pem" >"$TMP/v" 2>&1 &&
	grep -q 'Chain is good' "$TMP/v"; then
	ok "NSS vfychain accepts the intermediate as a CA under the root"
else not_ok "vfychain"; diag <"$TMP/v"; fi

# transcript and ledger
tr=$(ls "$H"/transcripts/intermediate-*.txt 2>/dev/null | head -1)
if [ -n "$tr" ] && grep -q 'read aloud:' "$tr" && grep -q 'Bob Witness' "$tr" && grep -q 'signature: ____' "$tr" &&
	grep -q 'module SHA-256' "$tr" && grep -q 'binary SHA-256' "$tr" && grep -q 'CKA_ID' "$tr" &&
	grep -q "serial $(pkcs11-tool --module "$M" -L 2>/dev/null | awk '/token label.*inter-ca/{f=1} f&&/serial num/{print $4; exit}')" "$tr"; then
	ok "intermediate transcript: digests as words, token serial, CKA_ID, hashes, witness lines"
else not_ok "transcript content"; [ -n "$tr" ] && diag <"$tr"; fi
ls "$H"/transcripts/root-*.txt >/dev/null 2>&1 && ok "root transcript written" || not_ok "no root transcript"
types=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(json.loads(l)["type"] for l in open(sys.argv[1])))' "$H/ledger.jsonl")
[ "$types" = "CA_ROOT CA_INTERMEDIATE STATION_KEY" ] && ok "ledger records the three ceremony certificates" ||
	not_ok "ledger types: $types"
grep -q 'pin' "$H/ca/root.json" && not_ok "PIN in root.json" || ok "root.json holds the key URI without a PIN"
grep -q "serial=" "$H/ca/root.json" && ok "root.json pins the token serial" || not_ok "no serial in root.json"

# outputs are never overwritten; wrong issuer key; validity beyond the issuer
expect_fail "a second root ceremony is refused" 7 "never replaces a CA" \
	S ca root --key "$ROOTKEY" --subject "/CN=X" --operator A --witness B --yes --pin-source "$RPIN"
H2=$TMP/home2
"$STATION" --home "$H2" init --domain example.internal >/dev/null
"$STATION" --home "$H2" ca root --key "$(cat "$TMP/other.uri")" --subject "/CN=Short Root" --days 30 \
	--operator A --witness B --yes --pin-source "$RPIN" >/dev/null 2>&1 || not_ok "short root"
expect_fail "an issuer key that does not match the root certificate" 3 "does not match the root certificate" \
	"$STATION" --home "$H2" ca intermediate --key "$INTERKEY" --issuer-key "$ROOTKEY" --subject "/CN=I" \
	--operator A --witness B --yes --pin-source "$IPIN" --issuer-pin-source "$RPIN"
expect_fail "validity beyond the issuer's notAfter" 3 "beyond the issuer's notAfter" \
	"$STATION" --home "$H2" ca intermediate --key "$INTERKEY" --issuer-key "$(cat "$TMP/other.uri")" \
	--subject "/CN=I" --days 60 --operator A --witness B --yes --pin-source "$IPIN" --issuer-pin-source "$RPIN"

# policy check catches an unsafe configuration
sed -i '/^\[profile-tls-server\]/,/^\[/ s/^key_usage = .*/key_usage = digitalSignature, keyCertSign/' "$H2/airlock.conf"
expect_fail "policy check: keyCertSign on a leaf profile" 3 "keyCertSign or cRLSign on a leaf profile" \
	"$STATION" --home "$H2" policy check
printf '\n[profile-extra]\nkind = leaf\nmax_days = 4000\nkey_types = ec:p256\nkey_usage = digitalSignature\next_key_usage = clientAuth\n' >>"$H2/airlock.conf"
expect_fail "policy check: a leaf outliving the intermediate, nobody may use it" 3 "longer than the intermediate" \
	"$STATION" --home "$H2" policy check
grep -q "nobody may use it" "$TMP/err" && ok "policy check: a profile nobody may use" || not_ok "unused profile not found"
printf 'colour = blue\n' >>"$H2/airlock.conf"
expect_fail "an unknown setting is named with its line" 4 "airlock.conf:[0-9]+: unknown setting 'colour'" \
	"$STATION" --home "$H2" policy show
# an intermediate whose root is elsewhere: ca csr on the token, signed by a
# root (here this station's root, standing in for a corporate one)
"$STATION" token keygen --token "pkcs11:token=inter-ca?module-path=$M" --label outside-key \
	--type ec:p256 --pin-source "$IPIN" >"$TMP/outside.uri" 2>/dev/null || not_ok "outside keygen"
expect_ok "ca csr: a CSR made and signed on the token" S ca csr --key "$(cat "$TMP/outside.uri")" \
	--subject "/O=Elsewhere/CN=Outside Intermediate" -o "$TMP/outside.csr" --operator A --witness B --yes \
	--pin-source "$IPIN"
openssl req -in "$TMP/outside.csr" -noout -verify >/dev/null 2>&1 && ok "openssl req -verify accepts the CSR" ||
	not_ok "CSR does not verify"
expect_fail "ca csr never overwrites its output" 7 "never overwrites" S ca csr --key "$(cat "$TMP/outside.uri")" \
	--subject "/CN=X" -o "$TMP/outside.csr" --operator A --witness B --yes --pin-source "$IPIN"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$TMP/ext.key" \
	-subj "/CN=External Intermediate" -addext "basicConstraints=critical,CA:TRUE" \
	-addext "subjectAltName=email:x@evil.example" -out "$TMP/ext.csr" 2>/dev/null
expect_ok "ca intermediate --csr: the root signs an outside request" S ca intermediate --csr "$TMP/ext.csr" \
	--issuer-key "$ROOTKEY" -o "$TMP/ext.pem" --operator A --witness B --yes --pin-source "$RPIN"
openssl verify -x509_strict -CAfile "$H/ca/root.pem" "$TMP/ext.pem" >/dev/null 2>&1 &&
	ok "the outside intermediate verifies under the root" || not_ok "outside intermediate does not verify"
openssl x509 -in "$TMP/ext.pem" -noout -text >"$TMP/ext.txt"
grep -q 'evil.example' "$TMP/ext.txt" && not_ok "a requested extension was copied" ||
	ok "nothing but subject and key is taken from the outside request"
grep -q 'CA:TRUE, pathlen:0' "$TMP/ext.txt" && ok "its constraints come from the intermediate profile" ||
	not_ok "outside intermediate constraints"
exit $T_FAILED
