#!/usr/bin/env bash
# The token boundary on throwaway SoftHSM2 tokens: keygen for every type with
# its flags read back by pkcs11-tool, a signature from each key verified by
# OpenSSL, and the specific messages for ambiguity, wrong PIN, unsafe keys,
# refused PIN sources and bad module paths.
. "$(dirname "$0")/lib.sh"

softhsm_setup
M=$SOFTHSM_MODULE
softhsm_token root-ca 123456
softhsm_token twin 123456
softhsm_token twin 123456
printf '123456\n' >"$TMP/pin"; chmod 600 "$TMP/pin"
printf '000000\n' >"$TMP/badpin"; chmod 600 "$TMP/badpin"
TOK="pkcs11:token=root-ca?module-path=$M"
PIN="--pin-source file:$TMP/pin"

# keygen for every type, flags checked by pkcs11-tool, signature by OpenSSL
for type in rsa:2048 rsa:3072 rsa:4096 ec:p256 ec:p384; do
	label=key-${type/:/-}
	if "$STATION" token keygen --token "$TOK" --label "$label" --type "$type" $PIN \
		>"$TMP/uri.$label" 2>"$TMP/err"; then
		ok "keygen $type"
	else
		not_ok "keygen $type"; diag <"$TMP/err"; continue
	fi
	uri=$(cat "$TMP/uri.$label")
	case "$uri" in
	pkcs11:*"token=root-ca;object=$label;id=%"*";type=private?module-path=$M") ok "keygen $type prints a pasteable private-key URI" ;;
	*) not_ok "keygen $type URI: $uri" ;;
	esac
	pkcs11-tool --module "$M" --token-label root-ca --login --pin 123456 \
		--list-objects --type privkey --label "$label" >"$TMP/objs" 2>&1
	if grep -q 'Access: *sensitive, always sensitive, never extractable, local' "$TMP/objs" &&
		grep -qE 'Usage: *sign$' "$TMP/objs"; then
		ok "keygen $type: pkcs11-tool sees sensitive, never extractable, sign only"
	else
		not_ok "keygen $type flags"; diag <"$TMP/objs"
	fi
	pkcs11-tool --module "$M" --token-label root-ca --list-objects --type pubkey \
		--label "$label" >"$TMP/pubs" 2>&1
	grep -q "label: *$label" "$TMP/pubs" && ok "keygen $type: public half has the same label" ||
		not_ok "keygen $type: public half missing"
	rm -f "$TMP/msg" "$TMP/sig" "$TMP/pub.pem"
	expect_ok "selftest $type on the token" "$STATION" token selftest "$uri" $PIN \
		--message "$TMP/msg" --signature "$TMP/sig" --pubkey "$TMP/pub.pem"
	if openssl dgst -sha256 -verify "$TMP/pub.pem" -signature "$TMP/sig" "$TMP/msg" >/dev/null 2>&1; then
		ok "$type signature made on the token verifies with openssl dgst"
	else
		not_ok "$type signature does not verify with openssl"
	fi
	bits=$(openssl pkey -pubin -in "$TMP/pub.pem" -noout -text 2>/dev/null | head -1)
	case "$type:$bits" in
	rsa:2048:*2048*|rsa:3072:*3072*|rsa:4096:*4096*|ec:p256:*256*|ec:p384:*384*) ok "$type key has the right size ($bits)" ;;
	*) not_ok "$type key size: $bits" ;;
	esac
done

# the key's own attributes as airlock reads them
expect_ok "token info on a key" "$STATION" --json token info "$(cat "$TMP/uri.key-ec-p256")" $PIN
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); a=d["attributes"]; sys.exit(0 if (a["sensitive"] and not a["extractable"] and a["never_extractable"] and a["sign"] and not a["decrypt"] and d["safe_for_ca"]) else 1)' "$TMP/out"; then
	ok "token info --json: sensitive, not extractable, sign-only, safe for a CA"
else
	not_ok "token info --json attributes"; diag <"$TMP/out"
fi

# listing
expect_ok "token list --json" "$STATION" --module "$M" --json token list
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); t=[s["token"]["label"] for s in d["slots"]]; sys.exit(0 if t.count("twin")==2 and "root-ca" in t else 1)' "$TMP/out"; then
	ok "token list --json shows every token"
else
	not_ok "token list --json content"; diag <"$TMP/out"
fi
expect_ok "token list after login shows private keys" "$STATION" --module "$M" token list $PIN "pkcs11:token=root-ca"
grep -q "^    private rsa key-rsa-2048 *pkcs11:" "$TMP/out" && ok "private keys listed as URIs after login" ||
	{ not_ok "private keys not listed"; diag <"$TMP/out"; }
expect_ok "token list without login" "$STATION" --module "$M" token list
grep -q "^    private" "$TMP/out" && not_ok "private keys listed without login" || ok "no private keys listed without login"

# refusals
expect_fail "an existing label is refused" 7 "already has an object labelled 'key-ec-p256'" \
	"$STATION" token keygen --token "$TOK" --label key-ec-p256 --type ec:p256 $PIN
expect_fail "an unknown key type is refused" 2 "use rsa:2048" \
	"$STATION" token keygen --token "$TOK" --label x --type dsa:1024 $PIN
expect_fail "two tokens with one label: ambiguous, every candidate listed" 5 \
	"2 tokens match; name one by serial" \
	"$STATION" token info "pkcs11:token=twin?module-path=$M"
n=$(grep -c "^  pkcs11:.*serial=[0-9a-f]*;token=twin" "$TMP/err")
[ "$n" -eq 2 ] && ok "both ambiguous tokens listed as URIs with serials" || not_ok "ambiguous candidates: $n"

pkcs11-tool --module "$M" --token-label root-ca --login --pin 123456 --keypairgen \
	--key-type EC:prime256v1 --label dup --id 01 --usage-sign >/dev/null 2>&1
pkcs11-tool --module "$M" --token-label root-ca --login --pin 123456 --keypairgen \
	--key-type EC:prime256v1 --label dup --id 02 --usage-sign >/dev/null 2>&1
expect_fail "two keys for one URI: ambiguous, every candidate listed" 5 "2 private keys match" \
	"$STATION" token selftest "pkcs11:token=root-ca;object=dup?module-path=$M" $PIN
grep -q "object=dup;id=%01;type=private" "$TMP/err" && grep -q "object=dup;id=%02;type=private" "$TMP/err" &&
	ok "ambiguous keys listed with their ids" || not_ok "ambiguous keys not listed"
expect_ok "naming the id resolves the ambiguity" \
	"$STATION" token selftest "pkcs11:token=root-ca;object=dup;id=%02?module-path=$M" $PIN

pkcs11-tool --module "$M" --token-label root-ca --login --pin 123456 --keypairgen \
	--key-type rsa:2048 --label loose --usage-sign --extractable >/dev/null 2>&1
expect_fail "an extractable key is refused" 7 "CKA_EXTRACTABLE=true" \
	"$STATION" token selftest "pkcs11:token=root-ca;object=loose?module-path=$M" $PIN

expect_fail "wrong PIN: CKR_PIN_INCORRECT, no retry" 5 "CKR_PIN_INCORRECT.*never retries" \
	"$STATION" token selftest "$(cat "$TMP/uri.key-ec-p256")" --pin-source "file:$TMP/badpin"
expect_fail "--pin is refused" 7 "--pin is refused" \
	"$STATION" token selftest "$(cat "$TMP/uri.key-ec-p256")" --pin 123456
expect_fail "a PIN from the environment is refused" 7 "environment is refused" \
	"$STATION" token selftest "$(cat "$TMP/uri.key-ec-p256")" --pin-source env:PIN
expect_fail "pin-value in a URI is refused" 7 "pin-value is refused" \
	"$STATION" token info "pkcs11:token=root-ca?pin-value=123456"
chmod 644 "$TMP/pin"
expect_fail "a PIN file others can read is refused" 7 "chmod 600" \
	"$STATION" token selftest "$(cat "$TMP/uri.key-ec-p256")" $PIN
chmod 600 "$TMP/pin"
expect_fail "no tty and no PIN source: says how to give one" 2 "no terminal to ask for the PIN" \
	setsid "$STATION" token selftest "$(cat "$TMP/uri.key-ec-p256")"
expect_fail "an unknown URI attribute points at it" 2 "offset 15: unknown path attribute 'colour'" \
	"$STATION" token info "pkcs11:token=x;colour=red"
expect_fail "malformed percent-encoding points at it" 2 "offset 13: '%zz'" \
	"$STATION" token info "pkcs11:token=%zz"

# module loading: the real cause, not "could not load"
expect_fail "missing module file" 5 "/nonexistent/libfoo.so: No such file or directory" \
	"$STATION" token list "pkcs11:?module-path=/nonexistent/libfoo.so"
libz=$(ls /usr/lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1 2>/dev/null | head -1)
expect_fail "a library that is not a PKCS#11 module" 5 "no C_GetFunctionList symbol" \
	"$STATION" token list "pkcs11:?module-path=$libz"
cp "$M" "$TMP/wrongclass.so"
printf '\001' | dd of="$TMP/wrongclass.so" bs=1 seek=4 conv=notrunc status=none
expect_fail "a module for another architecture: dlopen's words" 5 "dlopen: .*wrong ELF class: ELFCLASS32" \
	"$STATION" token list "pkcs11:?module-path=$TMP/wrongclass.so"
printf 'not an ELF file\n' >"$TMP/garbage.so"
expect_fail "a file that is no shared object" 5 "dlopen: .*(invalid ELF header|too short)" \
	"$STATION" token list "pkcs11:?module-path=$TMP/garbage.so"
SOFTHSM2_CONF=$TMP/none.conf expect_fail "SoftHSM2 without its configuration: C_Initialize's CKR" 5 \
	"C_Initialize: CKR_GENERAL_ERROR.*SOFTHSM2_CONF" \
	"$STATION" token list "pkcs11:?module-path=$M"
exit $T_FAILED
