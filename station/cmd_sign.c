/* airlock-station import | review | sign | export | process: the everyday
 * signing session (one verb each; they share station/session.c). */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "station/cli.h"
#include "station/cmds.h"
#include "station/home.h"
#include "station/issue.h"
#include "station/request.h"
#include "lib/term.h"
#include "station/words.h"

static const char session_usage[] =
    "usage: airlock-station import DIR\n"
    "       airlock-station review [--json]\n"
    "       airlock-station sign [--yes] [--sessions N] [--pin-source SRC]\n"
    "       airlock-station export DIR [--pin-source SRC]\n"
    "       airlock-station process DIR [--out PARENT] [--yes] [--sessions N]\n"
    "                               [--pin-source SRC]\n"
    "\n"
    "  import   verify the request bundle DIR (read only) and copy it into\n"
    "           the station's spool\n"
    "  review   every spooled request: its source, names, key, profile, the\n"
    "           decision and the rule behind it, the CSR digest as words\n"
    "  sign     sign what policy allows on the intermediate's token, with\n"
    "           the ledger written ahead (INTENT, then ISSUED); asks first\n"
    "           unless --yes; --sessions N signs on N token sessions at\n"
    "           once (1 by default; HSMs and SoftHSM2 sign in parallel,\n"
    "           smartcards do not)\n"
    "  export   write one merge bundle per spooled request bundle into DIR,\n"
    "           signed with the station key, read back after writing\n"
    "  process  import, review, confirm, sign and export in one go; the\n"
    "           merge bundle goes beside the request bundle (or --out)\n"
    "\n"
    "The token and key come from HOME/ca/intermediate.json and station.json\n"
    "(recorded at the ceremony); only the PIN is asked for.\n";

static void
session_names(const struct request *rq, char *out, size_t len)
{
	char ip[64], safe[512];
	size_t i, n, o = 0, iplen;
	const unsigned char *a;

	out[0] = '\0';
	if (rq->csr == NULL)
		return;
	n = csr_dns_count(rq->csr);
	for (i = 0; i < n && o + 2 < len; i++) {
		term_sanitize(csr_dns(rq->csr, i), safe, sizeof(safe));
		o += (size_t)snprintf(out + o, len - o, "%s%s", o ? "," : "",
				      safe);
	}
	for (i = 0; i < csr_ip_count(rq->csr) && o + 2 < len; i++) {
		a = csr_ip(rq->csr, i, &iplen);
		inet_ntop(iplen == 4 ? AF_INET : AF_INET6, a, ip, sizeof(ip));
		o += (size_t)snprintf(out + o, len - o, "%s%s", o ? "," : "",
				      ip);
	}
	if (n == 0 && csr_ip_count(rq->csr) == 0 && csr_cn(rq->csr) != NULL) {
		term_sanitize(csr_cn(rq->csr), safe, sizeof(safe));
		snprintf(out, len, "%s", safe);
	}
}

static int
session_review(struct issuer *is, struct request_set *rs, int json, size_t *nok)
{
	cJSON *arr = json ? cJSON_CreateArray() : NULL, *o;
	char names[1024], words[128], src[600], why[1200];
	size_t i, n = request_set_count(rs);
	int r;

	*nok = 0;
	for (i = 0; i < n; i++) {
		struct request *rq = request_set_get(rs, i);
		if ((r = issuer_preview(is, rq)) != 0) {
			cJSON_Delete(arr);
			return r;
		}
		*nok += rq->ok != 0;
		session_names(rq, names, sizeof(names));
		words[0] = '\0';
		if (rq->csr != NULL)
			words_from_digest(csr_sha256(rq->csr), 4, words,
					  sizeof(words));
		term_sanitize(rq->source, src, sizeof(src));
		term_sanitize(rq->why, why, sizeof(why));
		if (json) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "entry", rq->entry_id);
			cJSON_AddStringToObject(o, "request_id",
						rq->request_id);
			cJSON_AddStringToObject(o, "source", rq->source);
			cJSON_AddStringToObject(o, "names", names);
			cJSON_AddStringToObject(
			    o, "key", rq->csr ? csr_key_type(rq->csr) : "");
			cJSON_AddStringToObject(
			    o, "profile",
			    rq->profile ? profile_name(rq->profile) : "");
			cJSON_AddStringToObject(o, "decision",
						rq->ok ? "sign" : "reject");
			if (!rq->ok) {
				cJSON_AddStringToObject(o, "rule", rq->rule);
				cJSON_AddStringToObject(o, "value", rq->why);
			} else {
				cJSON_AddNumberToObject(o, "days",
							(double)rq->days);
			}
			cJSON_AddStringToObject(o, "csr_words", words);
			cJSON_AddItemToArray(arr, o);
			continue;
		}
		printf("%-6s %-14s %-10s %-8s %s\n", rq->ok ? "SIGN" : "REJECT",
		       rq->profile ? profile_name(rq->profile) : "-",
		       rq->csr ? csr_key_type(rq->csr) : "-", rq->entry_id,
		       src);
		printf("       names: %s\n", names[0] ? names : "-");
		if (words[0] != '\0')
			printf("       CSR:   %s\n", words);
		if (rq->ok)
			printf("       valid: %ld days\n", rq->days);
		else
			printf("       rule:  %s: %s\n", rq->rule, why);
	}
	if (json) {
		o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "requests", arr);
		cJSON_AddNumberToObject(o, "sign", (double)*nok);
		cJSON_AddNumberToObject(o, "reject", (double)(n - *nok));
		cli_json_print(o);
	} else {
		printf("\n%zu requests: %zu to sign, %zu rejected\n", n, *nok,
		       n - *nok);
	}
	return 0;
}

static void
session_progress(void *arg, size_t done, size_t total)
{
	int *last = arg;
	int pct = total ? (int)(done * 100 / total) : 100;

	if (!isatty(STDERR_FILENO) || pct == *last)
		return;
	*last = pct;
	fprintf(stderr, "\rsigning [%-40.*s] %3d%% %zu/%zu", pct * 40 / 100,
		"########################################", pct, done, total);
	if (done == total)
		fputc('\n', stderr);
}

static int
session_confirm(size_t n, int yes)
{
	char q[128];

	if (yes || n == 0)
		return 0;
	snprintf(q, sizeof(q), "Sign %zu certificate%s on the token?", n,
		 n == 1 ? "" : "s");
	if (!cli_confirm(q)) {
		err_detail_set("not confirmed (use --yes in scripts)");
		return AIRLOCK_E_CANCELLED;
	}
	return 0;
}

struct session_args {
	const char *pin_source, *out, *dir;
	int yes, json, sessions;
};

static int
session_parse(const char *what, int argc, char **argv, struct session_args *a)
{
	static const struct option opts[] = {
	    {"pin-source", required_argument, NULL, 'p'},
	    {"out", required_argument, NULL, 'o'},
	    {"yes", no_argument, NULL, 'y'},
	    {"json", no_argument, NULL, 'j'},
	    {"sessions", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	memset(a, 0, sizeof(*a));
	a->sessions = 1;
	a->yes = station_g.yes;
	a->json = station_g.json;
	optind = 0;
	while ((c = getopt_long(argc, argv, "ho:y", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			a->pin_source = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 'y':
			a->yes = 1;
			break;
		case 'j':
			a->json = 1;
			break;
		case 's':
			a->sessions = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || a->sessions < 1 ||
			    a->sessions > ISSUE_MAX_SESSIONS)
				return cli_usage(what, "--sessions: 1..%d",
						 ISSUE_MAX_SESSIONS);
			break;
		case 'h':
			fputs(session_usage, stdout);
			return 0;
		default:
			return cli_usage(what, "bad option");
		}
	}
	if (optind < argc)
		a->dir = argv[optind++];
	if (optind < argc)
		return cli_usage(what, "unexpected argument '%s'",
				 argv[optind]);
	return -1;
}

static int
session_import(struct home *h, const char *dir, int quiet)
{
	char *id = NULL;
	size_t n = 0;
	int r;

	r = request_import(h, dir, &id, &n);
	if (r == AIRLOCK_E_EXISTS && quiet) {
		err_detail_clear();
		return 0;
	}
	if (r != 0 && r != AIRLOCK_E_EXISTS && r != AIRLOCK_E_NOMEM) {
		int r2 = request_import_rejected(h, dir, r);
		if (r2 != 0)
			return r2;
	}
	if (r == 0 && station_g.verbose >= 0)
		fprintf(stderr,
			"airlock-station: imported request bundle %s (%zu "
			"requests) from %s\n",
			id, n, dir);
	free(id);
	return r;
}

int
cmd_import(int argc, char **argv)
{
	struct session_args a;
	struct home *h = NULL;
	int r, st;

	if ((st = session_parse("import", argc, argv, &a)) >= 0)
		return st;
	if (a.dir == NULL)
		return cli_usage("import", "the request bundle directory is "
					   "needed");
	if ((r = home_open(station_g.home, &h)) != 0 ||
	    (r = session_import(h, a.dir, 0)) != 0)
		st = cli_fail("import", r);
	else
		st = 0;
	home_close(h);
	return st;
}

/* Open the home, the issuer (with or without the token) and the spool. */
static int
session_open(const char *what, int with_token, const struct session_args *a,
	     struct home **h, struct issuer **is, struct request_set **rs)
{
	int r;

	*h = NULL;
	*is = NULL;
	*rs = NULL;
	if ((r = home_open(station_g.home, h)) != 0 ||
	    (r = issuer_open(*h, with_token, a->pin_source, &cli_login_ui,
			     is)) != 0 ||
	    (r = request_set_load(*h, rs)) != 0)
		return cli_fail(what, r);
	return 0;
}

static void
session_close(struct home *h, struct issuer *is, struct request_set *rs)
{
	request_set_free(rs);
	issuer_close(is);
	home_close(h);
}

int
cmd_review(int argc, char **argv)
{
	struct session_args a;
	struct home *h = NULL;
	struct issuer *is = NULL;
	struct request_set *rs = NULL;
	size_t nok;
	int r, st;

	if ((st = session_parse("review", argc, argv, &a)) >= 0)
		return st;
	if (a.dir != NULL)
		return cli_usage("review", "review takes no directory (import "
					   "first)");
	if ((st = session_open("review", 0, &a, &h, &is, &rs)) == 0 &&
	    (r = session_review(is, rs, a.json, &nok)) != 0)
		st = cli_fail("review", r);
	session_close(h, is, rs);
	return st;
}

static int
session_sign_export(const char *what, const struct session_args *a,
		    const char *export_dir, int review)
{
	struct home *h = NULL;
	struct issuer *is = NULL;
	struct request_set *rs = NULL;
	struct issue_stats stats = {0, 0, 0, 0};
	size_t nok = 0, nb = 0, ne = 0, i;
	char note[600];
	int last = -1, r = 0, st;

	/* signing and exporting both use keys on the token: offline only */
	if ((st = cli_airgap(what, note, sizeof(note))) != 0)
		return st;
	if ((st = session_open(what, 1, a, &h, &is, &rs)) != 0)
		goto out;
	issuer_set_network_note(is, note);
	issuer_set_sessions(is, a->sessions);
	if (review) {
		if ((r = session_review(is, rs, 0, &nok)) != 0)
			goto fail;
	} else {
		/* the pipeline lints every certificate itself: no preview
		 * here, which would build and lint each one twice */
		for (i = 0; i < request_set_count(rs); i++)
			nok += request_set_get(rs, i)->ok != 0;
	}
	if (export_dir == NULL || review) {
		if ((r = session_confirm(nok, a->yes)) != 0)
			goto fail;
		if ((r = issuer_sign(is, rs, session_progress, &last,
				     &stats)) != 0)
			goto fail;
		if (station_g.verbose >= 0)
			fprintf(stderr,
				"airlock-station: %zu signed, %zu signed "
				"before, %zu rejected (recorded in the "
				"ledger)\n",
				stats.issued, stats.already, stats.rejected);
	}
	if (export_dir != NULL) {
		if ((r = issuer_export(is, rs, export_dir, &nb, &ne)) != 0)
			goto fail;
		if (station_g.verbose >= 0)
			fprintf(stderr,
				"airlock-station: wrote %zu merge bundle%s "
				"(%zu certificates) into %s\n",
				nb, nb == 1 ? "" : "s", ne, export_dir);
	}
	/* the work is done; exit 3 tells a script that some requests were
	 * rejected (each is in the ledger and on the review screen) */
	st = stats.rejected > 0 ? err_exit_status(AIRLOCK_E_POLICY) : 0;
	goto out;
fail:
	st = cli_fail(what, r);
out:
	session_close(h, is, rs);
	return st;
}

int
cmd_sign(int argc, char **argv)
{
	struct session_args a;
	int st;

	if ((st = session_parse("sign", argc, argv, &a)) >= 0)
		return st;
	if (a.dir != NULL)
		return cli_usage("sign", "sign takes no directory");
	return session_sign_export("sign", &a, NULL, 0);
}

int
cmd_export(int argc, char **argv)
{
	struct session_args a;
	int st;

	if ((st = session_parse("export", argc, argv, &a)) >= 0)
		return st;
	if (a.dir == NULL)
		return cli_usage("export", "the directory to write into is "
					   "needed");
	return session_sign_export("export", &a, a.dir, 0);
}

int
cmd_process(int argc, char **argv)
{
	struct session_args a;
	struct home *h = NULL;
	char parent[4096];
	int r, st;

	if ((st = session_parse("process", argc, argv, &a)) >= 0)
		return st;
	if (a.dir == NULL)
		return cli_usage("process", "the request bundle directory is "
					    "needed");
	if ((r = home_open(station_g.home, &h)) != 0 ||
	    (r = session_import(h, a.dir, 1)) != 0) {
		home_close(h);
		return cli_fail("process", r);
	}
	home_close(h);
	if (a.out == NULL) {
		snprintf(parent, sizeof(parent), "%s", a.dir);
		a.out = dirname(parent);
	}
	return session_sign_export("process", &a, a.out, 1);
}
