/* The station home: the reviewed configuration, the ledger, the CA
 * certificates and key URIs recorded at the ceremonies, the spool of
 * imported requests, merge bundles written, and ceremony transcripts.
 *
 *   HOME/airlock.conf        reviewed configuration and profiles
 *   HOME/ledger.jsonl        issuance ledger (station/ledger.h)
 *   HOME/ca/                 root.pem, intermediate.pem, chain.pem,
 *                            station.pem and KIND.json (key URI, serial pinned)
 *   HOME/spool/ HOME/out/    imported request bundles, written merge bundles
 *   HOME/transcripts/        ceremony transcripts */
#ifndef AIRLOCK_HOME_H
#define AIRLOCK_HOME_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "station/config.h"
#include "station/ledger.h"
#include "station/profile.h"

#define HOME_CONFIG "airlock.conf"
#define HOME_LEDGER "ledger.jsonl"

struct home;

/* Create DIR (mode 0700) with a commented configuration seeded with
 * DOMAINS, an empty ledger and the folders. Refuses a DIR that already
 * holds a configuration or a ledger (AIRLOCK_E_EXISTS). */
int home_init(const char *dir, const char *const *domains, size_t ndomains)
    __attribute__((warn_unused_result));
/* Open an initialised home: load and check the configuration. */
int home_open(const char *dir, struct home **out)
    __attribute__((warn_unused_result));
void home_close(struct home *h);
const char *home_dir(const struct home *h);
const struct policy *home_policy(const struct home *h);
const char *home_station_name(const struct home *h);
/* The ledger, opened (and verified, and locked) on first use. A torn last
 * line left by a crash is cut (home_ledger_repaired tells how many
 * bytes). */
int home_ledger(struct home *h, struct ledger **out)
    __attribute__((warn_unused_result));
long long home_ledger_repaired(const struct home *h);
/* Write SUB/NAME (SUB one of "ca", "transcripts", "out", "spool", or ""
 * for the home itself) durably; never replaces an existing file. */
int home_write_new(struct home *h, const char *sub, const char *name,
		   const void *buf, size_t len, mode_t mode)
    __attribute__((warn_unused_result));
/* Read SUB/NAME (bounded by MAX). AIRLOCK_E_NOT_FOUND if it is missing. */
int home_read(struct home *h, const char *sub, const char *name, size_t max,
	      unsigned char **buf, size_t *len)
    __attribute__((warn_unused_result));
/* 1 if SUB/NAME exists. */
int home_exists(struct home *h, const char *sub, const char *name);

#endif
