/* airlock-kv status: pending, issued and expiring certificates. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv/cli.h"
#include "kv/cmds.h"
#include "kv/inventory.h"
#include "kv/journal.h"
#include "kv/kvjson.h"
#include "kv/replica.h"
#include "kv/vault.h"
#include "lib/err.h"

#define MAX_TAGS 16

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: airlock-kv status [--name GLOB] [--tag KEY=VALUE]... "
	    "[--within DAYS] [--json]\n\n"
	    "Show each certificate in the vault: its pending operation "
	    "(request id), its\nnewest issued version and when it "
	    "expires (\"expiring\" within DAYS, default 30),\nand the "
	    "last merge bundle this host saw, and how far its replica of the\n"
	    "station's ledger reaches.\n\n" CLI_COMMON_HELP);
}

enum { OPT_NAME = 1, OPT_TAG, OPT_WITHIN };

static const char *
state_of(const struct inv_entry *e, long long now, long within)
{
	if (e->op != NULL && strcmp(e->op->status, "inProgress") == 0)
		return "pending";
	if (e->issued == NULL)
		return e->op != NULL ? e->op->status : "none";
	if (e->issued->exp != 0 && e->issued->exp <= now)
		return "expired";
	if (e->issued->exp != 0 && e->issued->exp <= now + within * 86400LL)
		return "expiring";
	return "issued";
}

int
cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"name", required_argument, NULL, OPT_NAME},
	    {"tag", required_argument, NULL, OPT_TAG},
	    {"within", required_argument, NULL, OPT_WITHIN},
	    CLI_COMMON_LONGOPTS,
	    {NULL, 0, NULL, 0},
	};
	const char *tags[MAX_TAGS], *glob = NULL;
	struct kv_conn conn = {0};
	struct inventory *inv = NULL;
	struct journal_last last;
	char statedir[4096], exp[32], b1[256], b2[256];
	long long now = (long long)time(NULL);
	long within = 30;
	size_t n_tags = 0, i;
	cJSON *j, *arr, *o;
	int opt, st, r, have_last = 0, have_rep = 0;
	unsigned long long rfirst = 0, rseq = 0;
	char rhead[65], rstation[65];
	char *end;

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
		case OPT_NAME:
			glob = optarg;
			break;
		case OPT_TAG:
			if (n_tags >= MAX_TAGS || strchr(optarg, '=') == NULL)
				return cli_usage("status", "--tag KEY=VALUE "
							   "(at most 16)");
			tags[n_tags++] = optarg;
			break;
		case OPT_WITHIN:
			errno = 0;
			within = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || within < 0 ||
			    within > 36500)
				return cli_usage("status",
						 "--within: 0..36500 days");
			break;
		default:
			if ((st = cli_common_opt("status", opt, optarg)) == 0)
				break;
			if (st == 1)
				usage(stderr);
			return AIRLOCK_EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage("status", "no arguments expected");
	if ((st = cli_connect("status", &conn)) != 0)
		return st;
	if ((r = inventory_collect(conn.vault, glob, tags, n_tags,
				   INV_PENDING | INV_VERSIONS, &inv)) != 0) {
		st = cli_fail("status", r);
		goto out;
	}
	memset(&last, 0, sizeof(last));
	if (cli_state_dir(statedir, sizeof(statedir)) == 0 &&
	    journal_last_get(statedir, vault_url(conn.vault), &last) == 0)
		have_last = 1;
	if (cli_state_dir(statedir, sizeof(statedir)) == 0 &&
	    replica_head_get(statedir, &rfirst, &rseq, rhead, rstation) == 0)
		have_rep = 1;
	err_detail_clear();
	if (kv_g.json) {
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "vault", vault_url(conn.vault));
		arr = cJSON_AddArrayToObject(j, "certificates");
		for (i = 0; i < inv->n; i++) {
			struct inv_entry *e = &inv->e[i];
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "name", e->name);
			cJSON_AddStringToObject(o, "state",
						state_of(e, now, within));
			if (e->op != NULL) {
				cJSON *p =
				    cJSON_AddObjectToObject(o, "pending");
				cJSON_AddStringToObject(p, "status",
							e->op->status);
				if (e->op->request_id)
					cJSON_AddStringToObject(
					    p, "request_id", e->op->request_id);
				if (e->op->issuer)
					cJSON_AddStringToObject(p, "issuer",
								e->op->issuer);
			} else {
				cJSON_AddNullToObject(o, "pending");
			}
			if (e->issued != NULL) {
				cJSON *v = cJSON_AddObjectToObject(o, "issued");
				cJSON_AddStringToObject(v, "version",
							e->issued->version
							    ? e->issued->version
							    : "");
				cJSON_AddStringToObject(v, "x5t",
							e->issued->x5t);
				kvjson_time_rfc3339(e->issued->exp, exp);
				cJSON_AddStringToObject(v, "expires", exp);
			} else {
				cJSON_AddNullToObject(o, "issued");
			}
			if (e->tags != NULL)
				cJSON_AddItemToObject(
				    o, "tags", cJSON_Duplicate(e->tags, 1));
			cJSON_AddItemToArray(arr, o);
		}
		if (have_last) {
			o = cJSON_AddObjectToObject(j, "last_merge_bundle");
			cJSON_AddStringToObject(o, "bundle_id", last.bundle_id);
			cJSON_AddStringToObject(o, "created", last.created);
			kvjson_time_rfc3339(last.seen, exp);
			cJSON_AddStringToObject(o, "seen", exp);
		} else {
			cJSON_AddNullToObject(j, "last_merge_bundle");
		}
		if (have_rep) {
			o = cJSON_AddObjectToObject(j, "ledger_replica");
			cJSON_AddNumberToObject(o, "first_seq", (double)rfirst);
			cJSON_AddNumberToObject(o, "seq", (double)rseq);
			cJSON_AddStringToObject(o, "head", rhead);
			cJSON_AddStringToObject(o, "station", rstation);
		} else {
			cJSON_AddNullToObject(j, "ledger_replica");
		}
		cli_json_print(j);
	} else {
		printf("vault %s\n", vault_url(conn.vault));
		printf("%-32s %-9s %-21s %s\n", "NAME", "STATE", "EXPIRES",
		       "PENDING REQUEST");
		for (i = 0; i < inv->n; i++) {
			struct inv_entry *e = &inv->e[i];
			exp[0] = '\0';
			if (e->issued != NULL)
				kvjson_time_rfc3339(e->issued->exp, exp);
			printf("%-32s %-9s %-21s %s\n", e->name,
			       state_of(e, now, within), exp[0] ? exp : "-",
			       e->op && e->op->request_id &&
				       strcmp(e->op->status, "inProgress") == 0
				   ? cli_safe(e->op->request_id, b1, sizeof(b1))
				   : "-");
		}
		if (inv->n == 0)
			printf("(no certificates)\n");
		if (have_last)
			printf("last merge bundle: %s (created %s)\n",
			       cli_safe(last.bundle_id, b1, sizeof(b1)),
			       cli_safe(last.created, b2, sizeof(b2)));
		if (have_rep)
			printf("station ledger replica: records %llu..%llu, "
			       "head %.16s, station %s\n",
			       rfirst, rseq, rhead,
			       cli_safe(rstation, b1, sizeof(b1)));
	}
	st = 0;
out:
	inventory_free(inv);
	cli_disconnect(&conn);
	return st;
}
