/* airlock-station revoke | crl */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "station/cli.h"
#include "station/cmds.h"
#include "station/crl.h"
#include "station/home.h"
#include "station/issue.h"

static const char revoke_usage[] =
    "usage: airlock-station revoke SERIAL --reason REASON\n"
    "       airlock-station crl [--days N] [--root] [--pin-source SRC]\n"
    "                           [--root-pin-source SRC]\n"
    "\n"
    "  revoke  record the revocation of a certificate this station issued\n"
    "          (a leaf, or the intermediate: then the root's CRL lists it).\n"
    "          REASON: unspecified, keyCompromise, cACompromise,\n"
    "          affiliationChanged, superseded, cessationOfOperation,\n"
    "          privilegeWithdrawn, aACompromise (RFC 5280). Unknown serials\n"
    "          are refused. No token is needed; the next `crl` lists it.\n"
    "  crl     sign the intermediate's CRL on its token: every revoked serial\n"
    "          and every serial burned by a crash (INDOUBT); with --root also\n"
    "          the root's CRL on the root token (listing a revoked\n"
    "          intermediate). nextUpdate: --days or the profile's crl_days (a\n"
    "          root CRL at most 365 days). The CRL number is recorded in the\n"
    "          ledger before the token signs. Files: HOME/crl/; the next\n"
    "          `export` carries the newest CRLs in the merge bundle.\n";

int
cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"reason", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct home *h = NULL;
	enum crl_issuer which = CRL_INTERMEDIATE;
	const char *reason = NULL;
	char canon[48];
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			reason = optarg;
			break;
		case 'h':
			fputs(revoke_usage, stdout);
			return 0;
		default:
			return cli_usage("revoke", "bad option");
		}
	}
	if (optind + 1 != argc || reason == NULL)
		return cli_usage("revoke", "one SERIAL and --reason REASON are "
					   "needed");
	if ((r = home_open(station_g.home, &h)) != 0 ||
	    (r = crl_revoke(h, argv[optind], reason, &which, canon)) != 0) {
		home_close(h);
		return cli_fail("revoke", r);
	}
	home_close(h);
	if (station_g.verbose >= 0)
		printf(
		    "revoked %s (%s); run `airlock-station crl%s` and export "
		    "to publish it\n",
		    canon, reason, which == CRL_ROOT ? " --root" : "");
	return 0;
}

int
cmd_crl(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"days", required_argument, NULL, 'd'},
	    {"root", no_argument, NULL, 'R'},
	    {"pin-source", required_argument, NULL, 'p'},
	    {"root-pin-source", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct home *h = NULL;
	struct issuer *is = NULL;
	const char *pin = NULL, *rpin = NULL;
	unsigned long long num = 0;
	size_t n = 0;
	char *path = NULL, *end, note[600];
	long days = 0;
	int c, r, root = 0, st;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			days = strtol(optarg, &end, 10);
			if (*end != '\0' || days <= 0 || days > 3650)
				return cli_usage("crl", "--days: 1..3650");
			break;
		case 'R':
			root = 1;
			break;
		case 'p':
			pin = optarg;
			break;
		case 'P':
			rpin = optarg;
			break;
		case 'h':
			fputs(revoke_usage, stdout);
			return 0;
		default:
			return cli_usage("crl", "bad option");
		}
	}
	if (optind != argc)
		return cli_usage("crl", "unexpected argument '%s'",
				 argv[optind]);
	if ((st = cli_airgap("crl", note, sizeof(note))) != 0)
		return st;
	if ((r = home_open(station_g.home, &h)) != 0 ||
	    (r = issuer_open(h, 1, pin, &cli_login_ui, &is)) != 0 ||
	    (issuer_set_network_note(is, note), 0) ||
	    (r = crl_make(is, CRL_INTERMEDIATE, days, &num, &n, &path)) != 0)
		goto fail;
	if (station_g.verbose >= 0)
		printf("intermediate CRL number %llu, %zu entries: %s\n", num,
		       n, path);
	free(path);
	path = NULL;
	if (root) {
		if ((r = issuer_open_root(is, rpin != NULL ? rpin : pin,
					  &cli_login_ui)) != 0 ||
		    (r = crl_make(is, CRL_ROOT, days, &num, &n, &path)) != 0)
			goto fail;
		if (station_g.verbose >= 0)
			printf("root CRL number %llu, %zu entries: %s\n", num,
			       n, path);
	}
	st = 0;
	goto out;
fail:
	st = cli_fail("crl", r);
out:
	free(path);
	issuer_close(is);
	home_close(h);
	return st;
}
