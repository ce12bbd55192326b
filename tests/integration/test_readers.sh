#!/usr/bin/env bash
# Readers through pcsc-lite: `token readers` and `token wait` against a real
# pcscd with vsmartcard's virtual reader (vpcd) and virtual card (vicc-card).
#
# The test runs its own pcscd, never the system's: pcscd 1.9 always listens on
# /run/pcscd/pcscd.comm unless it is socket-activated, so systemd-socket-activate
# hands it a private socket under $TMP, which the client library finds through
# PCSCLITE_CSOCK_NAME. Its reader.conf.d holds only vpcd, on a free port, so a
# system pcscd with vpcd on the default port 35963 is left alone. pcscd still
# writes /run/pcscd/pcscd.pid and deletes it on exit: a system pcscd's pid file
# is put back afterwards.
#
# vpcd listens on every address of its network namespace, so the whole test
# runs in a network namespace of its own that has only loopback.
if [ -z "${AIRLOCK_READERS_NETNS:-}" ] && [ "$(id -u)" -eq 0 ] &&
	command -v unshare >/dev/null && command -v ip >/dev/null; then
	exec unshare --net env AIRLOCK_READERS_NETNS=1 bash -c \
		'ip link set lo up && exec bash "$0"' "$0"
fi
. "$(dirname "$0")/lib.sh"

VICC=$AIRLOCK_SRC/tests/integration/vicc-card
VPCD_DRIVER=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
PCSCD=/usr/sbin/pcscd
READER="Virtual PCD 00 00"
PCSCD_PID= VICC_PID= WAIT_PID=

missing=
[ -x "$PCSCD" ] || missing="$missing pcscd"
[ -e "$VPCD_DRIVER" ] || missing="$missing vsmartcard-vpcd"
command -v systemd-socket-activate >/dev/null || missing="$missing systemd"
[ -d /usr/lib/python3/site-packages/virtualsmartcard ] ||
	missing="$missing python3-virtualsmartcard"
/usr/bin/python3 -c 'import Cryptodome' 2>/dev/null ||
	missing="$missing python3-pycryptodome"
if [ -n "$missing" ]; then
	skip "readers" "Debian packages missing:$missing"
	exit 0
fi
if [ ! -w /run ] && [ ! -w /run/pcscd ]; then
	skip "readers" "pcscd must write /run/pcscd/pcscd.pid: run as root"
	exit 0
fi
if [ ! -x "$STATION" ]; then
	not_ok "no $STATION: run make first"
	exit 1
fi

# stop_pid PID: SIGTERM, then SIGKILL after 5 s; reaps our child.
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# pcscd removes /run/pcscd/pcscd.pid when it exits: keep a system one.
RUN_DIR_EXISTED=0
[ -d /run/pcscd ] && RUN_DIR_EXISTED=1
[ -f /run/pcscd/pcscd.pid ] && cp -p /run/pcscd/pcscd.pid "$TMP/system-pcscd.pid"

cleanup() {
	stop_pid "$WAIT_PID"
	stop_pid "$VICC_PID"
	stop_pid "$PCSCD_PID"
	if [ -f "$TMP/system-pcscd.pid" ]; then
		cp -p "$TMP/system-pcscd.pid" /run/pcscd/pcscd.pid
	elif [ "$RUN_DIR_EXISTED" = 0 ]; then
		rm -f /run/pcscd/pcscd.pid
		rmdir /run/pcscd 2>/dev/null
	fi
	return 0
}
t_on_exit cleanup

# until_true CMD...: retry CMD every 0.1 s, at most 50 times.
until_true() {
	local i
	for i in $(seq 50); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
running() { kill -0 "$1" 2>/dev/null; }
stopped() { ! kill -0 "$1" 2>/dev/null; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

export PCSCLITE_CSOCK_NAME=$TMP/pcscd.comm

# --- no pcscd on the socket -------------------------------------------------
expect_fail "readers without pcscd: exit 5, names pcscd and how to start it" 5 \
	'pcscd is not running.*systemctl start pcscd' "$STATION" token readers
expect_fail "wait without pcscd: exit 5" 5 'pcscd is not running' \
	"$STATION" token wait --timeout 1
expect_ok "readers --help" "$STATION" token readers --help
expect_fail "wait with an unknown option: usage, exit 2" 2 'unknown option' \
	"$STATION" token wait --bogus
expect_fail "wait --timeout with junk: exit 2" 2 'whole seconds' \
	"$STATION" token wait --timeout 1x

# --- a private pcscd --------------------------------------------------------
# vpcd listens on PORT for slot 0 and PORT+1 for slot 1.
PORT=$(/usr/bin/python3 - <<'EOF'
import random, socket
for _ in range(200):
    p = random.randrange(20000, 60000)
    socks = []
    try:
        for q in (p, p + 1):
            s = socket.socket()
            socks.append(s)
            s.bind(("0.0.0.0", q))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(p)
    break
EOF
)
if [ -z "$PORT" ]; then
	not_ok "no free TCP port pair for vpcd"
	exit 1
fi
# start_pcscd: pcscd on the private socket, started by the first client.
start_pcscd() {
	rm -f "$PCSCLITE_CSOCK_NAME"
	systemd-socket-activate -l "$PCSCLITE_CSOCK_NAME" \
		"$PCSCD" --foreground --config "$TMP/reader.conf.d" \
		>>"$TMP/pcscd.log" 2>&1 &
	PCSCD_PID=$!
	until_true test -S "$PCSCLITE_CSOCK_NAME"
}

# --- pcscd with no reader at all ----------------------------------------------
mkdir -p "$TMP/reader.conf.d"
if ! start_pcscd; then
	not_ok "private pcscd starts"; diag <"$TMP/pcscd.log"; exit 1
fi
expect_fail "readers with no reader: exit 5, says so" 5 \
	'no smartcard reader found.*plug one in' "$STATION" token readers
expect_fail "wait --timeout 1 with no reader: waits, times out" 1 \
	'no card appeared in any reader within 1 s' \
	"$STATION" token wait --timeout 1
expect_fail "wait --reader with no reader: exit 5" 5 \
	"no reader named 'x'" "$STATION" token wait --reader x --timeout 1
expect_ok "wait --removed with no reader: nothing to remove" \
	"$STATION" token wait --removed --timeout 1
stop_pid "$PCSCD_PID"

# --- a reader whose name carries a terminal escape ----------------------------
printf 'FRIENDLYNAME "Evil\033[31mPCD"\nDEVICENAME /dev/null:0x%X\nLIBPATH %s\nCHANNELID 0x%X\n' \
	"$PORT" "$VPCD_DRIVER" "$PORT" >"$TMP/reader.conf.d/vpcd"
start_pcscd
esc=$(printf '\033')
if until_true "$STATION" token readers >"$TMP/out" 2>"$TMP/err" &&
	grep -qF 'Evil\x1b[31mPCD 00 00' "$TMP/out" && ! grep -qF "$esc" "$TMP/out"; then
	ok "readers: control characters in reader names are escaped"
else
	not_ok "readers: control characters in reader names are escaped"
	cat -v "$TMP/out" "$TMP/err" | diag
fi
expect_fail "wait --reader: reader list in the error is escaped" 5 \
	"readers present: 'Evil.x1b.31mPCD 00 00'" \
	"$STATION" token wait --reader nope --timeout 1
if grep -qF "$esc" "$TMP/err"; then not_ok "... with no raw ESC on stderr"; else ok "... with no raw ESC on stderr"; fi
stop_pid "$PCSCD_PID"

# --- pcscd with the virtual reader ------------------------------------------
printf 'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:0x%X\nLIBPATH %s\nCHANNELID 0x%X\n' \
	"$PORT" "$VPCD_DRIVER" "$PORT" >"$TMP/reader.conf.d/vpcd"
start_pcscd
reader_listed() {
	"$STATION" token readers >"$TMP/readers" 2>&1 &&
		grep -qF "$READER" "$TMP/readers"
}
if ! until_true reader_listed; then
	not_ok "private pcscd lists the virtual reader"
	cat "$TMP/readers" "$TMP/pcscd.log" 2>/dev/null | head -20 | diag
	exit 1
fi
ok "private pcscd lists the virtual reader"

readers_has() { # readers_has REGEX: `token readers` output matches REGEX
	"$STATION" token readers >"$TMP/out" 2>"$TMP/err" && grep -qE -- "$1" "$TMP/out"
}
json_check() { # json_check PYTHON-EXPR over d = the --json document
	"$STATION" token readers --json >"$TMP/json" 2>"$TMP/err" &&
		/usr/bin/python3 -m json.tool "$TMP/json" >/dev/null &&
		/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$TMP/json" "$1"
}

if readers_has "^empty +$READER\$"; then ok "readers: virtual reader is empty"; else
	not_ok "readers: virtual reader is empty"; cat "$TMP/out" "$TMP/err" | diag; fi
if json_check "[r for r in d['readers'] if r['name'] == '$READER' and r['state'] == 'empty' and r['card_present'] is False and r['atr'] == '']"; then
	ok "readers --json: parses, reader empty"
else
	not_ok "readers --json: parses, reader empty"; cat "$TMP/json" "$TMP/err" | diag
fi

if "$STATION" --json token readers >"$TMP/json" 2>"$TMP/err" &&
	/usr/bin/python3 -m json.tool "$TMP/json" >/dev/null; then
	ok "global --json before the verb gives JSON"
else
	not_ok "global --json before the verb gives JSON"; cat "$TMP/json" "$TMP/err" | diag
fi

t0=$(now_ms)
expect_fail "wait --timeout 1 without a card: exit 1, timed out" 1 \
	'timed out: no card appeared in any reader within 1 s' \
	"$STATION" token wait --timeout 1
dt=$(($(now_ms) - t0))
if [ "$dt" -ge 900 ] && [ "$dt" -lt 5000 ]; then ok "wait --timeout 1 took ~1 s (${dt} ms)"; else
	not_ok "wait --timeout 1 took ${dt} ms"; fi
expect_fail "wait --reader 'no such reader': exit 5, lists readers" 5 \
	"no reader named 'no such reader'; readers present: '$READER'" \
	"$STATION" token wait --reader "no such reader" --timeout 1

# --- insertion ----------------------------------------------------------------
"$STATION" token wait --timeout 20 >"$TMP/wait.out" 2>"$TMP/wait.err" &
WAIT_PID=$!
sleep 0.5
if running "$WAIT_PID"; then ok "wait blocks while no card is present"; else
	not_ok "wait blocks while no card is present"; cat "$TMP/wait.out" "$TMP/wait.err" | diag; fi
"$VICC" --port "$PORT" >"$TMP/vicc.log" 2>&1 &
VICC_PID=$!
if until_true stopped "$WAIT_PID"; then
	wait "$WAIT_PID"; rc=$?
else
	rc=timeout
fi
WAIT_PID=
if [ "$rc" = 0 ] && grep -qF "card present in reader '$READER'" "$TMP/wait.out"; then
	ok "wait returns 0 on insertion and names the reader"
else
	not_ok "wait returns 0 on insertion and names the reader (rc $rc)"
	cat "$TMP/wait.out" "$TMP/wait.err" "$TMP/vicc.log" | head -20 | diag
fi

if readers_has "^present +$READER  \\(ATR 3B[0-9A-F]+\\)\$"; then ok "readers: card present, with ATR"; else
	not_ok "readers: card present, with ATR"; cat "$TMP/out" "$TMP/err" | diag; fi
if json_check "[r for r in d['readers'] if r['name'] == '$READER' and r['state'] == 'present' and r['card_present'] is True and r['atr'].startswith('3B')]"; then
	ok "readers --json: card present"
else
	not_ok "readers --json: card present"; cat "$TMP/json" "$TMP/err" | diag
fi
t0=$(now_ms)
expect_ok "wait with a card already present returns at once" \
	"$STATION" token wait --reader "$READER" --timeout 10
dt=$(($(now_ms) - t0))
if [ "$dt" -lt 1000 ]; then ok "... in ${dt} ms"; else not_ok "wait took ${dt} ms with a card present"; fi
expect_fail "wait on the other, empty slot times out" 1 \
	"no card appeared in reader 'Virtual PCD 00 01' within 1 s" \
	"$STATION" token wait --reader "Virtual PCD 00 01" --timeout 1
expect_fail "wait --removed --timeout 1 with the card in: exit 1" 1 \
	'timed out: the card was not removed' \
	"$STATION" token wait --removed --reader "$READER" --timeout 1

# --- removal ------------------------------------------------------------------
"$STATION" token wait --removed --timeout 20 >"$TMP/wait.out" 2>"$TMP/wait.err" &
WAIT_PID=$!
sleep 0.5
if running "$WAIT_PID"; then ok "wait --removed blocks while the card is in"; else
	not_ok "wait --removed blocks while the card is in"; cat "$TMP/wait.out" "$TMP/wait.err" | diag; fi
stop_pid "$VICC_PID"
VICC_PID=
if until_true stopped "$WAIT_PID"; then
	wait "$WAIT_PID"; rc=$?
else
	rc=timeout
fi
WAIT_PID=
if [ "$rc" = 0 ] && grep -qF "no card present" "$TMP/wait.out"; then
	ok "wait --removed returns 0 when the card goes"
else
	not_ok "wait --removed returns 0 when the card goes (rc $rc)"
	cat "$TMP/wait.out" "$TMP/wait.err" | head -20 | diag
fi
if readers_has "^empty +$READER\$"; then ok "readers: empty again"; else
	not_ok "readers: empty again"; cat "$TMP/out" "$TMP/err" | diag; fi

# --- pcscd goes away ----------------------------------------------------------
stop_pid "$PCSCD_PID"
PCSCD_PID=
expect_fail "readers after pcscd stopped: exit 5" 5 'pcscd is not running' \
	"$STATION" token readers

exit "$T_FAILED"
