#include "station/request.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/safefile.h"

#define OID_SERVER_AUTH "1.3.6.1.5.5.7.3.1"
#define OID_CLIENT_AUTH "1.3.6.1.5.5.7.3.2"

struct request_set {
	struct bundle **bundles;
	size_t nbundles;
	struct request *req;
	size_t n;
};

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int
request_import(struct home *h, const char *dir, char **id_out,
	       size_t *entries_out)
{
	struct bundle *b = NULL;
	char spool[4096], tmp[SAFEFILE_TEMPNAME_SIZE] = "", tmppath[4200];
	const unsigned char *data;
	const cJSON *meta;
	size_t len, i, cleaned = 0;
	int sfd = -1, tfd = -1, r = AIRLOCK_E_INTERNAL;

	*id_out = NULL;
	if ((r = bundle_read(dir, &b)) != 0)
		return r;
	if (strcmp(bundle_kind(b), BUNDLE_KIND_REQUEST) != 0) {
		err_detail_set("%s is a %s bundle, not a request bundle", dir,
			       bundle_kind(b));
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	snprintf(spool, sizeof(spool), "%s/spool", home_dir(h));
	if (home_exists(h, "spool", bundle_id(b))) {
		err_detail_set("request bundle %s is already in the spool",
			       bundle_id(b));
		r = AIRLOCK_E_EXISTS;
		goto out;
	}
	{
		char done[64];
		snprintf(done, sizeof(done), ".done-%s", bundle_id(b));
		if (home_exists(h, "spool", done)) {
			err_detail_set("request bundle %s was answered "
				       "already (its merge bundle is "
				       "merge-%s); nothing to do",
				       bundle_id(b), bundle_id(b));
			r = AIRLOCK_E_EXISTS;
			goto out;
		}
	}
	if ((r = safefile_dir_open(spool, &sfd)) != 0 ||
	    (r = safefile_clean_temps(sfd, &cleaned)) != 0 ||
	    (r = safefile_tempname_make(bundle_id(b), tmp, sizeof(tmp))) != 0)
		goto out;
	if (mkdirat(sfd, tmp, 0700) != 0) {
		err_detail_set("mkdir %s/%s: %s", spool, tmp, strerror(errno));
		r = AIRLOCK_E_IO;
		goto out;
	}
	snprintf(tmppath, sizeof(tmppath), "%s/%s", spool, tmp);
	if ((r = safefile_dir_open(tmppath, &tfd)) != 0)
		goto out;
	data = bundle_manifest_bytes(b, &len);
	if ((r = safefile_write_new(tfd, BUNDLE_MANIFEST, data, len, 0600)) !=
	    0)
		goto out;
	for (i = 0; i < bundle_entry_count(b); i++) {
		meta = bundle_entry_meta(b, i);
		if ((r = bundle_entry_data(b, i, &data, &len)) != 0 ||
		    (r = safefile_write_new(tfd, jstr(meta, "file"), data, len,
					    0600)) != 0)
			goto out;
	}
	if ((r = safefile_fsync_dir(tfd)) != 0 ||
	    (r = safefile_rename(sfd, tmp, bundle_id(b), 0)) != 0 ||
	    (r = safefile_fsync_dir(sfd)) != 0)
		goto out;
	tmp[0] = '\0';
	if ((*id_out = strdup(bundle_id(b))) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	*entries_out = bundle_entry_count(b);
	r = 0;
out:
	if (r != 0 && tmp[0] != '\0' && tfd >= 0) {
		/* leave nothing half-written in the spool */
		for (i = 0; b != NULL && i < bundle_entry_count(b); i++)
			(void)unlinkat(
			    tfd, jstr(bundle_entry_meta(b, i), "file"), 0);
		(void)unlinkat(tfd, BUNDLE_MANIFEST, 0);
		(void)unlinkat(sfd, tmp, AT_REMOVEDIR);
	}
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	bundle_free(b);
	return r;
}

static void
req_reject(struct request *rq, const char *rule, const char *why)
{
	rq->ok = 0;
	snprintf(rq->rule, sizeof(rq->rule), "%s", rule);
	snprintf(rq->why, sizeof(rq->why), "%s", why);
}

/* Reject with the rule and text of the current error detail. */
static void
req_reject_detail(struct request *rq, const char *fallback_rule)
{
	char rule[64];
	const char *text = csr_rule_split(err_detail_get(), rule, sizeof(rule));

	if (strcmp(rule, "other") == 0 || strchr(rule, ' ') != NULL)
		req_reject(rq, fallback_rule, err_detail_get());
	else
		req_reject(rq, rule, text);
	err_detail_clear();
}

static int
has_string(const cJSON *arr, const char *s)
{
	const cJSON *v;

	cJSON_ArrayForEach (v, arr)
		if (cJSON_IsString(v) && strcmp(v->valuestring, s) == 0)
			return 1;
	return 0;
}

/* The profile a request asks for: named in the entry, or derived from the
 * Key Vault policy's EKUs. */
static const struct profile *
req_profile(const struct policy *pol, const cJSON *meta, const cJSON *kvpol,
	    struct request *rq)
{
	const char *name = jstr(meta, "profile");
	const cJSON *ekus;
	const struct profile *pr;
	int server, client;

	if (name == NULL && kvpol != NULL) {
		ekus = cJSON_GetObjectItemCaseSensitive(kvpol, "ekus");
		server = has_string(ekus, OID_SERVER_AUTH);
		client = has_string(ekus, OID_CLIENT_AUTH);
		name = server && client ? "mtls"
		       : server		? "tls-server"
		       : client		? "tls-client"
					: NULL;
		if (name == NULL) {
			req_reject(rq, "policy.profile",
				   "the Key Vault policy asks for neither "
				   "serverAuth nor clientAuth; name a profile");
			return NULL;
		}
	}
	if (name == NULL) {
		req_reject(rq, "policy.profile",
			   "the request names no profile (airlock-kv pack "
			   "--profile NAME)");
		return NULL;
	}
	if ((pr = policy_find(pol, name)) == NULL ||
	    profile_kind(pr) != PROFILE_LEAF) {
		char why[200];
		snprintf(why, sizeof(why),
			 "profile '%.64s' is not a leaf "
			 "profile of this station",
			 name);
		req_reject(rq, "policy.profile", why);
		return NULL;
	}
	return pr;
}

static int
name_listed(const cJSON *arr, const char *name)
{
	const cJSON *v;

	cJSON_ArrayForEach (v, arr)
		if (cJSON_IsString(v) && strcasecmp(v->valuestring, name) == 0)
			return 1;
	return 0;
}

/* Key Vault asked for exactly these names: the CSR must carry them. */
static void
req_check_snapshot(struct request *rq, const cJSON *kvpol)
{
	const cJSON *dns = cJSON_GetObjectItemCaseSensitive(kvpol, "dns_names");
	const cJSON *v;
	size_t i;
	char why[400];

	for (i = 0; i < csr_dns_count(rq->csr); i++)
		if (!name_listed(dns, csr_dns(rq->csr, i))) {
			snprintf(why, sizeof(why),
				 "DNS name '%.200s' in the CSR is not in the "
				 "Key Vault policy the host read",
				 csr_dns(rq->csr, i));
			req_reject(rq, "policy.snapshot", why);
			return;
		}
	cJSON_ArrayForEach (v, dns) {
		int found = 0;
		for (i = 0; i < csr_dns_count(rq->csr); i++)
			found |= cJSON_IsString(v) &&
				 strcasecmp(v->valuestring,
					    csr_dns(rq->csr, i)) == 0;
		if (!found) {
			snprintf(why, sizeof(why),
				 "the Key Vault policy names '%.200s' but the "
				 "CSR does not",
				 cJSON_IsString(v) ? v->valuestring : "?");
			req_reject(rq, "policy.snapshot", why);
			return;
		}
	}
}

static void
req_decide(const struct policy *pol, struct request *rq, const cJSON *meta,
	   const unsigned char *data, size_t len)
{
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(meta, "source");
	const cJSON *kvpol = NULL, *months;
	const char *type = jstr(src, "type"), *host = NULL, *name;
	char cn_text[INET6_ADDRSTRLEN];
	size_t i, iplen;
	int cn_found;

	rq->ok = 1;
	if (type != NULL && strcmp(type, "keyvault") == 0) {
		const char *url = jstr(src, "vault_url");
		host = url != NULL && strncmp(url, "https://", 8) == 0 ? url + 8
								       : url;
		name = jstr(src, "certificate_name");
		snprintf(rq->request_id, sizeof(rq->request_id), "kv:%s/%s/%s",
			 host != NULL ? host : "?", name != NULL ? name : "?",
			 jstr(src, "request_id") != NULL
			     ? jstr(src, "request_id")
			     : "?");
		snprintf(rq->source, sizeof(rq->source), "%s/%s",
			 host != NULL ? host : "?", name != NULL ? name : "?");
		kvpol = cJSON_GetObjectItemCaseSensitive(src, "policy");
	} else {
		name = jstr(src, "label");
		snprintf(rq->request_id, sizeof(rq->request_id), "csr:%s",
			 name != NULL ? name : "?");
		snprintf(rq->source, sizeof(rq->source), "csr %s",
			 name != NULL ? name : "?");
	}
	if (csr_parse(data, len, &rq->csr) != 0) {
		req_reject_detail(rq, "csr.encoding");
		return;
	}
	if ((rq->profile = req_profile(pol, meta, kvpol, rq)) == NULL)
		return;
	if (profile_check_source(rq->profile, host, name != NULL ? name : "") !=
		0 ||
	    profile_check_key(rq->profile, csr_get0_pubkey(rq->csr)) != 0) {
		req_reject_detail(rq, "policy.source");
		return;
	}
	for (i = 0; i < csr_dns_count(rq->csr); i++)
		if (profile_check_dns(rq->profile, csr_dns(rq->csr, i)) != 0) {
			req_reject_detail(rq, "policy.dns");
			return;
		}
	for (i = 0; i < csr_ip_count(rq->csr); i++) {
		const unsigned char *ip = csr_ip(rq->csr, i, &iplen);
		if (profile_check_ip(rq->profile, ip, iplen) != 0) {
			req_reject_detail(rq, "policy.ip");
			return;
		}
	}
	/* a CN must be one of the names; alone, it is the one DNS name */
	if (csr_cn(rq->csr) != NULL &&
	    (csr_dns_count(rq->csr) > 0 || csr_ip_count(rq->csr) > 0)) {
		cn_found = 0;
		for (i = 0; i < csr_dns_count(rq->csr); i++)
			cn_found |= strcasecmp(csr_cn(rq->csr),
					       csr_dns(rq->csr, i)) == 0;
		for (i = 0; i < csr_ip_count(rq->csr); i++) {
			const unsigned char *ip = csr_ip(rq->csr, i, &iplen);
			inet_ntop(iplen == 4 ? AF_INET : AF_INET6, ip, cn_text,
				  sizeof(cn_text));
			cn_found |= strcmp(csr_cn(rq->csr), cn_text) == 0;
		}
		if (!cn_found) {
			char why[400];
			snprintf(why, sizeof(why),
				 "the subject CN '%.200s' is not one of the "
				 "subject alternative names",
				 csr_cn(rq->csr));
			req_reject(rq, "csr.cn_not_in_san", why);
			return;
		}
	} else if (csr_cn(rq->csr) != NULL &&
		   profile_check_dns(rq->profile, csr_cn(rq->csr)) != 0) {
		req_reject_detail(rq, "policy.dns");
		return;
	}
	if (kvpol != NULL) {
		req_check_snapshot(rq, kvpol);
		if (!rq->ok)
			return;
	}
	rq->days = profile_max_days(rq->profile);
	months =
	    kvpol != NULL
		? cJSON_GetObjectItemCaseSensitive(kvpol, "validity_months")
		: NULL;
	if (cJSON_IsNumber(months) && months->valuedouble > 0 &&
	    months->valuedouble * 30 < (double)rq->days)
		rq->days = (long)months->valuedouble * 30;
}

static int
req_add_bundle(struct request_set *rs, const struct policy *pol,
	       struct bundle *b)
{
	struct request *nr;
	const unsigned char *data;
	size_t i, len, n = bundle_entry_count(b);
	int r;

	nr = realloc(rs->req, (rs->n + n + 1) * sizeof(*nr));
	if (nr == NULL)
		return AIRLOCK_E_NOMEM;
	rs->req = nr;
	for (i = 0; i < n; i++) {
		struct request *rq = &rs->req[rs->n];
		memset(rq, 0, sizeof(*rq));
		rq->bundle = b;
		rq->index = i;
		rq->entry_id = bundle_entry_id(b, i);
		if ((r = bundle_entry_data(b, i, &data, &len)) != 0)
			return r;
		req_decide(pol, rq, bundle_entry_meta(b, i), data, len);
		rs->n++;
	}
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
request_set_load(struct home *h, struct request_set **out)
{
	struct request_set *rs = NULL;
	struct bundle *b = NULL, **nb;
	char path[4096], *names[4096];
	size_t nnames = 0, i;
	struct dirent *de;
	DIR *d = NULL;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return AIRLOCK_E_NOMEM;
	snprintf(path, sizeof(path), "%s/spool", home_dir(h));
	if ((d = opendir(path)) == NULL) {
		err_detail_set("%s: %s", path, strerror(errno));
		r = AIRLOCK_E_IO;
		goto out;
	}
	while ((de = readdir(d)) != NULL && nnames < 4096)
		if (de->d_name[0] != '.' && safefile_name_ok(de->d_name) &&
		    (names[nnames] = strdup(de->d_name)) != NULL)
			nnames++;
	qsort(names, nnames, sizeof(names[0]), name_cmp);
	for (i = 0; i < nnames; i++) {
		snprintf(path, sizeof(path), "%s/spool/%s", home_dir(h),
			 names[i]);
		if ((r = bundle_read(path, &b)) != 0)
			goto out;
		nb = realloc(rs->bundles, (rs->nbundles + 1) * sizeof(*nb));
		if (nb == NULL) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
		rs->bundles = nb;
		rs->bundles[rs->nbundles++] = b;
		if ((r = req_add_bundle(rs, home_policy(h), b)) != 0) {
			b = NULL;
			goto out;
		}
		b = NULL;
	}
	*out = rs;
	rs = NULL;
	r = 0;
out:
	for (i = 0; i < nnames; i++)
		free(names[i]);
	if (d != NULL)
		closedir(d);
	bundle_free(b);
	request_set_free(rs);
	return r;
}

void
request_set_free(struct request_set *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->n; i++)
		csr_free(rs->req[i].csr);
	for (i = 0; i < rs->nbundles; i++)
		bundle_free(rs->bundles[i]);
	free(rs->req);
	free(rs->bundles);
	free(rs);
}

size_t
request_set_count(const struct request_set *rs)
{
	return rs->n;
}

struct request *
request_set_get(struct request_set *rs, size_t i)
{
	return i < rs->n ? &rs->req[i] : NULL;
}

size_t
request_set_bundle_count(const struct request_set *rs)
{
	return rs->nbundles;
}

const struct bundle *
request_set_bundle(const struct request_set *rs, size_t i)
{
	return i < rs->nbundles ? rs->bundles[i] : NULL;
}

int
request_spool_done(struct home *h, const char *bundle_id)
{
	char spool[4096], done[128];
	int fd = -1, r = AIRLOCK_E_INTERNAL, i;

	snprintf(spool, sizeof(spool), "%s/spool", home_dir(h));
	if ((r = safefile_dir_open(spool, &fd)) != 0)
		return r;
	/* an earlier answer to the same bundle keeps its name */
	for (i = 0; i < 10; i++) {
		if (i == 0)
			snprintf(done, sizeof(done), ".done-%s", bundle_id);
		else
			snprintf(done, sizeof(done), ".done-%s.%d", bundle_id,
				 i);
		if ((r = safefile_rename(fd, bundle_id, done, 0)) !=
		    AIRLOCK_E_EXISTS)
			break;
	}
	if (r == 0)
		r = safefile_fsync_dir(fd);
	close(fd);
	return r;
}

int
request_import_rejected(struct home *h, const char *dir, int code)
{
	struct ledger *l = NULL;
	char detail[1024], id[300];
	const char *base = strrchr(dir, '/'), *rule;
	cJSON *f = NULL;
	int r;

	snprintf(detail, sizeof(detail), "%s", err_detail_get());
	base = base != NULL && base[1] != '\0' ? base + 1 : dir;
	snprintf(id, sizeof(id), "bundle:%.200s", base);
	rule = code == AIRLOCK_E_TOO_LARGE   ? "bundle.size"
	       : code == AIRLOCK_E_NOT_FOUND ? "bundle.missing"
	       : code == AIRLOCK_E_POLICY    ? "bundle.policy"
	       : code == AIRLOCK_E_IO	     ? "bundle.io"
					     : "bundle.format";
	if ((r = home_ledger(h, &l)) != 0)
		goto out;
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "request_id", id);
	cJSON_AddStringToObject(f, "rule", rule);
	cJSON_AddStringToObject(f, "value", detail);
	if ((r = ledger_append(l, "REJECTED", f, NULL)) == 0)
		r = ledger_sync(l);
out:
	cJSON_Delete(f);
	/* the caller reports the import's own error */
	err_detail_set("%s", detail);
	return r;
}
