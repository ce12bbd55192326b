/* airlock-kv export --out DIR: a request bundle of every pending
 * Unknown-issuer operation in the vault, for the station. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv/cli.h"
#include "kv/cmds.h"
#include "kv/inventory.h"
#include "kv/kvjson.h"
#include "kv/vault.h"
#include "lib/bundle.h"
#include "lib/err.h"
#include "lib/safefile.h"

#define MAX_TAGS 16

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: airlock-kv export --out DIR [--name GLOB] "
		"[--tag KEY=VALUE]... [--profile NAME]\n\n"
		"Write a request bundle (airlock-bundle(5)) into the new "
		"directory DIR with the\nCSR of every pending certificate "
		"operation with issuer Unknown in the vault,\neach with its "
		"request_id and the policy Key Vault holds for it. --name and\n"
		"--tag choose certificates; --profile asks the station for a "
		"profile (a hint).\n\n" CLI_COMMON_HELP);
}

enum { OPT_OUT = 1, OPT_NAME, OPT_TAG, OPT_PROFILE };

static int
entry_add(struct kv_conn *c, struct bundle_writer *w, size_t idx,
	  const struct inv_entry *e, const char *profile)
{
	cJSON *meta = NULL, *src, *pol = NULL, *snap = NULL;
	char id[65], file[80];
	int r;

	if ((r = vault_policy_get(c->vault, e->name, &pol)) != 0 ||
	    (r = kvjson_policy_snapshot(pol, &snap)) != 0)
		goto out;
	cli_entry_id(idx, e->name, id);
	snprintf(file, sizeof(file), "%s.csr", id);
	r = AIRLOCK_E_NOMEM;
	if ((meta = cJSON_CreateObject()) == NULL ||
	    !cJSON_AddStringToObject(meta, "id", id) ||
	    (src = cJSON_AddObjectToObject(meta, "source")) == NULL ||
	    !cJSON_AddStringToObject(src, "type", "keyvault") ||
	    !cJSON_AddStringToObject(src, "vault_url", vault_url(c->vault)) ||
	    !cJSON_AddStringToObject(src, "certificate_name", e->name) ||
	    !cJSON_AddStringToObject(src, "request_id", e->op->request_id))
		goto out;
	cJSON_AddItemToObject(src, "policy", snap);
	snap = NULL;
	if (profile != NULL &&
	    !cJSON_AddStringToObject(meta, "profile", profile))
		goto out;
	r = bundle_writer_add_entry(w, meta, file, e->op->csr, e->op->csr_len);
	meta = NULL;
out:
	cJSON_Delete(meta);
	cJSON_Delete(pol);
	cJSON_Delete(snap);
	return r;
}

int
cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"out", required_argument, NULL, OPT_OUT},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"tag", required_argument, NULL, OPT_TAG},
	    {"profile", required_argument, NULL, OPT_PROFILE},
	    CLI_COMMON_LONGOPTS,
	    {NULL, 0, NULL, 0},
	};
	const char *tags[MAX_TAGS], *glob = NULL, *out = NULL, *profile = NULL;
	char parent[4096], name[80], producer[256], host[128], buf[512];
	struct bundle_writer *w = NULL;
	struct inventory *inv = NULL;
	struct kv_conn conn = {0};
	char *bid = NULL;
	size_t n_tags = 0, i, n = 0, skipped = 0;
	cJSON *j, *arr;
	int opt, st, r;

	while ((opt = getopt_long(argc, argv, "hqvo:", longopts, NULL)) != -1) {
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
		case 'o':
		case OPT_OUT:
			out = optarg;
			break;
		case OPT_NAME:
			glob = optarg;
			break;
		case OPT_PROFILE:
			if (!safefile_name_ok(optarg))
				return cli_usage("export", "--profile: "
							   "[a-z0-9._-]{1,64}");
			profile = optarg;
			break;
		case OPT_TAG:
			if (n_tags >= MAX_TAGS || strchr(optarg, '=') == NULL)
				return cli_usage("export", "--tag KEY=VALUE "
							   "(at most 16)");
			tags[n_tags++] = optarg;
			break;
		default:
			if ((st = cli_common_opt("export", opt, optarg)) == 0)
				break;
			if (st == 1)
				usage(stderr);
			return AIRLOCK_EXIT_USAGE;
		}
	}
	if (optind != argc || out == NULL)
		return cli_usage("export", "want --out DIR and no arguments");
	if ((st = cli_out_split("export", out, parent, sizeof(parent), name,
				sizeof(name))) != 0)
		return st;
	if (access(out, F_OK) == 0) {
		fprintf(stderr,
			"airlock-kv: export: %s exists; not "
			"overwriting it\n",
			out);
		return AIRLOCK_EXIT_REFUSED;
	}
	if ((st = cli_connect("export", &conn)) != 0)
		return st;
	if ((r = inventory_collect(conn.vault, glob, tags, n_tags, INV_PENDING,
				   &inv)) != 0) {
		st = cli_fail("export", r);
		goto done;
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(producer, sizeof(producer), "airlock-kv %s on %s",
		 AIRLOCK_VERSION, cli_safe(host, buf, 64));
	if ((r = bundle_writer_new(BUNDLE_KIND_REQUEST, producer, &w)) != 0) {
		st = cli_fail("export", r);
		goto done;
	}
	for (i = 0; i < inv->n; i++) {
		struct inv_entry *e = &inv->e[i];
		if (e->op == NULL || strcmp(e->op->status, "inProgress") != 0 ||
		    e->op->issuer == NULL ||
		    strcmp(e->op->issuer, "Unknown") != 0)
			continue;
		if (e->op->csr == NULL || e->op->request_id == NULL ||
		    e->op->cancellation_requested) {
			cli_notice("export: %s: pending operation without a "
				   "CSR or request_id, or cancelled: skipped",
				   e->name);
			skipped++;
			continue;
		}
		if ((r = entry_add(&conn, w, n + 1, e, profile)) != 0) {
			st = cli_fail("export", r);
			goto done;
		}
		n++;
		cli_progress("export", i + 1, inv->n);
	}
	if (n == 0) {
		fprintf(stderr,
			"airlock-kv: export: no pending Unknown-issuer "
			"requests%s; nothing written\n",
			glob || n_tags ? " match" : "");
		st = AIRLOCK_EXIT_FAIL;
		goto done;
	}
	if ((r = bundle_writer_commit(w, parent, name, NULL, NULL, NULL,
				      &bid)) != 0) {
		st = cli_fail("export: writing the bundle", r);
		goto done;
	}
	if (kv_g.json) {
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "bundle", out);
		cJSON_AddStringToObject(j, "bundle_id", bid);
		cJSON_AddStringToObject(j, "vault", vault_url(conn.vault));
		cJSON_AddNumberToObject(j, "requests", (double)n);
		cJSON_AddNumberToObject(j, "skipped", (double)skipped);
		arr = cJSON_AddArrayToObject(j, "certificates");
		for (i = 0; i < inv->n; i++)
			if (inv->e[i].op != NULL &&
			    inv->e[i].op->request_id != NULL &&
			    strcmp(inv->e[i].op->status, "inProgress") == 0)
				cJSON_AddItemToArray(
				    arr, cJSON_CreateString(inv->e[i].name));
		cli_json_print(j);
	} else {
		printf("wrote request bundle %s: %zu request%s (bundle id "
		       "%s)\n",
		       out, n, n == 1 ? "" : "s", bid);
	}
	st = 0;
done:
	free(bid);
	bundle_writer_free(w);
	inventory_free(inv);
	cli_disconnect(&conn);
	return st;
}
