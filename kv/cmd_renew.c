/* airlock-kv renew --within DAYS: start a new version, with the stored
 * policy, of each certificate this CA issued whose newest enabled version
 * expires within DAYS. The next `export` carries the new CSRs. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv/cli.h"
#include "kv/cmds.h"
#include "kv/inventory.h"
#include "kv/kvjson.h"
#include "kv/mergebundle.h"
#include "kv/vault.h"
#include "lib/err.h"

#define MAX_TAGS    16
#define CA_FILE_MAX (1024 * 1024)

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: airlock-kv renew --within DAYS [--trust CA.pem] "
		"[--name GLOB] [--tag KEY=VALUE]...\n"
		"                        [--dry-run]\n\n"
		"For each certificate issued by this CA (its issuer is one "
		"of the CA certificates\nin --trust, default the ones recorded "
		"in the state directory by `merge`) whose\nnewest enabled "
		"version expires within DAYS: create a new version with the\n"
		"policy Key Vault holds (issuer Unknown). Names that already "
		"have a renewal\npending are skipped. --dry-run only lists "
		"what would be renewed.\n\n" CLI_COMMON_HELP);
}

enum { OPT_WITHIN = 1, OPT_TRUST, OPT_NAME, OPT_TAG, OPT_DRY };

static int
issued_by_us(const struct kv_cert *c, STACK_OF(X509) * cas)
{
	const unsigned char *p = c->cer;
	X509 *x;
	int i, ok = 0;

	if (c->cer == NULL ||
	    (x = d2i_X509(NULL, &p, (long)c->cer_len)) == NULL)
		return 0;
	for (i = 0; i < sk_X509_num(cas) && !ok; i++) {
		X509 *ca = sk_X509_value(cas, i);
		/* names and AKI/SKI (X509_check_issued), then the signature */
		if (X509_check_issued(ca, x) == X509_V_OK &&
		    X509_verify(x, X509_get0_pubkey(ca)) == 1)
			ok = 1;
	}
	X509_free(x);
	return ok;
}

/* The create body for a renewal: the stored policy's sections. */
static int
renew_body(const cJSON *pol, cJSON **out)
{
	static const char *const keep[] = {"key_props",	       "secret_props",
					   "x509_props",       "issuer",
					   "lifetime_actions", NULL};
	const cJSON *iss, *it;
	cJSON *body, *p;
	size_t i;

	*out = NULL;
	iss = cJSON_GetObjectItemCaseSensitive(pol, "issuer");
	it = iss ? cJSON_GetObjectItemCaseSensitive(iss, "name") : NULL;
	if (!cJSON_IsString(it) || strcmp(it->valuestring, "Unknown") != 0) {
		err_detail_set("the stored policy's issuer is not Unknown");
		return AIRLOCK_E_POLICY;
	}
	if ((body = cJSON_CreateObject()) == NULL ||
	    (p = cJSON_AddObjectToObject(body, "policy")) == NULL) {
		cJSON_Delete(body);
		return AIRLOCK_E_NOMEM;
	}
	for (i = 0; keep[i] != NULL; i++)
		if ((it = cJSON_GetObjectItemCaseSensitive(pol, keep[i])) !=
		    NULL)
			cJSON_AddItemToObject(p, keep[i],
					      cJSON_Duplicate(it, 1));
	*out = body;
	return 0;
}

int
cmd_renew(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"within", required_argument, NULL, OPT_WITHIN},
	    {"trust", required_argument, NULL, OPT_TRUST},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"tag", required_argument, NULL, OPT_TAG},
	    {"dry-run", no_argument, NULL, OPT_DRY},
	    CLI_COMMON_LONGOPTS,
	    {NULL, 0, NULL, 0},
	};
	const char *tags[MAX_TAGS], *glob = NULL, *trust = NULL;
	char statedir[4096], path[4200], exp[32];
	struct kv_conn conn = {0};
	struct inventory *inv = NULL;
	STACK_OF(X509) *cas = NULL;
	unsigned char *buf = NULL;
	long long now = (long long)time(NULL);
	long within = -1;
	size_t n_tags = 0, i, len, started = 0, failed = 0;
	int opt, st, r, dry = 0;
	cJSON *j = NULL, *arr = NULL, *o;
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
		case OPT_WITHIN:
			errno = 0;
			within = strtol(optarg, &end, 10);
			if (errno || end == optarg ||
			    (*end != '\0' && strcmp(end, "d") != 0) ||
			    within < 0 || within > 36500)
				return cli_usage("renew",
						 "--within: 0..36500 days");
			break;
		case OPT_TRUST:
			trust = optarg;
			break;
		case OPT_NAME:
			glob = optarg;
			break;
		case OPT_TAG:
			if (n_tags >= MAX_TAGS || strchr(optarg, '=') == NULL)
				return cli_usage("renew", "--tag KEY=VALUE");
			tags[n_tags++] = optarg;
			break;
		case OPT_DRY:
			dry = 1;
			break;
		default:
			if ((st = cli_common_opt("renew", opt, optarg)) == 0)
				break;
			if (st == 1)
				usage(stderr);
			return AIRLOCK_EXIT_USAGE;
		}
	}
	if (optind != argc || within < 0)
		return cli_usage("renew", "want --within DAYS");
	if (trust == NULL) {
		if ((r = cli_state_dir(statedir, sizeof(statedir))) != 0)
			return cli_fail("renew", r);
		snprintf(path, sizeof(path), "%s/ca-certs.pem", statedir);
		trust = path;
	}
	if ((r = cli_file_read(trust, CA_FILE_MAX, &buf, &len)) != 0 ||
	    (r = mergebundle_pem_certs(buf, len, &cas)) != 0) {
		st = cli_fail("renew: the CA certificates (--trust, or merge "
			      "a bundle first)",
			      r);
		goto done;
	}
	if ((st = cli_connect("renew", &conn)) != 0)
		goto done;
	if ((r = inventory_collect(conn.vault, glob, tags, n_tags,
				   INV_PENDING | INV_VERSIONS, &inv)) != 0) {
		st = cli_fail("renew", r);
		goto done;
	}
	if (kv_g.json) {
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "vault", vault_url(conn.vault));
		arr = cJSON_AddArrayToObject(j, "certificates");
	}
	for (i = 0; i < inv->n; i++) {
		struct inv_entry *e = &inv->e[i];
		struct kv_cert *c = NULL;
		cJSON *cj = NULL, *pol = NULL, *body = NULL, *op = NULL;
		const char *outcome = NULL;

		if (e->issued == NULL || e->issued->exp == 0 ||
		    e->issued->exp > now + within * 86400LL)
			continue;
		r = vault_cert_get(conn.vault, e->name, e->issued->version,
				   &cj);
		if (r == 0)
			r = kvjson_cert_parse(cj, &c);
		if (r != 0) {
			outcome = "failed";
		} else if (!issued_by_us(c, cas)) {
			outcome = NULL; /* not ours: not mentioned */
		} else if (e->op != NULL &&
			   strcmp(e->op->status, "inProgress") == 0) {
			outcome = "pending";
		} else if (dry) {
			outcome = "would-renew";
		} else if ((r = vault_policy_get(conn.vault, e->name, &pol)) !=
			       0 ||
			   (r = renew_body(pol, &body)) != 0) {
			outcome = "failed";
		} else {
			r = vault_cert_create(conn.vault, e->name, body, &op);
			if (r == AIRLOCK_E_EXISTS) {
				outcome = "pending";
				r = 0;
			} else if (r != 0 &&
				   vault_last_outcome_unknown(conn.vault)) {
				/* unknown: the next run sees it pending */
				outcome = "unknown";
			} else {
				outcome = r == 0 ? "started" : "failed";
			}
		}
		if (outcome != NULL) {
			kvjson_time_rfc3339(e->issued->exp, exp);
			if (strcmp(outcome, "started") == 0)
				started++;
			if (strcmp(outcome, "failed") == 0 ||
			    strcmp(outcome, "unknown") == 0) {
				failed++;
				cli_notice("renew %s: %s", e->name,
					   err_detail_get());
			}
			if (arr != NULL) {
				o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "name", e->name);
				cJSON_AddStringToObject(o, "expires", exp);
				cJSON_AddStringToObject(o, "outcome", outcome);
				cJSON_AddItemToArray(arr, o);
			} else {
				printf("%-32s expires %s  %s\n", e->name, exp,
				       outcome);
			}
		}
		kvjson_cert_free(c);
		cJSON_Delete(cj);
		cJSON_Delete(pol);
		cJSON_Delete(body);
		cJSON_Delete(op);
	}
	if (j != NULL) {
		cli_json_print(j);
		j = NULL;
	} else if (kv_g.verbose >= 0) {
		printf("%zu renewal%s started%s\n", started,
		       started == 1 ? "" : "s",
		       started ? "; next: airlock-kv export --out DIR" : "");
	}
	st = failed ? AIRLOCK_EXIT_REMOTE : 0;
done:
	cJSON_Delete(j);
	inventory_free(inv);
	sk_X509_pop_free(cas, X509_free);
	free(buf);
	cli_disconnect(&conn);
	return st;
}
