#!/bin/sh
# udev/install.sh DESTDIR PREFIX: install the station's udev rules, systemd
# units, sysusers.d/tmpfiles.d entries and helpers (called by `make install`).
#
#   helpers    PREFIX/libexec/airlock/airlock-media, airlock-airgap
#   rules      /usr/lib/udev/rules.d when PREFIX is /usr, else
#              /etc/udev/rules.d (udev reads no rules under /usr/local)
#   units      PREFIX/lib/systemd/system (systemd reads /usr/local/lib too)
#   sysusers   PREFIX/lib/sysusers.d/airlock.conf
#   tmpfiles   PREFIX/lib/tmpfiles.d/airlock.conf
# Each directory can be overridden from the environment: LIBEXECDIR,
# UDEVRULESDIR, SYSTEMDUNITDIR, SYSUSERSDIR, TMPFILESDIR (all without
# DESTDIR). The rules and units name the helpers by their installed path.
#
# With an empty DESTDIR, as root, it then creates the group and directories
# and reloads udev when those tools are there (AIRLOCK_NO_ACTIVATE=1 skips
# that).
set -eu
if [ $# -ne 2 ]; then
	echo "usage: udev/install.sh DESTDIR PREFIX" >&2
	exit 2
fi
DESTDIR=$1
PREFIX=$2
case "$PREFIX" in
/*) ;;
*) echo "udev/install.sh: PREFIX must be an absolute path, not '$PREFIX'" >&2; exit 2 ;;
esac
PREFIX=${PREFIX%/}
[ -n "$PREFIX" ] || PREFIX=/
SRC=$(cd "$(dirname "$0")" && pwd)

if [ "$PREFIX" = /usr ]; then
	: "${UDEVRULESDIR:=/usr/lib/udev/rules.d}"
else
	: "${UDEVRULESDIR:=/etc/udev/rules.d}"
fi
: "${LIBEXECDIR:=$PREFIX/libexec/airlock}"
: "${SYSTEMDUNITDIR:=$PREFIX/lib/systemd/system}"
: "${SYSUSERSDIR:=$PREFIX/lib/sysusers.d}"
: "${TMPFILESDIR:=$PREFIX/lib/tmpfiles.d}"

case "$LIBEXECDIR" in
*[!A-Za-z0-9/._-]*) echo "udev/install.sh: LIBEXECDIR '$LIBEXECDIR' has characters udev rules cannot carry" >&2; exit 2 ;;
esac

# subst SRC DST MODE: copy SRC to DESTDIR/DST with @LIBEXECDIR@ filled in.
subst() {
	install -d "$DESTDIR$(dirname "$2")"
	sed "s|@LIBEXECDIR@|$LIBEXECDIR|g" "$1" >"$DESTDIR$2.tmp"
	chmod "$3" "$DESTDIR$2.tmp"
	mv -f "$DESTDIR$2.tmp" "$DESTDIR$2"
	echo "installed $DESTDIR$2"
}

subst "$SRC/airlock-media" "$LIBEXECDIR/airlock-media" 0755
subst "$SRC/airlock-airgap" "$LIBEXECDIR/airlock-airgap" 0755
for r in 10-airlock-airgap.rules 70-airlock-tokens.rules 71-airlock-media.rules; do
	subst "$SRC/$r" "$UDEVRULESDIR/$r" 0644
done
for u in airlock-media@.service airlock-media-export@.service; do
	subst "$SRC/$u" "$SYSTEMDUNITDIR/$u" 0644
done
subst "$SRC/airlock.sysusers" "$SYSUSERSDIR/airlock.conf" 0644
subst "$SRC/airlock.tmpfiles" "$TMPFILESDIR/airlock.conf" 0644

if [ -z "$DESTDIR" ] && [ "$(id -u)" -eq 0 ] && [ -z "${AIRLOCK_NO_ACTIVATE:-}" ]; then
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers "$SYSUSERSDIR/airlock.conf" || true
	fi
	if command -v systemd-tmpfiles >/dev/null 2>&1; then
		systemd-tmpfiles --create "$TMPFILESDIR/airlock.conf" || true
	fi
	if command -v udevadm >/dev/null 2>&1 && [ -S /run/udev/control ]; then
		udevadm control --reload || true
	fi
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl daemon-reload || true
	fi
fi
