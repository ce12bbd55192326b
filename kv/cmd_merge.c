/* airlock-kv merge DIR --trust ROOT.pem: verify a merge bundle from the
 * station and merge each signed chain into Key Vault, idempotently. */
#include <cjson/cJSON.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/cli.h"
#include "kv/cmds.h"
#include "kv/journal.h"
#include "kv/merge.h"
#include "kv/mergebundle.h"
#include "kv/vault.h"
#include "lib/bundle.h"
#include "lib/err.h"
#include "lib/safefile.h"

#include <unistd.h>

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: airlock-kv merge DIR --trust ROOT.pem [--state DIR]\n\n"
		"Verify the merge bundle DIR (its signature must chain to the "
		"pinned root\nROOT.pem through the station key; it must not be "
		"older than the last bundle\nseen), then for each entry of "
		"this vault: merge the chain if the pending\noperation is "
		"still the same request with the same key; report \"already\n"
		"merged\" if the same certificate is already there; "
		"otherwise report and skip.\nA journal in the state directory "
		"makes a second run, or a run after a crash,\nsafe: nothing "
		"is merged twice. Each merged certificate is read back and\n"
		"compared. The vault defaults to the bundle's vault_url.\n\n"
		"Before anything is merged, the station ledger records the "
		"bundle carries\nmust extend this host's replica of the "
		"station's ledger (see airlock-kv\nwitness --help): a bundle "
		"from a rolled-back or edited station ledger is\nrefused "
		"(exit 3) and nothing is merged.\n\nExit status: 0 all merged "
		"(or already); 3 "
		"a bundle or entry rejected or skipped;\n6 Key Vault errors; "
		"see airlock-kv(1).\n\n" CLI_COMMON_HELP);
}

enum { OPT_TRUST = 1 };

/* The bundle's CA certificates, for `renew` to recognise this CA's
 * certificates (state/ca-certs.pem, replaced). */
static int
ca_certs_save(const char *statedir, const struct bundle *b)
{
	const unsigned char *data;
	const char *fname;
	unsigned char *all = NULL, *na;
	size_t i, len, n = 0;
	int dirfd = -1, r = 0;

	for (i = 0; i < bundle_file_count(b, BUNDLE_ROLE_CA_CERT); i++) {
		if ((r = bundle_file_data(b, BUNDLE_ROLE_CA_CERT, i, &data,
					  &len, &fname)) != 0)
			goto out;
		if ((na = realloc(all, n + len + 1)) == NULL) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
		all = na;
		memcpy(all + n, data, len);
		n += len;
		if (len > 0 && data[len - 1] != '\n')
			all[n++] = '\n';
	}
	if (n == 0)
		goto out;
	if ((r = safefile_dir_open(statedir, &dirfd)) != 0)
		goto out;
	r = safefile_write_atomic(dirfd, "ca-certs.pem", all, n, 0644,
				  SAFEFILE_REPLACE);
out:
	if (dirfd >= 0)
		close(dirfd);
	free(all);
	return r;
}

int
cmd_merge(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"trust", required_argument, NULL, OPT_TRUST},
	    CLI_COMMON_LONGOPTS,
	    {NULL, 0, NULL, 0},
	};
	const char *dir, *trust = NULL, *vurl;
	char statedir[4096], b1[256], b2[256];
	struct kv_conn conn = {0};
	struct bundle *b = NULL;
	struct journal *jr = NULL;
	struct journal_last last;
	struct merge_result *res = NULL;
	STACK_OF(X509) *chain = NULL;
	size_t i, n, counts[5] = {0}, other = 0;
	int opt, st, r, first_fail = 0;
	cJSON *j, *arr, *o;

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
			if ((st = cli_common_opt("merge", opt, optarg)) == 0)
				break;
			if (st == 1)
				usage(stderr);
			return AIRLOCK_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || trust == NULL)
		return cli_usage("merge", "want DIR and --trust ROOT.pem");
	dir = argv[optind];
	/* verify before anything in the bundle is used */
	if ((r = mergebundle_open(dir, trust, &b)) != 0)
		return cli_fail("merge: verifying the bundle", r);
	n = bundle_entry_count(b);
	if (kv_g.vault == NULL && kv_g.endpoint == NULL) {
		for (i = 0; i < n && kv_g.vault == NULL; i++)
			kv_g.vault =
			    mergebundle_entry_source(b, i, "vault_url");
	}
	if ((r = cli_state_dir(statedir, sizeof(statedir))) != 0) {
		st = cli_fail("merge", r);
		goto done;
	}
	if ((st = cli_connect("merge", &conn)) != 0)
		goto done;
	vurl = vault_url(conn.vault);
	/* SECURITY.md 3: not older than the last bundle seen (the same one
	 * again is fine: a re-run) */
	if (journal_last_get(statedir, vurl, &last) == 0 &&
	    strcmp(last.bundle_id, bundle_id(b)) != 0 &&
	    strcmp(bundle_created(b), last.created) < 0) {
		err_detail_set("bundle %s (created %s) is older than bundle "
			       "%s (created %s), already seen: a replayed "
			       "bundle?",
			       bundle_id(b),
			       cli_safe(bundle_created(b), b1, 64),
			       last.bundle_id, cli_safe(last.created, b2, 64));
		st = cli_fail("merge", AIRLOCK_E_POLICY);
		goto done;
	}
	err_detail_clear();
	/* the ledger the bundle carries must extend the replica of the
	 * station's ledger (kv/replica.h) before anything is merged */
	if ((st = witness_bundle("merge", b, NULL, 0)) != 0)
		goto done;
	if ((r = journal_open(statedir, &jr)) != 0) {
		st = cli_fail("merge: journal", r);
		goto done;
	}
	if ((res = calloc(n ? n : 1, sizeof(*res))) == NULL) {
		st = cli_fail("merge", AIRLOCK_E_NOMEM);
		goto done;
	}
	for (i = 0; i < n; i++) {
		const char *type = mergebundle_entry_source(b, i, "type");
		const char *ev = mergebundle_entry_source(b, i, "vault_url");
		const char *name =
		    mergebundle_entry_source(b, i, "certificate_name");
		const char *rid = mergebundle_entry_source(b, i, "request_id");

		cli_progress("merge", i, n);
		if (type == NULL || strcmp(type, "keyvault") != 0 ||
		    ev == NULL || strcmp(ev, vurl) != 0 || name == NULL ||
		    rid == NULL) {
			res[i].outcome = MERGE_SKIPPED;
			res[i].code = 0;
			snprintf(res[i].detail, sizeof(res[i].detail),
				 "not for this vault (plain CSR or another "
				 "vault)");
			other++;
			continue;
		}
		if ((r = mergebundle_entry_chain(b, i, &chain)) != 0) {
			res[i].outcome = MERGE_REJECTED;
			res[i].code = r;
			snprintf(res[i].detail, sizeof(res[i].detail), "%s",
				 err_detail_get());
			counts[MERGE_REJECTED]++;
			continue;
		}
		r = merge_one(conn.vault, jr, bundle_id(b), name, rid, chain,
			      &res[i]);
		sk_X509_pop_free(chain, X509_free);
		chain = NULL;
		if (r != 0) {
			st = cli_fail("merge: journal", r);
			goto done;
		}
		counts[res[i].outcome]++;
		if ((res[i].outcome == MERGE_FAILED ||
		     res[i].outcome == MERGE_REJECTED) &&
		    first_fail == 0)
			first_fail = res[i].code;
		if (res[i].outcome == MERGE_SKIPPED && first_fail == 0)
			first_fail = AIRLOCK_E_POLICY;
	}
	cli_progress("merge", n, n);
	if ((r = ca_certs_save(statedir, b)) != 0 ||
	    (r = journal_last_set(statedir, vurl, bundle_id(b),
				  bundle_created(b))) != 0) {
		st = cli_fail("merge: state", r);
		goto done;
	}
	if (kv_g.json) {
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "bundle_id", bundle_id(b));
		cJSON_AddStringToObject(j, "vault", vurl);
		arr = cJSON_AddArrayToObject(j, "entries");
		for (i = 0; i < n; i++) {
			const char *name =
			    mergebundle_entry_source(b, i, "certificate_name");
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "id", bundle_entry_id(b, i));
			if (name)
				cJSON_AddStringToObject(o, "certificate_name",
							name);
			cJSON_AddStringToObject(
			    o, "outcome", merge_outcome_name(res[i].outcome));
			cJSON_AddStringToObject(o, "detail", res[i].detail);
			if (res[i].x5t[0])
				cJSON_AddStringToObject(o, "x5t", res[i].x5t);
			if (res[i].version[0])
				cJSON_AddStringToObject(o, "version",
							res[i].version);
			cJSON_AddItemToArray(arr, o);
		}
		o = cJSON_AddObjectToObject(j, "summary");
		cJSON_AddNumberToObject(o, "merged", (double)counts[0]);
		cJSON_AddNumberToObject(o, "already_merged", (double)counts[1]);
		cJSON_AddNumberToObject(o, "skipped", (double)(counts[2] - 0));
		cJSON_AddNumberToObject(o, "rejected", (double)counts[3]);
		cJSON_AddNumberToObject(o, "failed", (double)counts[4]);
		cJSON_AddNumberToObject(o, "other", (double)other);
		cli_json_print(j);
	} else {
		printf("bundle %s -> %s\n", bundle_id(b), vurl);
		printf("%-32s %-15s %s\n", "CERTIFICATE", "OUTCOME", "DETAIL");
		for (i = 0; i < n; i++) {
			const char *name =
			    mergebundle_entry_source(b, i, "certificate_name");
			printf("%-32s %-15s %s\n",
			       cli_safe(name ? name : bundle_entry_id(b, i), b1,
					sizeof(b1)),
			       merge_outcome_name(res[i].outcome),
			       cli_safe(res[i].detail, b2, sizeof(b2)));
		}
		printf("%zu merged, %zu already merged, %zu skipped, %zu "
		       "rejected, %zu failed\n",
		       counts[0], counts[1], counts[2], counts[3], counts[4]);
	}
	st = first_fail == 0 ? 0 : err_exit_status(first_fail);
	if (st == AIRLOCK_EXIT_FAIL || st == AIRLOCK_EXIT_USAGE)
		st = first_fail == AIRLOCK_E_NOT_FOUND ? AIRLOCK_EXIT_REJECTED
						       : st;
done:
	sk_X509_pop_free(chain, X509_free);
	free(res);
	journal_free(jr);
	bundle_free(b);
	cli_disconnect(&conn);
	return st;
}
