#!/usr/bin/env bash
# airlock-kv through Key Vault faults (emulator fault injection): 429 storms
# with and without Retry-After, 503s, and connections dropped during merge
# before and after the emulator applied it, then re-runs: the runs finish,
# nothing fails, nothing is merged twice.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kv_lib.sh"

kv_emu_start
kv_pki
if [ ! -x "$MKBUNDLE" ]; then
	skip "fault tests" "$MKBUNDLE not built (make test-bins)"
	exit 0
fi
for n in a1 a2 a3 a4; do
	"${KVE[@]}" create "$n" --subject "CN=$n.example.com" --dns "$n.example.com" >/dev/null 2>&1 ||
		not_ok "create $n"
done

# throttling on reads: Retry-After 1, then none (backoff 1, 2 s), retry-after-ms
emu_faults '{"faults":[{"method":"GET","path":"^/certificates$","action":"throttle","count":2,"retry_after":1},
	{"method":"GET","path":"/pending$","action":"throttle","count":2},
	{"method":"GET","path":"/policy$","action":"throttle","count":1,"retry_after_ms":300},
	{"method":"GET","path":"/policy$","action":"error","status":503,"count":1,"retry_after":1}]}'
start=$SECONDS
expect_ok "export through a 429 storm and a 503 finishes" "${KVE[@]}" export --out "$TMP/req"
grep -c 'throttled' "$TMP/err" | grep -q '[1-9]' && ok "the retries were reported on stderr" ||
	not_ok "the retries were reported on stderr"
[ $((SECONDS - start)) -lt 40 ] && ok "export honoured Retry-After (bounded time)" || not_ok "export took too long"
grep -o "\"certificate_name\"" "$TMP/req/manifest.json" | wc -l | grep -q "^4$" && ok "all four requests exported" ||
	not_ok "all four requests exported"

kv_sign "$TMP/req" "$TMP/mb"
# merges: a1 throttled twice (429 is never applied: resent), a2 gets 503
# (ambiguous: read first), a3's connection dropped before the emulator
# applied it, a4's dropped after it applied it
emu_faults '{"faults":[{"method":"POST","path":"^/certificates/a1/pending/merge$","action":"throttle","count":2,"retry_after":1},
	{"method":"POST","path":"^/certificates/a2/pending/merge$","action":"error","status":503,"count":1},
	{"method":"POST","path":"^/certificates/a3/pending/merge$","action":"drop_before","count":1},
	{"method":"POST","path":"^/certificates/a4/pending/merge$","action":"drop_after","count":1}]}'
expect_ok "merge through 429s, a 503 and dropped connections finishes" \
	"${KVE[@]}" merge "$TMP/mb" --trust "$TMP/pki/root.pem" --json
if /usr/bin/python3 - "$TMP/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
o = {e["certificate_name"]: e["outcome"] for e in d["entries"]}
assert o["a1"] == "merged" and o["a2"] == "merged" and o["a3"] == "merged", o
assert o["a4"] in ("merged", "already-merged"), o
assert d["summary"]["failed"] == 0, d
PY
then ok "every entry merged (a4's lost answer resolved by reading the state)"; else
	not_ok "every entry merged"; diag <"$TMP/out"; fi
bad=
for n in a1 a2 a3 a4; do [ "$(emu_stat merges $n)" = 1 ] || bad="$bad $n"; done
[ -z "$bad" ] && ok "zero double merges after the faults (emulator stats)" || not_ok "merge counts wrong for:$bad"

expect_ok "a re-run after the faults" "${KVE[@]}" merge "$TMP/mb" --trust "$TMP/pki/root.pem" --json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["summary"]["already_merged"]==4, d' "$TMP/out" &&
	ok "re-run: all four already merged" || not_ok "re-run: all four already merged"
bad=
for n in a1 a2 a3 a4; do [ "$(emu_stat merges $n)" = 1 ] || bad="$bad $n"; done
[ -z "$bad" ] && ok "still exactly one merge each" || not_ok "merged twice:$bad"

# a crash between intent and outcome: the journal has an intent, Key Vault
# has the merge; the next run says already merged
"${KVE[@]}" create b1 --subject CN=b1.example.com --dns b1.example.com >/dev/null 2>&1
"${KVE[@]}" export --out "$TMP/req2" --name b1 >/dev/null 2>&1
kv_sign "$TMP/req2" "$TMP/mb2"
emu_faults '{"method":"POST","path":"^/certificates/b1/pending/merge$","action":"drop_after","latency_ms":1500}'
"${KVE[@]}" merge "$TMP/mb2" --trust "$TMP/pki/root.pem" >/dev/null 2>&1 &
mpid=$!
sleep 1
kill -9 $mpid 2>/dev/null
wait $mpid 2>/dev/null
sleep 1
grep -q '"event":"intent","vault":"[^"]*","name":"b1"' "$TMP/state/journal.jsonl" &&
	ok "killed mid-merge: the journal holds the intent" || not_ok "journal intent before merge"
expect_ok "the run after the crash" "${KVE[@]}" merge "$TMP/mb2" --trust "$TMP/pki/root.pem"
[ "$(emu_stat merges b1)" = 1 ] && ok "after a crash mid-merge: merged exactly once" ||
	not_ok "after a crash mid-merge: merged $(emu_stat merges b1) times"

# throttling that outlasts the retry budget fails cleanly with exit 6
emu_faults '{"method":"GET","path":"^/certificates$","action":"throttle","count":5,"retry_after":1}'
expect_fail "throttling beyond --max-tries ends with exit 6" 6 "Throttled" \
	"${KVE[@]}" status --max-tries 2
emu_ctl -X DELETE "$EMU/_emulator/faults" >/dev/null
exit $T_FAILED
