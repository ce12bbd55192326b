#include "kv/inventory.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kvjson.h"
#include "kv/vault.h"
#include "lib/err.h"

#define INV_MAX 100000

struct collect {
	struct inventory *inv;
	const char *glob;
	const char *const *tags;
	size_t n_tags;
	size_t cap;
};

static int
tags_match(const cJSON *tags, const char *const *want, size_t n)
{
	const cJSON *it;
	const char *eq;
	size_t i, klen;

	for (i = 0; i < n; i++) {
		eq = strchr(want[i], '=');
		if (eq == NULL || tags == NULL)
			return 0;
		klen = (size_t)(eq - want[i]);
		int found = 0;
		cJSON_ArrayForEach (it, tags) {
			if (it->string != NULL && strlen(it->string) == klen &&
			    strncmp(it->string, want[i], klen) == 0 &&
			    cJSON_IsString(it) &&
			    strcmp(it->valuestring, eq + 1) == 0)
				found = 1;
		}
		if (!found)
			return 0;
	}
	return 1;
}

static int
on_cert(const cJSON *item, void *arg)
{
	struct collect *c = arg;
	struct kv_cert *kc = NULL;
	struct inv_entry *e, *ne;
	int r;

	if ((r = kvjson_cert_parse(item, &kc)) != 0)
		return r;
	if ((c->glob != NULL && fnmatch(c->glob, kc->name, 0) != 0) ||
	    !tags_match(kc->tags, c->tags, c->n_tags)) {
		kvjson_cert_free(kc);
		return 0;
	}
	if (c->inv->n >= INV_MAX) {
		kvjson_cert_free(kc);
		err_detail_set("more than %d certificates", INV_MAX);
		return AIRLOCK_E_TOO_LARGE;
	}
	if (c->inv->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 32;
		if ((ne = realloc(c->inv->e, ncap * sizeof(*ne))) == NULL) {
			kvjson_cert_free(kc);
			return AIRLOCK_E_NOMEM;
		}
		c->inv->e = ne;
		c->cap = ncap;
	}
	e = &c->inv->e[c->inv->n];
	memset(e, 0, sizeof(*e));
	e->name = kc->name;
	kc->name = NULL;
	if (kc->tags != NULL)
		e->tags = cJSON_Duplicate(kc->tags, 1);
	c->inv->n++;
	kvjson_cert_free(kc);
	return 0;
}

static int
on_version(const cJSON *item, void *arg)
{
	struct inv_entry *e = arg;
	struct kv_cert *kc = NULL;
	int r;

	if ((r = kvjson_cert_parse(item, &kc)) != 0)
		return r;
	if (kc->enabled && kc->x5t != NULL &&
	    (e->issued == NULL || kc->created > e->issued->created ||
	     (kc->created == e->issued->created && kc->exp > e->issued->exp))) {
		kvjson_cert_free(e->issued);
		e->issued = kc;
		return 0;
	}
	kvjson_cert_free(kc);
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct inv_entry *)a)->name,
		      ((const struct inv_entry *)b)->name);
}

int
inventory_collect(struct vault *v, const char *name_glob,
		  const char *const *tags, size_t n_tags, int flags,
		  struct inventory **out)
{
	struct collect c;
	struct inventory *inv;
	cJSON *j = NULL;
	size_t i;
	int r;

	*out = NULL;
	if ((inv = calloc(1, sizeof(*inv))) == NULL)
		return AIRLOCK_E_NOMEM;
	memset(&c, 0, sizeof(c));
	c.inv = inv;
	c.glob = name_glob;
	c.tags = tags;
	c.n_tags = n_tags;
	if ((r = vault_list(v, NULL, 1, on_cert, &c)) != 0)
		goto out;
	if (inv->n > 0)
		qsort(inv->e, inv->n, sizeof(inv->e[0]), by_name);
	for (i = 0; i < inv->n; i++) {
		struct inv_entry *e = &inv->e[i];
		if (flags & INV_PENDING) {
			r = vault_pending_get(v, e->name, &j);
			if (r == AIRLOCK_E_NOT_FOUND) {
				r = 0;
			} else if (r == 0) {
				r = kvjson_op_parse(j, &e->op);
			}
			cJSON_Delete(j);
			j = NULL;
			if (r != 0)
				goto out;
		}
		if ((flags & INV_VERSIONS) &&
		    (r = vault_list(v, e->name, 0, on_version, e)) != 0)
			goto out;
	}
	*out = inv;
	inv = NULL;
	r = 0;
out:
	inventory_free(inv);
	return r;
}

void
inventory_free(struct inventory *inv)
{
	size_t i;

	if (inv == NULL)
		return;
	for (i = 0; i < inv->n; i++) {
		free(inv->e[i].name);
		cJSON_Delete(inv->e[i].tags);
		kvjson_op_free(inv->e[i].op);
		kvjson_cert_free(inv->e[i].issued);
	}
	free(inv->e);
	free(inv);
}
