#!/usr/bin/python3
"""Write a large request bundle (docs/airlock-bundle.5) for the benchmark:
N distinct, valid PKCS#10 requests, fast.

  mkcsrs.py --out DIR --count N [--key ec|rsa] [--source csr|kv]
            [--domain D] [--profile NAME] [--keys K] [--jobs J] [--pem DIR]

Generating a fresh key per request (tests/integration/mkreq.py) costs more
than signing it; here K keys (default 16) are made once and reused, each CSR
carrying its own name (bench-N.DOMAIN as CN and DNS SAN), so every CSR is
distinct and self-signed with a valid signature. --source csr (default)
keeps the manifest small: 100,000 Key Vault entries with their policy
snapshots would not fit in BUNDLE_MANIFEST_MAX (16 MiB). Prints the bundle id."""
import argparse, base64, hashlib, json, os, secrets, sys, time
from concurrent.futures import ProcessPoolExecutor
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

KEYS = []

def init(kind, nkeys, seed_pem):
    global KEYS
    KEYS = [serialization.load_pem_private_key(p, None) for p in seed_pem]

def csr_for(args):
    i, domain, eku = args
    key = KEYS[i % len(KEYS)]
    name = "bench-%d.%s" % (i, domain)
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
    b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    b = b.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(eku)]), critical=False)
    return i, name, b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--key", choices=["ec", "rsa"], default="ec")
    ap.add_argument("--source", choices=["csr", "kv"], default="csr")
    ap.add_argument("--domain", default="example.internal")
    ap.add_argument("--profile", default="tls-server")
    ap.add_argument("--keys", type=int, default=16)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--vault", default="https://airlock-bench.vault.azure.net")
    ap.add_argument("--pem", help="also write each CSR as PEM into this directory (openssl ca)")
    a = ap.parse_args()
    keys = [ec.generate_private_key(ec.SECP256R1()) if a.key == "ec" else
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            for _ in range(a.keys)]
    pems = [k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) for k in keys]
    parent, name = os.path.split(os.path.abspath(a.out))
    tmp = os.path.join(parent, ".%s.tmp-%s" % (name, secrets.token_hex(3)))
    os.mkdir(tmp)
    if a.pem:
        os.makedirs(a.pem, exist_ok=True)
    eku = "1.3.6.1.5.5.7.3.1"
    entries = [None] * a.count
    width = max(5, len(str(a.count - 1)))
    work = [(i, a.domain, eku) for i in range(a.count)]
    with ProcessPoolExecutor(max_workers=a.jobs, initializer=init,
                             initargs=(a.key, a.keys, pems)) as ex:
        for i, dns, der in ex.map(csr_for, work, chunksize=512):
            eid = "e%0*d" % (width, i)
            fname = eid + ".csr"
            with open(os.path.join(tmp, fname), "wb") as f:
                f.write(der)
            if a.pem:
                b64 = base64.encodebytes(der).decode().replace("\n", "")
                with open(os.path.join(a.pem, eid + ".pem"), "w") as f:
                    f.write("-----BEGIN CERTIFICATE REQUEST-----\n" +
                            "\n".join(b64[j:j + 64] for j in range(0, len(b64), 64)) +
                            "\n-----END CERTIFICATE REQUEST-----\n")
            if a.source == "kv":
                src = {"type": "keyvault", "vault_url": a.vault,
                       "certificate_name": "b%d" % i, "request_id": secrets.token_hex(16),
                       "policy": {"subject": "CN=" + dns, "dns_names": [dns], "ip_addresses": [],
                                  "ekus": [eku], "key_usage": ["digitalSignature"],
                                  "validity_months": 12,
                                  "key_type": "EC" if a.key == "ec" else "RSA",
                                  "exportable": False, "reuse_key": False}}
                e = {"id": eid, "source": src}
            else:
                e = {"id": eid, "source": {"type": "csr", "label": "d%d" % i},
                     "profile": a.profile}
            e.update({"file": fname, "size": len(der), "sha256": hashlib.sha256(der).hexdigest()})
            entries[i] = e
    man = {"format": "airlock-bundle", "version": 1, "kind": "request",
           "bundle_id": secrets.token_hex(16),
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "producer": "tests/bench/mkcsrs.py", "entries": entries}
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        f.write(json.dumps(man, separators=(",", ":")))
    os.rename(tmp, a.out)
    print(man["bundle_id"])

if __name__ == "__main__":
    main()
