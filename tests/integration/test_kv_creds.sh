#!/usr/bin/env bash
# airlock-kv's credentials (client secret, workload identity, managed
# identity in IMDS shape, Azure CLI), a canary secret and token that must
# never appear in any output or file, and airlock-kv's parsers fed the real
# recorded Key Vault replies in ../shared/kv-recordings.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kv_lib.sh"

CANARY_SECRET=canary-secret-$RANDOM$RANDOM
kv_emu_start
OUT=$TMP/outputs
mkdir -p "$OUT"
run() { # run NAME CMD...: keep stdout/stderr for the canary scan
	local name=$1 rc; shift
	"$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; rc=$?
	cp "$OUT/$name.out" "$TMP/out"; cp "$OUT/$name.err" "$TMP/err"
	return $rc
}

run secret "${KVE[@]}" -v -v create c1 --subject CN=c1.example.com --dns c1.example.com &&
	ok "client secret credential (AZURE_CLIENT_SECRET)" || { not_ok "client secret credential"; diag <"$TMP/err"; }
grep -q 'authorization: \[redacted\]' "$OUT/secret.err" && ok "the HTTP trace redacts Authorization" ||
	not_ok "the HTTP trace redacts Authorization"
AZURE_CLIENT_SECRET=invalid-secret run badsecret "${KVE[@]}" status
[ $? = 6 ] && grep -q invalid_client "$TMP/err" && ok "a refused client secret: exit 6, Entra's error shown" ||
	{ not_ok "a refused client secret"; diag <"$TMP/err"; }

echo "federated-canary-$RANDOM$RANDOM" >"$TMP/fedtoken"
FED=$(cat "$TMP/fedtoken")
(unset AZURE_CLIENT_SECRET; AZURE_FEDERATED_TOKEN_FILE=$TMP/fedtoken run workload "${KVE[@]}" status) &&
	ok "workload identity (AZURE_FEDERATED_TOKEN_FILE as client_assertion)" || not_ok "workload identity"
(unset AZURE_CLIENT_SECRET; AIRLOCK_IMDS_ENDPOINT=$EMU run imds "${KVE[@]}" status) &&
	ok "managed identity (IMDS shape, string numbers)" || { not_ok "managed identity"; diag <"$TMP/err"; }

# Azure CLI: a stand-in `az` that gets a real token from the emulator; that
# token is the canary token
mkdir -p "$TMP/bin"
emu_token >"$TMP/cli-token"
CLI_TOKEN=$(cat "$TMP/cli-token")
cat >"$TMP/bin/az" <<SH
#!/bin/sh
echo "\$@" >"$TMP/az-args"
printf '{"accessToken":"%s","expiresOn":"2099-01-01 00:00:00.000000","expires_on":4070908800,"subscription":"s","tenant":"t","tokenType":"Bearer"}\n' "\$(cat $TMP/cli-token)"
SH
chmod +x "$TMP/bin/az"
(unset AZURE_CLIENT_SECRET; PATH=$TMP/bin:$PATH run cli "${KVE[@]}" status --credential cli) &&
	grep -q -- '--resource https://vault.azure.net' "$TMP/az-args" &&
	ok "Azure CLI credential (az account get-access-token --resource ...)" || { not_ok "Azure CLI credential"; diag <"$TMP/err"; }
(unset AZURE_CLIENT_SECRET; run none "$KV" --endpoint "$EMU" --cacert "$TMP/emu/ca.pem" \
	--state "$TMP/state" --credential env status)
[ $? = 6 ] && grep -q 'no Azure credential' "$TMP/err" && ok "no credential at all: exit 6 with what to set" ||
	{ not_ok "no credential at all"; diag <"$TMP/err"; }

# the canaries through a full cycle, including --json and the journal
run c2 "${KVE[@]}" --json create c2 --subject CN=c2.example.com --dns c2.example.com
run export "${KVE[@]}" --json export --out "$TMP/req"
run status2 "${KVE[@]}" --json status
(unset AZURE_CLIENT_SECRET; PATH=$TMP/bin:$PATH run clij "${KVE[@]}" --json --credential cli -v -v status)
if [ -x "$MKBUNDLE" ]; then
	kv_pki && kv_sign "$TMP/req" "$TMP/mb" &&
		run merge "${KVE[@]}" -v -v merge "$TMP/mb" --trust "$TMP/pki/root.pem"
fi
leak=$(grep -rlF -e "$CANARY_SECRET" -e "$CLI_TOKEN" -e "$FED" "$OUT" "$TMP/state" "$TMP/req" ${TMP}/mb 2>/dev/null)
if [ -z "$leak" ] && [ -s "$OUT/c2.out" ]; then
	ok "the canary secret, federated token and access token appear in no output and no written file"
else
	not_ok "canary found in: $leak"
fi

# parsers against the real recorded traffic
if [ -z "${KV_RECORDINGS:-}" ]; then
	for d in "$AIRLOCK_SRC/../shared/kv-recordings" /work/shared/kv-recordings; do
		[ -d "$d" ] && KV_RECORDINGS=$d && break
	done
fi
if [ -d "${KV_RECORDINGS:-/nonexistent}" ]; then
	/usr/bin/python3 - "$KV_RECORDINGS" "$KV" "$TMP/replay" <<'PY'
import glob, json, os, re, subprocess, sys
rec, kv, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
counts, fails, merged_ok = {}, [], 0
def records(path):
    d = json.load(open(path))
    if "Entries" in d:
        for e in d["Entries"]:
            b = e.get("ResponseBody")
            yield e["RequestMethod"], e["RequestUri"], int(e["StatusCode"]), e.get("ResponseHeaders", {}), b
    for r in d.get("networkCallRecords", []):
        resp = r["Response"]
        b = resp.get("Body", resp.get("BODY"))
        st = int(resp.get("StatusCode", resp.get("STATUS_CODE", 0)))
        try:
            b = json.loads(b) if isinstance(b, str) and b.strip().startswith("{") else b
        except ValueError:
            b = None
        yield r["Method"], r.get("Uri") or r.get("Url"), st, resp, b
n = 0
for path in sorted(glob.glob(rec + "/azure-sdk-for-net/*.json") + glob.glob(rec + "/cpp/*.json") +
                   glob.glob(rec + "/azure-keyvault-java/*.json")):
    for m, uri, st, hdrs, body in records(path):
        p = re.sub(r"^https://[^/]+", "", uri).split("?")[0]
        if "/certificates" not in p or "issuers" in p or "contacts" in p or "deleted" in p or "/import" in p:
            continue
        h = {k.lower(): v for k, v in hdrs.items()} if isinstance(hdrs, dict) else {}
        if st == 401 and "www-authenticate" in h:
            kind, data = "challenge", h["www-authenticate"]
        elif not isinstance(body, dict):
            continue
        elif st >= 400 and "error" in body:
            kind, data = "error", json.dumps(body)
        elif p.endswith("/pending") or p.endswith("/create"):
            kind, data = "operation", json.dumps(body)
        elif "value" in body and m == "GET":
            kind, data = "list", json.dumps(body)
        elif st in (200, 201) and "id" in body and ("x5t" in body or "cer" in body or "attributes" in body) \
                and "/policy" not in p:
            kind, data = "certificate", json.dumps(body)
        else:
            continue
        n += 1
        f = os.path.join(work, "r%d" % n)
        open(f, "w").write(data)
        r = subprocess.run([kv, "replay", kind, f], capture_output=True, text=True)
        counts[kind] = counts.get(kind, 0) + 1
        if r.returncode != 0:
            fails.append("%s %s %s %s: %s" % (os.path.basename(path), m, p, kind, r.stderr.strip()))
            continue
        out = json.loads(r.stdout)
        for it in out.get("items", []):
            if "x5t_matches_cer" in it:
                if not it["x5t_matches_cer"]:
                    fails.append("%s: x5t does not match cer" % p)
                else:
                    merged_ok += 1
        if kind == "challenge" and not (out["scope"] == "https://vault.azure.net/.default" and out["tenant"]):
            fails.append("challenge parsed as %s" % out)
        if kind == "operation" and out["status"] == "inProgress" and out["csr_len"] == 0 and "csr" in data:
            fails.append("operation CSR not decoded: %s" % p)
print("# parsed %s" % counts)
for f in fails[:20]:
    print("#   " + f)
ok = not fails and all(counts.get(k, 0) > 0 for k in ("challenge", "error", "operation", "list", "certificate"))
print(("ok" if ok else "not ok") + " - airlock-kv parses %d recorded Key Vault replies (%d certificates with x5t = SHA-1 of cer)"
      % (n, merged_ok))
PY
	for body in '{"token_type":"Bearer","expires_in":"3599","access_token":"abc.def"}' \
		'{"access_token":"abc","expires_in":"3599","expires_on":"1700000000","resource":"https://vault.azure.net","token_type":"Bearer"}' \
		'{"accessToken":"abc","expiresOn":"2030-01-01 10:00:00.000000","tokenType":"Bearer"}'; do
		echo "$body" >"$TMP/tok.json"
		"$KV" replay token "$TMP/tok.json" >"$TMP/out" 2>&1 && grep -q '"expires"' "$TMP/out" ||
			not_ok "token reply parses: $body"
	done
	ok "token replies parse with numbers as numbers or strings (Entra, IMDS, Azure CLI)"
	echo '{"access_token":"a b","expires_in":1}' >"$TMP/tok.json"
	expect_fail "a token with a space is refused" 4 "header" "$KV" replay token "$TMP/tok.json"
else
	skip "recorded replies" "no kv-recordings directory"
fi
exit $T_FAILED
