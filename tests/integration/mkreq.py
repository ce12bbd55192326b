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

def make_csr(names, key_kind, eku, keyout=None):
    key = ec.generate_private_key(ec.SECP256R1()) if key_kind == "ec" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if keyout:
        open(keyout, "wb").write(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
    b = b.add_extension(x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in names]), critical=False)
    b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
    ekus = [x509.ObjectIdentifier(o) for o in EKU[eku]]
    b = b.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    csr = b.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)

HOSTILE = ["outside", "email-san", "ca-true", "keycertsign", "anyeku", "bad-sig",
           "rsa1024", "rsa-e3", "p521", "sha1", "cn-not-in-san", "bidi-cn",
           "ctrl-cn", "trailing", "wildcard", "underscore", "trailing-dot",
           "snapshot", "uri-san", "no-names", "name-constraints", "v2-request"]

def hostile_csr(kind, domain):
    """A CSR broken in exactly one way, and the DNS names Key Vault's policy
    would list for it."""
    from cryptography.x509 import UniformResourceIdentifier, RFC822Name
    key = ec.generate_private_key(ec.SECP256R1())
    names = ["h-%s.%s" % (kind, domain)]
    cn = names[0]
    san = [x509.DNSName(n) for n in names]
    exts = []
    alg = hashes.SHA256()
    if kind == "outside":
        names = ["evil.example.com"]; cn = names[0]; san = [x509.DNSName(cn)]
    elif kind == "email-san":
        san.append(RFC822Name("ops@" + domain))
    elif kind == "uri-san":
        san.append(UniformResourceIdentifier("https://" + names[0] + "/"))
    elif kind == "ca-true":
        exts.append((x509.BasicConstraints(ca=True, path_length=None), True))
    elif kind == "keycertsign":
        exts.append((x509.KeyUsage(True, False, False, False, False, True, True,
                                   False, False), True))
    elif kind == "anyeku":
        exts.append((x509.ExtendedKeyUsage([x509.ObjectIdentifier("2.5.29.37.0")]), False))
    elif kind == "name-constraints":
        exts.append((x509.NameConstraints([x509.DNSName(domain)], None), True))
    elif kind == "rsa1024":
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    elif kind == "rsa-e3":
        key = rsa.generate_private_key(public_exponent=3, key_size=2048)
    elif kind == "p521":
        key = ec.generate_private_key(ec.SECP521R1())
    elif kind == "sha1":
        alg = hashes.SHA1()
    elif kind == "cn-not-in-san":
        cn = "other." + domain
    elif kind == "bidi-cn":
        cn = "app\u202etxt.exe." + domain
    elif kind == "ctrl-cn":
        cn = "app\x1b[2J." + domain
    elif kind == "wildcard":
        names = ["*." + domain]; cn = names[0]; san = [x509.DNSName(cn)]
    elif kind == "underscore":
        names = ["a_b." + domain]; cn = names[0]; san = [x509.DNSName(cn)]
    elif kind == "trailing-dot":
        names = ["dot.%s." % domain]; cn = names[0]; san = [x509.DNSName(cn)]
    elif kind == "no-names":
        names = []
    b = x509.CertificateSigningRequestBuilder()
    if kind != "no-names":
        b = b.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    else:
        b = b.subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "x")]))
    for e, crit in exts:
        b = b.add_extension(e, critical=crit)
    der = b.sign(key, alg).public_bytes(serialization.Encoding.DER)
    if kind == "bad-sig":
        der = der[:-1] + bytes([der[-1] ^ 1])
    elif kind == "trailing":
        der = der + b"\x00\x00"
    elif kind == "v2-request":
        # version INTEGER 0 -> 1 inside CertificationRequestInfo
        i = der.index(b"\x02\x01\x00")
        der = der[:i] + b"\x02\x01\x01" + der[i + 3:]
    if kind == "snapshot":
        names = names + ["extra." + domain]
    return der, names

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
    ap.add_argument("--keyout", help="directory for the private keys (ENTRY.key)")
    ap.add_argument("--hostile", help="comma list of: " + ",".join(HOSTILE) + " or all")
    a = ap.parse_args()
    kinds = []
    if a.hostile:
        kinds = HOSTILE if a.hostile == "all" else a.hostile.split(",")
    parent, name = os.path.split(os.path.abspath(a.out))
    tmp = os.path.join(parent, ".%s.tmp-%s" % (name, secrets.token_hex(3)))
    os.mkdir(tmp)
    entries = []
    count = len(kinds) or (len(a.csr) if a.csr else a.count)
    for i in range(count):
        eid = "e%05d" % i
        if kinds:
            eid = "h-" + kinds[i]
            der, names = hostile_csr(kinds[i], a.domain)
        elif a.csr:
            der = open(a.csr[i], "rb").read()
            names = a.name or ["csr%d.%s" % (i, a.domain)]
        else:
            names = a.name if (a.name and i == 0) else \
                ["%s%d.%s" % ("dev" if a.source == "csr" else "app", i, a.domain)]
            der = make_csr(names, a.key, a.eku,
                           os.path.join(a.keyout, eid + ".key") if a.keyout else None)
        fname = eid + ".csr"
        open(os.path.join(tmp, fname), "wb").write(der)
        if a.source == "kv":
            src = {"type": "keyvault", "vault_url": a.vault,
                   "certificate_name": ("h-" + kinds[i]) if kinds else "app-%d" % i,
                   "request_id": secrets.token_hex(16),
                   "policy": {"subject": "CN=" + (names[0] if names else "x"), "dns_names": names,
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
