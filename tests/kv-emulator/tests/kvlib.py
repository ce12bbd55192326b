"""Small helpers shared by the emulator's Python tests (Debian /usr/bin/python3 + python3-cryptography)."""
import base64
import datetime
import http.client
import json
import os
import ssl
import sys
import time
import traceback
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class Resp:
    def __init__(self, status, headers, data):
        self.status, self.headers, self.data = status, headers, data

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def json(self):
        return json.loads(self.data) if self.data else None

    def __repr__(self):
        return "<%s %s>" % (self.status, self.data[:300])


class Emu:
    def __init__(self, url=None, ca=None):
        self.url = (url or os.environ["KVEMU_URL"]).rstrip("/")
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=ca or os.environ["KVEMU_CA"])
        self.token = None

    def raw(self, method, target, body=None, headers=None, timeout=30):
        """Send one request on a new connection. target: path+query or an absolute URL."""
        if target.startswith("https://"):
            u = urllib.parse.urlsplit(target)
            target = u.path + ("?" + u.query if u.query else "")
        c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = dict(headers or {})
                headers.setdefault("Content-Type", "application/json")
            c.request(method, target, body=body, headers=headers or {})
            r = c.getresponse()
            return Resp(r.status, r.getheaders(), r.read())
        finally:
            c.close()

    def get_token(self, tenant="72f988bf-86f1-41af-91ab-2d7cd011db47"):
        r = self.raw("POST", "/%s/oauth2/v2.0/token" % tenant,
                     body=b"grant_type=client_credentials&client_id=test&client_secret=s&scope="
                          b"https%3A%2F%2Fvault.azure.net%2F.default",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 200, r
        self.token = r.json["access_token"]
        return self.token

    def kv(self, method, path, body=None, api="7.6", query=None, headers=None, auth=True):
        if self.token is None and auth:
            self.get_token()
        q = dict(query or {})
        if api is not None:
            q.setdefault("api-version", api)
        target = path + ("?" + urllib.parse.urlencode(q) if q else "")
        h = dict(headers or {})
        if auth:
            h["Authorization"] = "Bearer " + self.token
        return self.raw(method, target, body=body, headers=h)

    def control(self, method, path, body=None):
        r = self.raw(method, "/_emulator/" + path, body=body)
        assert r.status == 200, r
        return r.json


class TestCA:
    """A throw-away CA that signs CSRs like an offline CA would."""

    def __init__(self, cn="kvlib test CA"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        t = datetime.datetime.utcnow()
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(t - datetime.timedelta(days=1)).not_valid_after(t + datetime.timedelta(days=60))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.der = self.cert.public_bytes(serialization.Encoding.DER)

    def sign(self, csr_der, days=30, nbf_offset=-60):
        csr = x509.load_der_x509_csr(csr_der)
        assert csr.is_signature_valid
        t = datetime.datetime.utcnow().replace(microsecond=0)
        b = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.cert.subject)
             .public_key(csr.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(t + datetime.timedelta(seconds=nbf_offset))
             .not_valid_after(t + datetime.timedelta(days=days)))
        for ext in csr.extensions:
            b = b.add_extension(ext.value, critical=ext.critical)
        return b.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def x5c(self, leaf_der):
        return [base64.b64encode(leaf_der).decode(), base64.b64encode(self.der).decode()]


class Tap:
    def __init__(self, prefix):
        self.prefix = prefix
        self.failed = 0
        self.count = 0

    def test(self, desc, fn, *args):
        self.count += 1
        t0 = time.time()
        try:
            fn(*args)
            print("ok - %s: %s (%.1fs)" % (self.prefix, desc, time.time() - t0), flush=True)
            return True
        except Exception as e:
            self.failed += 1
            print("not ok - %s: %s" % (self.prefix, desc), flush=True)
            lines = traceback.format_exception(type(e), e, e.__traceback__)
            for l in "".join(lines).splitlines()[-12:]:
                print("# " + l, flush=True)
            return False

    def skip(self, desc, reason):
        print("ok - %s: %s # SKIP %s" % (self.prefix, desc, reason), flush=True)

    def exit(self):
        sys.exit(1 if self.failed else 0)
