/* What a vault holds, as airlock-kv sees it: per certificate name, its
 * pending operation (if any) and its newest issued version (KEYVAULT.md:
 * decide from the versions list, newest enabled version that has x5t, by
 * `created`: while a renewal is pending "latest" is the disabled pending
 * version without cer). */
#ifndef AIRLOCK_KV_INVENTORY_H
#define AIRLOCK_KV_INVENTORY_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct vault;
struct kv_op;
struct kv_cert;

struct inv_entry {
	char *name;
	cJSON *tags;		/* owned copy; may be NULL */
	struct kv_op *op;	/* pending operation, NULL if none */
	struct kv_cert *issued; /* newest enabled version with x5t, or NULL */
};

struct inventory {
	struct inv_entry *e;
	size_t n;
};

#define INV_PENDING  0x1 /* read each pending operation */
#define INV_VERSIONS 0x2 /* read each versions list */

/* Collect the certificates whose name matches the glob NAME_GLOB (NULL:
 * all) and that carry every tag in TAGS ("K=V"; N_TAGS may be 0). */
int inventory_collect(struct vault *v, const char *name_glob,
		      const char *const *tags, size_t n_tags, int flags,
		      struct inventory **out)
    __attribute__((warn_unused_result));
void inventory_free(struct inventory *inv);

#endif
