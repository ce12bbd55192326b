#!/usr/bin/env bash
# The station's udev rules, units and helpers (udev/), as udev/install.sh
# installs them:
#   - udev/lint-rules on the project's rules, and on a broken file it must
#     reject (udevadm 252 silently accepts a missing comma);
#   - every rule through `udevadm test --action=add` on devices faked by
#     umockdev-run: tokens by VID:PID and a CCID reader by interface class
#     (GROUP, MODE, TAG), transfer sticks with real vfat/exfat/ext4 images'
#     blkid properties (ENV, SYSTEMD_WANTS, RUN), USB network adapters,
#     Bluetooth and rfkill (authorized=0, soft=1), and devices that must not
#     match;
#   - the airlock-airgap helper deauthorizing a vendor-class USB NIC, and
#     airlock-media refusing sticks it must not mount, and mounting an
#     accepted one with the unit's options (mount(8) replaced by a recorder);
#   - the units (systemd-analyze verify, and their options read), the
#     sysusers.d/tmpfiles.d entries (systemd-sysusers/-tmpfiles --root).
# udevadm test in systemd 252 really applies what the rules say (device
# nodes, symlinks, the udev database, sysfs attributes), so the whole test
# runs in a mount namespace of its own with private tmpfs /dev, /run and
# /etc/udev/rules.d, and sysfs is umockdev's, never the machine's.
if [ -z "${AIRLOCK_UDEV_NS:-}" ] && [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
	exec unshare --mount env AIRLOCK_UDEV_NS=1 bash "$0"
fi
. "$(dirname "$0")/lib.sh"
UDEV=$AIRLOCK_SRC/udev

# --- lint, which needs nothing but python3 ------------------------------------
if "$UDEV/lint-rules" "$UDEV"/*.rules 2>"$TMP/lint.err"; then ok "lint-rules: the project's rules are clean"; else
	not_ok "lint-rules: the project's rules are clean"; diag <"$TMP/lint.err"; fi
printf '%s\n' 'SUBSYSTEM=="usb" ATTR{idVendor}=="1050", GROUP="airlock"' >"$TMP/comma.rules"
expect_fail "lint-rules: a missing comma is an error" 1 'comma.rules:1: missing comma' "$UDEV/lint-rules" "$TMP/comma.rules"
printf '%s\n' 'KERNEL=="sd*", MODE=="0660", GOTO="x"' 'ACTION=="add", FOO="1"' >"$TMP/keys.rules"
expect_fail "lint-rules: assignment by ==, unknown key, GOTO without LABEL" 1 \
	"MODE cannot be matched.*|unknown key FOO" "$UDEV/lint-rules" "$TMP/keys.rules"
grep -q "has no LABEL" "$TMP/err" && grep -q "unknown key FOO" "$TMP/err" &&
	ok "... each one reported" || not_ok "... each one reported"

# --- install.sh ---------------------------------------------------------------
INST=$TMP/inst
if AIRLOCK_NO_ACTIVATE=1 "$UDEV/install.sh" "$INST" /usr >"$TMP/install.out" 2>&1; then ok "install.sh DESTDIR /usr"; else
	not_ok "install.sh DESTDIR /usr"; diag <"$TMP/install.out"; fi
LIBEXEC=/usr/libexec/airlock
for f in usr/lib/udev/rules.d/10-airlock-airgap.rules usr/lib/udev/rules.d/70-airlock-tokens.rules \
	usr/lib/udev/rules.d/71-airlock-media.rules usr/lib/systemd/system/airlock-media@.service \
	usr/lib/systemd/system/airlock-media-export@.service usr/lib/sysusers.d/airlock.conf \
	usr/lib/tmpfiles.d/airlock.conf usr/libexec/airlock/airlock-media usr/libexec/airlock/airlock-airgap; do
	[ -f "$INST/$f" ] || not_ok "install.sh: $f missing"
done
if grep -rq '@LIBEXECDIR@' "$INST" || ! grep -q "RUN+=\"$LIBEXEC/airlock-media refused" "$INST/usr/lib/udev/rules.d/71-airlock-media.rules"; then
	not_ok "install.sh fills in the helpers' path"
else ok "install.sh fills in the helpers' path"; fi
AIRLOCK_NO_ACTIVATE=1 "$UDEV/install.sh" "$TMP/inst2" /usr/local >/dev/null 2>&1
if [ -f "$TMP/inst2/etc/udev/rules.d/71-airlock-media.rules" ] &&
	[ -x "$TMP/inst2/usr/local/libexec/airlock/airlock-media" ] &&
	grep -q '/usr/local/libexec/airlock/airlock-media mount %I' "$TMP/inst2/usr/local/lib/systemd/system/airlock-media@.service"; then
	ok "install.sh PREFIX=/usr/local: rules where udev reads them (/etc), units under the prefix"
else
	not_ok "install.sh PREFIX=/usr/local"; find "$TMP/inst2" | diag
fi
expect_fail "install.sh without arguments: exit 2" 2 usage "$UDEV/install.sh"

# --- the units, read --------------------------------------------------------------
UNIT=$INST/usr/lib/systemd/system/airlock-media@.service
XUNIT=$INST/usr/lib/systemd/system/airlock-media-export@.service
unit_get() { sed -n "s/^$2=//p" "$1"; }
opts=$(unit_get "$UNIT" Environment | sed -n 's/^AIRLOCK_MEDIA_OPTIONS=//p')
miss=
for o in ro nosuid nodev noexec; do case ",$opts," in *",$o,"*) ;; *) miss="$miss $o" ;; esac; done
for o in rw suid dev exec; do case ",$opts," in *",$o,"*) miss="$miss (has $o)" ;; esac; done
if [ -n "$opts" ] && [ -z "$miss" ]; then ok "mount unit: options $opts"; else not_ok "mount unit options '$opts':$miss"; fi
if [ "$(unit_get "$UNIT" ExecStart)" = "$LIBEXEC/airlock-media mount %I" ] &&
	[ "$(unit_get "$UNIT" ExecStop)" = "$LIBEXEC/airlock-media unmount %I" ] &&
	[ "$(unit_get "$UNIT" BindsTo)" = "dev-%i.device" ] && [ "$(unit_get "$UNIT" Type)" = oneshot ] &&
	[ "$(unit_get "$UNIT" RemainAfterExit)" = yes ]; then
	ok "mount unit: mounts through airlock-media, bound to the device, unmounts on stop"
else not_ok "mount unit: ExecStart/ExecStop/BindsTo"; diag <"$UNIT"; fi
if [ "$(unit_get "$XUNIT" ExecStart)" = "$LIBEXEC/airlock-media export %I" ] &&
	[ "$(unit_get "$XUNIT" ExecStop)" = "$LIBEXEC/airlock-media eject %I" ]; then
	ok "export unit: remounts read-write on start, syncs and unmounts on stop"
else not_ok "export unit"; diag <"$XUNIT"; fi
if grep -q 'remount,rw,nosuid,nodev,noexec' "$UDEV/airlock-media" && grep -q 'sync -f "$dir"' "$UDEV/airlock-media"; then
	ok "export mode keeps nosuid,nodev,noexec; eject syncs first"
else not_ok "export mode keeps nosuid,nodev,noexec; eject syncs first"; fi
if command -v systemd-analyze >/dev/null; then
	if systemd-analyze verify --man=no --root="$INST" "$UNIT" "$XUNIT" >"$TMP/verify.out" 2>&1 &&
		! grep -qv '^$' "$TMP/verify.out"; then
		ok "systemd-analyze verify: both units clean"
	else not_ok "systemd-analyze verify"; diag <"$TMP/verify.out"; fi
	printf '[Service]\nExecStart=/bin/true\nBogusOption=1\n' >"$TMP/bogus.service"
	systemd-analyze verify --man=no "$TMP/bogus.service" >"$TMP/verify.out" 2>&1
	if grep -q "Unknown key.*BogusOption" "$TMP/verify.out"; then ok "... (and verify does catch a bad unit)"; else
		not_ok "systemd-analyze verify misses a bad unit"; diag <"$TMP/verify.out"; fi
else
	skip "systemd-analyze verify" "systemd-analyze missing (Debian package systemd)"
fi
if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
	R=$TMP/root
	mkdir -p "$R/etc" "$R/var/lib" "$R/run"
	: >"$R/etc/passwd"; : >"$R/etc/group"; : >"$R/etc/shadow"; : >"$R/etc/gshadow"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"; printf 'root:x:0:\n' >"$R/etc/group"
	if systemd-sysusers --root="$R" "$INST/usr/lib/sysusers.d/airlock.conf" >"$TMP/su.out" 2>&1 &&
		grep -q '^airlock:x:[0-9]*:' "$R/etc/group"; then ok "sysusers.d: creates group airlock"; else
		not_ok "sysusers.d: creates group airlock"; cat "$TMP/su.out" "$R/etc/group" | diag; fi
	if systemd-tmpfiles --root="$R" --create "$INST/usr/lib/tmpfiles.d/airlock.conf" >"$TMP/tf.out" 2>&1 &&
		[ "$(stat -c %a "$R/var/lib/airlock")" = 700 ] && [ "$(stat -c %a "$R/run/airlock/media")" = 750 ] &&
		[ "$(stat -c %G "$R/run/airlock/media")" = airlock ] || [ "$(stat -c %g "$R/run/airlock/media")" = "$(grep '^airlock:' "$R/etc/group" | cut -d: -f3)" ]; then
		ok "tmpfiles.d: /var/lib/airlock 0700, /run/airlock/media 0750 group airlock"
	else
		not_ok "tmpfiles.d"; cat "$TMP/tf.out" | diag; ls -la "$R/var/lib" "$R/run/airlock" 2>&1 | diag
	fi
else
	skip "sysusers.d/tmpfiles.d" "systemd-sysusers/systemd-tmpfiles missing"
fi

# --- what udevadm test needs -------------------------------------------------------
missing=
command -v udevadm >/dev/null || missing="$missing udev"
command -v umockdev-run >/dev/null || missing="$missing umockdev"
if [ -n "$missing" ]; then
	skip "udevadm test of the rules" "Debian packages missing:$missing"
	exit "$T_FAILED"
fi
if [ -z "${AIRLOCK_UDEV_NS:-}" ]; then
	skip "udevadm test of the rules" "needs root and unshare (util-linux) for a private mount namespace"
	exit "$T_FAILED"
fi

# Private /run, /dev (with /dev/null), rules and group; nothing leaves.
mount --make-rprivate /
mount -t tmpfs tmpfs /run
touch "$TMP/null"
mount --bind /dev/null "$TMP/null"
mount -t tmpfs tmpfs /dev
touch /dev/null
mount --bind "$TMP/null" /dev/null
t_on_exit 'umount -l "$TMP/null"' 
mkdir -p /etc/udev/rules.d
mount -t tmpfs tmpfs /etc/udev/rules.d
cp "$INST"/usr/lib/udev/rules.d/*.rules /etc/udev/rules.d/
cp /etc/group "$TMP/group"
grep -q '^airlock:' "$TMP/group" || echo 'airlock:x:64999:' >>"$TMP/group"
mount --bind "$TMP/group" /etc/group
GID=$(grep '^airlock:' /etc/group | cut -d: -f3)
# the helpers where the installed rules name them
if [ ! -d "$LIBEXEC" ]; then
	mkdir -p /usr/libexec 2>/dev/null
	mount -t tmpfs tmpfs /usr/libexec
fi
mkdir -p "$LIBEXEC" && mount --bind "$INST$LIBEXEC" "$LIBEXEC"

# --- fake devices ----------------------------------------------------------------
U=$TMP/dev
mkdir -p "$U"
hexof() { od -An -tx1 -v "$1" | tr -d ' \n' | tr a-f A-F; }
PCI=/devices/pci0000:00/0000:00:14.0/usb1
# usb_device PORT VID PID DEVNUM [DESCRIPTORS-HEX]
usb_device() {
	printf 'P: %s/%s\nN: bus/usb/001/%03d\nE: DEVNAME=/dev/bus/usb/001/%03d\nE: DEVTYPE=usb_device\nE: DRIVER=usb\n' \
		"$PCI" "$1" "$4" "$4"
	printf 'E: PRODUCT=%s/%s/100\nE: BUSNUM=001\nE: DEVNUM=%03d\nE: MAJOR=189\nE: MINOR=%d\nE: SUBSYSTEM=usb\n' \
		"${2#0}" "${3#0}" "$4" "$4"
	printf 'A: idVendor=%s\nA: idProduct=%s\nA: busnum=1\nA: devnum=%d\nA: dev=189:%d\nA: authorized=1\n' "$2" "$3" "$4" "$4"
	[ -n "${5:-}" ] && printf 'H: descriptors=%s\n' "$5"
	echo
}
# usb_interface PORT CLASS SUBCLASS PROTOCOL DRIVER
usb_interface() {
	printf 'P: %s/%s/%s:1.0\nE: DEVTYPE=usb_interface\nE: DRIVER=%s\nE: SUBSYSTEM=usb\n' "$PCI" "$1" "$1" "$5"
	printf 'E: INTERFACE=%d/%d/%d\nL: driver=../../../../../bus/usb/drivers/%s\n' \
		"$((16#$2))" "$((16#$3))" "$((16#$4))" "$5"
	printf 'A: bInterfaceClass=%s\nA: bInterfaceSubClass=%s\nA: bInterfaceProtocol=%s\nA: bInterfaceNumber=00\nA: authorized=1\n\n' \
		"$2" "$3" "$4"
}
# descriptors CLASS: device, configuration, one interface and its endpoint
# (usb_id counts an interface only when something follows it)
descriptors() {
	printf '1201000200000040000000000001010203010902120001010080320904000001%s00000007058103080000' "$1" | tr a-f A-F
}
STICK=$PCI/1-3/1-3:1.0/host6/target6:0:0/6:0:0:0/block
# stick_disk DISK [PROPS-FILE [IMAGE]]: a USB disk (its own filesystem when
# PROPS-FILE has blkid's udev properties)
stick_disk() {
	printf 'P: %s/%s\nN: %s%s\nE: DEVNAME=/dev/%s\nE: DEVTYPE=disk\nE: MAJOR=8\nE: MINOR=16\nE: SUBSYSTEM=block\n' \
		"$STICK" "$1" "$1" "${3:+=$(hexof "${3:-/dev/null}")}" "$1"
	[ -n "${2:-}" ] && sed 's/^/E: /' "$2"
	printf 'A: removable=1\nA: size=16384\nA: dev=8:16\n\n'
}
# stick_part DISK N PROPS-FILE [IMAGE]
stick_part() {
	printf 'P: %s/%s/%s%s\nN: %s%s%s\nE: DEVNAME=/dev/%s%s\nE: DEVTYPE=partition\nE: PARTN=%s\n' \
		"$STICK" "$1" "$1" "$2" "$1" "$2" "${4:+=$(hexof "${4:-/dev/null}")}" "$1" "$2" "$2"
	printf 'E: MAJOR=8\nE: MINOR=%d\nE: SUBSYSTEM=block\n' "$((16 + $2))"
	[ -n "$3" ] && sed 's/^/E: /' "$3"
	printf 'A: partition=%s\nA: size=8192\nA: start=2048\nA: dev=8:%d\n\n' "$2" "$((16 + $2))"
}
stick_parents() {
	printf 'P: %s/1-3/1-3:1.0/host6/target6:0:0/6:0:0:0\nE: DEVTYPE=scsi_device\nE: DRIVER=sd\nE: SUBSYSTEM=scsi\n' "$PCI"
	printf 'A: vendor=Generic\nA: model=Flash Disk\nA: type=0\n\n'
	printf 'P: %s/1-3/1-3:1.0/host6\nE: DEVTYPE=scsi_host\nE: SUBSYSTEM=scsi\n\n' "$PCI"
	usb_interface 1-3 08 06 50 usb-storage
	usb_device 1-3 0781 5567 7
}

# Filesystem images, and what blkid says of them in udev's words.
fs_props() { # fs_props NAME MKFS-COMMAND...: $U/NAME.img, $U/NAME.props
	local n=$1; shift
	rm -f "$U/$n.img"
	truncate -s 8M "$U/$n.img"
	"$@" "$U/$n.img" >/dev/null 2>&1 || return 1
	blkid -p -o udev "$U/$n.img" | grep '^ID_FS_' >"$U/$n.props"
	head -c 65536 "$U/$n.img" >"$U/$n.head"
	grep -q '^ID_FS_TYPE=' "$U/$n.props"
}
have_vfat=0 have_exfat=0 have_ext4=0
command -v mkfs.vfat >/dev/null && fs_props vfat mkfs.vfat -n TRANSFER && have_vfat=1
command -v mkfs.exfat >/dev/null && fs_props exfat mkfs.exfat -L XFER && have_exfat=1
command -v mkfs.ext4 >/dev/null && fs_props ext4 mkfs.ext4 -q -F -L stick && have_ext4=1
printf 'ID_PART_TABLE_TYPE=dos\n' >"$U/ptable.props"

slug() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' _; }
# udev_test NAME RECORD SYSPATH [FILE]: udevadm test on SYSPATH under
# umockdev; output in $U/NAME.out, FILE (a sysfs file) read back after.
udev_test() {
	umockdev-run -d "$2" -- sh -c 'udevadm test --action=add "$1" 2>&1; echo "== readback"; cat "$2" 2>&1' \
		sh "/sys$3" "/sys${4:-$3/uevent}" >"$U/$(slug "$1").out" 2>&1
	if ! grep -q '^ACTION=add' "$U/$(slug "$1").out"; then
		not_ok "$1: udevadm test ran"; tail -20 "$U/$(slug "$1").out" | diag
		return 1
	fi
}
prop() { sed -n '/^ACTION=add/,/^== readback/p' "$U/$(slug "$1").out" | sed -n "s/^$2=//p" | tail -1; }
# final_perm NAME GROUP|MODE: the last GROUP/MODE a rule set, as "FILE VALUE"
final_perm() { grep -E ": [^ ]+:[0-9]+ $2 [0-9]+\$" "$U/$(slug "$1").out" | tail -1 | sed -E "s/^.*: ([^ ]+):[0-9]+ $2 ([0-9]+)\$/\\1 \\2/"; }
readback() { sed -n '/^== readback/,$p' "$U/$(slug "$1").out" | sed 1d; }
runs() { grep -E "^run: " "$U/$(slug "$1").out"; }

# expect_token NAME RECORD SYSPATH TOKEN-KIND
expect_token() {
	udev_test "$1" "$2" "$3" || return
	local g m t
	g=$(final_perm "$1" GROUP) m=$(final_perm "$1" MODE) t=$(prop "$1" TAGS)
	if [ "$(prop "$1" AIRLOCK_TOKEN)" = "$4" ] && [ "$g" = "/etc/udev/rules.d/70-airlock-tokens.rules $GID" ] &&
		[ "$m" = "/etc/udev/rules.d/70-airlock-tokens.rules 0660" ] && [[ "$t" == *:uaccess:* ]]; then
		ok "$1: AIRLOCK_TOKEN=$4, GROUP airlock ($GID), MODE 0660, TAG uaccess"
	else
		not_ok "$1: token=$(prop "$1" AIRLOCK_TOKEN) group='$g' mode='$m' tags='$t'"
		grep -E 'GROUP|MODE|airlock' "$U/$(slug "$1").out" | head | diag
	fi
}
# expect_no_token NAME RECORD SYSPATH
expect_no_token() {
	udev_test "$1" "$2" "$3" || return
	if [ -z "$(prop "$1" AIRLOCK_TOKEN)" ] && ! grep -q 'airlock-tokens.rules:[0-9]* \(GROUP\|MODE\)' "$U/$(slug "$1").out"; then
		ok "$1: not a token, left alone (group $(final_perm "$1" GROUP | cut -d' ' -f2))"
	else
		not_ok "$1: matched the token rules"; grep airlock "$U/$(slug "$1").out" | diag
	fi
}

# --- tokens -----------------------------------------------------------------------
usb_device 1-2 1050 0030 5 >"$U/yubihsm.umockdev"
expect_token "YubiHSM 2 1050:0030" "$U/yubihsm.umockdev" "$PCI/1-2" yubihsm2
usb_device 1-2 1050 0407 5 "$(descriptors 03)" >"$U/yubikey.umockdev"
expect_token "YubiKey 5 1050:0407" "$U/yubikey.umockdev" "$PCI/1-2" yubikey
usb_device 1-2 20a0 4230 5 >"$U/nitrokey.umockdev"
expect_token "Nitrokey HSM 20a0:4230" "$U/nitrokey.umockdev" "$PCI/1-2" nitrokey-hsm
usb_device 1-2 076b 3021 5 "$(descriptors 0b)" >"$U/ccid.umockdev"
expect_token "CCID reader 076b:3021 by interface class 0b" "$U/ccid.umockdev" "$PCI/1-2" ccid-reader
usb_device 1-2 1050 0402 5 "$(descriptors 03)" >"$U/fido.umockdev"
expect_no_token "YubiKey FIDO-only 1050:0402" "$U/fido.umockdev" "$PCI/1-2"
usb_device 1-2 046d c31c 5 "$(descriptors 03)" >"$U/kbd.umockdev"
expect_no_token "keyboard 046d:c31c" "$U/kbd.umockdev" "$PCI/1-2"

# --- transfer sticks ----------------------------------------------------------------
# expect_media NAME RECORD SYSPATH mount|refused|none [REASON-REGEX]
expect_media() {
	udev_test "$1" "$2" "$3" || return
	local want=$4 got wants reason kernel=${3##*/}
	got=$(prop "$1" AIRLOCK_MEDIA) wants=$(prop "$1" SYSTEMD_WANTS) reason=$(prop "$1" AIRLOCK_MEDIA_REASON)
	case "$want" in
	mount)
		if [ "$got" = mount ] && [[ " $wants " == *" airlock-media@$kernel.service "* ]] &&
			[[ "$(prop "$1" TAGS)" == *:systemd:* ]] && ! runs "$1" | grep -q airlock-media; then
			ok "$1: AIRLOCK_MEDIA=mount, SYSTEMD_WANTS=airlock-media@$kernel.service, no RUN"
		else
			not_ok "$1: media='$got' wants='$wants' reason='$reason'"; grep -i airlock "$U/$(slug "$1").out" | diag
		fi ;;
	refused)
		if [ "$got" = refused ] && [[ "$reason" =~ $5 ]] && [[ "$wants" != *airlock-media* ]] &&
			runs "$1" | grep -qx "run: '$LIBEXEC/airlock-media refused $kernel'"; then
			ok "$1: refused ($reason), RUN logs it, no mount unit"
		else
			not_ok "$1: media='$got' wants='$wants' reason='$reason'"; grep -iE 'airlock|^run' "$U/$(slug "$1").out" | diag
		fi ;;
	none)
		if [ -z "$got" ] && [[ "$wants" != *airlock-media* ]] && ! runs "$1" | grep -q airlock; then
			ok "$1: not a transfer stick, left alone"
		else
			not_ok "$1: media='$got' wants='$wants'"; grep -i airlock "$U/$(slug "$1").out" | diag
		fi ;;
	esac
}
if [ "$have_vfat" = 1 ]; then
	{ stick_part sdb 1 "$U/vfat.props" "$U/vfat.head"; stick_disk sdb "$U/ptable.props"; stick_parents; } >"$U/stick-vfat.umockdev"
	expect_media "USB stick, one vfat partition" "$U/stick-vfat.umockdev" "$STICK/sdb/sdb1" mount
	expect_media "... its partitioned disk itself" "$U/stick-vfat.umockdev" "$STICK/sdb" none
	{ stick_part sdb 1 "$U/vfat.props"; stick_part sdb 2 "$U/vfat.props"; stick_disk sdb "$U/ptable.props"; stick_parents; } >"$U/stick-two.umockdev"
	expect_media "USB stick, two partitions: the first" "$U/stick-two.umockdev" "$STICK/sdb/sdb1" refused 'several partitions'
	expect_media "USB stick, two partitions: the second" "$U/stick-two.umockdev" "$STICK/sdb/sdb2" refused 'several partitions \(this is partition 2\)'
	# a SATA disk with a vfat partition is not a transfer stick
	SATA=/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0
	{
		printf 'P: %s/block/sda/sda1\nN: sda1\nE: DEVNAME=/dev/sda1\nE: DEVTYPE=partition\nE: PARTN=1\nE: MAJOR=8\nE: MINOR=1\nE: SUBSYSTEM=block\n' "$SATA"
		sed 's/^/E: /' "$U/vfat.props"
		printf 'A: partition=1\nA: size=8192\nA: dev=8:1\n\n'
		printf 'P: %s/block/sda\nN: sda\nE: DEVNAME=/dev/sda\nE: DEVTYPE=disk\nE: MAJOR=8\nE: MINOR=0\nE: SUBSYSTEM=block\nE: ID_PART_TABLE_TYPE=gpt\nA: size=100000\nA: dev=8:0\n\n' "$SATA"
		printf 'P: %s\nE: DEVTYPE=scsi_device\nE: DRIVER=sd\nE: SUBSYSTEM=scsi\nA: vendor=ATA\nA: type=0\n\n' "$SATA"
	} >"$U/sata.umockdev"
	expect_media "SATA disk with a vfat partition" "$U/sata.umockdev" "$SATA/block/sda/sda1" none
else
	skip "vfat sticks" "mkfs.vfat missing (Debian package dosfstools)"
fi
if [ "$have_exfat" = 1 ]; then
	{ stick_disk sdc "$U/exfat.props"; stick_parents; } | sed 's#/block/sdb#/block/sdc#' >"$U/stick-exfat.umockdev"
	expect_media "USB stick, exfat on the whole disk" "$U/stick-exfat.umockdev" "$STICK/sdc" mount
else
	skip "exfat sticks" "mkfs.exfat missing (Debian package exfatprogs)"
fi
if [ "$have_ext4" = 1 ]; then
	{ stick_part sdb 1 "$U/ext4.props" "$U/ext4.head"; stick_disk sdb "$U/ptable.props"; stick_parents; } >"$U/stick-ext4.umockdev"
	expect_media "USB stick, ext4 partition" "$U/stick-ext4.umockdev" "$STICK/sdb/sdb1" refused 'filesystem ext4 is not vfat or exfat'
else
	skip "ext4 sticks" "mkfs.ext4 missing (Debian package e2fsprogs)"
fi
: >"$U/empty.props"
{ stick_part sdb 1 "$U/empty.props"; stick_disk sdb "$U/ptable.props"; stick_parents; } >"$U/stick-nofs.umockdev"
expect_media "USB stick, partition without a filesystem" "$U/stick-nofs.umockdev" "$STICK/sdb/sdb1" refused 'no filesystem recognised'

# --- the air gap ----------------------------------------------------------------------
# expect_deauth NAME RECORD SYSPATH ATTR-FILE WANT-READBACK [RUN-REGEX]
expect_gap() {
	udev_test "$1" "$2" "$3" "$4" || return
	local got rb
	got=$(prop "$1" AIRLOCK_AIRGAP) rb=$(readback "$1")
	if [ "$5" = none ]; then
		if [ -z "$got" ] && [ "$rb" = 1 ] && ! runs "$1" | grep -q airgap; then
			ok "$1: left alone (authorized=1)"
		else not_ok "$1: airgap='$got' readback='$rb'"; grep -iE 'airlock|authorized' "$U/$(slug "$1").out" | diag; fi
		return
	fi
	if [ -n "$got" ] && [ "$rb" = "$5" ] && runs "$1" | grep -qE "$6"; then
		ok "$1: AIRLOCK_AIRGAP=$got ($(prop "$1" AIRLOCK_AIRGAP_REASON)), ${4##*/}=$rb"
	else
		not_ok "$1: airgap='$got' readback='$rb'"; grep -iE 'airlock|authorized|^run' "$U/$(slug "$1").out" | diag
	fi
}
{ usb_interface 1-4 02 06 00 cdc_ether; usb_device 1-4 0bda 8153 8; } >"$U/ecm.umockdev"
expect_gap "USB CDC-ECM network adapter (class 02)" "$U/ecm.umockdev" "$PCI/1-4/1-4:1.0" "$PCI/1-4/1-4:1.0/authorized" 0 "airlock-airgap log .* usb-class-02"
{ usb_interface 1-4 e0 01 01 btusb; usb_device 1-4 8087 0a2b 8; } >"$U/bt.umockdev"
expect_gap "USB Bluetooth controller (class e0)" "$U/bt.umockdev" "$PCI/1-4/1-4:1.0" "$PCI/1-4/1-4:1.0/authorized" 0 "usb-class-e0"
{ usb_interface 1-4 ef 04 01 rndis_host; usb_device 1-4 04e8 6863 8; } >"$U/rndis.umockdev"
expect_gap "USB RNDIS (class ef/04, a phone's tethering)" "$U/rndis.umockdev" "$PCI/1-4/1-4:1.0" "$PCI/1-4/1-4:1.0/authorized" 0 "usb-class-ef-04-rndis"
{ usb_interface 1-4 03 01 01 usbhid; usb_device 1-4 046d c31c 8; } >"$U/hid.umockdev"
expect_gap "USB keyboard interface (class 03)" "$U/hid.umockdev" "$PCI/1-4/1-4:1.0" "$PCI/1-4/1-4:1.0/authorized" none
{ usb_interface 1-4 0b 00 00 usbfs; usb_device 1-4 076b 3021 8; } >"$U/ccidif.umockdev"
expect_gap "CCID interface (class 0b)" "$U/ccidif.umockdev" "$PCI/1-4/1-4:1.0" "$PCI/1-4/1-4:1.0/authorized" none
expect_gap "mass-storage interface (class 08)" "$U/stick-nofs.umockdev" "$PCI/1-3/1-3:1.0" "$PCI/1-3/1-3:1.0/authorized" none
# a vendor-class (ff) Ethernet adapter is caught by its network interface
NIC=$PCI/1-5/1-5:1.0/net/enx001122334455
{
	printf 'P: %s\nE: INTERFACE=enx001122334455\nE: IFINDEX=3\nE: SUBSYSTEM=net\nA: type=1\nA: flags=0x1002\nA: address=00:11:22:33:44:55\n\n' "$NIC"
	usb_interface 1-5 ff ff 00 ax88179_178a
	usb_device 1-5 0b95 1790 9
} >"$U/nic.umockdev"
expect_gap "USB Ethernet, vendor class (ASIX 0b95:1790)" "$U/nic.umockdev" "$NIC" "$PCI/1-5/1-5:1.0/authorized" 1 \
	"run: '$LIBEXEC/airlock-airgap deauthorize $NIC usb-net'"
if [ "$(prop "USB Ethernet, vendor class (ASIX 0b95:1790)" NM_UNMANAGED)" = 1 ]; then ok "... NM_UNMANAGED=1"; else not_ok "... NM_UNMANAGED not set"; fi
umockdev-run -d "$U/nic.umockdev" -- sh -c '"$1" deauthorize "$2" usb-net; echo "rc=$?"; cat "/sys$3"' \
	sh "$LIBEXEC/airlock-airgap" "$NIC" "$PCI/1-5/1-5:1.0/authorized" >"$U/helper.out" 2>&1
if [ "$(tr '\n' ' ' <"$U/helper.out")" = "rc=0 0 " ]; then
	ok "airlock-airgap deauthorize: the NIC's USB interface gets authorized=0"
else not_ok "airlock-airgap deauthorize"; diag <"$U/helper.out"; fi
expect_fail "airlock-airgap: a devpath with .. is refused" 2 'bad devpath' "$LIBEXEC/airlock-airgap" deauthorize /devices/../etc usb-net
RFK=/devices/pci0000:00/0000:00:14.3/ieee80211/phy0/rfkill0
printf 'P: %s\nE: RFKILL_NAME=phy0\nE: RFKILL_TYPE=wlan\nE: SUBSYSTEM=rfkill\nA: type=wlan\nA: soft=0\nA: hard=0\nA: name=phy0\n\n' "$RFK" >"$U/rfkill.umockdev"
expect_gap "Wi-Fi rfkill switch" "$U/rfkill.umockdev" "$RFK" "$RFK/soft" 1 "rfkill-wlan"

# --- airlock-media itself: refusals, and a mount with the unit's options ------------------
# mount(8) is replaced, in this namespace only, by a recorder.
printf '#!/bin/sh\necho "mount $*" >>%s\n' "$TMP/mount.log" >"$TMP/fake-mount"
chmod 755 "$TMP/fake-mount"
mount --bind "$TMP/fake-mount" "$(command -v mount)"
AMEDIA=$LIBEXEC/airlock-media
OPTS=$(unit_get "$UNIT" Environment | sed -n 's/^AIRLOCK_MEDIA_OPTIONS=//p')
# media_run RECORD DEV [ENV...]: airlock-media mount DEV under umockdev
media_run() {
	local rec=$1 dev=$2; shift 2
	: >"$TMP/mount.log"
	umockdev-run -d "$rec" -- env AIRLOCK_MEDIA_OPTIONS="$OPTS" "$@" "$AMEDIA" mount "$dev" >"$TMP/out" 2>"$TMP/err"
}
if [ "$have_vfat" = 1 ]; then
	media_run "$U/stick-vfat.umockdev" sdb1
	if grep -qx "mount -t vfat -o $OPTS,uid=0,gid=$GID /dev/sdb1 /run/airlock/media/TRANSFER" "$TMP/mount.log"; then
		ok "airlock-media mount: vfat by name, the unit's options, under /run/airlock/media/LABEL"
	else not_ok "airlock-media mount vfat"; cat "$TMP/mount.log" "$TMP/err" | diag; fi
	if [ "$(stat -c '%a %G' /run/airlock/media/TRANSFER 2>/dev/null)" = "750 airlock" ]; then
		ok "... mount point 0750 group airlock"; else not_ok "... mount point: $(stat -c '%a %G' /run/airlock/media/TRANSFER 2>&1)"; fi
	media_run "$U/stick-vfat.umockdev" sdb1 AIRLOCK_MEDIA_OPTIONS=ro,nosuid,nodev
	if [ ! -s "$TMP/mount.log" ] && grep -q 'lacks ro,nosuid,nodev,noexec' "$TMP/err"; then
		ok "airlock-media: options without noexec are refused"
	else not_ok "airlock-media: options without noexec"; cat "$TMP/mount.log" "$TMP/err" | diag; fi
	media_run "$U/stick-two.umockdev" sdb1
	if [ ! -s "$TMP/mount.log" ] && grep -q 'has 2 partitions' "$TMP/err"; then
		ok "airlock-media: a stick with two partitions is refused"
	else not_ok "airlock-media: two partitions"; cat "$TMP/mount.log" "$TMP/err" | diag; fi
	media_run "$U/sata.umockdev" sda1
	if [ ! -s "$TMP/mount.log" ] && grep -q 'not on a USB mass-storage interface' "$TMP/err"; then
		ok "airlock-media: a SATA disk is refused"
	else not_ok "airlock-media: SATA disk"; cat "$TMP/mount.log" "$TMP/err" | diag; fi
fi
if [ "$have_ext4" = 1 ]; then
	media_run "$U/stick-ext4.umockdev" sdb1
	if [ ! -s "$TMP/mount.log" ] && grep -q 'filesystem ext4 is not vfat or exfat' "$TMP/err"; then
		ok "airlock-media: an ext4 stick is refused"
	else not_ok "airlock-media: ext4 stick"; cat "$TMP/mount.log" "$TMP/err" | diag; fi
fi
media_run "$U/stick-vfat.umockdev" 'sdb1;reboot'
if [ ! -s "$TMP/mount.log" ] && grep -q 'not a SCSI/USB disk name' "$TMP/err"; then
	ok "airlock-media: a device name that is not sdXN is refused"
else not_ok "airlock-media: bad device name"; cat "$TMP/err" | diag; fi

exit "$T_FAILED"
