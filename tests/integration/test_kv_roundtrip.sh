#!/usr/bin/env bash
# airlock-kv against the Key Vault emulator: create (flags and policy file),
# status, export (read back), pack, merge of a bundle signed like the
# station does (chain read back from the vault), idempotent re-runs,
# refusals (wrong root, tampering, an older bundle, a key mismatch),
# unpack, publish, renew.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kv_lib.sh"

kv_emu_start
kv_pki

expect_ok "create from flags" "${KVE[@]}" create web1 --subject CN=web1.example.com \
	--dns web1.example.com --eku serverAuth --tag team=web
cat >"$TMP/policy.json" <<'J'
{"key_props":{"kty":"EC","crv":"P-256"},
 "x509_props":{"subject":"CN=dev1","sans":{"dns_names":["dev1.example.com"]},
  "ekus":["1.3.6.1.5.5.7.3.2"],"key_usage":["digitalSignature"],"validity_months":6}}
J
expect_ok "create from a policy file" "${KVE[@]}" create dev1 --policy "$TMP/policy.json"
expect_ok "a retried create of the same request adopts the pending operation" \
	"${KVE[@]}" create web1 --subject CN=web1.example.com --dns web1.example.com --eku serverAuth
grep -q '^adopted web1' "$TMP/out" || not_ok "create said 'adopted'"
expect_fail "a create with another policy while one is pending is refused" 7 "different policy" \
	"${KVE[@]}" create web1 --subject CN=other.example.com
expect_fail "create --policy with policy flags is a usage error" 2 "excludes" \
	"${KVE[@]}" create x1 --policy "$TMP/policy.json" --dns a.example
echo '{"key_props":{"kty":"RSA"},"x509_props":{"subject":"CN=a"},"issuer":{"name":"Self"}}' >"$TMP/self.json"
expect_fail "a policy file with another issuer is rejected" 3 "Unknown" \
	"${KVE[@]}" create x2 --policy "$TMP/self.json"
echo '{"key_props":{"kty":"RSA","bogus":1},"x509_props":{"subject":"CN=a"}}' >"$TMP/bogus.json"
expect_fail "a policy file with an unknown key is malformed" 4 "bogus" \
	"${KVE[@]}" create x3 --policy "$TMP/bogus.json"

# the key is not exportable unless asked
if "${KVE[@]}" status --json >"$TMP/status.json" 2>"$TMP/err" &&
	/usr/bin/python3 - "$TMP/status.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = {x["name"]: x for x in d["certificates"]}
assert c["web1"]["state"] == "pending" and c["dev1"]["state"] == "pending", c
assert c["web1"]["pending"]["request_id"] and c["web1"]["tags"] == {"team": "web"}
PY
then ok "status --json lists both as pending with request ids and tags"; else
	not_ok "status --json"; cat "$TMP/status.json" "$TMP/err" | diag; fi

expect_ok "export writes a request bundle" "${KVE[@]}" export --out "$TMP/req" --profile tls-server
if /usr/bin/python3 - "$TMP/req" "$EMU" <<'PY'
import hashlib, json, os, sys, subprocess
d, emu = sys.argv[1], sys.argv[2]
m = json.load(open(os.path.join(d, "manifest.json")))
assert m["format"] == "airlock-bundle" and m["kind"] == "request", m
names = {}
for e in m["entries"]:
    data = open(os.path.join(d, e["file"]), "rb").read()
    assert len(data) == e["size"] and hashlib.sha256(data).hexdigest() == e["sha256"]
    s = e["source"]
    assert s["type"] == "keyvault" and s["vault_url"] == emu and s["request_id"], s
    subprocess.run(["openssl", "req", "-inform", "DER", "-noout", "-verify"], input=data, check=True,
                   capture_output=True)
    names[s["certificate_name"]] = s["policy"]
assert names["web1"]["exportable"] is False and names["web1"]["dns_names"] == ["web1.example.com"], names
assert names["dev1"]["key_type"] == "EC" and names["dev1"]["validity_months"] == 6, names
PY
then ok "the request bundle reads back: hashes, CSR signatures, sources, policy snapshots"; else
	not_ok "the request bundle reads back"; fi
expect_fail "export never overwrites" 7 "exists" "${KVE[@]}" export --out "$TMP/req"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/d.key" \
	-subj /CN=device-7 -out "$TMP/Device-7.csr" 2>/dev/null
expect_ok "pack puts a plain CSR into a request bundle" "$KV" pack --csr "$TMP/Device-7.csr" \
	--profile mqtt-device --out "$TMP/packed"
grep -q '"label":"device-7.csr"' "$TMP/packed/manifest.json" && ok "pack labels by file name" ||
	not_ok "pack labels by file name"
echo garbage >"$TMP/bad.csr"
expect_fail "pack refuses what is not a CSR" 4 "PKCS#10" "$KV" pack --csr "$TMP/bad.csr" --out "$TMP/packed2"

if [ ! -x "$MKBUNDLE" ]; then
	skip "merge round trip" "$MKBUNDLE not built (make test-bins)"
	exit $T_FAILED
fi
kv_sign "$TMP/req" "$TMP/mb1" '{"days": 20}' || not_ok "signing the test merge bundle"

expect_fail "a merge bundle is refused against another root" 3 "pinned root" \
	"${KVE[@]}" merge "$TMP/mb1" --trust "$TMP/pki/other.pem"
cp -r "$TMP/mb1" "$TMP/mb-tampered"
/usr/bin/python3 - "$TMP/mb-tampered/manifest.json" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read().replace('"profile":"tls-server"', '"profile":"tls-servex"', 1)
open(p, "w").write(s)
PY
expect_fail "a tampered manifest is refused" 3 "" "${KVE[@]}" merge "$TMP/mb-tampered" --trust "$TMP/pki/root.pem"
[ "$(emu_stat merges web1)" = 0 ] && ok "nothing was merged by the refused bundles" ||
	not_ok "nothing was merged by the refused bundles"

expect_ok "merge verifies and merges" "${KVE[@]}" merge "$TMP/mb1" --trust "$TMP/pki/root.pem"
grep -q '2 merged' "$TMP/out" && ok "both merged" || { not_ok "both merged"; diag <"$TMP/out"; }
expect_ok "a second run is a no-op" "${KVE[@]}" merge "$TMP/mb1" --trust "$TMP/pki/root.pem" --json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["summary"]["already_merged"]==2, d' \
	"$TMP/out" && ok "second run: already merged" || not_ok "second run: already merged"
[ "$(emu_stat merges web1)" = 1 ] && [ "$(emu_stat merges dev1)" = 1 ] &&
	ok "exactly one merge per certificate (emulator stats)" || not_ok "exactly one merge per certificate"

# read back what Key Vault serves to applications: leaf + the station's chain
tok=$(emu_token)
if emu_ctl -H "Authorization: Bearer $tok" "$EMU/secrets/web1?api-version=7.5" >"$TMP/secret.json" &&
	/usr/bin/python3 - "$TMP/secret.json" "$TMP/mb1" "$TMP/pki/int.pem" <<'PY'
import base64, json, sys, glob
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12, Encoding
s = json.load(open(sys.argv[1]))
k, leaf, extra = pkcs12.load_key_and_certificates(base64.b64decode(s["value"]), None)
def pems(data):  # python3-cryptography 38 has no load_pem_x509_certificates
    end = b"-----END CERTIFICATE-----"
    return [x509.load_pem_x509_certificate(p + end) for p in data.split(end) if b"-----BEGIN" in p]
want = [c for f in glob.glob(sys.argv[2] + "/*web1.pem") for c in pems(open(f, "rb").read())]
inter = x509.load_pem_x509_certificate(open(sys.argv[3], "rb").read())
certs = ([leaf] if leaf is not None else []) + list(extra)  # no key: exportable false
assert want[0] in certs, "the leaf is not served"
assert inter in certs, "the intermediate is not in the served chain"
PY
then ok "the merged certificate reads back from the vault with the chain the station signed"; else
	not_ok "merged certificate read back with its chain"; cat "$TMP/secret.json" | head -5 | diag; fi

expect_ok "status after merge" "${KVE[@]}" status --within 30
grep -E '^web1 +expiring' "$TMP/out" >/dev/null && grep -q 'last merge bundle' "$TMP/out" &&
	ok "status: web1 expiring (20 days left), last bundle shown" ||
	{ not_ok "status after merge"; diag <"$TMP/out"; }

# an older bundle than the last one seen is refused
"${KVE[@]}" create web2 --subject CN=web2.example.com --dns web2.example.com >/dev/null 2>&1
"${KVE[@]}" export --out "$TMP/req2" --name 'web2' >/dev/null 2>&1
kv_sign "$TMP/req2" "$TMP/mb-old" "{\"created\": $(($(date +%s) - 86400))}"
expect_fail "a merge bundle older than the last one seen is refused" 3 "older" \
	"${KVE[@]}" merge "$TMP/mb-old" --trust "$TMP/pki/root.pem"
kv_sign "$TMP/req2" "$TMP/mb-wrongkey" '{"wrong_key": ["web2"]}'
"${KVE[@]}" merge "$TMP/mb-wrongkey" --trust "$TMP/pki/root.pem" >"$TMP/out" 2>&1
rc=$?
[ $rc = 3 ] && grep -q "web2 .*rejected .*not the pending CSR" "$TMP/out" &&
	ok "a certificate whose key is not the pending key is rejected (exit 3)" ||
	{ not_ok "key mismatch rejected (exit $rc)"; diag <"$TMP/out"; }
[ "$(emu_stat merge_attempts web2)" = 0 ] && ok "no merge was attempted with the wrong key" ||
	not_ok "no merge was attempted with the wrong key"

expect_ok "unpack writes one PEM per entry" "$KV" unpack "$TMP/mb1" --out "$TMP/unpacked" --trust "$TMP/pki/root.pem"
[ -f "$TMP/unpacked/web1.pem" ] && [ "$(grep -c BEGIN "$TMP/unpacked/web1.pem")" = 2 ] &&
	ok "unpack: web1.pem holds leaf and intermediate" || not_ok "unpack output"
expect_fail "unpack never overwrites" 7 "exists" "$KV" unpack "$TMP/mb1" --out "$TMP/unpacked" --trust "$TMP/pki/root.pem"
expect_fail "unpack refuses an unverified bundle" 3 "pinned root" "$KV" unpack "$TMP/mb1" --out "$TMP/u2" --trust "$TMP/pki/other.pem"
expect_ok "publish writes CRLs and CA certificates" "$KV" publish "$TMP/mb1" --to "$TMP/www" --trust "$TMP/pki/root.pem"
openssl crl -in "$TMP/www/intermediate.crl.pem" -noout 2>/dev/null &&
	openssl crl -inform DER -in "$TMP/www/intermediate.crl" -noout 2>/dev/null && [ -f "$TMP/www/root.pem" ] &&
	ok "publish: CRL as DER and PEM, CA certificates" || not_ok "publish output"

expect_ok "renew --dry-run lists what expires" "${KVE[@]}" renew --within 30 --dry-run
grep -q 'web1.*would-renew' "$TMP/out" && grep -q 'dev1.*would-renew' "$TMP/out" &&
	! grep -q 'web2' "$TMP/out" && [ "$(emu_stat creates web1)" = 1 ] &&
	ok "renew --dry-run: web1 and dev1 (20 days left) would renew, nothing created" ||
	{ not_ok "renew dry run"; diag <"$TMP/out"; }
expect_ok "renew --within 5 finds nothing to renew" "${KVE[@]}" renew --within 5
grep -q '^0 renewals' "$TMP/out" && ok "renew --within 5: nothing" || not_ok "renew --within 5: nothing"
expect_ok "renew starts a new version" "${KVE[@]}" renew --within 30
[ "$(emu_stat creates web1)" = 2 ] && ok "renew created a new version of web1" || not_ok "renew created a new version"
expect_ok "a second renew skips the pending renewal" "${KVE[@]}" renew --within 30
grep -q 'web1.*pending' "$TMP/out" && [ "$(emu_stat creates web1)" = 2 ] &&
	ok "renewal pending: not created again" || not_ok "renewal pending: not created again"
exit $T_FAILED
