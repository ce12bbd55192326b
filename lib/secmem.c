#include "lib/secmem.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/err.h"

struct secmem {
	size_t capacity;
	size_t len;
	size_t map_len;
	char data[]; /* capacity + 1 */
};

int
secmem_new(size_t capacity, struct secmem **out)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t need, map_len;
	void *p;

	*out = NULL;
	if (page <= 0 || capacity > (1u << 20))
		return AIRLOCK_E_INVALID_ARG;
	need = sizeof(struct secmem) + capacity + 1;
	map_len = (need + (size_t)page - 1) / (size_t)page * (size_t)page;
	p = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return AIRLOCK_E_NOMEM;
	if (mlock(p, map_len) != 0) {
		err_detail_set("mlock of %zu bytes failed: %s (raise "
			       "RLIMIT_MEMLOCK, `ulimit -l`)",
			       map_len, strerror(errno));
		munmap(p, map_len);
		return AIRLOCK_E_NOMEM;
	}
	(void)madvise(p, map_len, MADV_DONTDUMP);
	(void)madvise(p, map_len, MADV_WIPEONFORK);
	*out = p;
	(*out)->capacity = capacity;
	(*out)->len = 0;
	(*out)->map_len = map_len;
	(*out)->data[0] = '\0';
	return 0;
}

void
secmem_free(struct secmem *sm)
{
	size_t map_len;

	if (sm == NULL)
		return;
	map_len = sm->map_len;
	OPENSSL_cleanse(sm, map_len);
	munlock(sm, map_len);
	munmap(sm, map_len);
}

char *
secmem_data(struct secmem *sm)
{
	return sm->data;
}

const char *
secmem_get0(const struct secmem *sm)
{
	return sm->data;
}

size_t
secmem_len(const struct secmem *sm)
{
	return sm->len;
}

size_t
secmem_capacity(const struct secmem *sm)
{
	return sm->capacity;
}

int
secmem_set_len(struct secmem *sm, size_t len)
{
	if (len > sm->capacity)
		return AIRLOCK_E_TOO_LARGE;
	OPENSSL_cleanse(sm->data + len, sm->capacity + 1 - len);
	sm->len = len;
	return 0;
}

int
secmem_process_harden(void)
{
	struct rlimit rl = {0, 0};

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return AIRLOCK_E_INTERNAL;
	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		return AIRLOCK_E_INTERNAL;
	return 0;
}
