#!/usr/bin/python3
"""Write a request bundle (docs/airlock-bundle.5) for tests: N CSRs made with
python3-cryptography, as Key Vault would (keyvault source with a policy
snapshot) or as plain CSRs (csr source with a label).

  mkreq.py --out DIR [--count N] [--source kv|csr] [--domain D] [--key ec|rsa]
           [--profile NAME] [--eku server|client|both]
           [--name NAME]...         DNS names of the first entry
           [--csr FILE]...          use these CSR files (DER or PEM) instead

The bundle is written under a temporary name and renamed, as the real
writer does."""
import argparse, hashlib, json, os, secrets, sys, time
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID

EKU = {"server": ["1.3.6.1.5.5.7.3.1"], "client": ["1.3.6.1.5.5.7.3.2"],
       "both": ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]}

def make_csr(names, key_kind, eku):
    key = ec.generate_private_key(ec.SECP256R1()) if key_kind == "ec" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
    b = b.add_extension(x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in names]), critical=False)
    b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
    ekus = [x509.ObjectIdentifier(o) for o in EKU[eku]]
    b = b.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    csr = b.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--source", choices=["kv", "csr"], default="kv")
    ap.add_argument("--domain", default="example.internal")
    ap.add_argument("--key", choices=["ec", "rsa"], default="ec")
    ap.add_argument("--profile")
    ap.add_argument("--eku", choices=list(EKU), default="server")
    ap.add_argument("--name", action="append", default=[])
    ap.add_argument("--csr", action="append", default=[])
    ap.add_argument("--vault", default="https://airlock-test.vault.azure.net")
    a = ap.parse_args()
    parent, name = os.path.split(os.path.abspath(a.out))
    tmp = os.path.join(parent, ".%s.tmp-%s" % (name, secrets.token_hex(3)))
    os.mkdir(tmp)
    entries = []
    count = len(a.csr) if a.csr else a.count
    for i in range(count):
        eid = "e%05d" % i
        if a.csr:
            der = open(a.csr[i], "rb").read()
            names = a.name or ["csr%d.%s" % (i, a.domain)]
        else:
            names = a.name if (a.name and i == 0) else ["app%d.%s" % (i, a.domain)]
            der = make_csr(names, a.key, a.eku)
        fname = eid + ".csr"
        open(os.path.join(tmp, fname), "wb").write(der)
        if a.source == "kv":
            src = {"type": "keyvault", "vault_url": a.vault,
                   "certificate_name": "app-%d" % i,
                   "request_id": secrets.token_hex(16),
                   "policy": {"subject": "CN=" + names[0], "dns_names": names,
                              "ip_addresses": [], "ekus": EKU[a.eku],
                              "key_usage": ["digitalSignature"],
                              "validity_months": 12,
                              "key_type": "EC" if a.key == "ec" else "RSA",
                              "exportable": False, "reuse_key": False}}
            if a.key == "ec":
                src["policy"]["curve"] = "P-256"
            else:
                src["policy"]["key_size"] = 2048
        else:
            src = {"type": "csr", "label": "device-%d" % i}
        e = {"id": eid, "source": src}
        if a.profile:
            e["profile"] = a.profile
        e.update({"file": fname, "size": len(der),
                  "sha256": hashlib.sha256(der).hexdigest()})
        entries.append(e)
    man = {"format": "airlock-bundle", "version": 1, "kind": "request",
           "bundle_id": secrets.token_hex(16),
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "producer": "mkreq.py (tests)", "entries": entries}
    open(os.path.join(tmp, "manifest.json"), "w").write(
        json.dumps(man, separators=(",", ":")))
    os.rename(tmp, a.out)
    print(man["bundle_id"])

if __name__ == "__main__":
    main()
