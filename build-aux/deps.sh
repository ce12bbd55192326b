#!/bin/sh
# Install the Debian 12 packages that airlock's build, tests and demo need.
# Fast when everything is present (one dpkg-query). As root it runs apt-get
# non-interactively; otherwise it prints the exact command and fails.
set -eu

# Build
PKGS="build-essential pkg-config libssl-dev libp11-dev libpcsclite-dev
libcurl4-openssl-dev libcjson-dev libp11-kit-dev clang-format"
# Tokens and readers (tests, demo)
PKGS="$PKGS softhsm2 opensc p11-kit pcscd vsmartcard-vpcd
python3-virtualsmartcard python3-pycryptodome libengine-pkcs11-openssl openssl"
# Verifiers, docs, time (tests)
PKGS="$PKGS gnutls-bin libnss3-tools mandoc faketime binutils systemd iproute2 util-linux"
# Key Vault emulator and its SDK conformance test
PKGS="$PKGS python3 python3-cryptography python3-yaml ca-certificates"
# Consumers of the certificates (tests, demo)
PKGS="$PKGS mosquitto mosquitto-clients curl e2fsprogs"
# The station as a machine: udev rules and media (tests)
PKGS="$PKGS udev umockdev dosfstools exfatprogs"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f '${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
# Node.js may come from the machine image rather than Debian; only ask apt
# for it when there is no node at all.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "airlock: missing Debian packages:$missing" >&2
	echo "run as root:  apt-get update && $cmd" >&2
	exit 1
fi
echo "airlock: installing missing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >&2
