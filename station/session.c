#include "station/session.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/term.h"
#include "station/cli.h"
#include "station/words.h"

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

int
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

void
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

int
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
