/* One ledger line (lib/ledger_record.c): the writer's exact bytes, the
 * reader taking them back, and edited lines each refused for its reason. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "lib/ledger_record.h"
#include "tap.h"

#define T0 ((time_t)1795456800) /* 2026-11-23T18:00:00Z */

static const char *line1 =
    "{\"seq\":1,\"prev\":\"" LEDGER_RECORD_PREV_FIRST "\","
    "\"time\":\"2026-11-23T18:00:00Z\",\"type\":\"INTENT\","
    "\"request_id\":\"r1\",\"serial\":\"a1\"}";

static char why[LEDGER_RECORD_WHY];

/* LINE with FROM replaced by TO (first occurrence), in a static buffer. */
static const char *
edit(const char *line, const char *from, const char *to)
{
	static char buf[1024];
	const char *p = strstr(line, from);
	size_t pre;

	if (p == NULL)
		return "(edit not applicable)";
	pre = (size_t)(p - line);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)pre, line, to,
		 p + strlen(from));
	return buf;
}

/* Parse LINE as record 1 after nothing; the code, WHY kept. */
static int
parse1(const char *line)
{
	struct ledger_record_meta m;

	return ledger_record_parse(line, strlen(line), 1,
				   LEDGER_RECORD_PREV_FIRST, NULL, &m, why,
				   sizeof(why));
}

/* LINE is refused as FORMAT with a WHY containing WANT. */
static void
refused(const char *line, const char *want, const char *name)
{
	int r = parse1(line);

	TAP_CHECK(r == AIRLOCK_E_FORMAT && strstr(why, want) != NULL,
		  "%s is refused: %s", name, why);
}

/* LINE1 with one more field holding LEVELS nested arrays. */
static void
deep_line(int levels, char *buf, size_t len)
{
	size_t n;
	int i;

	n = (size_t)snprintf(buf, len, "%.*s,\"d\":", (int)(strlen(line1) - 1),
			     line1);
	for (i = 0; i < levels && n < len - 1; i++)
		buf[n++] = '[';
	for (i = 0; i < levels && n < len - 1; i++)
		buf[n++] = ']';
	if (n < len - 1)
		buf[n++] = '}';
	buf[n] = '\0';
}

static void
test_types_time_hash(void)
{
	char out[65];
	time_t t = 0;
	int type = 0;

	TAP_STR_EQ(ledger_record_type_name(LEDGER_RECORD_CHECKPOINT),
		   "CHECKPOINT", "type name of CHECKPOINT");
	TAP_CHECK(ledger_record_type_name(LEDGER_RECORD_NTYPES) == NULL &&
		      ledger_record_type_name(-1) == NULL,
		  "no name outside the table");
	TAP_CHECK(ledger_record_type_lookup("STATION_KEY", &type) == 0 &&
		      type == LEDGER_RECORD_STATION_KEY,
		  "lookup STATION_KEY");
	TAP_CHECK(ledger_record_type_lookup("intent", &type) ==
			  AIRLOCK_E_NOT_FOUND &&
		      type == -1,
		  "lookup is case-sensitive");

	TAP_CHECK(ledger_record_time_format(T0, out) == 0 &&
		      strcmp(out, "2026-11-23T18:00:00Z") == 0,
		  "time format");
	TAP_CHECK(ledger_record_time_format((time_t)-1, out) ==
		      AIRLOCK_E_INVALID_ARG,
		  "a time before 1970 is not formatted");
	TAP_CHECK(ledger_record_time_parse("2026-11-23T18:00:00Z", &t) == 0 &&
		      t == T0,
		  "time parse");
	TAP_CHECK(ledger_record_time_parse("2026-02-30T18:00:00Z", &t) ==
			  AIRLOCK_E_FORMAT &&
		      ledger_record_time_parse("2026-11-23T24:00:00Z", &t) ==
			  AIRLOCK_E_FORMAT &&
		      ledger_record_time_parse("1969-12-31T23:59:59Z", &t) ==
			  AIRLOCK_E_FORMAT &&
		      ledger_record_time_parse("2026-11-23 18:00:00Z", &t) ==
			  AIRLOCK_E_FORMAT &&
		      ledger_record_time_parse("2026-11-23T18:00:00", &t) ==
			  AIRLOCK_E_FORMAT,
		  "Feb 30, 24:00, 1969, a space, no Z: not times");

	/* FIPS 180-2 appendix B.1 */
	TAP_CHECK(ledger_record_sha256_hex("abc", 3, out) == 0 &&
		      strcmp(out, "ba7816bf8f01cfea414140de5dae2223b00361a3961"
				  "77a9cb410ff61f20015ad") == 0,
		  "SHA-256 of \"abc\"");
	TAP_CHECK(ledger_record_hash_ok(out) &&
		      !ledger_record_hash_ok("BA7816BF") &&
		      !ledger_record_hash_ok(NULL),
		  "hash_ok: 64 lowercase hex only");
}

static void
test_format_parse(void)
{
	struct ledger_record_meta m, m2;
	cJSON *f = cJSON_CreateObject(), *rec = NULL;
	char *line = NULL, *line2 = NULL, hash[65];
	const char *p;
	int r;

	cJSON_AddStringToObject(f, "request_id", "r1");
	cJSON_AddStringToObject(f, "serial", "a1");
	r = ledger_record_format(1, LEDGER_RECORD_PREV_FIRST,
				 "2026-11-23T18:00:00Z", LEDGER_RECORD_INTENT,
				 f, &line, why, sizeof(why));
	TAP_CHECK(r == 0 && line != NULL && strcmp(line, line1) == 0,
		  "format writes the canonical line (%s)", line ? line : "-");
	r = ledger_record_parse(line1, strlen(line1), 1,
				LEDGER_RECORD_PREV_FIRST, &rec, &m, why,
				sizeof(why));
	TAP_CHECK(r == 0 && rec != NULL && m.seq == 1 && m.time == T0 &&
		      m.type == LEDGER_RECORD_INTENT &&
		      strcmp(m.prev, LEDGER_RECORD_PREV_FIRST) == 0 &&
		      ledger_record_sha256_hex(line1, strlen(line1), hash) ==
			  0 &&
		      strcmp(m.hash, hash) == 0,
		  "parse gives back seq, time, type, prev and the line's hash");
	TAP_STR_EQ(cJSON_GetStringValue(
		       cJSON_GetObjectItemCaseSensitive(rec, "serial")),
		   "a1", "and the caller's fields");
	cJSON_Delete(rec);

	/* record 2 chains onto record 1 */
	r = ledger_record_format(2, m.hash, "2026-11-23T18:00:01Z",
				 LEDGER_RECORD_CHECKPOINT, NULL, &line2, why,
				 sizeof(why));
	TAP_CHECK(r == 0 &&
		      ledger_record_parse(line2, strlen(line2), 2, m.hash, NULL,
					  &m2, why, sizeof(why)) == 0 &&
		      m2.seq == 2 && m2.type == LEDGER_RECORD_CHECKPOINT,
		  "record 2 with prev = hash of record 1 parses");
	TAP_CHECK(ledger_record_parse(line2, strlen(line2), 0, NULL, NULL, &m2,
				      why, sizeof(why)) == 0 &&
		      m2.seq == 2,
		  "without seq and prev to match, any place in the chain");
	r = ledger_record_parse(line2, strlen(line2), 2,
				LEDGER_RECORD_PREV_FIRST, NULL, &m2, why,
				sizeof(why));
	TAP_CHECK(r == AIRLOCK_E_FORMAT && strstr(why, "prev does not match"),
		  "record 2 after another line is refused (%s)", why);
	r = ledger_record_parse(line2, strlen(line2), 3, NULL, NULL, &m2, why,
				sizeof(why));
	TAP_CHECK(r == AIRLOCK_E_FORMAT && strstr(why, "seq 2 where 3"),
		  "record 2 where 3 is due is refused (%s)", why);
	p = edit(line1, "\"prev\":\"0", "\"prev\":\"1");
	r = ledger_record_parse(p, strlen(p), 0, NULL, NULL, &m2, why,
				sizeof(why));
	TAP_CHECK(
	    r == AIRLOCK_E_FORMAT && strstr(why, "record 1 must have prev 0"),
	    "record 1 with another prev is refused even unchained (%s)", why);

	cJSON_free(line);
	cJSON_free(line2);
	line = NULL;
	/* an object member without a key (cJSON lets an array call add it) */
	cJSON_AddItemToArray(f, cJSON_CreateString("keyless"));
	r = ledger_record_format(1, LEDGER_RECORD_PREV_FIRST,
				 "2026-11-23T18:00:00Z", LEDGER_RECORD_REJECTED,
				 f, &line, why, sizeof(why));
	TAP_CHECK(r == AIRLOCK_E_INVALID_ARG && line == NULL &&
		      strcmp(why, "a field has no key") == 0,
		  "format refuses a field without a key (%s)", why);
	cJSON_Delete(f);
	TAP_CHECK(ledger_record_format(1, LEDGER_RECORD_PREV_FIRST,
				       "2026-11-23T18:00:00Z",
				       LEDGER_RECORD_NTYPES, NULL, &line, why,
				       sizeof(why)) == AIRLOCK_E_INVALID_ARG &&
		      line == NULL,
		  "format refuses an unknown type");
}

static void
test_refused(void)
{
	char *big, deep[256];
	size_t i;
	int r;

	refused("", "empty line", "an empty line");
	refused(edit(line1, "\"r1\"", "\"r\x01\""), "control byte 0x01",
		"a raw control byte");
	refused(edit(line1, "\"r1\"", "\"r\xc0\xaf\""), "invalid UTF-8",
		"an overlong UTF-8 form");
	refused(edit(line1, "\"r1\"", "\"r\xed\xa0\x80\""), "invalid UTF-8",
		"a UTF-8 surrogate");
	refused("[1,2]", "not a JSON object", "an array");
	refused(edit(line1, "\"a1\"}", "\"a1\"}{}"), "trailing data",
		"a second object after the first");
	refused(edit(line1, "{\"seq\":1,\"prev\"", "{\"prev\""),
		"in that order", "a line without seq");
	refused(edit(line1, "\"seq\":1", "\"seq\":\"1\""), "in that order",
		"seq as a string");
	refused(edit(line1, "\"seq\":1", "\"seq\":0"), "positive integer",
		"seq 0");
	refused(edit(line1, "\"seq\":1", "\"seq\":1.5"), "positive integer",
		"seq 1.5");
	refused(edit(line1, "\"seq\":1", "\"seq\":9007199254740992"),
		"positive integer", "seq 2^53");
	refused(edit(line1, "\"prev\":\"0", "\"prev\":\"A"),
		"prev is not 64 lowercase hex", "an uppercase prev");
	refused(edit(line1, "\"prev\":\"0", "\"prev\":\"1"),
		"prev does not match", "another prev");
	refused(edit(line1, "T18:00:00Z", "T18:00:60Z"), "time is not",
		"a leap second");
	refused(edit(line1, "2026-11-23", "2026-02-30"), "time is not",
		"Feb 30");
	refused(edit(line1, "\"INTENT\"", "\"BOGUS\""),
		"unknown record type \"BOGUS\"", "an unknown type");
	refused(edit(line1, "\"serial\"", "\"time\""), "reserved key \"time\"",
		"a second time");
	refused(edit(line1, "\"serial\"", "\"request_id\""),
		"duplicate key \"request_id\"", "a duplicate key");
	refused(edit(line1, "\"seq\":1", "\"seq\": 1"), "canonical", "a space");
	refused(edit(line1, "\"seq\":1", "\"seq\":1.0"), "canonical",
		"seq spelt 1.0");
	refused(edit(line1, "\"r1\"", "\"\\u00721\""), "canonical",
		"an escaped spelling");

	/* depth: the record is depth 0, its field 1, so LEDGER_RECORD_DEPTH_MAX
	 * nested arrays are as deep as a line may go */
	deep_line(LEDGER_RECORD_DEPTH_MAX, deep, sizeof(deep));
	TAP_CHECK(parse1(deep) == 0, "JSON nested 32 deep parses (%s)", why);
	deep_line(LEDGER_RECORD_DEPTH_MAX + 1, deep, sizeof(deep));
	refused(deep, "nested deeper than 32", "JSON nested 33 deep");

	/* fields: one past the cap */
	{
		cJSON *f = cJSON_CreateObject();
		char *line = NULL, key[16];

		for (i = 0; i <= LEDGER_RECORD_FIELDS_MAX; i++) {
			snprintf(key, sizeof(key), "k%zu", i);
			cJSON_AddStringToObject(f, key, "v");
		}
		r = ledger_record_format(
		    1, LEDGER_RECORD_PREV_FIRST, "2026-11-23T18:00:00Z",
		    LEDGER_RECORD_REJECTED, f, &line, why, sizeof(why));
		TAP_CHECK(r == 0, "format builds a line of 65 fields");
		if (line != NULL)
			refused(line, "more than 64 fields", "65 fields");
		cJSON_free(line);
		cJSON_Delete(f);
	}

	/* the line cap */
	big = malloc(LEDGER_RECORD_LINE_MAX + 2);
	memset(big, 'x', LEDGER_RECORD_LINE_MAX + 1);
	big[LEDGER_RECORD_LINE_MAX + 1] = '\0';
	r = parse1(big);
	TAP_CHECK(r == AIRLOCK_E_TOO_LARGE && strstr(why, "more than 65536"),
		  "a line over 64 KiB is TOO_LARGE: %s", why);
	free(big);
}

int
main(void)
{
	test_types_time_hash();
	test_format_parse();
	test_refused();
	return TAP_DONE();
}
