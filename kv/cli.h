/* What every airlock-kv command shares: the options every verb takes,
 * connecting to the vault, printing errors and JSON. Only commands (and
 * main) use this; modules never print. */
#ifndef AIRLOCK_KV_CLI_H
#define AIRLOCK_KV_CLI_H

#include <getopt.h>
#include <stdio.h>

struct http_client;
struct cred;
struct vault;

struct kv_globals {
	const char *vault;
	const char *endpoint;
	const char *cacert;
	const char *api_version;
	const char *credential;
	const char *state;
	int json;
	int verbose; /* -1 quiet, 0 normal, 1 notices, 2 HTTP trace */
	int max_tries;
	long timeout_s;
};
extern struct kv_globals kv_g;

/* Options every verb accepts (before or after the verb). */
enum {
	CLI_OPT_VAULT = 0x1000,
	CLI_OPT_ENDPOINT,
	CLI_OPT_CACERT,
	CLI_OPT_API_VERSION,
	CLI_OPT_CREDENTIAL,
	CLI_OPT_STATE,
	CLI_OPT_JSON,
	CLI_OPT_MAX_TRIES,
	CLI_OPT_TIMEOUT,
	CLI_OPT_QUIET,
	CLI_OPT_VERBOSE,
};
#define CLI_COMMON_LONGOPTS                                                    \
	{"vault", required_argument, NULL, CLI_OPT_VAULT},                     \
	    {"endpoint", required_argument, NULL, CLI_OPT_ENDPOINT},           \
	    {"cacert", required_argument, NULL, CLI_OPT_CACERT},               \
	    {"api-version", required_argument, NULL, CLI_OPT_API_VERSION},     \
	    {"credential", required_argument, NULL, CLI_OPT_CREDENTIAL},       \
	    {"state", required_argument, NULL, CLI_OPT_STATE},                 \
	    {"json", no_argument, NULL, CLI_OPT_JSON},                         \
	    {"max-tries", required_argument, NULL, CLI_OPT_MAX_TRIES},         \
	    {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},             \
	    {"quiet", no_argument, NULL, CLI_OPT_QUIET},                       \
	    {"verbose", no_argument, NULL, CLI_OPT_VERBOSE},                   \
	{                                                                      \
		"help", no_argument, NULL, 'h'                                 \
	}
#define CLI_COMMON_HELP                                                        \
	"common options:\n"                                                    \
	"  --vault NAME|URL      the vault (NAME.vault.azure.net)\n"           \
	"  --endpoint URL        send requests here (private endpoint, "       \
	"emulator)\n"                                                          \
	"  --cacert FILE         CA certificates to verify the server with\n"  \
	"  --api-version V       Key Vault api-version (default 7.5)\n"        \
	"  --credential SRC      auto|env|workload|managed|cli (default "      \
	"auto)\n"                                                              \
	"  --state DIR           local state (default $AIRLOCK_KV_STATE, "     \
	"else "                                                                \
	"~/.local/state/airlock-kv)\n"                                         \
	"  --json                one JSON document on stdout\n"                \
	"  --max-tries N         sends of one request at most (default 6)\n"   \
	"  --timeout S           retry budget per request in seconds "         \
	"(default 300)\n"                                                      \
	"  -q, --quiet / -v, --verbose   fewer / more messages (-v -v: HTTP "  \
	"trace)\n"

/* Handle a common option: 0 handled, 1 not a common option, 2 bad value
 * (printed). */
int cli_common_opt(const char *verb, int opt, const char *arg);

/* A connection to the vault named by the options. */
struct kv_conn {
	struct http_client *http;
	struct cred *cred;
	struct vault *vault;
};
/* Connect (no network traffic yet); on failure print and return the exit
 * status, else 0. */
int cli_connect(const char *verb, struct kv_conn *c);
void cli_disconnect(struct kv_conn *c);

/* The state directory (created 0700 if missing) into BUF. */
int cli_state_dir(char *buf, size_t len) __attribute__((warn_unused_result));

/* Print "airlock-kv: WHAT: <err_str>: <detail>" on stderr and return the
 * exit status for CODE. */
int cli_fail(const char *what, int code);
/* Print a usage error and return 2. */
int cli_usage(const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print a notice on stderr unless --quiet. */
void cli_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print JSON on stdout (one document) and free it. */
void cli_json_print(void *cjson);
/* For unpack and publish: open the merge bundle DIR verified against the
 * pinned root TRUST, witness its ledger records, and make and open the
 * output directory OUT. 0, or the exit status (already reported). */
struct bundle;
int cli_bundle_to_dir(const char *verb, const char *dir, const char *trust,
		      const char *out, struct bundle **b, int *dirfd);
/* Sanitise untrusted text for the terminal into BUF. */
const char *cli_safe(const char *s, char *buf, size_t len);
/* A progress line on a tty only (stderr); DONE of TOTAL. */
void cli_progress(const char *what, size_t done, size_t total);

/* Read a local file the operator named (not from a stick) into a new
 * buffer, at most MAX bytes (one spare NUL byte after the data). */
int cli_file_read(const char *path, size_t max, unsigned char **buf,
		  size_t *len) __attribute__((warn_unused_result));
/* Hex SHA-256 of BUF into OUT (65 bytes). */
void cli_sha256_hex(const unsigned char *buf, size_t len, char out[65]);

/* Split a bundle path the operator gave into its parent directory and its
 * name, which must be a bundle name ([a-z0-9._-]{1,64}). Prints a usage
 * error and returns 2 on a bad name, else 0. */
int cli_out_split(const char *verb, const char *path, char *parent, size_t plen,
		  char *name, size_t nlen);
/* An entry id "NNNN-<name lowercased, [a-z0-9-] only>" of at most 64
 * characters into OUT (65 bytes). */
void cli_entry_id(size_t index, const char *name, char out[65]);

#endif
