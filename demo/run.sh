#!/usr/bin/env bash
# make demo: the whole airlock round trip on this machine, with SoftHSM2
# tokens as the HSMs and the Key Vault emulator as Key Vault, ending with
# the certificates used for real (curl over TLS, mosquitto client auth) and
# a revocation that mosquitto then enforces. Re-runnable: each run starts
# from an empty build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
STATION=$BUILD/airlock-station
KV=$BUILD/airlock-kv
D=$BUILD/demo
DOMAIN=internal.example
M=/usr/lib/softhsm/libsofthsm2.so
PY=/usr/bin/python3

step=0
say() { step=$((step + 1)); printf '\n\033[1m[%d] %s\033[0m\n' "$step" "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf '\nmake demo: FAILED: %s\n' "$*" >&2; exit 1; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
freeport() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

rm -rf "$D"
mkdir -p "$D"/{softhsm/tokens,stick,keys,web,tls,mqtt}
chmod 700 "$D"

say "Two SoftHSM2 tokens stand in for the root and intermediate HSMs"
printf 'directories.tokendir = %s/softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$D" \
	>"$D/softhsm/softhsm2.conf"
export SOFTHSM2_CONF=$D/softhsm/softhsm2.conf
softhsm2-util --init-token --free --label demo-root --so-pin 10203040 --pin 111111 >/dev/null
softhsm2-util --init-token --free --label demo-intermediate --so-pin 10203040 --pin 222222 >/dev/null
printf '111111\n' >"$D/root.pin"; printf '222222\n' >"$D/intermediate.pin"; chmod 600 "$D"/*.pin
RPIN=file:$D/root.pin IPIN=file:$D/intermediate.pin
ROOTKEY=$("$STATION" token keygen --token "pkcs11:token=demo-root?module-path=$M" \
	--label root-key --type ec:p384 --pin-source "$RPIN" 2>/dev/null)
INTERKEY=$("$STATION" token keygen --token "pkcs11:token=demo-intermediate?module-path=$M" \
	--label intermediate-key --type ec:p384 --pin-source "$IPIN" 2>/dev/null)
note "root key:         $ROOTKEY"
note "intermediate key: $INTERKEY"

say "Station home for *.$DOMAIN, root ceremony, intermediate ceremony"
# This machine is online; a real station is not, and refuses to sign while a
# network is up. The demo overrides that, and the override is recorded in
# the ledger and the transcripts.
export AIRLOCK_ALLOW_NETWORK=1
note "(this demo machine is online: the station's air-gap check is overridden"
note " with AIRLOCK_ALLOW_NETWORK=1, and the override is recorded)"
H=$D/station
S() { "$STATION" --home "$H" "$@"; }
S init --domain "$DOMAIN" >/dev/null
S policy check
S ca root --key "$ROOTKEY" --subject "/O=Airlock Demo/CN=Airlock Demo Root" \
	--operator "Demo Operator" --witness "Demo Witness" --yes --pin-source "$RPIN" >/dev/null
S ca intermediate --key "$INTERKEY" --issuer-key "$ROOTKEY" \
	--subject "/O=Airlock Demo/CN=Airlock Demo Issuing CA" --operator "Demo Operator" \
	--witness "Demo Witness" --yes --pin-source "$IPIN" --issuer-pin-source "$RPIN" >/dev/null
note "root:         $H/ca/root.pem"
note "intermediate: $H/ca/intermediate.pem"
note "transcripts:  $(ls "$H"/transcripts/ | tr '\n' ' ')"

say "The Key Vault emulator (HTTPS on 127.0.0.1) plays Azure Key Vault"
mkdir -p "$D/emulator"
"$SRC/tests/kv-emulator/start" --port 0 --state "$D/emulator" >"$D/emulator/out" 2>"$D/emulator/err" &
pids+=($!)
for _ in $(seq 150); do grep -q '^ready' "$D/emulator/out" 2>/dev/null && break; sleep 0.1; done
EPORT=$(awk '/^ready/{print $2}' "$D/emulator/out")
[ -n "$EPORT" ] || die "the Key Vault emulator did not start: $(cat "$D/emulator/err")"
EMU=https://127.0.0.1:$EPORT
export AZURE_TENANT_ID=72f988bf-86f1-41af-91ab-2d7cd011db47 AZURE_CLIENT_ID=airlock-demo
export AZURE_CLIENT_SECRET=demo-secret-not-real AZURE_AUTHORITY_HOST=$EMU
export AIRLOCK_IMDS_ENDPOINT=https://127.0.0.1:1
K() { "$KV" --vault demo --endpoint "$EMU" --cacert "$D/emulator/ca.pem" --state "$D/kv-state" "$@"; }
note "emulator: $EMU (its CA: $D/emulator/ca.pem)"

say "airlock-kv create: three certificates with issuer Unknown"
policy() { # NAME CN EKU...
	local cn=$2; shift 2
	local ekus; ekus=$(printf '"%s",' "$@"); ekus="[${ekus%,}]"
	cat <<EOF
{"policy":{"key_props":{"kty":"EC","crv":"P-256","exportable":true,"reuse_key":false},
 "secret_props":{"contentType":"application/x-pem-file"},
 "x509_props":{"subject":"CN=$cn","sans":{"dns_names":["$cn"]},"ekus":$ekus,
   "key_usage":["digitalSignature"],"validity_months":12},
 "issuer":{"name":"Unknown"}}}
EOF
}
policy app app.$DOMAIN 1.3.6.1.5.5.7.3.1 >"$D/app.json"
policy client client.$DOMAIN 1.3.6.1.5.5.7.3.1 1.3.6.1.5.5.7.3.2 >"$D/client.json"
policy device device-42.$DOMAIN 1.3.6.1.5.5.7.3.2 >"$D/device.json"
K create app --policy "$D/app.json" --tag fleet=web >/dev/null
K create mtls-client --policy "$D/client.json" --tag fleet=web >/dev/null
K create device-42 --policy "$D/device.json" --tag fleet=devices >/dev/null
note "app (TLS server app.$DOMAIN), mtls-client, device-42 (MQTT client id device-42.$DOMAIN)"
note "keys exportable here so that the demo can fetch them from the secret; keep"
note "them non-exportable in production (the default)"

say "airlock-kv export: request bundles onto the transfer stick"
K export --out "$D/stick/requests-web" --tag fleet=web >/dev/null
K export --out "$D/stick/requests-devices" --tag fleet=devices --profile mqtt-device >/dev/null
ls "$D/stick" | sed 's/^/    /'

say "airlock-station process: review, sign on the intermediate's token, merge bundles"
for b in requests-web requests-devices; do
	S process "$D/stick/$b" --out "$D/stick" --yes --pin-source "$IPIN"
done
S ledger verify

say "airlock-kv merge: verify each merge bundle against the pinned root, merge"
# in the order the station wrote them: airlock-kv refuses a bundle older than
# one it has already seen (a replay)
for m in $(ls -dtr "$D"/stick/merge-*); do
	K merge "$m" --trust "$H/ca/root.pem"
done

say "The merged certificates, with their keys, as Key Vault serves them"
TOKEN=$(curl -s --cacert "$D/emulator/ca.pem" -X POST "$EMU/$AZURE_TENANT_ID/oauth2/v2.0/token" \
	-d "grant_type=client_credentials&client_id=$AZURE_CLIENT_ID&client_secret=$AZURE_CLIENT_SECRET&scope=https%3A%2F%2Fvault.azure.net%2F.default" |
	$PY -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
for n in app mtls-client device-42; do
	curl -s --cacert "$D/emulator/ca.pem" -H "Authorization: Bearer $TOKEN" \
		"$EMU/secrets/$n?api-version=7.5" | $PY -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["value"])' >"$D/keys/$n.pem"
	chmod 600 "$D/keys/$n.pem"
	openssl pkey -in "$D/keys/$n.pem" -out "$D/keys/$n.key" 2>/dev/null
	awk '/BEGIN CERTIFICATE/,/END CERTIFICATE/' "$D/keys/$n.pem" >"$D/keys/$n.crt"
	note "$n: $(openssl x509 -in "$D/keys/$n.crt" -noout -subject) (chain of $(grep -c 'BEGIN CERT' "$D/keys/$n.crt"))"
done
cat "$H/ca/root.pem" "$H/ca/intermediate.pem" >"$D/tls/cas.pem"

say "TLS: openssl s_server with the app certificate, curl reaches it by name"
TPORT=$(freeport)
openssl s_server -accept "127.0.0.1:$TPORT" -cert "$D/keys/app.crt" -key "$D/keys/app.key" \
	-cert_chain "$D/keys/app.crt" -www -quiet -Verify 1 -CAfile "$D/tls/cas.pem" \
	>"$D/tls/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$TPORT") 2>/dev/null && break; sleep 0.1; done
curl -sS --fail --cacert "$H/ca/root.pem" --resolve "app.$DOMAIN:$TPORT:127.0.0.1" \
	--cert "$D/keys/mtls-client.crt" --key "$D/keys/mtls-client.key" \
	"https://app.$DOMAIN:$TPORT/" -o "$D/tls/page.html" ||
	die "curl could not reach https://app.$DOMAIN:$TPORT/ with the merged certificates"
note "curl --cacert root.pem https://app.$DOMAIN:$TPORT/ : verified, name matched,"
note "client authenticated with mtls-client (s_server -Verify)"

say "MQTT: mosquitto with require_certificate accepts device-42"
MPORT=$(freeport)
openssl crl -inform DER -in "$(ls "$D"/stick/merge-*/intermediate.crl 2>/dev/null | head -1)" \
	-out "$D/mqtt/crl.pem" 2>/dev/null || {
	S crl --pin-source "$IPIN" >/dev/null
	openssl crl -in "$(ls "$H"/crl/intermediate-*.pem | tail -1)" -out "$D/mqtt/crl.pem"
}
mq_conf() {
	cat >"$D/mqtt/mosquitto.conf" <<EOF
listener $MPORT 127.0.0.1
cafile $D/tls/cas.pem
certfile $D/keys/app.crt
keyfile $D/keys/app.key
require_certificate true
use_identity_as_username true
allow_anonymous false
crlfile $1
persistence false
user root
EOF
}
mq_start() {
	mq_conf "$1"
	mosquitto -c "$D/mqtt/mosquitto.conf" >"$D/mqtt/mosquitto.log" 2>&1 &
	MQPID=$!
	pids+=($MQPID)
	for _ in $(seq 50); do grep -q 'listen socket' "$D/mqtt/mosquitto.log" && break; sleep 0.1; done
	sleep 0.3
}
pub() {
	timeout 10 mosquitto_pub -h 127.0.0.1 -p "$MPORT" --cafile "$D/tls/cas.pem" --insecure \
		--cert "$D/keys/device-42.crt" --key "$D/keys/device-42.key" -i device-42 \
		-t airlock/demo -m "$1" 2>&1
}
if [ ! -s "$D/mqtt/crl.pem" ]; then
	S crl --pin-source "$IPIN" >/dev/null
	openssl crl -in "$(ls "$H"/crl/intermediate-*.pem | tail -1)" -out "$D/mqtt/crl.pem"
fi
mq_start "$D/mqtt/crl.pem"
pub "hello from device-42" >"$D/mqtt/pub1.log" || die "mosquitto refused device-42: $(cat "$D/mqtt/pub1.log")"
note "mosquitto_pub as device-42 (CN = client id): accepted"
kill "$MQPID"; wait "$MQPID" 2>/dev/null || true

say "Revoke device-42 at the station, sign a CRL, carry it back, publish it"
serial=$(openssl x509 -in "$D/keys/device-42.crt" -noout -serial | cut -d= -f2)
S revoke "$serial" --reason keyCompromise
S crl --pin-source "$IPIN"
mkdir -p "$D/stick2"
S export "$D/stick2" --pin-source "$IPIN"
RB=$(ls -d "$D"/stick2/merge-* | head -1)
"$KV" publish "$RB" --to "$D/web" --trust "$H/ca/root.pem" --state "$D/kv-state"
PUB=$(ls "$D"/web/*.crl | grep -v root | head -1)
openssl crl -inform DER -in "$PUB" -out "$D/mqtt/crl-published.pem"
mq_start "$D/mqtt/crl-published.pem"
if pub "after revocation" >"$D/mqtt/pub2.log"; then
	die "mosquitto still accepted the revoked device"
fi
openssl verify -crl_check -CRLfile "$D/mqtt/crl-published.pem" -CAfile "$D/tls/cas.pem" \
	"$D/keys/device-42.crt" >"$D/mqtt/verify.log" 2>&1 || true
grep -q 'certificate revoked' "$D/mqtt/verify.log" || die "the published CRL does not revoke device-42"
note "mosquitto with the published CRL now refuses device-42 ($(head -1 "$D/mqtt/pub2.log"));"
note "openssl verify -crl_check says why: certificate revoked"

cat <<EOF

make demo: done. Everything ran on this machine; nothing is installed.
  station home (config, ledger, CA certificates, transcripts, CRLs): $H
  transfer stick (request and merge bundles):                        $D/stick
  certificates and keys fetched from the emulator's secrets:         $D/keys
  published CRLs and CA certificates (a web root):                   $D/web
  TLS and MQTT configuration and logs:                               $D/tls, $D/mqtt
  SoftHSM2 tokens (PINs in $D/*.pin):                                $D/softhsm
Run it again at any time: it starts from an empty $D.
EOF
