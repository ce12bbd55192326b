#!/usr/bin/env bash
# The ledger's outside witness (SECURITY.md 2, issue 7): a real station on
# SoftHSM2 exports merge bundles; airlock-kv keeps a replica of the station's
# ledger from the slices they carry. Sessions witnessed in order grow the
# replica byte for byte; a re-run changes nothing; a station rolled back, or
# edited and re-chained, is refused (exit 3, nothing merged or unpacked); an
# edited or truncated station ledger is caught by the station itself; and
# `ledger restore` rebuilds a lost ledger from the replica, after which the
# next session extends the replica.
. "$(dirname "$0")/lib.sh"

H=$TMP/home
station_setup "$H" || { not_ok "station setup"; exit 1; }
ROOT=$H/ca/root.pem
MKREQ="/usr/bin/python3 $AIRLOCK_SRC/tests/integration/mkreq.py"
ST=$TMP/kvstate
REP=$ST/ledger-replica.jsonl
W() { timeout 60 "$KV" --state "$ST" witness --trust "$ROOT" "$@"; }
sha() { sha256sum "$1" | cut -c1-64; }

# session HOME NAME: a request bundle of two, imported, signed and exported
# by `process`; prints the merge bundle's path.
session() {
	local home=$1 name=$2
	$MKREQ --out "$TMP/$name" --count 2 >"$TMP/$name.bid" 2>/dev/null || return 1
	mkdir -p "$TMP/out-$name"
	timeout 120 "$STATION" --home "$home" process "$TMP/$name" --out "$TMP/out-$name" --yes \
		--pin-source "$PINSRC" >"$TMP/$name.out" 2>"$TMP/$name.err" || { diag <"$TMP/$name.err"; return 1; }
	local m="$TMP/out-$name/merge-$(cat "$TMP/$name.bid")"
	[ -f "$m/ledger.jsonl" ] && [ -f "$m/checkpoint.json" ] || return 1
	echo "$m"
}
cpjson() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/checkpoint.json"))[sys.argv[2]])' "$1" "$2"; }

# --- two sessions, witnessed in order ----------------------------------------
B1=$(session "$H" s1) && ok "session 1: merge bundle with ledger slice and checkpoint" || not_ok "session 1"
cp -a "$H" "$TMP/home-before2" # for the rollback below
B2=$(session "$H" s2) && ok "session 2: merge bundle" || not_ok "session 2"
[ "$(cpjson "$B2" from_seq)" -eq $(($(cpjson "$B1" seq) + 1)) ] &&
	ok "session 2's slice starts right after session 1's checkpoint" || not_ok "from_seq of session 2"

expect_ok "witness bundle 1" W "$B1"
n1=$(cpjson "$B1" seq)
head -n "$n1" "$H/ledger.jsonl" | cmp -s - "$REP" &&
	ok "replica = the station's ledger up to checkpoint 1, byte for byte" || not_ok "replica after bundle 1"
grep -q "records 1\.\.$n1 witnessed" "$TMP/out" && ok "witness says which records it took" ||
	{ not_ok "witness output"; diag <"$TMP/out"; }
expect_ok "witness bundle 2 (through unpack)" timeout 60 "$KV" --state "$ST" unpack "$B2" --out "$TMP/unpacked2" --trust "$ROOT"
cmp -s "$H/ledger.jsonl" "$REP" && ok "replica = the station's whole ledger after bundle 2" || not_ok "replica after bundle 2"
ls "$TMP/unpacked2"/*.pem >/dev/null 2>&1 && ok "unpack wrote the certificates after witnessing" || not_ok "unpack output"
mkdir -p "$TMP/vhome"
cp -a "$H/." "$TMP/vhome/" && cp "$REP" "$TMP/vhome/ledger.jsonl"
expect_ok "the replica passes airlock-station ledger verify" "$STATION" --home "$TMP/vhome" ledger verify
h_before=$(sha "$REP")
rhead=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seq"])' "$ST/ledger-head.json")
[ "$rhead" -eq "$(cpjson "$B2" seq)" ] && ok "ledger-head.json records checkpoint 2" || not_ok "ledger-head.json: $rhead"

expect_ok "re-witness bundle 1: accepted" W "$B1"
grep -q "already in the replica" "$TMP/out" && [ "$(sha "$REP")" = "$h_before" ] &&
	ok "re-witness: nothing appended, replica unchanged" || { not_ok "re-witness changed something"; diag <"$TMP/out"; }
W --json "$B1" >"$TMP/j" 2>/dev/null
/usr/bin/python3 -c 'import json,sys; l=json.load(open(sys.argv[1]))["bundles"][0]["ledger"]; sys.exit(0 if l["already_witnessed"] and l["appended"]==0 and l["from_seq"]==1 else 1)' "$TMP/j" &&
	ok "witness --json: already_witnessed, nothing appended" || { not_ok "witness --json"; diag <"$TMP/j"; }
expect_ok "witness both again, in any order" W "$B2" "$B1"
[ "$(sha "$REP")" = "$h_before" ] && ok "still unchanged" || not_ok "replica changed on re-run"

# --- out of order, first contact, gaps ---------------------------------------
ST2=$TMP/kvstate2
expect_ok "a fresh host given both bundles in reverse order sorts them" \
	timeout 60 "$KV" --state "$ST2" witness --trust "$ROOT" "$B2" "$B1"
cmp -s "$ST2/ledger-replica.jsonl" "$REP" && ok "same replica from either order" || not_ok "order-sorted replica differs"
ST3=$TMP/kvstate3
timeout 60 "$KV" --state "$ST3" witness --trust "$ROOT" "$B2" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && grep -q "first contact" "$TMP/out" "$TMP/err" &&
	[ "$(head -c 9 "$ST3/ledger-replica.jsonl")" = "{\"seq\":$(cpjson "$B2" from_seq)," ] &&
	ok "first contact: a fresh replica starts at the bundle's first record, and says so" ||
	{ not_ok "first contact (exit $rc)"; diag <"$TMP/err"; }
expect_fail "a bundle before the replica's first record is refused" 3 "before the replica's first record" \
	timeout 60 "$KV" --state "$ST3" witness --trust "$ROOT" "$B1"

# --- the station rolled back: a copy from before session 2, then session 2' --
B2R=$(session "$TMP/home-before2" s2r) && ok "session 2' on the rolled-back station" || not_ok "session 2'"
[ "$(cpjson "$B2R" from_seq)" = "$(cpjson "$B2" from_seq)" ] &&
	ok "session 2' reuses the record numbers session 2 used" || not_ok "rollback setup"
expect_fail "witness refuses the rolled-back station's bundle (exit 3)" 3 "rolled back or edited" W "$B2R"
[ "$(sha "$REP")" = "$h_before" ] && ok "the replica is unchanged by the refusal" || not_ok "replica changed by a refused bundle"
expect_fail "unpack refuses it too" 3 "rolled back or edited" \
	timeout 60 "$KV" --state "$ST" unpack "$B2R" --out "$TMP/unpacked2r" --trust "$ROOT"
[ -z "$(ls -A "$TMP/unpacked2r" 2>/dev/null)" ] && ok "unpack wrote nothing" || not_ok "unpack wrote files for a refused bundle"
# merge refuses before it opens the journal or talks to Key Vault (the
# endpoint below answers nothing)
expect_fail "merge refuses it before any Key Vault call" 3 "rolled back or edited" \
	timeout 60 "$KV" --state "$ST" --endpoint https://127.0.0.1:1 --max-tries 1 --timeout 2 merge "$B2R" --trust "$ROOT"
[ ! -e "$ST/journal.jsonl" ] && ok "merge recorded nothing in its journal" || not_ok "merge wrote its journal"

# --- an edited station ledger ------------------------------------------------
E=$TMP/home-edited
cp -a "$H" "$E"
/usr/bin/python3 - "$E/ledger.jsonl" <<'PY'
import sys
p = sys.argv[1]
lines = open(p, "rb").read().split(b"\n")
i = 4  # record 5: an old issuance record
k = lines[i].index(b'"time":"') + 11  # the year's last digit
lines[i] = lines[i][:k] + (b"7" if lines[i][k:k + 1] != b"7" else b"6") + lines[i][k + 1:]
open(p, "wb").write(b"\n".join(lines))
PY
expect_fail "ledger verify finds a flipped byte in an old record" 4 "record|line|prev" \
	"$STATION" --home "$E" ledger verify
$MKREQ --out "$TMP/se" --count 1 >/dev/null 2>&1
mkdir -p "$TMP/out-se"
timeout 120 "$STATION" --home "$E" process "$TMP/se" --out "$TMP/out-se" --yes --pin-source "$PINSRC" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -ne 0 ] && [ -z "$(ls -A "$TMP/out-se")" ] && ok "the station refuses to sign or export on an edited ledger (exit $rc)" ||
	{ not_ok "station worked on an edited ledger (exit $rc)"; diag <"$TMP/err"; }

# edited and re-chained (every later prev recomputed): the station's own
# check passes, the witness does not
/usr/bin/python3 - "$H/ledger.jsonl" "$E/ledger.jsonl" <<'PY'
import hashlib, json, sys
src, dst = sys.argv[1], sys.argv[2]
lines = open(src, "rb").read().split(b"\n")[:-1]
out, prev = [], "0" * 64
for i, l in enumerate(lines):
    r = json.loads(l)
    r["prev"] = prev
    if i == 4:
        r["time"] = "2001" + r["time"][4:]
    b = json.dumps(r, separators=(",", ":")).encode()
    out.append(b)
    prev = hashlib.sha256(b).hexdigest()
open(dst, "wb").write(b"\n".join(out) + b"\n")
PY
expect_ok "a re-chained edit passes the station's own ledger verify" "$STATION" --home "$E" ledger verify
BE=$(session "$E" se2) && ok "the re-chained station exports" || not_ok "export from the re-chained station"
# its slices hold only new records (the request refused above was spooled
# and is exported too); the first chains onto the edited head
expect_fail "witness refuses the re-chained station's bundles" 3 "rolled back or edited" W "$TMP"/out-se2/merge-*

# --- a truncated station ledger ----------------------------------------------
T=$TMP/home-trunc
cp -a "$H" "$T"
keep=$(($(wc -l <"$H/ledger.jsonl") - 3))
head -n "$keep" "$H/ledger.jsonl" >"$T/ledger.jsonl"
cnt=$("$STATION" --home "$T" ledger verify --json 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
rseq=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seq"])' "$ST/ledger-head.json")
[ "$cnt" -lt "$rseq" ] && ok "a truncated ledger: ledger verify counts $cnt records, the replica $rseq" ||
	not_ok "truncation not visible ($cnt vs $rseq)"
BT=$(session "$T" st2)
if [ -n "$BT" ]; then
	expect_fail "witness refuses a bundle from the truncated ledger" 3 "rolled back or edited|differs|does not follow|empty" W "$BT"
else
	ok "the truncated station does not export (nothing to witness)"
fi
[ "$(sha "$REP")" = "$h_before" ] && ok "the replica is unchanged by all refusals" || not_ok "replica changed"

# --- the ledger lost: restore from the replica --------------------------------
L=$TMP/home-lost
cp -a "$H" "$L"
expect_fail "restore refuses to replace a non-empty ledger" 7 "exists" \
	"$STATION" --home "$L" ledger restore "$REP"
rm -f "$L/ledger.jsonl" "$L/export-state.json"
expect_ok "ledger restore from the replica" "$STATION" --home "$L" ledger restore "$REP"
cmp -s "$L/ledger.jsonl" "$REP" && ok "the restored ledger is the replica" || not_ok "restored ledger differs"
expect_ok "the restored ledger verifies" "$STATION" --home "$L" ledger verify
grep -q "\"exported_seq\":$rseq," "$L/export-state.json" && ok "export-state continues after the restored records" ||
	not_ok "export-state: $(cat "$L/export-state.json")"
B3=$(session "$L" s3) && ok "a session on the restored station" || not_ok "session after restore"
[ "$(cpjson "$B3" from_seq)" -eq $((rseq + 1)) ] && ok "its slice starts after the replica" || not_ok "from_seq after restore"
expect_ok "the witness accepts it as extending the replica" W "$B3"
grep -q "witnessed (.* new)" "$TMP/out" && cmp -s "$L/ledger.jsonl" "$REP" &&
	ok "replica = the restored station's ledger again" || { not_ok "replica after restore"; diag <"$TMP/out"; }
expect_fail "a host that missed bundle 2 refuses bundle 3 (gap)" 3 "never witnessed" \
	timeout 60 "$KV" --state "$TMP/kvstate4" witness --trust "$ROOT" "$B1" "$B3"
# --force keeps what it replaces
F=$TMP/home-force
cp -a "$H" "$F"
expect_ok "restore --force over an existing ledger" "$STATION" --home "$F" ledger restore "$REP" --force
ls "$F"/ledger.jsonl.replaced-* >/dev/null 2>&1 && cmp -s "$F"/ledger.jsonl.replaced-* "$H/ledger.jsonl" &&
	ok "--force kept the replaced ledger" || not_ok "replaced ledger not kept"
head -n 2 "$REP" >"$TMP/partial.jsonl"; tail -n 1 "$REP" >>"$TMP/partial.jsonl"
rm -f "$F/ledger.jsonl"
expect_fail "restore refuses a replica that does not verify" 4 "does not verify" \
	"$STATION" --home "$F" ledger restore "$TMP/partial.jsonl"
[ ! -e "$F/ledger.jsonl" ] && [ -z "$(ls "$F" | grep restoring)" ] && ok "nothing installed, no leftovers" ||
	not_ok "a refused restore left files"
expect_fail "restore refuses a first-contact replica" 4 "first contact" \
	"$STATION" --home "$F" ledger restore "$ST3/ledger-replica.jsonl"

# --- the local replica damaged -----------------------------------------------
head -n 2 "$REP" >"$TMP/r" && cp "$TMP/r" "$REP"
expect_fail "a replica cut short on this host is noticed" 3 "truncated or replaced" W "$B1"
exit $T_FAILED
