/* libFuzzer harness: the issuance ledger reader (station/ledger.c). The
 * input is written as a ledger file in the per-process scratch directory.
 *
 * ledger_verify_file() is the entry point; a file it accepts must then open
 * (ledger_open, with its own verification) to the same count and head,
 * answer queries, and after ledger_recover() (which appends INDOUBT records
 * for open INTENTs, in the scratch copy) still verify: the writer and the
 * reader must agree. A refused file is also opened with LEDGER_OPEN_REPAIR,
 * whose truncation of a torn last line must leave a file that verifies. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "lib/err.h"
#include "station/ledger.h"
#include "tests/fuzz/scratch.h"

#define FUZZ_MAX (128u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Far in the future, so that appends are never refused for the clock. */
static time_t
late_clock(void)
{
	return (time_t)4102444800; /* 2100-01-01 */
}

static int
count_record(void *arg, const cJSON *rec)
{
	if (rec == NULL || !cJSON_IsObject(rec))
		abort();
	(*(unsigned long long *)arg)++;
	return 0;
}

static void
reverify(const char *path, const char *after)
{
	if (ledger_verify_file(path, NULL, NULL) != 0) {
		fprintf(stderr, "ledger refused after %s: %s\n", after,
			err_detail_get());
		abort();
	}
}

static void
check_accepted(const char *path, unsigned long long count, const char *head)
{
	struct ledger *l = NULL;
	cJSON *rec = NULL;
	unsigned long long seen = 0;
	size_t n = 0;

	if (ledger_open(path, 0, &l) != 0) {
		fprintf(stderr, "verified ledger does not open: %s\n",
			err_detail_get());
		abort();
	}
	if (ledger_size(l) != count || strcmp(ledger_head_hex(l), head) != 0)
		abort();
	if (ledger_foreach(l, count_record, &seen) != 0 || seen != count)
		abort();
	(void)ledger_newest_time(l);
	(void)ledger_serial_used(l, "1");
	(void)ledger_serial_used(l, "01");
	if (ledger_find_issued(l, "csr:fuzz", &rec) == 0 && rec == NULL)
		abort();
	cJSON_Delete(rec);
	ledger_set_clock(l, late_clock);
	if (ledger_recover(l, &n) == 0 && n > 0)
		reverify(path, "ledger_recover");
	ledger_close(l);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ledger *l = NULL;
	unsigned long long count = 0;
	char path[4096], head[65];

	if (size > FUZZ_MAX)
		return 0;
	scratch_clean(NULL);
	scratch_path("ledger.jsonl", path, sizeof(path));
	if (scratch_write("ledger.jsonl", data, size) != 0)
		abort();
	memset(head, 0, sizeof(head));
	if (ledger_verify_file(path, &count, head) == 0) {
		if (strlen(head) != 64)
			abort();
		check_accepted(path, count, head);
	} else if (ledger_open(path, LEDGER_OPEN_REPAIR, &l) == 0) {
		ledger_close(l);
		reverify(path, "LEDGER_OPEN_REPAIR");
	}
	err_detail_clear();
	return 0;
}
