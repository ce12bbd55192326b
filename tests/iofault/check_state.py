#!/usr/bin/python3
"""Check a station home (and an export directory) for the crash-consistency
promises of SECURITY.md section 2, after a crash or after the rerun.

  check_state.py --home H --bid BUNDLE_ID --requests N --phase crash|final
                 --spool keep|done [--out DIR] [--root ROOT.pem]

Prints one line per problem found ("problem: ...") and notes ("note: ...");
exits 1 when there is a problem. It never changes anything.

phase crash: the state a SIGKILL left (the ledger may end in a torn line;
  a merge bundle is either complete or absent; no request issued twice).
phase final: after the rerun: every request issued exactly once, every
  INTENT resolved, the merge bundle present and complete (with --out), the
  spool as --spool says."""
import argparse, collections, hashlib, json, os, re, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("--home", required=True)
ap.add_argument("--bid", required=True)
ap.add_argument("--requests", type=int, required=True)
ap.add_argument("--phase", choices=["crash", "final"], required=True)
ap.add_argument("--spool", choices=["keep", "done", "any"], default="any")
ap.add_argument("--out")
ap.add_argument("--root")
a = ap.parse_args()

problems, notes = [], []
def bad(msg): problems.append(msg)
def note(msg): notes.append(msg)

# --- the ledger --------------------------------------------------------------
raw = open(os.path.join(a.home, "ledger.jsonl"), "rb").read()
lines = raw.split(b"\n")
torn = lines.pop()  # b"" when the file ends in a newline
if torn:
    (note if a.phase == "crash" else bad)(
        "ledger ends in a torn line of %d bytes" % len(torn))
recs = []
for i, l in enumerate(lines):
    try:
        recs.append(json.loads(l))
    except ValueError:
        bad("ledger line %d is not JSON" % (i + 1))
line_hash = [hashlib.sha256(l).hexdigest() for l in lines]
intents = collections.Counter(r["serial"] for r in recs if r["type"] == "INTENT")
for s, c in intents.items():
    if c > 1:
        bad("serial %s has %d INTENT records" % (s, c))
state, closed_twice = {}, []
for r in recs:
    t = r["type"]
    if t == "INTENT":
        state[r["serial"]] = "open"
    elif t in ("ISSUED", "ABORTED", "INDOUBT"):
        if state.get(r["serial"]) != "open":
            bad("%s for serial %s that is %s" % (t, r["serial"], state.get(r["serial"], "unknown")))
        state[r["serial"]] = t
opened = [s for s, v in state.items() if v == "open"]
if opened and a.phase == "final":
    bad("%d INTENT records unresolved" % len(opened))
issued = collections.Counter(r["request_id"] for r in recs if r["type"] == "ISSUED")
for q, c in issued.items():
    if c > 1:
        bad("request %s issued %d times" % (q, c))
if a.phase == "final" and len(issued) != a.requests:
    bad("%d of %d requests issued" % (len(issued), a.requests))
indoubt = sum(1 for v in state.values() if v == "INDOUBT")
if indoubt:
    note("%d INDOUBT" % indoubt)
issued_serials = {r["serial"] for r in recs if r["type"] == "ISSUED"}

# --- the spool ----------------------------------------------------------------
spool = os.path.join(a.home, "spool")
names = set(os.listdir(spool))
have, done = a.bid in names, (".done-" + a.bid) in names
tmps = sorted(n for n in names if n.startswith(".") and not n.startswith(".done-"))
if tmps:
    note("spool temporaries left: %s" % " ".join(tmps))
if have and done:
    bad("spool holds both %s and .done-%s" % (a.bid, a.bid))
if a.spool == "keep" and not have:
    bad("request bundle %s missing from the spool" % a.bid)
if a.spool == "done" and (have or not done):
    bad("spool: want only .done-%s, have %s" % (a.bid, " ".join(sorted(names)) or "nothing"))

# --- export state ---------------------------------------------------------------
es = os.path.join(a.home, "export-state.json")
if os.path.exists(es):
    try:
        j = json.load(open(es))
        if j.get("exported_seq", 0) > len(recs):
            bad("export-state.json exported_seq %s beyond the ledger (%d)" % (j["exported_seq"], len(recs)))
    except ValueError:
        bad("export-state.json is not JSON")
home_tmps = sorted(n for n in os.listdir(a.home) if n.startswith("."))
if home_tmps:
    note("home temporaries left: %s" % " ".join(home_tmps))

# --- merge bundles ----------------------------------------------------------------
def check_bundle(d):
    """'' when complete and consistent with the station ledger, else why."""
    try:
        mraw = open(os.path.join(d, "manifest.json"), "rb").read()
        m = json.loads(mraw)
    except (OSError, ValueError) as e:
        return "manifest.json unreadable: %s" % e
    listed = {"manifest.json", "manifest.json.sig"}
    for it in m.get("entries", []) + m.get("files", []):
        p = os.path.join(d, it["file"])
        listed.add(it["file"])
        try:
            b = open(p, "rb").read()
        except OSError:
            return "%s missing" % it["file"]
        if len(b) != it["size"] or hashlib.sha256(b).hexdigest() != it["sha256"]:
            return "%s does not match the manifest" % it["file"]
    extra = set(os.listdir(d)) - listed
    if extra:
        return "files not in the manifest: %s" % " ".join(sorted(extra))
    if a.root:
        v = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER",
                            "-in", os.path.join(d, "manifest.json.sig"),
                            "-content", os.path.join(d, "manifest.json"),
                            "-CAfile", a.root, "-purpose", "any", "-out", os.devnull],
                           capture_output=True)
        if v.returncode != 0:
            return "manifest signature does not verify: %s" % v.stderr.decode()[:200]
    for e in m.get("entries", []):
        if e["serial"] not in issued_serials:
            return "entry %s serial %s is not ISSUED in the station ledger" % (e["id"], e["serial"])
    if len(m.get("entries", [])) != a.requests:
        return "%d entries, want %d" % (len(m.get("entries", [])), a.requests)
    # the ledger slice is the station's own lines; the checkpoint its head
    cp = json.load(open(os.path.join(d, "checkpoint.json")))
    sl = open(os.path.join(d, "ledger.jsonl"), "rb").read().split(b"\n")[:-1]
    for k, l in enumerate(sl):
        seq = cp["from_seq"] + k
        if seq > len(lines) or lines[seq - 1] != l:
            return "ledger slice line seq %d differs from the station ledger" % seq
    if cp["seq"] > len(lines) or line_hash[cp["seq"] - 1] != cp["head"]:
        return "checkpoint head is not the station ledger's line %d" % cp["seq"]
    return ""

if a.out:
    merge = "merge-" + a.bid
    outn = os.listdir(a.out)
    otmps = sorted(n for n in outn if n.startswith("."))
    if otmps:
        note("export temporaries left: %s" % " ".join(otmps))
    for n in outn:
        if not n.startswith(".") and n != merge:
            bad("unexpected %s in the export directory" % n)
    if merge in outn:
        why = check_bundle(os.path.join(a.out, merge))
        if why:
            bad("%s present but not complete: %s" % (merge, why))
    elif a.phase == "final":
        bad("%s absent after the rerun" % merge)

for n in notes:
    print("note: " + n)
for p in problems:
    print("problem: " + p)
sys.exit(1 if problems else 0)
