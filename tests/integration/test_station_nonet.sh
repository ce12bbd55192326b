#!/usr/bin/env bash
# airlock-station is the air-gapped program: it must not link libcurl and
# must import no socket functions (DESIGN.md, "Layout").
. "$(dirname "$0")/lib.sh"

if [ ! -x "$STATION" ]; then not_ok "no $STATION"; exit 1; fi
needed=$(objdump -p "$STATION" | awk '/NEEDED/ {print $2}')
echo "$needed" | diag
if echo "$needed" | grep -qi curl; then not_ok "airlock-station links libcurl"; else ok "airlock-station does not link libcurl"; fi
imports=$(nm -D --undefined-only "$STATION" | awk '{print $NF}' | sed 's/@.*//')
bad=$(echo "$imports" | grep -xE 'socket|socketpair|connect|bind|listen|accept|accept4|sendto|sendmsg|recvfrom|recvmsg|getaddrinfo|gethostbyname|gethostbyname2|curl_.*' || true)
if [ -z "$bad" ]; then ok "airlock-station imports no socket functions"; else not_ok "airlock-station imports: $bad"; fi
# the check itself must be able to fail: airlock-kv does import them
kvimports=$(nm -D --undefined-only "$KV" | awk '{print $NF}' | sed 's/@.*//')
if echo "$kvimports" | grep -qx 'curl_easy_init\|curl_version_info'; then ok "the same check sees libcurl in airlock-kv"; else not_ok "check cannot see curl in airlock-kv"; fi
exit $T_FAILED
