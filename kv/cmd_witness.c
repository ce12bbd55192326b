/* airlock-kv witness DIR... --trust ROOT.pem: check merge bundles' ledger
 * slices against the replica of the station's ledger and record them,
 * without Key Vault (kv/replica.h). Also the check `merge` and `unpack`
 * run before they use a bundle. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/cli.h"
#include "kv/cmds.h"
#include "kv/mergebundle.h"
#include "kv/replica.h"
#include "lib/bundle.h"
#include "lib/err.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: airlock-kv witness DIR... --trust ROOT.pem [--state "
		"DIR] [--json]\n\n"
		"Verify each merge bundle DIR against the pinned root, then "
		"check the station\nledger records it carries against this "
		"host's replica of the station's ledger\n(STATE/" REPLICA_FILE
		") and append the new ones. No Key Vault, so a\n"
		"revocation-only bundle is witnessed too. Bundles are taken "
		"in the order the\nstation exported them (checkpoint "
		"from_seq), whatever the order given.\n\n"
		"A bundle is refused (exit 3, nothing recorded) when its "
		"records differ from\nrecords witnessed before or do not "
		"follow the replica's head: the station's\nledger was rolled "
		"back or edited. A bundle whose records are all in the\n"
		"replica already is accepted and changes nothing. The first "
		"bundle seen may\nstart after record 1 (\"first contact\"): "
		"the replica then starts there.\nmerge and unpack run the "
		"same check before they use a bundle.\n\n"
		"Exit status: 0 witnessed (or nothing to witness: a "
		"warning); 3 refused; 4 malformed.\n\n" CLI_COMMON_HELP);
}

enum { OPT_TRUST = 1 };

int
witness_bundle(const char *verb, const struct bundle *b, cJSON *json,
	       int to_stdout)
{
	struct replica_result res;
	char statedir[4096], what[64], line[512];
	cJSON *o;
	int r;

	snprintf(what, sizeof(what), "%s: ledger witness", verb);
	if (bundle_file_count(b, BUNDLE_ROLE_LEDGER) == 0 &&
	    bundle_file_count(b, BUNDLE_ROLE_CHECKPOINT) == 0) {
		cli_notice("%s: warning: bundle %s carries no ledger slice: "
			   "not witnessed",
			   verb, bundle_id(b));
		if (json != NULL)
			cJSON_AddNullToObject(json, "ledger");
		return 0;
	}
	if ((r = cli_state_dir(statedir, sizeof(statedir))) != 0)
		return cli_fail(what, r);
	if ((r = replica_witness(statedir, b, &res)) != 0)
		return cli_fail(what, r);
	if (json != NULL) {
		o = cJSON_AddObjectToObject(json, "ledger");
		cJSON_AddNumberToObject(o, "from_seq", (double)res.from_seq);
		cJSON_AddNumberToObject(o, "seq", (double)res.seq);
		cJSON_AddStringToObject(o, "head", res.head);
		cJSON_AddStringToObject(o, "station", res.station);
		cJSON_AddNumberToObject(o, "appended", (double)res.appended);
		cJSON_AddBoolToObject(o, "already_witnessed", res.already);
		cJSON_AddBoolToObject(o, "first_contact", res.first_contact);
		cJSON_AddNumberToObject(o, "replica_first_seq",
					(double)res.first_seq);
	}
	replica_describe(&res, line, sizeof(line));
	/* first contact is said even under --quiet and --json: it is the one
	 * time the replica trusts what it cannot check */
	if (to_stdout && !kv_g.json && kv_g.verbose >= 0)
		printf("%s\n", line);
	else if (res.first_contact)
		fprintf(stderr, "airlock-kv: %s: %s\n", verb, line);
	else if (!kv_g.json)
		cli_notice("%s: %s", verb, line);
	return 0;
}

struct wb {
	struct bundle *b;
	unsigned long long from;
	size_t arg;
};

static int
wb_cmp(const void *x, const void *y)
{
	const struct wb *a = x, *c = y;

	if (a->from != c->from)
		return a->from < c->from ? -1 : 1;
	return a->arg < c->arg ? -1 : a->arg > c->arg;
}

int
cmd_witness(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"trust", required_argument, NULL, OPT_TRUST},
	    CLI_COMMON_LONGOPTS,
	    {NULL, 0, NULL, 0},
	};
	const char *trust = NULL;
	struct wb *v = NULL;
	size_t n = 0, i;
	int opt, st = 0, r;
	cJSON *j = NULL, *arr = NULL, *o;
	char what[64];

	while ((opt = getopt_long(argc, argv, "hqv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case 'q':
			kv_g.verbose = -1;
			break;
		case 'v':
			kv_g.verbose++;
			break;
		case OPT_TRUST:
			trust = optarg;
			break;
		default:
			if ((st = cli_common_opt("witness", opt, optarg)) == 0)
				break;
			if (st == 1)
				usage(stderr);
			return AIRLOCK_EXIT_USAGE;
		}
	}
	if (optind >= argc || trust == NULL)
		return cli_usage("witness", "want DIR... and --trust ROOT.pem");
	n = (size_t)(argc - optind);
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return cli_fail("witness", AIRLOCK_E_NOMEM);
	/* every bundle verified before any is witnessed */
	for (i = 0; i < n; i++) {
		if ((r = mergebundle_open(argv[optind + i], trust, &v[i].b)) !=
		    0) {
			snprintf(what, sizeof(what),
				 "witness: verifying bundle %zu", i + 1);
			st = cli_fail(what, r);
			goto done;
		}
		v[i].from = replica_bundle_from_seq(v[i].b);
		v[i].arg = i;
	}
	qsort(v, n, sizeof(*v), wb_cmp);
	if (kv_g.json) {
		j = cJSON_CreateObject();
		arr = cJSON_AddArrayToObject(j, "bundles");
	}
	for (i = 0; i < n; i++) {
		o = NULL;
		if (arr != NULL) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "bundle_id",
						bundle_id(v[i].b));
			cJSON_AddItemToArray(arr, o);
		}
		if (!kv_g.json && kv_g.verbose >= 0)
			printf("bundle %s\n", bundle_id(v[i].b));
		if ((st = witness_bundle("witness", v[i].b, o, 1)) != 0)
			goto done;
	}
	if (j != NULL) {
		cli_json_print(j);
		j = NULL;
	}
	st = 0;
done:
	cJSON_Delete(j);
	for (i = 0; i < n; i++)
		bundle_free(v[i].b);
	free(v);
	return st;
}
