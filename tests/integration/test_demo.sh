#!/usr/bin/env bash
# make demo's round trip as a test: SoftHSM2 ceremonies, Key Vault emulator,
# export, station process, merge, curl over TLS with client auth, mosquitto
# accepting the device, revocation, CRL, publish, mosquitto refusing it.
. "$(dirname "$0")/lib.sh"

DEMO_BUILD=$TMP/build
mkdir -p "$DEMO_BUILD"
ln -s "$BUILD/airlock-station" "$DEMO_BUILD/airlock-station"
ln -s "$BUILD/airlock-kv" "$DEMO_BUILD/airlock-kv"
# demo/run.sh writes into $BUILD/demo; give it a private BUILD (relative to
# the source tree it is run from, so pass an absolute path)
if BUILD=$DEMO_BUILD bash "$AIRLOCK_SRC/demo/run.sh" >"$TMP/demo.log" 2>&1; then
	ok "demo/run.sh: the whole round trip ran"
else
	not_ok "demo/run.sh failed"; tail -30 "$TMP/demo.log" | diag
fi
for line in "curl --cacert root.pem https://app.internal.example" "client authenticated with mtls-client" \
	"mosquitto_pub as device-42 (CN = client id): accepted" "now refuses device-42" "certificate revoked" \
	"make demo: done"; do
	grep -qF "$line" "$TMP/demo.log" && ok "demo says: $line" || not_ok "demo output lacks: $line"
done
exit $T_FAILED
