#!/usr/bin/python3
"""Hostile request bundles (SECURITY.md §3 and §6), one directory per case,
each broken in exactly one way from a good bundle made by mkreq.py.

  mkhostile.py GOOD_BUNDLE OUTDIR

Prints one line per case: NAME<TAB>REGEX the station's error must match."""
import hashlib, json, os, re, shutil, sys

good, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
cases = []

def load(d):
    return json.load(open(os.path.join(d, "manifest.json")))

def new(name):
    d = os.path.join(out, name)
    shutil.copytree(good, d, symlinks=True)
    return d

def save(d, m, raw=None):
    data = raw if raw is not None else json.dumps(m, separators=(",", ":")).encode()
    open(os.path.join(d, "manifest.json"), "wb").write(data)

def rehash(d, m, i=0):
    e = m["entries"][i]
    data = open(os.path.join(d, e["file"]), "rb").read()
    e["size"] = len(data); e["sha256"] = hashlib.sha256(data).hexdigest()

def case(name, regex, edit=None, raw=None, fs=None):
    d = new(name)
    m = load(d)
    if edit:
        edit(m)
    if raw is not None:
        save(d, m, raw(json.dumps(m, separators=(",", ":")).encode()))
    else:
        save(d, m)
    if fs:
        fs(d, m)
    cases.append((name, regex))

def entry(m, i=0):
    return m["entries"][i]

# manifest: JSON strictness
case("json-not-json", "manifest", raw=lambda b: b"not json at all")
case("json-trailing", "trailing|after", raw=lambda b: b + b" {}")
case("json-nul", "NUL|control|byte", raw=lambda b: b.replace(b'"producer":"', b'"producer":"\x00'))
case("json-bad-utf8", "UTF-8", raw=lambda b: b.replace(b'"producer":"', b'"producer":"\xc0\xaf'))
case("json-duplicate-key", "duplicate", raw=lambda b: b.replace(b'"version":1', b'"version":1,"version":1'))
case("json-depth", "deep|depth|nesting", raw=lambda b: b.replace(b'"producer":', b'"x":' + b"[" * 40 + b"]" * 40 + b',"producer":'))
case("json-unknown-field", "unknown", edit=lambda m: m.update({"extra": 1}))
case("json-unknown-entry-field", "unknown", edit=lambda m: entry(m).update({"colour": "red"}))
case("json-size-string", "size", edit=lambda m: entry(m).update({"size": str(entry(m)["size"])}))
case("json-size-fraction", "size|integer", edit=lambda m: entry(m).update({"size": 1.5}))
case("json-size-negative", "size", edit=lambda m: entry(m).update({"size": -1}))
case("json-size-huge", "size|range|integer|number", raw=lambda b: re.sub(rb'"size":[0-9]+', b'"size":1e400', b, count=1))
case("json-version-2", "version", edit=lambda m: m.update({"version": 2}))
case("json-format", "format", edit=lambda m: m.update({"format": "other-bundle"}))
case("json-kind-merge", "merge|kind|request_bundle_id|files", edit=lambda m: m.update({"kind": "merge"}))
case("json-bundle-id", "bundle_id", edit=lambda m: m.update({"bundle_id": "XYZ"}))
case("json-created", "created", edit=lambda m: m.update({"created": "yesterday"}))
case("json-entry-id", "id", edit=lambda m: entry(m).update({"id": "UPPER"}))
case("json-duplicate-entry-id", "id", edit=lambda m: entry(m, 1).update({"id": entry(m, 0)["id"]}))
case("json-vault-http", "vault_url", edit=lambda m: entry(m)["source"].update({"vault_url": "http://x.vault.azure.net"}))
case("json-cert-name", "certificate_name", edit=lambda m: entry(m)["source"].update({"certificate_name": "a b/c"}))
case("json-request-id-space", "request_id", edit=lambda m: entry(m)["source"].update({"request_id": "a b"}))
case("json-key-type", "key_type", edit=lambda m: entry(m)["source"]["policy"].update({"key_type": "DSA"}))
case("json-source-type", "type|source", edit=lambda m: entry(m)["source"].update({"type": "ftp"}))
# names and files on the stick
case("name-traversal", "name|file", edit=lambda m: entry(m).update({"file": "../../etc/passwd"}))
case("name-slash", "name|file", edit=lambda m: entry(m).update({"file": "sub/e00000.csr"}))
case("name-uppercase", "name|file", edit=lambda m: entry(m).update({"file": "E00000.CSR"}))
case("name-dotfile", "name|file", edit=lambda m: entry(m).update({"file": ".hidden"}))
case("name-duplicate-file", "duplicate|twice|file", edit=lambda m: entry(m, 1).update({"file": entry(m, 0)["file"]}))

def hardlink(d, m):
    f = os.path.join(d, entry(m)["file"])
    os.unlink(os.path.join(d, entry(m, 1)["file"]))
    os.link(f, os.path.join(d, "e-link.csr"))
    entry(m, 1)["file"] = "e-link.csr"; rehash(d, m, 1); save(d, m)
case("file-hardlink", "hard link|links|link count|nlink", fs=hardlink)

def fifo(d, m):
    f = os.path.join(d, entry(m)["file"]); os.unlink(f); os.mkfifo(f)
case("file-fifo", "regular|file", fs=fifo)

def directory(d, m):
    f = os.path.join(d, entry(m)["file"]); os.unlink(f); os.mkdir(f)
case("file-directory", "regular|file|directory", fs=directory)

def missing(d, m):
    os.unlink(os.path.join(d, entry(m)["file"]))
case("file-missing", "missing|No such|not found|e00000", fs=missing)

def sizemismatch(d, m):
    entry(m)["size"] += 1; save(d, m)
case("file-size-mismatch", "size", fs=sizemismatch)

def symlink_manifest(d, m):
    os.rename(os.path.join(d, "manifest.json"), os.path.join(out, "real-manifest.json"))
    os.symlink(os.path.join(out, "real-manifest.json"), os.path.join(d, "manifest.json"))
case("file-manifest-symlink", "manifest|link", fs=symlink_manifest)

for name, regex in cases:
    print("%s\t%s" % (name, regex))
