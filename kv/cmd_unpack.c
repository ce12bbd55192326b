/* airlock-kv unpack DIR --out DIR --trust ROOT.pem: a merge bundle out to
 * plain PEM files, one LABEL.pem per entry (leaf first), for fleets that
 * never touch Key Vault. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv/cli.h"
#include "kv/cmds.h"
#include "kv/mergebundle.h"
#include "lib/bundle.h"
#include "lib/err.h"
#include "lib/safefile.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: airlock-kv unpack DIR --out DIR --trust ROOT.pem\n\n"
		   "Verify the merge bundle DIR against the pinned root, then "
		   "write each entry's\nchain (leaf first) to OUT/LABEL.pem: "
		   "LABEL is the request's label (plain CSRs)\nor the Key "
		   "Vault certificate name, lowercased. Existing files are "
		   "never\noverwritten. No network.\n\n"
		   "The station ledger records the bundle carries are first "
		   "checked against\nthe replica in the state directory "
		   "and recorded (see airlock-kv witness\n--help); a bundle "
		   "from a rolled-back or edited station ledger is\n"
		   "refused (exit 3) and nothing is written.\n\n"
		   "  --out DIR       where to write (created if missing)\n"
		   "  --trust FILE    the pinned root (PEM)\n"
		   "  --state DIR     local state (default $AIRLOCK_KV_STATE, "
		   "else\n"
		   "                  ~/.local/state/airlock-kv)\n"
		   "  --json          one JSON document on stdout\n");
}

enum { OPT_OUT = 1, OPT_TRUST };

int
cmd_unpack(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"out", required_argument, NULL, OPT_OUT},
	    {"trust", required_argument, NULL, OPT_TRUST},
	    {"state", required_argument, NULL, CLI_OPT_STATE},
	    {"json", no_argument, NULL, CLI_OPT_JSON},
	    {"quiet", no_argument, NULL, CLI_OPT_QUIET},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL, *trust = NULL, *label;
	const unsigned char *data;
	struct bundle *b = NULL;
	STACK_OF(X509) *chain = NULL;
	char name[80], lbl[65];
	size_t i, n, len, k;
	int opt, st, r, dirfd = -1;
	cJSON *j = NULL, *arr = NULL;

	while ((opt = getopt_long(argc, argv, "ho:q", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case 'o':
		case OPT_OUT:
			out = optarg;
			break;
		case OPT_TRUST:
			trust = optarg;
			break;
		default:
			if ((st = cli_common_opt("unpack", opt, optarg)) == 0)
				break;
			if (st == 1)
				usage(stderr);
			return AIRLOCK_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || out == NULL || trust == NULL)
		return cli_usage("unpack", "want DIR, --out DIR and --trust "
					   "ROOT.pem");
	if ((st = cli_bundle_to_dir("unpack", argv[optind], trust, out, &b,
				    &dirfd)) != 0)
		goto done;
	if (kv_g.json) {
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "bundle_id", bundle_id(b));
		arr = cJSON_AddArrayToObject(j, "files");
	}
	n = bundle_entry_count(b);
	for (i = 0; i < n; i++) {
		label = mergebundle_entry_source(b, i, "label");
		if (label == NULL)
			label =
			    mergebundle_entry_source(b, i, "certificate_name");
		if (label == NULL)
			label = bundle_entry_id(b, i);
		for (k = 0; label[k] != '\0' && k < 60; k++)
			lbl[k] = (label[k] >= 'A' && label[k] <= 'Z')
				     ? (char)(label[k] - 'A' + 'a')
				     : label[k];
		lbl[k] = '\0';
		snprintf(name, sizeof(name), "%s.pem", lbl);
		/* check the chain parses and the serial matches */
		if ((r = mergebundle_entry_chain(b, i, &chain)) != 0 ||
		    (r = bundle_entry_data(b, i, &data, &len)) != 0) {
			st = cli_fail("unpack", r);
			goto done;
		}
		sk_X509_pop_free(chain, X509_free);
		chain = NULL;
		if (!safefile_name_ok(name)) {
			err_detail_set("entry %s: '%s' is not a usable file "
				       "name",
				       bundle_entry_id(b, i), name);
			st = cli_fail("unpack", AIRLOCK_E_FORMAT);
			goto done;
		}
		if ((r = safefile_write_atomic(dirfd, name, data, len, 0644,
					       0)) != 0) {
			err_detail_set("%s/%s: %s", out, name,
				       r == AIRLOCK_E_EXISTS
					   ? "exists; not overwritten"
					   : err_detail_get());
			st = cli_fail("unpack", r);
			goto done;
		}
		if (arr != NULL)
			cJSON_AddItemToArray(arr, cJSON_CreateString(name));
		else if (kv_g.verbose >= 0)
			printf("%s/%s\n", out, name);
	}
	if (j != NULL) {
		cli_json_print(j);
		j = NULL;
	}
	st = 0;
done:
	cJSON_Delete(j);
	sk_X509_pop_free(chain, X509_free);
	if (dirfd >= 0)
		close(dirfd);
	bundle_free(b);
	return st;
}
