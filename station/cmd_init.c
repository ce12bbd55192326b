/* airlock-station init: create the station home. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "station/cli.h"
#include "station/cmds.h"
#include "station/home.h"

static const char init_usage[] =
    "usage: airlock-station [--home DIR] init [--domain SUFFIX]...\n"
    "\n"
    "Create the station home (default $AIRLOCK_HOME, else /var/lib/airlock):\n"
    "a commented configuration (airlock.conf) with the profiles root,\n"
    "intermediate, tls-server, tls-client, mtls and mqtt-device, an empty\n"
    "ledger, and the folders ca/, spool/, out/ and transcripts/.\n"
    "\n"
    "  --domain SUFFIX  a DNS suffix the leaf profiles may certify (names "
    "equal\n"
    "                   to it or under it) and the intermediate's name\n"
    "                   constraint; repeat for several. Without it the leaf\n"
    "                   profiles allow only example.invalid: edit "
    "airlock.conf.\n"
    "\n"
    "init never overwrites: an existing configuration or ledger is refused.\n"
    "PINs and PKCS#11 module paths are never part of the configuration.\n";

int
cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"domain", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *domains[32];
	size_t n = 0;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (n == 32)
				return cli_usage("init", "at most 32 --domain");
			if (strspn(optarg,
				   "abcdefghijklmnopqrstuvwxyz0123456789"
				   ".-") != strlen(optarg) ||
			    optarg[0] == '\0' || optarg[0] == '.' ||
			    optarg[0] == '-')
				return cli_usage("init",
						 "--domain '%s': lowercase "
						 "letters, digits, '.' and '-'",
						 optarg);
			domains[n++] = optarg;
			break;
		case 'h':
			fputs(init_usage, stdout);
			return 0;
		default:
			return cli_usage("init", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage("init", "unexpected argument '%s'",
				 argv[optind]);
	if ((r = home_init(station_g.home, domains, n)) != 0)
		return cli_fail("init", r);
	if (station_g.verbose >= 0)
		printf("station home created in %s\n"
		       "next: review %s/airlock.conf, then "
		       "`airlock-station policy check`\n",
		       station_g.home, station_g.home);
	return 0;
}
