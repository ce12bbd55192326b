# Helpers for the airlock-kv integration tests (test_kv_*.sh), sourced by
# them. Run directly, it checks that the helpers themselves work: the Key
# Vault emulator starts and answers, and the test PKI verifies.
# shellcheck shell=bash

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	# shellcheck source=tests/integration/lib.sh
	. "$(dirname "$0")/lib.sh"
fi

MKBUNDLE=$BUILD/tests/unit/test_kv_mkbundle

# kv_emu_start: a fresh emulator on a free port; sets EMU (base URL),
# EMU_PID, KVE (airlock-kv with --endpoint/--cacert/--state) and the
# client-secret credential variables.
kv_emu_start() {
	local i
	mkdir -p "$TMP/emu"
	"$AIRLOCK_SRC/tests/kv-emulator/start" --port 0 --state "$TMP/emu" \
		>"$TMP/emu.out" 2>"$TMP/emu.err" &
	EMU_PID=$!
	t_on_exit "kill $EMU_PID 2>/dev/null; wait $EMU_PID 2>/dev/null"
	for i in $(seq 150); do
		grep -q '^ready' "$TMP/emu.out" 2>/dev/null && break
		sleep 0.1
	done
	EMU_PORT=$(awk '/^ready/{print $2}' "$TMP/emu.out")
	if [ -z "$EMU_PORT" ]; then
		echo "not ok - the Key Vault emulator did not start"
		sed 's/^/#   /' "$TMP/emu.err" | head -20
		exit 1
	fi
	EMU=https://127.0.0.1:$EMU_PORT
	export AZURE_TENANT_ID=72f988bf-86f1-41af-91ab-2d7cd011db47
	export AZURE_CLIENT_ID=airlock-kv-test
	export AZURE_CLIENT_SECRET=${CANARY_SECRET:-not-a-canary}
	export AZURE_AUTHORITY_HOST=$EMU
	unset AZURE_FEDERATED_TOKEN_FILE IDENTITY_ENDPOINT IDENTITY_HEADER
	export AIRLOCK_IMDS_ENDPOINT=https://127.0.0.1:1 # never the real IMDS
	KVE=("$KV" --endpoint "$EMU" --cacert "$TMP/emu/ca.pem" --state "$TMP/state")
}
emu_ctl() { curl -sS --max-time 20 --cacert "$TMP/emu/ca.pem" "$@"; }
emu_faults() {
	emu_ctl -X POST "$EMU/_emulator/faults" -H 'content-type: application/json' -d "$1" >/dev/null
}
emu_stat() { # emu_stat merges NAME -> count
	emu_ctl "$EMU/_emulator/stats" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'].get('$2',0))"
}
# emu_token: a bearer token from the emulator's token endpoint (test use).
emu_token() {
	emu_ctl -X POST "$EMU/$AZURE_TENANT_ID/oauth2/v2.0/token" \
		-d "grant_type=client_credentials&client_id=t&client_secret=t&scope=https%3A%2F%2Fvault.azure.net%2F.default" |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# The station side for tests: a software PKI and a signer in Python
# (python3-cryptography), and lib/bundle.h's writer via $MKBUNDLE.
kv_pki_tool() {
	cat >"$TMP/pki.py" <<'PY'
import datetime, json, os, secrets, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID, ObjectIdentifier

NOW = datetime.datetime.utcnow()
EKU = ObjectIdentifier("1.3.6.1.4.1.59999.1.1")

def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

def save(d, stem, key, cert):
    with open(os.path.join(d, stem + ".key"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(os.path.join(d, stem + ".pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))

def ca(cn, key, issuer_cert, issuer_key, pathlen):
    b = (x509.CertificateBuilder().subject_name(name(cn))
         .issuer_name(issuer_cert.subject if issuer_cert else name(cn))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(NOW - datetime.timedelta(hours=1))
         .not_valid_after(NOW + datetime.timedelta(days=3650))
         .add_extension(x509.BasicConstraints(ca=True, path_length=pathlen), critical=True)
         .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer_cert:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())

def pki(d):
    os.makedirs(d, exist_ok=True)
    rk = ec.generate_private_key(ec.SECP256R1()); root = ca("airlock test root", rk, None, None, 1)
    ik = ec.generate_private_key(ec.SECP256R1()); inter = ca("airlock test intermediate", ik, root, rk, 0)
    sk = ec.generate_private_key(ec.SECP256R1())
    st = (x509.CertificateBuilder().subject_name(name("airlock test station bundle key"))
          .issuer_name(inter.subject).public_key(sk.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(NOW - datetime.timedelta(hours=1)).not_valid_after(NOW + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
          .add_extension(x509.ExtendedKeyUsage([EKU]), critical=False)
          .sign(ik, hashes.SHA256()))
    ok = ec.generate_private_key(ec.SECP256R1()); other = ca("another root", ok, None, None, 1)
    save(d, "root", rk, root); save(d, "int", ik, inter); save(d, "station", sk, st); save(d, "other", ok, other)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(inter.subject)
           .last_update(NOW).next_update(NOW + datetime.timedelta(days=7)).sign(ik, hashes.SHA256()))
    with open(os.path.join(d, "int.crl"), "wb") as f:
        f.write(crl.public_bytes(serialization.Encoding.DER))

def load(d, stem):
    with open(os.path.join(d, stem + ".key"), "rb") as f:
        k = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(d, stem + ".pem"), "rb") as f:
        c = x509.load_pem_x509_certificate(f.read())
    return k, c

def sign(reqdir, pkidir, outdir, parent, bname, opts):
    ik, inter = load(pkidir, "int")
    m = json.load(open(os.path.join(reqdir, "manifest.json")))
    os.makedirs(outdir, exist_ok=True)
    entries = []
    for e in m["entries"]:
        src = e["source"]
        who = src.get("certificate_name") or src.get("label")
        if who in opts.get("drop", []):
            continue
        data = open(os.path.join(reqdir, e["file"]), "rb").read()
        csr = (x509.load_pem_x509_csr(data) if data.startswith(b"-----")
               else x509.load_der_x509_csr(data))
        pub = csr.public_key()
        if who in opts.get("wrong_key", []):
            pub = ec.generate_private_key(ec.SECP256R1()).public_key()
        sans = [x509.DNSName(n) for n in src.get("policy", {}).get("dns_names", [])] or [x509.DNSName("x.test")]
        serial = secrets.randbits(127) | (1 << 126)
        leaf = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(inter.subject)
                .public_key(pub).serial_number(serial)
                .not_valid_before(NOW - datetime.timedelta(minutes=5))
                .not_valid_after(NOW + datetime.timedelta(days=opts.get("days", 90)))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ik.public_key()), critical=False)
                .sign(ik, hashes.SHA256()))
        path = os.path.join(outdir, e["id"] + ".pem")
        with open(path, "wb") as f:
            f.write(leaf.public_bytes(serialization.Encoding.PEM) + inter.public_bytes(serialization.Encoding.PEM))
        entries.append({"meta": {"id": e["id"], "request_id": e["id"], "source": src, "serial": "%x" % serial,
                                 "profile": e.get("profile", "tls-server")},
                        "file": e["id"] + ".pem", "path": path})
    spec = {"parent": parent, "name": bname, "request_bundle_id": m["bundle_id"],
            "key": os.path.join(pkidir, "station.key"), "cert": os.path.join(pkidir, "station.pem"),
            "chain": [os.path.join(pkidir, "int.pem")], "entries": entries,
            "files": [{"role": "ca_cert", "file": "intermediate.pem", "path": os.path.join(pkidir, "int.pem")},
                      {"role": "ca_cert", "file": "root.pem", "path": os.path.join(pkidir, "root.pem")},
                      {"role": "crl", "file": "intermediate.crl", "path": os.path.join(pkidir, "int.crl")}]}
    if "created" in opts:
        spec["created"] = opts["created"]
    json.dump(spec, open(os.path.join(outdir, "spec.json"), "w"))

if sys.argv[1] == "pki":
    pki(sys.argv[2])
else:
    sign(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6],
         json.loads(sys.argv[7]) if len(sys.argv) > 7 else {})
PY
}
# kv_pki: make $TMP/pki (root, intermediate, station key, CRL, other root).
kv_pki() { kv_pki_tool && /usr/bin/python3 "$TMP/pki.py" pki "$TMP/pki"; }
# kv_sign REQDIR OUTBUNDLE [OPTS-JSON]: sign every request like a station
# would, and write the signed merge bundle OUTBUNDLE.
kv_sign() {
	local work=$TMP/sign.$RANDOM
	/usr/bin/python3 "$TMP/pki.py" sign "$1" "$TMP/pki" "$work" "$(dirname "$2")" "$(basename "$2")" "${3:-{\}}" &&
		"$MKBUNDLE" merge "$work/spec.json" >/dev/null
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	kv_emu_start
	if emu_ctl "$EMU/certificates?api-version=7.5" -o /dev/null -w '%{http_code}' | grep -q 401; then
		ok "the Key Vault emulator answers with a 401 challenge"
	else
		not_ok "the Key Vault emulator answers with a 401 challenge"
	fi
	if kv_pki && openssl verify -CAfile "$TMP/pki/root.pem" -untrusted "$TMP/pki/int.pem" \
		-purpose any "$TMP/pki/station.pem" >/dev/null 2>&1; then
		ok "test PKI: the station key chains to the test root"
	else
		not_ok "test PKI: the station key chains to the test root"
	fi
	exit $T_FAILED
fi
