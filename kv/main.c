/* airlock-kv: the online half of airlock. This file parses the options
 * that come before the verb and dispatches to one kv/cmd_*.c per verb. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "kv/cli.h"
#include "kv/cmds.h"
#include "lib/err.h"
#include "lib/secmem.h"

#ifndef AIRLOCK_VERSION
#define AIRLOCK_VERSION "unknown"
#endif

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
    {"create", cmd_create, "create a certificate with issuer Unknown"},
    {"status", cmd_status, "pending, merged and expiring certificates"},
    {"export", cmd_export, "pending CSRs into a request bundle"},
    {"pack", cmd_pack, "plain CSR files into a request bundle"},
    {"merge", cmd_merge, "verify a merge bundle, merge its chains"},
    {"renew", cmd_renew, "start new versions of certificates expiring soon"},
    {"unpack", cmd_unpack, "a merge bundle out to plain PEM files"},
    {"publish", cmd_publish, "CRLs and CA certificates to a directory"},
    {"witness", cmd_witness,
     "check merge bundles' ledger records, keep a replica"},
    {"replay", cmd_replay, "(tests) parse recorded Key Vault replies"},
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: airlock-kv [--vault NAME|URL] [--endpoint URL] "
		   "[--cacert FILE] [--json] VERB ...\n\n"
		   "The online host of airlock: creates Key Vault "
		   "certificates with issuer Unknown,\nexports their CSRs to a "
		   "request bundle, and merges signed chains back.\n\n"
		   "verbs:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(f, "\n" CLI_COMMON_HELP
		   "  --version             versions of airlock-kv and its "
		   "libraries\n\n"
		   "Credentials as the Azure SDKs take them: AZURE_TENANT_ID, "
		   "AZURE_CLIENT_ID,\nAZURE_CLIENT_SECRET or "
		   "AZURE_FEDERATED_TOKEN_FILE, managed identity, Azure CLI.\n"
		   "Exit status: 0 ok, 1 failure, 2 usage, 3 rejected, 4 "
		   "malformed input,\n6 Key Vault/HTTP/TLS error, 7 refused. "
		   "See airlock-kv(1).\n");
}

static void
version(void)
{
	curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

	printf("airlock-kv %s\n", AIRLOCK_VERSION);
	printf("OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
	printf("libcurl %s (%s)\n", cv->version,
	       cv->ssl_version != NULL ? cv->ssl_version : "no TLS");
	printf("cJSON %s\n", cJSON_Version());
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    CLI_COMMON_LONGOPTS,
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int c, r;
	size_t i;

	if ((r = secmem_process_harden()) != 0) {
		fprintf(stderr, "airlock-kv: cannot make the process "
				"undumpable; refusing to handle secrets\n");
		return AIRLOCK_EXIT_FAIL;
	}
	opterr = 1;
	while ((c = getopt_long(argc, argv, "+hqv", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			version();
			return 0;
		case 'q':
			kv_g.verbose = -1;
			break;
		case 'v':
			kv_g.verbose++;
			break;
		default:
			if ((r = cli_common_opt("airlock-kv", c, optarg)) == 0)
				break;
			if (r == 1)
				usage(stderr);
			return AIRLOCK_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return AIRLOCK_EXIT_USAGE;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			argv += optind;
			argc -= optind;
			optind = 0; /* glibc: start over for the verb */
			return commands[i].fn(argc, argv);
		}
	}
	fprintf(stderr,
		"airlock-kv: '%s' is not a verb (see airlock-kv "
		"--help)\n",
		argv[optind]);
	return AIRLOCK_EXIT_USAGE;
}
