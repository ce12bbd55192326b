#!/usr/bin/env bash
# airlock-kv refuses servers whose TLS certificate does not verify: a wrong
# name, a self-signed certificate, an expired one; and plain http. Exit 6,
# and no credential is ever sent (the servers log what they receive).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kv_lib.sh"

command -v openssl >/dev/null || { skip "TLS refusals" "no openssl"; exit 0; }
/usr/bin/python3 - "$TMP/tls" <<'PY'
import datetime, os, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import ipaddress
d = sys.argv[1]; os.makedirs(d)
now = datetime.datetime.utcnow()
def nm(cn): return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def w(stem, key, cert):
    open(os.path.join(d, stem + ".pem"), "wb").write(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM))
cak = ec.generate_private_key(ec.SECP256R1())
ca = (x509.CertificateBuilder().subject_name(nm("tls test CA")).issuer_name(nm("tls test CA"))
      .public_key(cak.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(days=30))
      .not_valid_after(now + datetime.timedelta(days=30))
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(cak, hashes.SHA256()))
open(os.path.join(d, "ca.pem"), "wb").write(ca.public_bytes(serialization.Encoding.PEM))
def leaf(stem, san, nb, na, issuer_key=cak, issuer=ca, self_signed=False):
    k = ec.generate_private_key(ec.SECP256R1())
    b = (x509.CertificateBuilder().subject_name(nm(stem)).issuer_name(nm(stem) if self_signed else issuer.subject)
         .public_key(k.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now + nb).not_valid_after(now + na)
         .add_extension(x509.SubjectAlternativeName(san), critical=False))
    w(stem, k, b.sign(k if self_signed else issuer_key, hashes.SHA256()))
day = datetime.timedelta(days=1)
leaf("wrongname", [x509.DNSName("wrong.example")], -day, day)
leaf("expired", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], -10 * day, -day)
leaf("selfsigned", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], -day, day, self_signed=True)
leaf("good", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], -day, day)
PY

export AZURE_TENANT_ID=t AZURE_CLIENT_ID=c AZURE_CLIENT_SECRET=tls-canary-secret AZURE_AUTHORITY_HOST=https://127.0.0.1:9
export AIRLOCK_IMDS_ENDPOINT=https://127.0.0.1:9
serve() { # serve STEM: openssl s_server on a free port; sets SPORT
	local i
	SPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	openssl s_server -quiet -accept "127.0.0.1:$SPORT" -cert "$TMP/tls/$1.pem" -www \
		>"$TMP/s_$1.log" 2>&1 </dev/null &
	SPID=$!
	t_on_exit "kill $SPID 2>/dev/null"
	for i in $(seq 50); do
		(echo >/dev/tcp/127.0.0.1/$SPORT) 2>/dev/null && break
		sleep 0.1
	done
}
for c in wrongname expired selfsigned; do
	serve $c
	expect_fail "a server with a $c certificate is refused (exit 6)" 6 "TLS verification failed" \
		timeout 30 "$KV" --endpoint "https://127.0.0.1:$SPORT" --cacert "$TMP/tls/ca.pem" \
		--state "$TMP/state" status
	kill $SPID 2>/dev/null
done
serve good
# the good server speaks TLS but is no Key Vault: past TLS, refused as HTTP
expect_fail "with a valid certificate the TLS layer passes (then: not a Key Vault)" 6 "unexpected HTTP response" \
	timeout 30 "$KV" --endpoint "https://127.0.0.1:$SPORT" --cacert "$TMP/tls/ca.pem" --state "$TMP/state" status
kill $SPID 2>/dev/null
expect_fail "plain http endpoints are refused" 2 "https" \
	"$KV" --endpoint "http://127.0.0.1:9" --state "$TMP/state" status
if grep -rq tls-canary-secret "$TMP"/s_*.log "$TMP/out" "$TMP/err" 2>/dev/null; then
	not_ok "the client secret reached a server or the output"
else
	ok "the client secret never reached the refused servers or the output"
fi
exit $T_FAILED
