/* The station's network check: an air-gapped station has no network
 * interface up but loopback and no default route. `doctor` reports it; `sign`
 * and the ceremonies refuse to run when it fails unless overridden.
 *
 * It reads /sys/class/net and /proc/net only and opens no socket
 * (airlock-station imports no socket function; test_station_nonet.sh). */
#ifndef AIRLOCK_AIRGAP_H
#define AIRLOCK_AIRGAP_H

#include <stddef.h>

/* 0 when no interface but loopback is administratively up and there is no
 * IPv4 or IPv6 default route. Otherwise AIRLOCK_E_REFUSED, and WHY (LEN
 * bytes, always NUL-terminated, may be truncated) says what was found, for
 * example "interface eth0 is up (operstate up); default route via eth0".
 * When /sys/class/net cannot be read the check fails closed (REFUSED, and WHY
 * says why). WHY may be NULL. */
int airgap_check(char *why, size_t len) __attribute__((warn_unused_result));

#endif
