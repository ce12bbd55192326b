/* airlock-kv: the online half of airlock (Key Vault client). Its verbs land
 * with their own issue; for now it answers --help and --version. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#ifndef AIRLOCK_VERSION
#define AIRLOCK_VERSION "unknown"
#endif

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: airlock-kv [--vault NAME|URL] [--endpoint URL] "
	    "[--cacert FILE] [--json] VERB ...\n\n"
	    "The online host of airlock: creates Key Vault certificates with "
	    "issuer Unknown,\nexports their CSRs to a request bundle, and "
	    "merges signed chains back.\n\n"
	    "No verbs are available in this version yet (create, export, "
	    "merge, renew,\nstatus, pack, unpack, publish are planned); "
	    "see airlock-kv(1).\n\n"
	    "  --help      this text\n"
	    "  --version   versions of airlock-kv and its libraries\n");
}

int
main(int argc, char **argv)
{
	curl_version_info_data *cv;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		cv = curl_version_info(CURLVERSION_NOW);
		printf("airlock-kv %s\n", AIRLOCK_VERSION);
		printf("OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
		printf("libcurl %s (%s)\n", cv->version,
		       cv->ssl_version != NULL ? cv->ssl_version : "no TLS");
		printf("cJSON %s\n", cJSON_Version());
		return 0;
	}
	if (argc == 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	if (argc >= 2)
		fprintf(stderr, "\nairlock-kv: '%s' is not available yet\n",
			argv[1]);
	return 2;
}
