/* libFuzzer harness: the station's decision path (station/request.c): a
 * request bundle in the spool of a station home with the default policy
 * (`init --domain example.internal`), read and decided by
 * request_set_load(): manifest, CSR intake, profile choice, source, key,
 * names, the Key Vault policy snapshot. The input format is in
 * bundle_input.h.
 *
 * A decision must be consistent: an accepted request has a CSR, a profile
 * and a positive validity; a rejected one names its rule. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "station/home.h"
#include "station/request.h"
#include "tests/fuzz/bundle_input.h"
#include "tests/fuzz/scratch.h"

#define FUZZ_MAX (128u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct home *home;

static void
home_setup(void)
{
	static const char *const domains[] = {"example.internal"};
	char dir[4096];

	scratch_path("home", dir, sizeof(dir));
	if (home_init(dir, domains, 1) != 0 || home_open(dir, &home) != 0) {
		fprintf(stderr, "fuzz_request: station home: %s\n",
			err_detail_get());
		abort();
	}
}

static void
check_decisions(struct request_set *rs)
{
	struct request *rq;
	size_t i;

	for (i = 0; i < request_set_count(rs); i++) {
		rq = request_set_get(rs, i);
		if (rq == NULL || rq->bundle == NULL || rq->entry_id == NULL)
			abort();
		if (rq->ok &&
		    (rq->csr == NULL || rq->profile == NULL || rq->days <= 0 ||
		     profile_kind(rq->profile) != PROFILE_LEAF))
			abort();
		if (!rq->ok && rq->rule[0] == '\0')
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request_set *rs = NULL;
	char dir[4096];

	if (size > FUZZ_MAX)
		return 0;
	if (home == NULL)
		home_setup();
	scratch_path("home/spool/b", dir, sizeof(dir));
	scratch_rmtree(dir);
	if (scratch_mkdir("home/spool/b") != 0)
		abort();
	if (bundle_input_write(dir, data, size) == 0) {
		if (request_set_load(home, &rs) == 0) {
			check_decisions(rs);
			request_set_free(rs);
		} else if (rs != NULL) {
			abort();
		}
	}
	scratch_rmtree(dir);
	err_detail_clear();
	return 0;
}
