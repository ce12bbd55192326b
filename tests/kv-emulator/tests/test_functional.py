#!/usr/bin/python3
"""Functional tests of the Key Vault emulator (env KVEMU_URL, KVEMU_CA)."""
import base64
import hashlib
import re
import socket
import ssl
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvlib import Emu, Tap, TestCA  # noqa: E402

E = Emu()
CA = TestCA()
T = Tap("functional")
CHALLENGE_RE = re.compile(r'^Bearer authorization="https://login\.windows\.net/[0-9a-f-]{36}", '
                          r'resource="https://vault\.azure\.net"$')
POLICY = {"policy": {"x509_props": {"subject": "CN=svc.example.test"}, "issuer": {"name": "Unknown"}}}


def eq(a, b, what=""):
    assert a == b, "%s: %r != %r" % (what, a, b)


def create(name, body=None, api="7.6"):
    r = E.kv("POST", "/certificates/%s/create" % name, body or POLICY, api=api)
    eq(r.status, 202, "create %s %r" % (name, r))
    return r


def pending(name):
    r = E.kv("GET", "/certificates/%s/pending" % name)
    return r


def csr_of(name):
    r = pending(name)
    eq(r.status, 200, "pending")
    return base64.b64decode(r.json["csr"])


def merge(name, leaf_der=None, x5c=None):
    if x5c is None:
        leaf_der = leaf_der or CA.sign(csr_of(name))
        x5c = CA.x5c(leaf_der)
    return E.kv("POST", "/certificates/%s/pending/merge" % name, {"x5c": x5c})


def t_challenge():
    r = E.kv("GET", "/certificates/x", auth=False)
    eq(r.status, 401)
    assert CHALLENGE_RE.match(r.header("WWW-Authenticate") or ""), r.header("WWW-Authenticate")
    eq(r.json["error"]["code"], "Unauthorized")
    assert r.header("Content-Type").startswith("application/json")
    r = E.kv("GET", "/certificates/x", auth=False, headers={"Authorization": "Bearer not-issued-by-emulator"})
    eq(r.status, 401, "unknown token")
    assert CHALLENGE_RE.match(r.header("WWW-Authenticate") or "")


def t_api_versions():
    for v in ("7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01"):
        r = E.kv("GET", "/certificates", api=v)
        eq(r.status, 200, "api-version " + v)
    r = E.kv("GET", "/certificates", api=None)
    eq(r.status, 400, "missing api-version")
    eq(r.json["error"]["code"], "BadParameter")
    r = E.kv("GET", "/certificates", api="6.0")
    eq(r.status, 400, "bad api-version")


def t_tokens():
    r = E.raw("POST", "/tenant-x/oauth2/v2.0/token", body=b"grant_type=client_credentials&client_id=a&client_secret=b"
                                                          b"&scope=https%3A%2F%2Fvault.azure.net%2F.default",
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    eq(r.status, 200)
    j = r.json
    eq(j["token_type"], "Bearer")
    assert isinstance(j["expires_in"], int) and j["access_token"]
    r = E.raw("POST", "/tenant-x/oauth2/v2.0/token", body=b"grant_type=password&client_id=a",
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    eq(r.status, 400, "unsupported grant")
    r = E.raw("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net")
    eq(r.status, 400, "IMDS without Metadata header")
    r = E.raw("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net",
              headers={"Metadata": "true"})
    eq(r.status, 200, "IMDS")
    j = r.json
    assert isinstance(j["expires_in"], str) and isinstance(j["expires_on"], str), j
    r = E.raw("GET", "/certificates?api-version=7.6", headers={"Authorization": "Bearer " + j["access_token"]})
    eq(r.status, 200, "IMDS token accepted")


def t_create_defaults_and_csr():
    r = create("defaults", {"policy": {"x509_props": {
        "subject": "C=US, O=Airlock Test, CN=svc.example.test",
        "sans": {"dns_names": ["svc.example.test"], "emails": ["a@example.test"], "upns": ["u@example.test"]}},
        "issuer": {"name": "Unknown"}}})
    loc = r.header("Location")
    assert loc.startswith(E.url + "/certificates/defaults/pending?api-version=7.6&request_id="), loc
    eq(r.header("Retry-After"), "10")
    op = r.json
    eq(op["status"], "inProgress")
    eq(op["id"], E.url + "/certificates/defaults/pending")
    assert re.match(r"^[0-9a-f]{32}$", op["request_id"])
    assert loc.endswith(op["request_id"])
    csr = x509.load_der_x509_csr(base64.b64decode(op["csr"]))
    assert csr.is_signature_valid
    eq([a.oid for a in csr.subject], [NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.COUNTRY_NAME],
       "subject RDN order (LDAP string order reversed, as the service does)")
    pub = csr.public_key()
    assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == 2048
    ku = csr.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE)
    assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment
    assert not ku.value.key_cert_sign
    eku = csr.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
    eq(list(eku), [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    bc = csr.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
    eq(bc.ca, False)
    san = csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    eq(san.get_values_for_type(x509.DNSName), ["svc.example.test"])
    eq(san.get_values_for_type(x509.RFC822Name), ["a@example.test"])
    eq(len(san.get_values_for_type(x509.OtherName)), 1, "UPN otherName")
    p = E.kv("GET", "/certificates/defaults/policy").json
    eq(p["key_props"], {"exportable": True, "kty": "RSA", "key_size": 2048, "reuse_key": False})
    eq(p["x509_props"]["validity_months"], 12)
    eq(p["x509_props"]["ekus"], ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"])
    eq(p["x509_props"]["key_usage"], ["digitalSignature", "keyEncipherment"])
    eq(p["secret_props"]["contentType"], "application/x-pkcs12")
    # the latest version while pending: disabled, no cer
    b = E.kv("GET", "/certificates/defaults").json
    eq(b["attributes"]["enabled"], False)
    assert "cer" not in b and "x5t" not in b
    assert re.match(r"^%s/certificates/defaults/[0-9a-f]{32}$" % re.escape(E.url), b["id"]), b["id"]


def t_create_ec_and_ip_uri_sans():
    r = create("ec384", {"policy": {"key_props": {"kty": "EC", "crv": "P-384", "exportable": False},
                                    "x509_props": {"subject": "CN=ec", "key_usage": ["digitalSignature"],
                                                   "ekus": ["1.3.6.1.5.5.7.3.2"],
                                                   "sans": {"uris": ["spiffe://t/x"], "ipAddresses": ["10.0.0.1"]}},
                                    "issuer": {"name": "Unknown"}}}, api="2025-07-01")
    csr = x509.load_der_x509_csr(base64.b64decode(r.json["csr"]))
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey) and csr.public_key().curve.name == "secp384r1"
    san = csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    eq(san.get_values_for_type(x509.UniformResourceIdentifier), ["spiffe://t/x"])
    eq([str(i) for i in san.get_values_for_type(x509.IPAddress)], ["10.0.0.1"])


def t_pending_pkcs10():
    create("p10")
    r = E.kv("GET", "/certificates/p10/pending", headers={"Accept": "application/pkcs10"})
    eq(r.status, 200)
    eq(r.header("Content-Type"), "application/pkcs10; charset=utf-8")
    x509.load_der_x509_csr(base64.b64decode(r.data))
    eq(r.data.decode(), pending("p10").json["csr"], "bare base64 DER equals JSON csr")


def t_merge():
    create("m1")
    leaf = CA.sign(csr_of("m1"), days=40)
    r = merge("m1", leaf)
    eq(r.status, 201, "merge %r" % r)
    eq(r.header("Location"), E.url + "/certificates/m1?api-version=7.6")
    b = r.json
    eq(base64.b64decode(b["cer"]), leaf)
    eq(b["x5t"], base64.urlsafe_b64encode(hashlib.sha1(leaf).digest()).rstrip(b"=").decode())
    cert = x509.load_der_x509_certificate(leaf)
    eq(b["attributes"]["nbf"], int(cert.not_valid_before.timestamp() - time.timezone) if False else
       int(cert.not_valid_before.replace(tzinfo=__import__("datetime").timezone.utc).timestamp()))
    eq(b["attributes"]["exp"], int(cert.not_valid_after.replace(tzinfo=__import__("datetime").timezone.utc).timestamp()))
    assert all(isinstance(b["attributes"][k], int) for k in ("nbf", "exp", "created", "updated"))
    eq(b["attributes"]["enabled"], True)
    op = pending("m1").json
    eq(op["status"], "completed")
    eq(op["target"], E.url + "/certificates/m1")
    g = E.kv("GET", "/certificates/m1").json
    eq(g["x5t"], b["x5t"])
    eq(E.control("GET", "stats")["merges"].get("m1"), 1)
    # merging again onto a completed operation is refused and not applied twice
    r = merge("m1", leaf)
    eq(r.status, 400)
    eq(E.control("GET", "stats")["merges"].get("m1"), 1)


def t_merge_mismatch():
    create("mm")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])).sign(other, __import__(
            "cryptography.hazmat.primitives.hashes", fromlist=["SHA256"]).SHA256())
    leaf = CA.sign(csr.public_bytes(serialization.Encoding.DER))
    r = merge("mm", leaf)
    eq(r.status, 400)
    eq(r.json["error"]["code"], "BadParameter")
    eq(r.json["error"]["message"], "The public key of the end-entity certificate in the specified X.509 certificate "
                                   "content does not match the public part of the specified private key. Please check "
                                   "if certificate is valid.")
    eq(pending("mm").json["status"], "inProgress")
    r = merge("mm", x5c=["not base64!"])
    eq(r.status, 400)


def t_conflicts():
    create("cf")
    r = E.kv("POST", "/certificates/cf/create", POLICY)
    eq(r.status, 409, "create while inProgress")
    eq(r.json["error"]["code"], "Conflict")
    # parallel mutations of one pending operation: hold the merge inside the service for 1.5 s
    E.control("POST", "faults", {"method": "POST", "path": "^/certificates/cf/pending/merge$", "action": "hold",
                                 "hold_ms": 1500})
    leaf = CA.sign(csr_of("cf"))
    res = {}
    th = threading.Thread(target=lambda: res.setdefault("m", merge("cf", leaf)))
    th.start()
    time.sleep(0.5)
    r2 = E.kv("PATCH", "/certificates/cf/pending", {"cancellation_requested": True})
    r3 = merge("cf", leaf)
    th.join(20)
    eq(res["m"].status, 201, "held merge")
    eq(r2.status, 409, "parallel PATCH")
    eq(r2.json["error"]["code"], "Conflict")
    assert "sequential" in r2.json["error"]["message"]
    eq(r3.status, 409, "parallel merge")
    eq(E.control("GET", "stats")["merges"].get("cf"), 1, "zero double merges")


def t_cancel_delete():
    create("cd")
    r = E.kv("PATCH", "/certificates/cd/pending", {"cancellation_requested": True})
    eq(r.status, 200)
    eq(r.json["cancellation_requested"], True)
    r = E.kv("DELETE", "/certificates/cd/pending")
    eq(r.status, 200)
    eq(r.json["id"], E.url + "/certificates/cd/pending")
    r = pending("cd")
    eq(r.status, 404)
    eq(r.json["error"], {"code": "PendingCertificateNotFound", "message": "Pending certificate not found: cd"})
    # as in the Java recordings: the certificate (its disabled, cer-less version) remains
    r = E.kv("GET", "/certificates/cd")
    eq(r.status, 200)
    eq(r.json["attributes"]["enabled"], False)
    assert "cer" not in r.json and "pending" not in r.json


def t_versions_renewal():
    create("rv")
    v1 = merge("rv").json
    create("rv")
    latest = E.kv("GET", "/certificates/rv").json
    eq(latest["attributes"]["enabled"], False)
    assert "cer" not in latest
    assert latest["id"] != v1["id"]
    r = E.kv("GET", "/certificates/rv/versions", query={"maxresults": 1})
    items, link = r.json["value"], r.json["nextLink"]
    n = 0
    while link and n < 10:
        n += 1
        j = E.raw("GET", link, headers={"Authorization": "Bearer " + E.token}).json
        items += j["value"]
        link = j["nextLink"]
    eq(len(items), 2)
    with_cer = [i for i in items if "x5t" in i]
    eq([i["id"] for i in with_cer], [v1["id"]])
    old = E.kv("GET", "/certificates/rv/" + v1["id"].rsplit("/", 1)[1]).json
    eq(old["cer"], v1["cer"])
    r = E.kv("GET", "/certificates/rv/" + "0" * 32)
    eq(r.status, 404)
    # new key on renewal (reuse_key false)
    c1 = x509.load_der_x509_certificate(base64.b64decode(v1["cer"]))
    c2 = x509.load_der_x509_csr(csr_of("rv"))
    assert c1.public_key().public_numbers() != c2.public_key().public_numbers()


def t_list_paging():
    E.control("POST", "reset")
    E.token = None
    for i in range(7):
        create("pg%d" % i)
    merge("pg0")
    merge("pg1")
    r = E.kv("GET", "/certificates")
    eq([i["id"].rsplit("/", 1)[1] for i in r.json["value"]], ["pg0", "pg1"], "includePending default false")
    eq(r.json["nextLink"], None)
    for bad in ("0", "26", "x"):
        eq(E.kv("GET", "/certificates", query={"maxresults": bad}).status, 400, "maxresults " + bad)
    E.control("POST", "config", {"empty_pages": 1})
    try:
        r = E.kv("GET", "/certificates", query={"maxresults": 3, "includePending": "true"})
        pages, names, empties = 1, [], 0
        while True:
            j = r.json
            names += [i["id"].rsplit("/", 1)[1] for i in j["value"]]
            empties += not j["value"]
            assert len(j["value"]) <= 3
            if not j["nextLink"]:
                break
            assert "$skiptoken=" in j["nextLink"] and j["nextLink"].startswith(E.url + "/certificates?api-version=7.6")
            r = E.raw("GET", j["nextLink"], headers={"Authorization": "Bearer " + E.token})
            eq(r.status, 200)
            pages += 1
            assert pages < 30
        eq(names, ["pg%d" % i for i in range(7)])
        assert empties >= 3, empties
    finally:
        E.control("POST", "config", {"empty_pages": 0})
    pend = [i for i in E.kv("GET", "/certificates", query={"includePending": "true"}).json["value"]
            if i["id"].endswith("/pg5")][0]
    eq(pend["attributes"]["enabled"], False)
    assert "x5t" not in pend


def t_policy_update():
    create("pol")
    r = E.kv("PATCH", "/certificates/pol/policy", {"x509_props": {"validity_months": 3},
                                                  "key_props": {"exportable": False}})
    eq(r.status, 200)
    p = r.json
    eq(p["x509_props"]["validity_months"], 3)
    eq(p["x509_props"]["subject"], "CN=svc.example.test")
    eq(p["key_props"]["exportable"], False)
    eq(p["id"], E.url + "/certificates/pol/policy")
    eq(E.kv("GET", "/certificates/pol/policy").json["x509_props"]["validity_months"], 3)
    eq(E.kv("GET", "/certificates/nope/policy").status, 404)


def t_secrets():
    pol = {"policy": {"x509_props": {"subject": "CN=s12"}, "issuer": {"name": "Unknown"},
                      "secret_props": {"contentType": "application/x-pkcs12"}}}
    create("s12", pol)
    r = E.kv("GET", "/secrets/s12")
    eq(r.status, 403, "secret of a pending certificate")
    eq(r.json["error"]["code"], "Forbidden")
    leaf = CA.sign(csr_of("s12"))
    merge("s12", leaf)
    s = E.kv("GET", "/secrets/s12").json
    eq(s["contentType"], "application/x-pkcs12")
    eq(s["managed"], True)
    key, cert, extra = pkcs12.load_key_and_certificates(base64.b64decode(s["value"]), None)
    eq(cert.public_bytes(serialization.Encoding.DER), leaf)
    eq(key.public_key().public_numbers(), cert.public_key().public_numbers())
    eq(len(extra), 1, "chain in the PKCS#12")
    pol["policy"]["secret_props"]["contentType"] = "application/x-pem-file"
    pol["policy"]["x509_props"]["subject"] = "CN=spem"
    create("spem", pol)
    leaf = CA.sign(csr_of("spem"))
    b = merge("spem", leaf).json
    ver = b["id"].rsplit("/", 1)[1]
    s = E.kv("GET", "/secrets/spem/" + ver).json
    eq(s["contentType"], "application/x-pem-file")
    v = s["value"]
    assert v.startswith("-----BEGIN PRIVATE KEY-----"), v[:40]
    eq(v.count("-----BEGIN CERTIFICATE-----"), 2, "leaf + chain")
    k = serialization.load_pem_private_key(v.encode(), None)
    eq(k.public_key().public_numbers(), x509.load_der_x509_certificate(leaf).public_key().public_numbers())
    eq(E.kv("GET", "/secrets/unknown-secret").status, 404)


def t_self_issuer():
    r = create("self1", {"policy": {"x509_props": {"subject": "CN=self1"}, "issuer": {"name": "Self"}}})
    eq(r.json["status"], "inProgress")
    t0 = time.time()
    while time.time() - t0 < 15:
        op = pending("self1").json
        if op["status"] != "inProgress":
            break
        time.sleep(0.3)
    eq(op["status"], "completed")
    b = E.kv("GET", "/certificates/self1").json
    c = x509.load_der_x509_certificate(base64.b64decode(b["cer"]))
    eq(c.subject, c.issuer)
    eq(b["attributes"]["enabled"], True)


def t_faults():
    create("ft")
    # 429 with Retry-After, without, with retry-after-ms; 503; each for the next N=1 matching request
    E.control("POST", "faults", {"faults": [
        {"method": "GET", "path": "^/certificates/ft/pending$", "action": "throttle", "retry_after": 3},
        {"method": "GET", "path": "^/certificates/ft/pending$", "action": "throttle"},
        {"method": "GET", "path": "^/certificates/ft/pending$", "action": "throttle", "retry_after_ms": 250},
        {"method": "GET", "path": "^/certificates/ft/pending$", "action": "error", "status": 503, "count": 2},
        {"method": "GET", "path": "^/certificates/ft/pending$", "action": "latency", "latency_ms": 700},
    ]})
    r = pending("ft")
    eq(r.status, 429)
    eq(r.json["error"]["code"], "Throttled")
    eq(r.header("Retry-After"), "3")
    r = pending("ft")
    eq(r.status, 429)
    eq(r.header("Retry-After"), None)
    r = pending("ft")
    eq((r.status, r.header("retry-after-ms")), (429, "250"))
    eq(pending("ft").status, 503)
    eq(pending("ft").status, 503)
    t0 = time.time()
    eq(pending("ft").status, 200)
    assert time.time() - t0 >= 0.65, "latency"
    eq(pending("ft").status, 200, "faults used up")
    # dropped connection BEFORE the merge is applied: nothing changes
    leaf = CA.sign(csr_of("ft"))
    E.control("POST", "faults", {"method": "POST", "path": "/pending/merge$", "action": "drop_before"})
    try:
        merge("ft", leaf)
        raise AssertionError("expected a dropped connection")
    except (ConnectionError, ssl.SSLError, OSError, __import__("http.client").client.HTTPException):
        pass
    eq(pending("ft").json["status"], "inProgress")
    eq(E.control("GET", "stats")["merges"].get("ft"), None)
    # dropped AFTER the merge is applied: the merge happened; a client must detect it, not merge twice
    E.control("POST", "faults", {"method": "POST", "path": "/pending/merge$", "action": "drop_after"})
    try:
        merge("ft", leaf)
        raise AssertionError("expected a dropped connection")
    except (ConnectionError, ssl.SSLError, OSError, __import__("http.client").client.HTTPException):
        pass
    eq(pending("ft").json["status"], "completed")
    eq(E.kv("GET", "/certificates/ft").json["cer"], base64.b64encode(leaf).decode())
    eq(E.control("GET", "stats")["merges"].get("ft"), 1)
    # create dropped after being applied: a retry gets 409 (pending op already there)
    E.control("POST", "faults", {"method": "POST", "path": "^/certificates/ft2/create$", "action": "drop_after"})
    try:
        create("ft2")
        raise AssertionError("expected a dropped connection")
    except (ConnectionError, ssl.SSLError, OSError, __import__("http.client").client.HTTPException):
        pass
    eq(E.kv("POST", "/certificates/ft2/create", POLICY).status, 409)
    lst = E.control("GET", "faults")["faults"]
    assert all(f["count"] == 0 for f in lst), lst
    E.control("DELETE", "faults")


def t_names_and_404():
    eq(E.kv("POST", "/certificates/bad_name/create", POLICY).status, 400)
    r = E.kv("GET", "/certificates/doesnotexist")
    eq(r.status, 404)
    eq(r.json["error"]["code"], "CertificateNotFound")
    assert r.json["error"]["message"].startswith("A certificate with (name/id) doesnotexist was not found")
    r = E.kv("POST", "/certificates/nop/create", {})
    eq(r.status, 400, "create without policy for a new certificate")
    r = E.kv("POST", "/certificates/nop/create", {"policy": {"issuer": {"name": "Unknown"}}})
    eq(r.status, 400, "no subject and no SANs")


def t_keepalive_tls():
    # several requests on one keep-alive connection, as SDKs do
    import http.client
    c = http.client.HTTPSConnection(E.host, E.port, context=E.ctx, timeout=10)
    for _ in range(3):
        c.request("GET", "/certificates?api-version=7.6", headers={"Authorization": "Bearer " + E.token})
        r = c.getresponse()
        r.read()
        eq(r.status, 200)
    c.close()


for desc, fn in [
    ("401 challenge (WWW-Authenticate) without a token and with an unknown token", t_challenge),
    ("api-version 7.0..7.6 and 2025-07-01 accepted; missing or unknown rejected with 400", t_api_versions),
    ("Entra ID client-credentials and IMDS managed-identity token endpoints", t_tokens),
    ("create issuer Unknown: service defaults, real CSR with subject, KU critical, EKU, SANs, CA:FALSE", t_create_defaults_and_csr),
    ("create EC P-384 with URI/IP SANs (api-version 2025-07-01)", t_create_ec_and_ip_uri_sans),
    ("GET pending with Accept: application/pkcs10 returns bare base64 DER", t_pending_pkcs10),
    ("merge: 201, Location, cer/x5t, nbf/exp from leaf, pending completed with target, no second merge", t_merge),
    ("merge with a foreign key: 400 BadParameter with the service's message", t_merge_mismatch),
    ("409 Conflict: create while pending, parallel mutations of one pending operation", t_conflicts),
    ("cancel (PATCH cancellation_requested) and delete pending, then 404 PendingCertificateNotFound", t_cancel_delete),
    ("renewal: new version id and key, disabled latest without cer, versions list, get by version", t_versions_renewal),
    ("list: includePending, maxresults 1..25, nextLink/$skiptoken verbatim, empty pages", t_list_paging),
    ("policy GET and PATCH", t_policy_update),
    ("managed secret: PKCS#12 and PEM (key + chain), 403 while pending, 404 unknown", t_secrets),
    ("issuer Self completes asynchronously with a self-signed certificate", t_self_issuer),
    ("fault injection: 429 +/- Retry-After, retry-after-ms, 503, latency, drops before/after mutation", t_faults),
    ("name validation and 404 CertificateNotFound bodies", t_names_and_404),
    ("keep-alive: several requests on one TLS connection", t_keepalive_tls),
]:
    T.test(desc, fn)
T.exit()
