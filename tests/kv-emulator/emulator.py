#!/usr/bin/python3
"""Azure Key Vault certificates data-plane emulator (test infrastructure for airlock).

HTTPS on 127.0.0.1 with its own throw-away CA. See README.md beside this file.
Run with Debian's /usr/bin/python3 and python3-cryptography (>= 38).
"""
import argparse
import base64
import copy
import datetime
import hashlib
import http.server
import ipaddress
import json
import os
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

try:
    from cryptography.x509.name import _ASN1Type
except ImportError:  # pragma: no cover
    _ASN1Type = None

DEFAULT_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
RESOURCE = "https://vault.azure.net"
API_VERSIONS = {"7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01"}
API_VERSION_RE = re.compile(r"^(7\.[0-6](-preview(\.\d+)?)?|2025-07-01(-preview)?)$")
NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
VERSION_RE = re.compile(r"^[0-9a-fA-F]{32}$")
NOT_FOUND_HELP = ("If you recently deleted this certificate you may be able to recover it using the "
                  "correct recovery command. For help resolving this issue, please see "
                  "https://go.microsoft.com/fwlink/?linkid=2125182")
MSG_MISMATCH = ("The public key of the end-entity certificate in the specified X.509 certificate content "
                "does not match the public part of the specified private key. Please check if certificate is valid.")
MSG_CONFLICT_PARALLEL = ("There was a conflict while trying to update the pending certificate operation. "
                         "Please perform operations on the pending certificate in a sequential manner.")
MSG_STATUS_UNKNOWN = "Pending certificate created. Please Perform Merge to complete the request."
MSG_STATUS_SELF = ("Pending certificate created. Certificate request is in progress. This may take some time "
                   "based on the issuer provider. Please check again later.")

EKU_NAMES = {
    "serverAuth": "1.3.6.1.5.5.7.3.1", "clientAuth": "1.3.6.1.5.5.7.3.2",
    "codeSigning": "1.3.6.1.5.5.7.3.3", "emailProtection": "1.3.6.1.5.5.7.3.4",
    "timeStamping": "1.3.6.1.5.5.7.3.8", "OCSPSigning": "1.3.6.1.5.5.7.3.9",
}
KU_NAMES = ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
            "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"]
DN_OIDS = {
    "CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "L": NameOID.LOCALITY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME, "S": NameOID.STATE_OR_PROVINCE_NAME,
    "C": NameOID.COUNTRY_NAME, "E": NameOID.EMAIL_ADDRESS, "EMAIL": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS, "DC": NameOID.DOMAIN_COMPONENT,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER, "STREET": NameOID.STREET_ADDRESS,
    "POSTALCODE": NameOID.POSTAL_CODE, "T": NameOID.TITLE, "TITLE": NameOID.TITLE,
    "G": NameOID.GIVEN_NAME, "SN": NameOID.SURNAME, "UID": NameOID.USER_ID,
}
UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
PRINTABLE_RE = re.compile(r"^[A-Za-z0-9 '()+,\-./:=?]*$")


def now():
    return int(time.time())


def b64(data):
    return base64.b64encode(data).decode()


def b64url_nopad(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def api_version_tuple(v):
    m = re.match(r"^7\.(\d)", v or "")
    if m:
        return (7, int(m.group(1)))
    return (8, 0)  # date-style versions (2025-07-01) are newer than 7.6


class KVError(Exception):
    def __init__(self, status, code, message, inner=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner
        self.headers = headers or {}

    def body(self):
        err = {"code": self.code, "message": self.message}
        if self.inner:
            err["innererror"] = {"code": self.inner}
        return {"error": err}


class DropConnection(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# X.509 helpers


def parse_subject(subject):
    """Parse an RFC 4514 style subject as Key Vault accepts it ("CN=a, O=b" or "CN=a; O=b").

    The string is in LDAP order (last RDN first in DER)."""
    if subject is None or subject.strip() == "":
        return x509.Name([])
    parts, cur, esc = [], "", False
    for ch in subject:
        if esc:
            cur += ch
            esc = False
        elif ch == "\\":
            esc = True
        elif ch in ",;":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    rdns = []
    for p in parts:
        p = p.strip()
        if not p:
            continue
        if "=" not in p:
            raise KVError(400, "BadParameter", "Subject is not valid: %s" % subject)
        k, v = p.split("=", 1)
        k, v = k.strip().upper(), v.strip().strip('"')
        oid = DN_OIDS.get(k)
        if oid is None:
            try:
                oid = ObjectIdentifier(k)
            except Exception:
                raise KVError(400, "BadParameter", "Subject contains an unknown attribute: %s" % k)
        if oid == NameOID.COUNTRY_NAME and len(v) != 2:
            raise KVError(400, "BadParameter", "Subject is not valid: country must be 2 letters")
        if _ASN1Type is not None and oid not in (NameOID.COUNTRY_NAME, NameOID.EMAIL_ADDRESS,
                                                 NameOID.DOMAIN_COMPONENT) and PRINTABLE_RE.match(v):
            attr = x509.NameAttribute(oid, v, _type=_ASN1Type.PrintableString)
        else:
            attr = x509.NameAttribute(oid, v)
        rdns.append(x509.RelativeDistinguishedName([attr]))
    rdns.reverse()
    return x509.Name(rdns)


def key_usage_ext(names):
    flags = {n: False for n in KU_NAMES}
    for n in names:
        if n not in flags:
            raise KVError(400, "BadParameter", "Invalid key usage: %s" % n)
        flags[n] = True
    return x509.KeyUsage(
        digital_signature=flags["digitalSignature"], content_commitment=flags["nonRepudiation"],
        key_encipherment=flags["keyEncipherment"], data_encipherment=flags["dataEncipherment"],
        key_agreement=flags["keyAgreement"], key_cert_sign=flags["keyCertSign"],
        crl_sign=flags["cRLSign"], encipher_only=flags["encipherOnly"] and flags["keyAgreement"],
        decipher_only=flags["decipherOnly"] and flags["keyAgreement"])


def eku_ext(ekus):
    oids = []
    for e in ekus:
        e = EKU_NAMES.get(e, e)
        try:
            oids.append(ObjectIdentifier(e))
        except Exception:
            raise KVError(400, "BadParameter", "Invalid extended key usage: %s" % e)
    return x509.ExtendedKeyUsage(oids)


def san_ext(sans):
    names = []
    for d in sans.get("dns_names") or []:
        names.append(x509.DNSName(d))
    for e in sans.get("emails") or []:
        names.append(x509.RFC822Name(e))
    for u in sans.get("upns") or []:
        # otherName UPN: [0] EXPLICIT UTF8String
        raw = u.encode()
        inner = b"\x0c" + der_len(len(raw)) + raw
        names.append(x509.OtherName(UPN_OID, b"\xa0" + der_len(len(inner)) + inner))
    for u in sans.get("uris") or []:
        names.append(x509.UniformResourceIdentifier(u))
    for ip in sans.get("ipAddresses") or sans.get("ip_addresses") or []:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise KVError(400, "BadParameter", "Invalid IP address in subject alternative names: %s" % ip)
    return x509.SubjectAlternativeName(names) if names else None


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def hash_for_key(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}.get(key.curve.key_size,
                                                                                     hashes.SHA256())
    return hashes.SHA256()


def pub_der(pub):
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def add_months(ts, months):
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    day = min(d.day, [31, 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28, 31, 30, 31, 30,
                      31, 31, 30, 31, 30, 31][m - 1])
    return int(d.replace(year=y, month=m, day=day).timestamp())


# ---------------------------------------------------------------------------------------------
# Policy


def normalize_policy(given, issuer_default=None, existing=None):
    """Apply the service's defaults to a policy given on create/update."""
    p = copy.deepcopy(existing) if existing else {}
    given = copy.deepcopy(given or {})
    for k in ("key_props", "secret_props", "x509_props", "issuer", "attributes"):
        if k in given and given[k] is not None:
            if not isinstance(given[k], dict):
                raise KVError(400, "BadParameter", "Property %s has invalid value" % k)
            p.setdefault(k, {}).update(given[k])
    if "lifetime_actions" in given and given["lifetime_actions"] is not None:
        p["lifetime_actions"] = given["lifetime_actions"]
    kp = p.setdefault("key_props", {})
    kty = kp.get("kty") or "RSA"
    if kty not in ("RSA", "RSA-HSM", "EC", "EC-HSM"):
        raise KVError(400, "BadParameter", "Invalid key type: %s" % kty)
    kp["kty"] = kty
    if kp.get("exportable") is None:
        kp["exportable"] = True
    if kp.get("reuse_key") is None:
        kp["reuse_key"] = False
    if kty.startswith("RSA"):
        kp.pop("crv", None) if kp.get("crv") is None else None
        if kp.get("key_size") is None:
            kp["key_size"] = 2048
        if kp["key_size"] not in (2048, 3072, 4096):
            raise KVError(400, "BadParameter", "Invalid key size %s for key type %s" % (kp["key_size"], kty))
    else:
        crv = kp.get("crv") or {None: "P-256", 256: "P-256", 384: "P-384", 521: "P-521"}.get(kp.get("key_size"))
        if crv not in ("P-256", "P-384", "P-521", "P-256K"):
            raise KVError(400, "BadParameter", "Invalid curve for key type %s" % kty)
        kp["crv"] = crv
        kp["key_size"] = {"P-256": 256, "P-256K": 256, "P-384": 384, "P-521": 521}[crv]
    if kty.endswith("-HSM") or (kty in ("RSA", "EC") and kp["exportable"] is False):
        pass
    sp = p.setdefault("secret_props", {})
    if not sp.get("contentType"):
        sp["contentType"] = "application/x-pkcs12"
    if sp["contentType"] not in ("application/x-pkcs12", "application/x-pem-file"):
        raise KVError(400, "BadParameter", "Invalid content type: %s" % sp["contentType"])
    xp = p.setdefault("x509_props", {})
    if xp.get("ekus") is None:
        xp["ekus"] = ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]
    if xp.get("key_usage") is None:
        xp["key_usage"] = ["digitalSignature", "keyEncipherment"] if kty.startswith("RSA") else ["digitalSignature"]
    if xp.get("validity_months") is None:
        xp["validity_months"] = 12
    if not isinstance(xp["validity_months"], int) or xp["validity_months"] < 1:
        raise KVError(400, "BadParameter", "Invalid validity_months")
    xp.setdefault("basic_constraints", {"ca": False})
    sans = xp.get("sans") or {}
    if not xp.get("subject") and not any(sans.get(k) for k in ("dns_names", "emails", "upns", "uris",
                                                                "ipAddresses")):
        raise KVError(400, "BadParameter", "Either subject or subject alternative names must be specified.")
    parse_subject(xp.get("subject", ""))
    eku_ext(xp["ekus"])
    key_usage_ext(xp["key_usage"])
    iss = p.setdefault("issuer", {})
    if not iss.get("name"):
        iss["name"] = issuer_default or "Unknown"
    if "lifetime_actions" not in p:
        action = "EmailContacts" if iss["name"].lower() == "unknown" else "AutoRenew"
        p["lifetime_actions"] = [{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": action}}]
    at = p.setdefault("attributes", {})
    if at.get("enabled") is None:
        at["enabled"] = True
    return p


def validate_issuer(policy):
    name = policy["issuer"]["name"]
    if name.lower() == "unknown":
        policy["issuer"]["name"] = "Unknown"
    elif name.lower() == "self":
        policy["issuer"]["name"] = "Self"
    else:
        raise KVError(400, "BadParameter",
                      "Issuer '%s' is not configured in this emulator (only 'Self' and 'Unknown' are emulated)"
                      % name)


def make_key(policy):
    kp = policy["key_props"]
    if kp["kty"].startswith("RSA"):
        return rsa.generate_private_key(public_exponent=65537, key_size=kp["key_size"])
    curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1(),
             "P-256K": ec.SECP256K1()}[kp["crv"]]
    return ec.generate_private_key(curve)


def policy_extensions(policy):
    xp = policy["x509_props"]
    exts = []
    if xp["key_usage"]:
        exts.append((key_usage_ext(xp["key_usage"]), True))
    if xp["ekus"]:
        exts.append((eku_ext(xp["ekus"]), False))
    san = san_ext(xp.get("sans") or {})
    if san is not None:
        exts.append((san, False))
    exts.append((x509.BasicConstraints(ca=False, path_length=None), False))
    return exts


def make_csr(key, policy):
    b = x509.CertificateSigningRequestBuilder().subject_name(parse_subject(policy["x509_props"].get("subject")))
    for ext, crit in policy_extensions(policy):
        b = b.add_extension(ext, critical=crit)
    return b.sign(key, hash_for_key(key)).public_bytes(serialization.Encoding.DER)


def make_self_signed(key, policy, created):
    subject = parse_subject(policy["x509_props"].get("subject"))
    nbf = created - 600
    exp = add_months(nbf, policy["x509_props"]["validity_months"])
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(datetime.datetime.fromtimestamp(nbf, datetime.timezone.utc).replace(tzinfo=None))
         .not_valid_after(datetime.datetime.fromtimestamp(exp, datetime.timezone.utc).replace(tzinfo=None)))
    for ext, crit in policy_extensions(policy):
        b = b.add_extension(ext, critical=crit)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    b = b.add_extension(ski, critical=False)
    return b.sign(key, hash_for_key(key)).public_bytes(serialization.Encoding.DER)


# ---------------------------------------------------------------------------------------------
# State


class Version:
    def __init__(self, vid, key, policy, created):
        self.id = vid
        self.key = key
        self.policy = policy
        self.cer = None
        self.chain = []
        self.enabled = False
        self.created = created
        self.updated = created
        self.nbf = created - 600
        self.exp = add_months(self.nbf, policy["x509_props"]["validity_months"])
        self.tags = None


class PendingOp:
    def __init__(self, request_id, version, issuer, csr):
        self.request_id = request_id
        self.version = version
        self.issuer = issuer
        self.csr = csr
        self.status = "inProgress"
        self.cancellation_requested = False
        self.target = None
        self.error = None
        self.busy = False
        self.complete_at = None


class Cert:
    def __init__(self, name):
        self.name = name
        self.versions = []  # creation order
        self.policy = None
        self.policy_created = None
        self.policy_updated = None
        self.pending = None
        self.tags = None

    def latest(self):
        return self.versions[-1] if self.versions else None

    def version(self, vid):
        for v in self.versions:
            if v.id.lower() == vid.lower():
                return v
        return None


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def add(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("fault must be an object")
        action = spec.get("action")
        if action not in ("throttle", "error", "latency", "drop_before", "drop_after", "hold"):
            raise ValueError("unknown action %r" % action)
        rule = dict(spec)
        rule["_path"] = re.compile(spec.get("path", ".*"))
        rule["_method"] = re.compile("^(%s)$" % spec.get("method", ".*"), re.I)
        rule["count"] = int(spec.get("count", 1))
        rule["matched"] = 0
        with self.lock:
            self.rules.append(rule)

    def take(self, method, path):
        with self.lock:
            for r in self.rules:
                if r["count"] > 0 and r["_method"].match(method) and r["_path"].search(path):
                    r["count"] -= 1
                    r["matched"] += 1
                    return dict(r)
        return None

    def listing(self):
        with self.lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.rules]

    def clear(self):
        with self.lock:
            self.rules = []


class State:
    def __init__(self, args):
        self.lock = threading.RLock()
        self.certs = {}  # lower-case name -> Cert
        self.tokens = {}  # token -> expiry
        self.tenant = args.tenant
        self.self_sign_delay = args.self_sign_delay
        self.empty_pages = 0
        self.page_size = 25
        self.token_lifetime = 3599
        self.stats = {"merges": {}, "merge_attempts": {}, "creates": {}, "requests": 0, "tokens_issued": 0,
                      "faults_applied": 0, "conflicts": 0}
        self.requests = []
        self.faults = Faults()

    def get(self, name):
        return self.certs.get(name.lower())

    def bump(self, key, name):
        d = self.stats[key]
        d[name] = d.get(name, 0) + 1


# ---------------------------------------------------------------------------------------------
# HTTP


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kv-emulator"
    sys_version = ""

    def setup(self):
        self.request.settimeout(60)
        try:
            self.request = self.server.sslctx.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError):
            self.request.close()
            raise
        super().setup()

    def handle(self):
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, socket.timeout, OSError):
            pass

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("kv-emulator: %s\n" % (fmt % args))

    @property
    def st(self):
        return self.server.state

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    # -- plumbing -------------------------------------------------------------------------------

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 4 * 1024 * 1024:
            raise KVError(413, "BadParameter", "Request body too large")
        return self.rfile.read(n) if n else b""

    def send(self, status, body=None, headers=None, ctype="application/json; charset=utf-8"):
        if isinstance(body, (dict, list)):
            data = json.dumps(body, separators=(",", ":")).encode()
        elif isinstance(body, str):
            data = body.encode()
        elif body is None:
            data = b""
        else:
            data = body
        self.send_response(status)
        if data or ctype and status != 204:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Pragma", "no-cache")
        self.send_header("Expires", "-1")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Strict-Transport-Security", "max-age=31536000;includeSubDomains")
        self.send_header("x-ms-keyvault-region", "emulator")
        self.send_header("x-ms-keyvault-service-version", "1.9.0.0-emulator")
        self.send_header("x-ms-request-id", self.request_id)
        crid = self.headers.get("x-ms-client-request-id")
        if crid:
            self.send_header("x-ms-client-request-id", crid)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.last_status = status

    def drop(self):
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.request.close()
        except OSError:
            pass
        self.last_status = "dropped"

    def dispatch(self):
        self.request_id = "%s-%s-%s-%s-%s" % tuple(secrets.token_hex(n) for n in (4, 2, 2, 2, 6))
        self.last_status = None
        u = urllib.parse.urlsplit(self.path)
        self.rawpath = u.path
        self.query = {}
        for part in u.query.split("&") if u.query else []:
            k, _, v = part.partition("=")
            self.query[urllib.parse.unquote(k)] = urllib.parse.unquote(v)
        self.base = "https://" + (self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1])
        try:
            body = self.read_body()
        except Exception:
            self.drop()
            return
        try:
            if self.rawpath.startswith("/_emulator/"):
                self.control(body)
                return
            with self.st.lock:
                self.st.stats["requests"] += 1
            fault = self.st.faults.take(self.command, self.rawpath)
            drop_after = False
            hold = 0
            if fault:
                with self.st.lock:
                    self.st.stats["faults_applied"] += 1
                if fault.get("latency_ms"):
                    time.sleep(min(float(fault["latency_ms"]), 120000) / 1000.0)
                a = fault["action"]
                if a == "drop_before":
                    self.drop()
                    return
                if a == "drop_after":
                    drop_after = True
                if a == "hold":
                    hold = float(fault.get("hold_ms", 1000)) / 1000.0
                if a == "throttle":
                    self.fault_throttle(fault)
                    return
                if a == "error":
                    st = int(fault.get("status", 503))
                    code = fault.get("code") or {500: "InternalServerError", 502: "BadGateway",
                                                 503: "ServiceUnavailable", 504: "GatewayTimeout",
                                                 408: "RequestTimeout"}.get(st, "Error")
                    msg = fault.get("message") or "Injected fault: the service is temporarily unavailable."
                    hdrs = {}
                    if fault.get("retry_after") is not None:
                        hdrs["Retry-After"] = str(fault["retry_after"])
                    self.send(st, {"error": {"code": code, "message": msg}}, hdrs)
                    return
            self.hold = hold
            status, rbody, hdrs, ctype = self.route(body)
            if drop_after:
                self.drop()
                return
            self.send(status, rbody, hdrs, ctype)
        except KVError as e:
            self.send(e.status, e.body(), e.headers)
        except DropConnection:
            self.drop()
        except Exception as e:  # pragma: no cover - emulator bug
            import traceback
            traceback.print_exc()
            self.send(500, {"error": {"code": "InternalServerError", "message": "emulator bug: %s" % e}})
        finally:
            if not self.rawpath.startswith("/_emulator/"):
                with self.st.lock:
                    self.st.requests.append({"method": self.command, "path": self.rawpath,
                                             "query": self.query, "status": self.last_status,
                                             "auth": bool(self.headers.get("Authorization")),
                                             "time": time.time()})
                    del self.st.requests[:-1000]

    def fault_throttle(self, f):
        hdrs = {}
        if f.get("retry_after") is not None:
            hdrs["Retry-After"] = str(f["retry_after"])
        if f.get("retry_after_ms") is not None:
            hdrs["retry-after-ms"] = str(f["retry_after_ms"])
        if f.get("x_ms_retry_after_ms") is not None:
            hdrs["x-ms-retry-after-ms"] = str(f["x_ms_retry_after_ms"])
        self.send(429, {"error": {"code": "Throttled",
                                  "message": "Request was not processed because too many requests were received. "
                                             "Reason: VaultRequestTypeLimitReached"}}, hdrs)

    # -- control API -----------------------------------------------------------------------------

    def control(self, body):
        p, m = self.rawpath, self.command
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            self.send(400, {"error": "invalid JSON"})
            return
        if p == "/_emulator/faults":
            if m == "POST":
                items = data.get("faults", [data]) if isinstance(data, dict) else data
                try:
                    for f in items:
                        self.st.faults.add(f)
                except (ValueError, re.error, TypeError) as e:
                    self.send(400, {"error": str(e)})
                    return
                self.send(200, {"faults": self.st.faults.listing()})
            elif m == "DELETE":
                self.st.faults.clear()
                self.send(200, {"faults": []})
            else:
                self.send(200, {"faults": self.st.faults.listing()})
        elif p == "/_emulator/stats":
            with self.st.lock:
                self.send(200, json.loads(json.dumps(self.st.stats)))
        elif p == "/_emulator/requests":
            with self.st.lock:
                if m == "DELETE":
                    self.st.requests = []
                self.send(200, {"requests": list(self.st.requests)})
        elif p == "/_emulator/config":
            with self.st.lock:
                if m == "POST":
                    for k in ("empty_pages", "page_size", "self_sign_delay", "token_lifetime", "tenant"):
                        if k in data:
                            setattr(self.st, k, data[k])
                self.send(200, {"empty_pages": self.st.empty_pages, "page_size": self.st.page_size, "self_sign_delay": self.st.self_sign_delay,
                                "token_lifetime": self.st.token_lifetime, "tenant": self.st.tenant})
        elif p == "/_emulator/reset" and m == "POST":
            with self.st.lock:
                self.st.certs = {}
                self.st.stats = {"merges": {}, "merge_attempts": {}, "creates": {}, "requests": 0,
                                 "tokens_issued": 0, "faults_applied": 0, "conflicts": 0}
                self.st.requests = []
            self.st.faults.clear()
            self.send(200, {"reset": True})
        elif p == "/_emulator/tokens" and m == "DELETE":
            with self.st.lock:
                self.st.tokens = {}
            self.send(200, {"tokens": 0})
        else:
            self.send(404, {"error": "unknown control endpoint"})

    # -- routing ---------------------------------------------------------------------------------

    def route(self, body):
        p, m = self.rawpath, self.command
        mt = re.match(r"^/([^/]+)/oauth2/v2\.0/token/?$", p)
        if mt and m == "POST":
            return self.entra_token(mt.group(1), body)
        mt = re.match(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration/?$", p)
        if mt and m == "GET":
            return self.openid_config(mt.group(1))
        if p.rstrip("/") == "/common/discovery/instance" and m == "GET":
            return self.instance_discovery()
        if p.rstrip("/") == "/metadata/identity/oauth2/token" and m == "GET":
            return self.imds_token()
        # data plane
        self.check_api_version()
        self.check_auth()
        return self.data_plane(body)

    def check_api_version(self):
        v = self.query.get("api-version")
        if not v:
            raise KVError(400, "BadParameter", "The 'api-version' query parameter is missing.")
        if not API_VERSION_RE.match(v):
            raise KVError(400, "BadParameter",
                          "The specified version (%s) is not recognized. Consider using the latest supported "
                          "version (7.6)." % v)
        self.api_version = v

    def challenge(self):
        return {"WWW-Authenticate": 'Bearer authorization="https://login.windows.net/%s", resource="%s"'
                                    % (self.st.tenant, RESOURCE)}

    def check_auth(self):
        h = self.headers.get("Authorization")
        if not h:
            raise KVError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                          headers=self.challenge())
        parts = h.split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise KVError(401, "Unauthorized", "AKV10001: Unsupported authorization scheme.",
                          headers=self.challenge())
        with self.st.lock:
            exp = self.st.tokens.get(parts[1].strip())
        if exp is None:
            raise KVError(401, "Unauthorized", "AKV10022: Invalid token: the access token is not known to this "
                                               "vault.", headers=self.challenge())
        if exp < time.time():
            raise KVError(401, "Unauthorized", "AKV10032: Invalid token: the access token has expired.",
                          headers=self.challenge())

    def issue_token(self):
        tok = secrets.token_urlsafe(48)
        with self.st.lock:
            self.st.tokens[tok] = time.time() + int(self.st.token_lifetime)
            self.st.stats["tokens_issued"] += 1
        return tok, int(self.st.token_lifetime)

    def entra_token(self, tenant, body):
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        f = {k: v[0] for k, v in form.items()}

        def aad_err(status, err, desc):
            return status, {"error": err, "error_description": desc, "error_codes": [0],
                            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                            "trace_id": secrets.token_hex(16), "correlation_id": secrets.token_hex(16)}, {}, \
                "application/json; charset=utf-8"
        if f.get("grant_type") != "client_credentials":
            return aad_err(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant "
                                                          "type (emulator supports client_credentials only).")
        if not f.get("client_id"):
            return aad_err(400, "invalid_request", "AADSTS900144: The request body must contain the following "
                                                   "parameter: 'client_id'.")
        if not f.get("client_secret") and not f.get("client_assertion"):
            return aad_err(401, "invalid_client", "AADSTS7000216: 'client_assertion', 'client_secret' or "
                                                  "'request' is required for the 'client_credentials' grant type.")
        if f.get("client_secret") == "invalid-secret":
            return aad_err(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        scope = f.get("scope", "")
        tok, life = self.issue_token()
        return 200, {"token_type": "Bearer", "expires_in": life, "ext_expires_in": life,
                     "access_token": tok}, {}, "application/json; charset=utf-8"

    def openid_config(self, tenant):
        b = self.base
        return 200, {
            "token_endpoint": "%s/%s/oauth2/v2.0/token" % (b, tenant),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": "%s/%s/discovery/v2.0/keys" % (b, tenant),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": "%s/%s/v2.0" % (b, tenant),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "%s/oidc/userinfo" % b,
            "authorization_endpoint": "%s/%s/oauth2/v2.0/authorize" % (b, tenant),
            "device_authorization_endpoint": "%s/%s/oauth2/v2.0/devicecode" % (b, tenant),
            "http_logout_supported": True, "frontchannel_logout_supported": True,
            "end_session_endpoint": "%s/%s/oauth2/v2.0/logout" % (b, tenant),
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce"],
            "kerberos_endpoint": "%s/%s/kerberos" % (b, tenant),
            "tenant_region_scope": "EU", "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net", "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }, {}, "application/json; charset=utf-8"

    def instance_discovery(self):
        host = self.base[len("https://"):]
        return 200, {"tenant_discovery_endpoint": "%s/common/v2.0/.well-known/openid-configuration" % self.base,
                     "api-version": "1.1",
                     "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]}, {}, \
            "application/json; charset=utf-8"

    def imds_token(self):
        if (self.headers.get("Metadata") or "").lower() != "true":
            return 400, {"error": "invalid_request", "error_description": "Required metadata header not specified"}, \
                {}, "application/json; charset=utf-8"
        if not self.query.get("api-version"):
            return 400, {"error": "invalid_request", "error_description": "Required query variable 'api-version' "
                                                                           "is missing"}, {}, \
                "application/json; charset=utf-8"
        resource = self.query.get("resource")
        if not resource:
            return 400, {"error": "invalid_request", "error_description": "Required query variable 'resource' is "
                                                                           "missing"}, {}, \
                "application/json; charset=utf-8"
        tok, life = self.issue_token()
        t = now()
        return 200, {"access_token": tok, "client_id": self.query.get("client_id",
                                                                      "00000000-0000-0000-0000-00000000e1e1"),
                     "expires_in": str(life), "expires_on": str(t + life), "ext_expires_in": str(life),
                     "not_before": str(t), "resource": resource, "token_type": "Bearer"}, {}, \
            "application/json; charset=utf-8"

    # -- Key Vault certificates -----------------------------------------------------------------

    def data_plane(self, body):
        p, m = self.rawpath, self.command
        segs = [urllib.parse.unquote(s) for s in p.strip("/").split("/")] if p.strip("/") else []
        trailing = p.endswith("/") and len(segs) >= 1
        self.body = body
        if segs and segs[0] == "certificates":
            if len(segs) == 1:
                if m == "GET":
                    return self.list_certs()
            elif segs[1] in ("issuers", "contacts", "import", "restore") or (len(segs) >= 3 and segs[2] in
                                                                             ("import", "backup")):
                raise KVError(501, "NotImplemented", "This operation is not implemented by the Key Vault emulator "
                                                     "(issuers, contacts, import, backup/restore are out of scope).")
            else:
                name = segs[1]
                rest = segs[2:]
                if trailing and rest == []:
                    rest = [""]
                if rest == [] and m == "GET":
                    return self.get_cert(name, None)
                if rest == [] and m == "DELETE":
                    return self.delete_cert(name)
                if rest == ["create"] and m == "POST":
                    return self.create(name)
                if rest == ["pending"]:
                    if m == "GET":
                        return self.get_pending(name)
                    if m == "PATCH":
                        return self.patch_pending(name)
                    if m == "DELETE":
                        return self.delete_pending(name)
                if rest == ["pending", "merge"] and m == "POST":
                    return self.merge(name)
                if rest == ["versions"] and m == "GET":
                    return self.list_versions(name)
                if rest == ["policy"]:
                    if m == "GET":
                        return self.get_policy(name)
                    if m == "PATCH":
                        return self.update_policy(name)
                if len(rest) == 1 and m == "GET":
                    return self.get_cert(name, rest[0] or None)
                if len(rest) == 1 and m == "PATCH":
                    return self.update_cert(name, rest[0] or None)
        if segs and segs[0] == "secrets" and len(segs) in (2, 3) and m == "GET":
            return self.get_secret(segs[1], segs[2] if len(segs) == 3 and segs[2] else None)
        if segs and segs[0] in ("deletedcertificates", "keys", "secrets", "deletedsecrets", "deletedkeys"):
            raise KVError(501, "NotImplemented", "This operation is not implemented by the Key Vault emulator.")
        raise KVError(404, "NotFound", "The requested resource was not found: %s %s" % (m, p))

    def json_body(self):
        if not self.body:
            return {}
        try:
            d = json.loads(self.body)
        except ValueError:
            raise KVError(400, "BadParameter", "The request body is not valid JSON.")
        if not isinstance(d, dict):
            raise KVError(400, "BadParameter", "The request body must be a JSON object.")
        return d

    def check_name(self, name):
        if not NAME_RE.match(name):
            raise KVError(400, "BadParameter", "The request URI contains an invalid name: %s" % name)

    def cert_or_404(self, name):
        self.check_name(name)
        c = self.st.get(name)
        if c is None or not c.versions:
            raise KVError(404, "CertificateNotFound",
                          "A certificate with (name/id) %s was not found in this key vault. %s" % (name, NOT_FOUND_HELP))
        return c

    def new_version_id(self):
        return secrets.token_hex(16)

    def attrs(self, v, for_policy=False):
        a = {"enabled": v.enabled, "nbf": v.nbf, "exp": v.exp, "created": v.created, "updated": v.updated,
             "recoveryLevel": "Recoverable+Purgeable"}
        if api_version_tuple(self.api_version) >= (7, 1):
            a["recoverableDays"] = 90
        return a

    def policy_json(self, c):
        p = copy.deepcopy(c.policy)
        out = {"id": "%s/certificates/%s/policy" % (self.base, c.name)}
        out.update(p)
        out["attributes"] = {"enabled": p.get("attributes", {}).get("enabled", True),
                             "created": c.policy_created, "updated": c.policy_updated}
        return out

    def bundle(self, c, v, versioned=False):
        b = {"id": "%s/certificates/%s/%s" % (self.base, c.name, v.id)}
        if v.cer:
            # recordings: a version that is still pending has no kid/sid (nor x5t/cer)
            b["kid"] = "%s/keys/%s/%s" % (self.base, c.name, v.id)
            b["sid"] = "%s/secrets/%s/%s" % (self.base, c.name, v.id)
            b["x5t"] = b64url_nopad(hashlib.sha1(v.cer).digest())
            b["cer"] = b64(v.cer)
        b["attributes"] = self.attrs(v)
        if v.tags is not None:
            b["tags"] = dict(v.tags)
        if versioned:
            # recordings (7.3): a version addressed explicitly comes without policy/pending; GET adds these
            if self.command == "GET" and v.cer and api_version_tuple(self.api_version) >= (7, 3):
                ct = x509.load_der_x509_certificate(v.cer)
                b["subject"] = ct.subject.rfc4514_string()
                b["issuer"] = ct.issuer.rfc4514_string()
                sn = "%X" % ct.serial_number
                b["serialnumber"] = ("0" * (len(sn) % 2)) + sn
            if self.command == "PATCH" and c.pending is not None:
                b["pending"] = {"id": "%s/certificates/%s/pending" % (self.base, c.name)}
            return b
        b["policy"] = self.policy_json(c)
        if c.pending is not None:
            b["pending"] = {"id": "%s/certificates/%s/pending" % (self.base, c.name)}
        return b

    def op_json(self, c):
        op = c.pending
        o = {"id": "%s/certificates/%s/pending" % (self.base, c.name), "issuer": {"name": op.issuer},
             "csr": b64(op.csr), "cancellation_requested": op.cancellation_requested, "status": op.status}
        if op.status == "inProgress":
            o["status_details"] = MSG_STATUS_UNKNOWN if op.issuer == "Unknown" else MSG_STATUS_SELF
        if op.error:
            o["error"] = op.error
        if op.target:
            o["target"] = op.target
        o["request_id"] = op.request_id
        return o

    def maybe_complete_self(self, c):
        op = c.pending
        if op is None or op.issuer != "Self" or op.status != "inProgress":
            return
        if op.complete_at is not None and time.time() >= op.complete_at:
            if op.cancellation_requested:
                op.status = "cancelled"
                op.complete_at = None
                return
            v = op.version
            v.cer = make_self_signed(v.key, v.policy, v.created)
            v.chain = [v.cer]
            cert = x509.load_der_x509_certificate(v.cer)
            v.nbf = int(cert.not_valid_before.replace(tzinfo=datetime.timezone.utc).timestamp())
            v.exp = int(cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp())
            v.enabled = bool(v.policy.get("attributes", {}).get("enabled", True))
            v.updated = now()
            op.status = "completed"
            op.target = "%s/certificates/%s" % (self.base, c.name)

    # create --------------------------------------------------------------------------------------

    def create(self, name):
        self.check_name(name)
        req = self.json_body()
        with self.st.lock:
            c = self.st.get(name)
            if c is not None:
                self.maybe_complete_self(c)
                if c.pending is not None and c.pending.status == "inProgress":
                    self.st.stats["conflicts"] += 1
                    raise KVError(409, "Conflict", "There is already a pending operation on certificate '%s'. "
                                                   "Complete, cancel or delete it before creating a new version."
                                  % c.name)
                if c.pending is not None and c.pending.busy:
                    self.st.stats["conflicts"] += 1
                    raise KVError(409, "Conflict", MSG_CONFLICT_PARALLEL)
        given = req.get("policy")
        if given is None and (c is None or c.policy is None):
            raise KVError(400, "BadParameter", "Policy is required for a new certificate: %s" % name)
        if given is not None and not isinstance(given, dict):
            raise KVError(400, "BadParameter", "Property policy has invalid value")
        policy = normalize_policy(given if given is not None else {},
                                  existing=None if given is not None else (c.policy if c else None))
        validate_issuer(policy)
        # key (slow part; done outside the lock)
        reuse = None
        if c is not None and policy["key_props"].get("reuse_key"):
            for v in reversed(c.versions):
                if v.key is not None:
                    reuse = v.key
                    break
        key = reuse or make_key(policy)
        csr = make_csr(key, policy)
        t = now()
        with self.st.lock:
            c = self.st.get(name)
            if c is not None and c.pending is not None and (c.pending.status == "inProgress" or c.pending.busy):
                self.st.stats["conflicts"] += 1
                raise KVError(409, "Conflict", MSG_CONFLICT_PARALLEL)
            if c is None:
                c = Cert(name)
                self.st.certs[name.lower()] = c
            c.policy = policy
            if c.policy_created is None:
                c.policy_created = t
            c.policy_updated = t
            v = Version(self.new_version_id(), key, policy, t)
            if isinstance(req.get("attributes"), dict) and req["attributes"].get("enabled") is False:
                v.policy = copy.deepcopy(policy)
                v.policy["attributes"]["enabled"] = False
            if isinstance(req.get("tags"), dict):
                v.tags = req["tags"]
                c.tags = req["tags"]
            c.versions.append(v)
            op = PendingOp(secrets.token_hex(16), v, policy["issuer"]["name"], csr)
            if op.issuer == "Self":
                op.complete_at = time.time() + float(self.st.self_sign_delay)
            c.pending = op
            self.st.bump("creates", c.name)
            if self.hold:
                op.busy = True
        if self.hold:
            time.sleep(self.hold)
            with self.st.lock:
                op.busy = False
        with self.st.lock:
            o = self.op_json(c)
        loc = "%s/certificates/%s/pending?api-version=%s&request_id=%s" % (self.base, c.name, self.api_version,
                                                                          op.request_id)
        return 202, o, {"Location": loc, "Retry-After": "10"}, "application/json; charset=utf-8"

    # pending -------------------------------------------------------------------------------------

    def pending_or_404(self, name):
        self.check_name(name)
        c = self.st.get(name)
        if c is None or c.pending is None:
            raise KVError(404, "PendingCertificateNotFound", "Pending certificate not found: %s" % name)
        return c

    def get_pending(self, name):
        with self.st.lock:
            c = self.pending_or_404(name)
            self.maybe_complete_self(c)
            op = c.pending
            hdrs = {"Retry-After": "10"} if op.status == "inProgress" else {}
            accept = (self.headers.get("Accept") or "").lower()
            if "application/pkcs10" in accept:
                return 200, b64(op.csr), hdrs, "application/pkcs10; charset=utf-8"
            return 200, self.op_json(c), hdrs, "application/json; charset=utf-8"

    def begin_mutation(self, name):
        with self.st.lock:
            c = self.pending_or_404(name)
            self.maybe_complete_self(c)
            if c.pending.busy:
                self.st.stats["conflicts"] += 1
                raise KVError(409, "Conflict", MSG_CONFLICT_PARALLEL)
            c.pending.busy = True
            return c, c.pending

    def end_mutation(self, op):
        with self.st.lock:
            op.busy = False

    def do_hold(self):
        if self.hold:
            time.sleep(self.hold)

    def patch_pending(self, name):
        req = self.json_body()
        if "cancellation_requested" not in req or not isinstance(req["cancellation_requested"], bool):
            raise KVError(400, "BadParameter", "Property cancellation_requested is required")
        c, op = self.begin_mutation(name)
        try:
            self.do_hold()
            with self.st.lock:
                if req["cancellation_requested"] and op.status == "inProgress":
                    op.cancellation_requested = True
                return 200, self.op_json(c), {}, "application/json; charset=utf-8"
        finally:
            self.end_mutation(op)

    def delete_pending(self, name):
        c, op = self.begin_mutation(name)
        try:
            self.do_hold()
            with self.st.lock:
                body = self.op_json(c)
                # the recordings show the certificate (its disabled, cer-less version) survives
                c.pending = None
                return 200, body, {}, "application/json; charset=utf-8"
        finally:
            self.end_mutation(op)

    def merge(self, name):
        req = self.json_body()
        self.check_name(name)
        with self.st.lock:
            self.st.bump("merge_attempts", name)
        x5c = req.get("x5c")
        if not isinstance(x5c, list) or not x5c or not all(isinstance(s, str) for s in x5c):
            raise KVError(400, "BadParameter", "Property x5c is required and must be a non-empty array of "
                                               "base64-encoded X.509 certificates.")
        certs = []
        for s in x5c:
            try:
                der = base64.b64decode(s, validate=True)
                certs.append((der, x509.load_der_x509_certificate(der)))
            except Exception:
                raise KVError(400, "BadParameter", "Property x5c has invalid value: the X.509 certificate content "
                                                   "is not valid.")
        c, op = self.begin_mutation(name)
        try:
            with self.st.lock:
                if op.status != "inProgress" or op.issuer != "Unknown":
                    raise KVError(400, "BadParameter",
                                  "There is no pending certificate request in progress for certificate %s that can "
                                  "be merged (status: %s, issuer: %s)." % (c.name, op.status, op.issuer))
            leaf_der, leaf = certs[0]
            if pub_der(leaf.public_key()) != pub_der(op.version.key.public_key()):
                raise KVError(400, "BadParameter", MSG_MISMATCH)
            self.do_hold()
            with self.st.lock:
                v = op.version
                v.cer = leaf_der
                v.chain = [d for d, _ in certs]
                v.nbf = int(leaf.not_valid_before.replace(tzinfo=datetime.timezone.utc).timestamp())
                v.exp = int(leaf.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp())
                at = req.get("attributes") if isinstance(req.get("attributes"), dict) else {}
                v.enabled = at.get("enabled", v.policy.get("attributes", {}).get("enabled", True)) is not False
                if isinstance(req.get("tags"), dict):
                    v.tags = req["tags"]
                v.updated = now()
                op.status = "completed"
                op.target = "%s/certificates/%s" % (self.base, c.name)
                self.st.bump("merges", c.name)
                b = self.bundle(c, v)
            return 201, b, {"Location": "%s/certificates/%s?api-version=%s" % (self.base, c.name, self.api_version)}, \
                "application/json; charset=utf-8"
        finally:
            self.end_mutation(op)

    # certificates -------------------------------------------------------------------------------

    def get_cert(self, name, version):
        with self.st.lock:
            c = self.cert_or_404(name)
            self.maybe_complete_self(c)
            if version is None:
                v = c.latest()
            else:
                v = c.version(version) if VERSION_RE.match(version) else None
                if v is None:
                    raise KVError(404, "CertificateNotFound",
                                  "A certificate with (name/id) %s/%s was not found in this key vault. %s"
                                  % (name, version, NOT_FOUND_HELP))
            return 200, self.bundle(c, v, versioned=version is not None), {}, "application/json; charset=utf-8"

    def update_cert(self, name, version):
        req = self.json_body()
        with self.st.lock:
            c = self.cert_or_404(name)
            v = c.latest() if version is None else c.version(version)
            if v is None:
                raise KVError(404, "CertificateNotFound", "A certificate with (name/id) %s/%s was not found in this "
                                                          "key vault. %s" % (name, version, NOT_FOUND_HELP))
            at = req.get("attributes")
            if isinstance(at, dict) and "enabled" in at and v.cer is not None:
                v.enabled = bool(at["enabled"])
            if isinstance(req.get("tags"), dict):
                v.tags = req["tags"]
            if isinstance(req.get("policy"), dict):
                c.policy = normalize_policy(req["policy"], existing=c.policy)
                c.policy_updated = now()
            v.updated = now()
            return 200, self.bundle(c, v, versioned=version is not None), {}, "application/json; charset=utf-8"

    def delete_cert(self, name):
        with self.st.lock:
            c = self.cert_or_404(name)
            b = self.bundle(c, c.latest())
            del self.st.certs[c.name.lower()]
            t = now()
            b["recoveryId"] = "%s/deletedcertificates/%s" % (self.base, c.name)
            b["deletedDate"] = t
            b["scheduledPurgeDate"] = t + 90 * 86400
            return 200, b, {}, "application/json; charset=utf-8"

    def get_policy(self, name):
        with self.st.lock:
            c = self.cert_or_404(name)
            return 200, self.policy_json(c), {}, "application/json; charset=utf-8"

    def update_policy(self, name):
        req = self.json_body()
        with self.st.lock:
            c = self.cert_or_404(name)
            p = normalize_policy(req, existing=c.policy)
            validate_issuer(p)
            c.policy = p
            c.policy_updated = now()
            return 200, self.policy_json(c), {}, "application/json; charset=utf-8"

    # paging ---------------------------------------------------------------------------------------

    def page_params(self):
        tok = self.query.get("$skiptoken")
        if tok:
            try:
                pad = "=" * (-len(tok) % 4)
                d = json.loads(base64.urlsafe_b64decode(tok + pad))
                marker = json.loads(base64.urlsafe_b64decode(d["NextMarker"].split("!", 2)[2] + "=="))
                return marker
            except Exception:
                raise KVError(400, "BadParameter", "The skip token is not valid.")
        mr = self.query.get("maxresults")
        n = int(self.st.page_size)
        if mr is not None:
            try:
                n = int(mr)
            except ValueError:
                n = 0
            if not 1 <= n <= 25:
                raise KVError(400, "BadParameter", "Invalid value for maxresults: %s. The value must be between 1 "
                                                   "and 25." % mr)
        inc = (self.query.get("includePending") or "false").lower() == "true"
        return {"o": 0, "n": n, "p": inc, "e": int(self.st.empty_pages), "after": None}

    def paged(self, items, path, extra_query=""):
        """items: list of (sort key, json). Returns a page dict."""
        mk = self.page_params()
        items.sort(key=lambda t: t[0])
        if mk.get("after") is not None:
            items = [t for t in items if t[0] > mk["after"]]
        if mk["e"] > 0:
            nxt = dict(mk, e=mk["e"] - 1)
            return {"value": [], "nextLink": self.next_link(path, nxt)}
        page = items[:mk["n"]]
        more = len(items) > mk["n"]
        nxt = None
        if more:
            nxt = self.next_link(path, dict(mk, after=page[-1][0], e=int(self.st.empty_pages)))
        elif mk["e"] == 0 and int(self.st.empty_pages) > 0 and not mk.get("tail") and page:
            # a trailing empty page with a null nextLink, as the service sometimes sends
            nxt = self.next_link(path, dict(mk, after=page[-1][0], e=0, tail=True))
        return {"value": [j for _, j in page], "nextLink": nxt}

    def next_link(self, path, marker):
        raw = base64.urlsafe_b64encode(json.dumps(marker, separators=(",", ":")).encode()).rstrip(b"=").decode()
        tok = {"NextMarker": "2!%d!%s" % (len(raw), raw), "TargetLocation": 0}
        t = base64.urlsafe_b64encode(json.dumps(tok, separators=(",", ":")).encode()).rstrip(b"=").decode()
        return "%s%s?api-version=%s&$skiptoken=%s&maxresults=%d" % (self.base, path, self.api_version, t,
                                                                    marker["n"])

    def item(self, c, v, with_version):
        it = {"id": "%s/certificates/%s" % (self.base, c.name) + ("/" + v.id if with_version else "")}
        if v.cer:
            it["x5t"] = b64url_nopad(hashlib.sha1(v.cer).digest())
        it["attributes"] = {"enabled": v.enabled, "nbf": v.nbf, "exp": v.exp, "created": v.created,
                            "updated": v.updated}
        if v.tags is not None:
            it["tags"] = dict(v.tags)
        # recordings: api-version 7.3 lists carry "subject": "" on every item; 7.0 only on pending ones
        if not v.cer or api_version_tuple(self.api_version) >= (7, 1):
            it["subject"] = ""
        return it

    def list_certs(self):
        with self.st.lock:
            mk = self.page_params()
            items = []
            for c in self.st.certs.values():
                self.maybe_complete_self(c)
                if not c.versions:
                    continue
                if not mk["p"] and not any(v.cer for v in c.versions):
                    continue
                items.append((c.name.lower(), self.item(c, c.latest(), False)))
            return 200, self.paged(items, "/certificates"), {}, "application/json; charset=utf-8"

    def list_versions(self, name):
        with self.st.lock:
            self.check_name(name)
            c = self.st.get(name)
            items = []
            if c is not None:
                self.maybe_complete_self(c)
                items = [(v.id.lower(), self.item(c, v, True)) for v in c.versions]
            return 200, self.paged(items, "/certificates/%s/versions" % (c.name if c else name)), {}, \
                "application/json; charset=utf-8"

    # secrets ------------------------------------------------------------------------------------

    def get_secret(self, name, version):
        with self.st.lock:
            self.check_name(name)
            c = self.st.get(name)
            v = None
            if c is not None:
                self.maybe_complete_self(c)
                v = c.latest() if version is None else c.version(version)
            if v is None:
                raise KVError(404, "SecretNotFound",
                              "A secret with (name/id) %s was not found in this key vault. If you recently deleted "
                              "this secret you may be able to recover it using the correct recovery command. For "
                              "help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
                              % (name if version is None else name + "/" + version))
            if v.cer is None or not v.enabled:
                raise KVError(403, "Forbidden", "Operation get is not allowed on a disabled secret.",
                              inner="SecretDisabled")
            ctype = v.policy["secret_props"]["contentType"]
            exportable = v.policy["key_props"].get("exportable", True)
            certs = [x509.load_der_x509_certificate(d) for d in (v.chain or [v.cer])]
            if ctype == "application/x-pem-file":
                parts = []
                if exportable:
                    parts.append(v.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()).decode())
                for ct in certs:
                    parts.append(ct.public_bytes(serialization.Encoding.PEM).decode())
                value = "".join(parts)
            else:
                value = b64(pkcs12.serialize_key_and_certificates(
                    None, v.key if exportable else None, certs[0], certs[1:] or None,
                    serialization.NoEncryption()))
            s = {"value": value, "contentType": ctype,
                 "id": "%s/secrets/%s/%s" % (self.base, c.name, v.id), "managed": True,
                 "attributes": self.attrs(v), "kid": "%s/keys/%s/%s" % (self.base, c.name, v.id)}
            if v.tags is not None:
                s["tags"] = dict(v.tags)
            return 200, s, {}, "application/json; charset=utf-8"


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


# ---------------------------------------------------------------------------------------------
# TLS material


def make_tls(state_dir):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    t = datetime.datetime.utcnow()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kv-emulator test CA %s" % secrets.token_hex(4)),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "airlock tests")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(t - datetime.timedelta(hours=1))
          .not_valid_after(t + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(t - datetime.timedelta(hours=1)).not_valid_after(t + datetime.timedelta(days=29))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    os.makedirs(state_dir, exist_ok=True)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    tmp = os.path.join(state_dir, ".ca.pem.tmp")
    with open(tmp, "wb") as f:
        f.write(ca_pem)
    os.replace(tmp, os.path.join(state_dir, "ca.pem"))
    srv = os.path.join(state_dir, "server.pem")
    with open(srv, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
        f.write(leaf.public_bytes(serialization.Encoding.PEM))
        f.write(ca_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(srv)
    return ctx


def main():
    ap = argparse.ArgumentParser(description="Azure Key Vault certificates data-plane emulator")
    ap.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    ap.add_argument("--state", required=True, help="state directory (ca.pem is written there)")
    ap.add_argument("--tenant", default=DEFAULT_TENANT, help="tenant id announced in the 401 challenge")
    ap.add_argument("--self-sign-delay", type=float, default=2.0,
                    help="seconds before an issuer Self request completes (default 2)")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args()
    ctx = make_tls(args.state)
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.sslctx = ctx
    srv.state = State(args)
    srv.verbose = args.verbose
    port = srv.server_address[1]
    with open(os.path.join(args.state, "port"), "w") as f:
        f.write("%d\n" % port)
    sys.stdout.write("ready %d\n" % port)
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
