/* airlock-station: the air-gapped half of airlock. This file parses the
 * global options and dispatches to one cmd_*.c per verb. It never links
 * libcurl and never opens a socket (tests/integration/test_station_nonet.sh).
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <PCSC/pcsclite.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/secmem.h"
#include "station/cli.h"
#include "station/cmds.h"

#ifndef AIRLOCK_VERSION
#define AIRLOCK_VERSION "unknown"
#endif
#ifndef LIBP11_BUILD_VERSION
#define LIBP11_BUILD_VERSION "unknown"
#endif

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
    {"init", cmd_init, "create the station home: configuration, ledger"},
    {"policy", cmd_policy, "show or check the issuance profiles"},
    {"ca", cmd_ca, "ceremonies: root, intermediate, csr"},
    {"import", cmd_import, "copy a request bundle into the spool"},
    {"review", cmd_review, "each request's decision and the rule behind it"},
    {"sign", cmd_sign, "sign what policy allows, on the token"},
    {"export", cmd_export, "write the signed merge bundles"},
    {"process", cmd_process, "import, review, sign and export in one go"},
    {"revoke", cmd_revoke, "record a revocation"},
    {"crl", cmd_crl, "sign CRLs on the token"},
    {"doctor", cmd_doctor,
     "preflight: air gap, rules, pcscd, tokens, clock, home"},
    {"ledger", cmd_ledger,
     "the issuance ledger: verify, list, show, export-index, restore, repair"},
    {"token", cmd_token,
     "tokens and readers: list, info, keygen, selftest, readers, wait"},
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: airlock-station [--home DIR] [--module PATH] [--json] "
		"[-q|-v] VERB ...\n\n"
		"The air-gapped station of airlock, an offline CA for Azure "
		"Key Vault.\n\nverbs:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(
	    f,
	    "\nglobal options:\n"
	    "  --home DIR     station home (default $AIRLOCK_HOME, else "
	    "/var/lib/airlock)\n"
	    "  --module PATH  PKCS#11 module when a URI has no "
	    "module-path (default: p11-kit proxy)\n"
	    "  --json         one JSON document on stdout\n"
	    "  -q, -v         quieter, more verbose\n"
	    "  --allow-network  sign even though a network is up (recorded;\n"
	    "                 also AIRLOCK_ALLOW_NETWORK=1)\n"
	    "  --version      versions of airlock and its libraries\n\n"
	    "`airlock-station VERB --help` explains each verb; see "
	    "airlock-station(1).\n");
}

static void
version(void)
{
	printf("airlock-station %s\n", AIRLOCK_VERSION);
	printf("OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
	printf("libp11 %s (build)\n", LIBP11_BUILD_VERSION);
	printf("cJSON %s\n", cJSON_Version());
	printf("pcsc-lite %s (build)\n", PCSCLITE_VERSION_NUMBER);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"home", required_argument, NULL, 'H'},
	    {"module", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"version", no_argument, NULL, 'V'},
	    {"allow-network", no_argument, NULL, 'N'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	size_t i;
	int c;

	if (secmem_process_harden() != 0)
		fprintf(stderr, "airlock-station: warning: could not disable "
				"core dumps\n");
	station_g.home = getenv("AIRLOCK_HOME");
	if (getenv("AIRLOCK_ALLOW_NETWORK") != NULL &&
	    strcmp(getenv("AIRLOCK_ALLOW_NETWORK"), "1") == 0)
		station_g.allow_network = 1;
	/* '+': stop at the verb; its options are its own */
	while ((c = getopt_long(argc, argv, "+qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			station_g.home = optarg;
			break;
		case 'm':
			station_g.module = optarg;
			break;
		case 'j':
			station_g.json = 1;
			break;
		case 'q':
			station_g.verbose = -1;
			break;
		case 'v':
			station_g.verbose = 1;
			break;
		case 'V':
			version();
			return 0;
		case 'N':
			station_g.allow_network = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (station_g.home == NULL)
		station_g.home = "/var/lib/airlock";
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			argc -= optind;
			argv += optind;
			optind = 0;
			return commands[i].fn(argc, argv);
		}
	}
	fprintf(stderr,
		"airlock-station: unknown verb '%s'; see "
		"`airlock-station --help`\n",
		argv[optind]);
	return 2;
}
