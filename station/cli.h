/* What every airlock-station command shares: global options, error
 * reporting, confirmations, and opening a token from a URI. */
#ifndef AIRLOCK_STATION_CLI_H
#define AIRLOCK_STATION_CLI_H

#include <stdio.h>

#include "pkcs11/token.h"
#include "pkcs11/uri.h"

struct station_globals {
	int json;
	int verbose; /* -1 quiet, 0 normal, 1 verbose */
	int yes;
	const char *home;
	const char *module;
	int allow_network; /* --allow-network or AIRLOCK_ALLOW_NETWORK=1 */
};
extern struct station_globals station_g;

/* Print "airlock-station: WHAT: <err_str>: <detail>" on stderr and return the
 * documented exit status for CODE. */
int cli_fail(const char *what, int code);
/* Print a usage error and return 2. */
int cli_usage(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print JSON on stdout (one document) and free it. */
void cli_json_print(void *cjson);
/* Ask a yes/no question on the tty; 0 when there is no tty. */
int cli_confirm(const char *question);
/* Login interaction for token_login(). */
extern const struct token_login_ui cli_login_ui;

/* The air-gap check before signing: 0 when offline; when online, refuse
 * unless --allow-network (or AIRLOCK_ALLOW_NETWORK=1) was given, in which
 * case OVERRIDE (64 bytes or more) receives the text to record. */
int cli_airgap(const char *what, char *override, size_t len)
    __attribute__((warn_unused_result));

/* Parse URI (exit status on error, printed), load its module (URI's
 * module-path, else --module, else the p11-kit proxy) and open its token. */
int cli_token_open(const char *what, const char *uri_s, struct p11_uri **uri,
		   struct token_module **m, struct token **t);

#endif
