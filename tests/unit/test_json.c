/* Strict JSON: what cJSON alone would let through is rejected here, with a
 * detail that points at the byte or the key. */
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/json.h"
#include "tap.h"

static void
rejects_n(const char *what, const char *buf, size_t len, int want,
	  const char *detail)
{
	cJSON *j = NULL;
	int r;

	err_detail_clear();
	r = json_parse_strict((const unsigned char *)buf, len, JSON_MAX_DEPTH,
			      &j);
	TAP_CHECK(r == want && j == NULL, "rejects %s with %s (got %s)", what,
		  err_name(want), err_name(r));
	TAP_CHECK(strstr(err_detail_get(), detail) != NULL,
		  "detail for %s mentions '%s' (got '%s')", what, detail,
		  err_detail_get());
	cJSON_Delete(j);
}

static void
rejects(const char *what, const char *s, const char *detail)
{
	rejects_n(what, s, strlen(s), AIRLOCK_E_FORMAT, detail);
}

static cJSON *
parse_ok(const char *what, const char *s)
{
	cJSON *j = NULL;
	int r;

	err_detail_clear();
	r = json_parse_strict((const unsigned char *)s, strlen(s),
			      JSON_MAX_DEPTH, &j);
	TAP_CHECK(r == 0 && j != NULL, "accepts %s (got %s: %s)", what,
		  err_name(r), err_detail_get());
	return j;
}

static char *
nest(int depth)
{
	char *s = malloc((size_t)depth * 2 + 1);
	int k;

	for (k = 0; k < depth; k++) {
		s[k] = '[';
		s[depth * 2 - 1 - k] = ']';
	}
	s[depth * 2] = '\0';
	return s;
}

static void
parse_cases(void)
{
	char *s;
	cJSON *j;

	/* duplicate keys */
	rejects("top-level duplicate", "{\"a\":1,\"b\":2,\"a\":3}",
		"duplicate key \"a\"");
	rejects("nested duplicate", "{\"x\":{\"y\":[{\"k\":1,\"k\":1}]}}",
		"duplicate key \"k\" in the object at x.y[0]");
	rejects("duplicate via escape", "{\"a\":1,\"\\u0061\":2}",
		"duplicate key \"a\"");
	{
		/* large object: the sorted path */
		char big[4096];
		size_t n = 0;
		int k;

		n += (size_t)snprintf(big + n, sizeof(big) - n, "{");
		for (k = 0; k < 100; k++)
			n += (size_t)snprintf(big + n, sizeof(big) - n,
					      "\"k%d\":%d,", k, k);
		n += (size_t)snprintf(big + n, sizeof(big) - n, "\"k57\":0}");
		rejects("duplicate in a 101-key object", big,
			"duplicate key \"k57\"");
	}
	j = parse_ok("keys differing only in case", "{\"a\":1,\"A\":2}");
	cJSON_Delete(j);

	/* depth */
	s = nest(32);
	j = parse_ok("depth 32", s);
	cJSON_Delete(j);
	free(s);
	s = nest(33);
	rejects_n("depth 33", s, strlen(s), AIRLOCK_E_TOO_LARGE,
		  "at byte 32: nesting deeper than 32");
	free(s);
	{
		char mixed[128];

		s = nest(31);
		snprintf(mixed, sizeof(mixed), "{\"a\":%s}", s);
		j = parse_ok("depth 32, object outermost", mixed);
		cJSON_Delete(j);
		snprintf(mixed, sizeof(mixed), "{\"a\":{\"b\":%s}}", s);
		rejects_n("depth 33, objects and arrays", mixed, strlen(mixed),
			  AIRLOCK_E_TOO_LARGE, "nesting deeper than 32");
		free(s);
	}

	/* trailing data, structure */
	rejects("trailing data", "{\"a\":1} x",
		"at byte 8: unexpected character 'x'");
	rejects("trailing value", "{\"a\":1} {}", "at byte 8: trailing data");
	rejects("two top-level numbers", "1 2", "trailing data");
	j = parse_ok("trailing whitespace", "{\"a\":1} \r\n\t");
	cJSON_Delete(j);
	rejects("empty", "", "empty document");
	rejects("missing comma", "{\"a\":1 \"b\":2}", "not valid JSON");
	rejects("trailing comma", "[1,2,]", "not valid JSON");
	rejects("unterminated", "{\"a\":\"b", "unterminated string");
	rejects("form feed as whitespace", "{\f}", "unexpected byte 0x0c");
	rejects("BOM", "\xef\xbb\xbf{}", "byte order mark");

	/* UTF-8 */
	rejects("overlong '/'", "[\"\xc0\xaf\"]", "at byte 2: overlong UTF-8");
	rejects("overlong 3-byte", "[\"\xe0\x80\xaf\"]", "overlong UTF-8");
	rejects("overlong 4-byte", "[\"\xf0\x80\x80\xaf\"]", "overlong UTF-8");
	rejects("UTF-8 surrogate", "[\"\xed\xa0\x80\"]", "surrogate");
	rejects("above U+10FFFF", "[\"\xf4\x90\x80\x80\"]", "above U+10FFFF");
	rejects("truncated UTF-8", "[\"\xe2\x82\"]", "truncated UTF-8");
	rejects("truncated at end", "[\"\xe2", "truncated UTF-8");
	rejects("stray continuation", "[\"\x80\"]", "stray UTF-8");
	rejects("0xff", "[\"\xff\"]", "invalid UTF-8 lead byte");
	rejects("UTF-8 outside a string", "[\xc3\xa9]", "unexpected byte");
	j = parse_ok("valid UTF-8 (2, 3, 4 bytes)",
		     "[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92\"]");
	cJSON_Delete(j);

	/* NUL, control characters, escapes */
	rejects_n("NUL byte in a string", "[\"a\0b\"]", 7, AIRLOCK_E_FORMAT,
		  "at byte 3: NUL byte in string");
	rejects_n("NUL byte after the value", "{}\0", 3, AIRLOCK_E_FORMAT,
		  "at byte 2: NUL byte");
	rejects("\\u0000", "[\"a\\u0000b\"]", "\\u0000");
	rejects("raw tab in a string", "[\"a\tb\"]", "raw control character");
	rejects("bad escape", "[\"\\x41\"]", "invalid escape");
	rejects("short \\u", "[\"\\u12\"]", "four hex digits");
	rejects("lone high surrogate", "[\"\\ud800x\"]",
		"unpaired high surrogate");
	rejects("lone low surrogate", "[\"\\udc00\"]", "unpaired low");
	j = parse_ok("surrogate pair", "[\"\\ud83d\\udd12\"]");
	TAP_CHECK(j != NULL && strcmp(cJSON_GetArrayItem(j, 0)->valuestring,
				      "\xf0\x9f\x94\x92") == 0,
		  "surrogate pair decodes to U+1F512");
	cJSON_Delete(j);

	/* numbers and literals */
	rejects("NaN", "[NaN]", "unexpected character 'N'");
	rejects("Infinity", "[Infinity]", "unexpected character 'I'");
	rejects("-Infinity", "[-Infinity]", "'-' must be followed");
	rejects("leading zero", "[012]", "leading zero");
	rejects("plus sign", "[+1]", "unexpected character '+'");
	rejects("bare fraction", "[.5]", "unexpected character '.'");
	rejects("1.", "[1.]", "must be followed by a digit");
	rejects("1e", "[1e]", "exponent without digits");
	rejects("hex", "[0x10]", "unexpected character 'x'");
	rejects("tru", "[tru]", "unexpected literal");
	rejects("single quotes", "{'a':1}", "unexpected character");
	rejects("comment", "{} // x", "unexpected character '/'");
}

static cJSON *
doc(const char *s)
{
	cJSON *j = NULL;

	if (json_parse_strict((const unsigned char *)s, strlen(s),
			      JSON_MAX_DEPTH, &j) != 0)
		return NULL;
	return j;
}

static void
int_rejects(const char *text, const char *detail)
{
	char buf[128];
	cJSON *j;
	long long v = 7;
	int r;

	snprintf(buf, sizeof(buf), "{\"n\":%s}", text);
	j = doc(buf);
	err_detail_clear();
	r = json_get_int(j, "n", "m", 0, 1000000, &v);
	TAP_CHECK(j != NULL && r == AIRLOCK_E_FORMAT && v == 0,
		  "unsigned field rejects %s (got %s)", text, err_name(r));
	TAP_CHECK(strstr(err_detail_get(), detail) != NULL,
		  "detail for %s mentions '%s' (got '%s')", text, detail,
		  err_detail_get());
	cJSON_Delete(j);
}

static void
schema_cases(void)
{
	static const char *const req[] = {"a", "b", NULL};
	static const char *const opt[] = {"c", NULL};
	const cJSON *arr;
	const char *s;
	long long v;
	size_t n;
	cJSON *j;
	int b, r;

	j = doc("{\"a\":1,\"b\":\"x\",\"c\":true}");
	TAP_CHECK(json_check_keys(j, "m", req, opt) == 0,
		  "required and optional keys accepted");
	cJSON_Delete(j);

	j = doc("{\"a\":1,\"b\":\"x\",\"d\":true}");
	err_detail_clear();
	r = json_check_keys(j, "m.e[1]", req, opt);
	TAP_CHECK(r == AIRLOCK_E_FORMAT &&
		      strstr(err_detail_get(), "m.e[1].d: unknown key") != NULL,
		  "unknown key named (%s)", err_detail_get());
	cJSON_Delete(j);

	j = doc("{\"a\":1,\"B\":\"x\"}");
	r = json_check_keys(j, "m", req, opt);
	TAP_CHECK(r == AIRLOCK_E_FORMAT &&
		      strstr(err_detail_get(), "m.B: unknown key") != NULL,
		  "lookups are case-sensitive (%s)", err_detail_get());
	cJSON_Delete(j);

	j = doc("{\"a\":1}");
	r = json_check_keys(j, "m", req, opt);
	TAP_CHECK(r == AIRLOCK_E_FORMAT &&
		      strstr(err_detail_get(),
			     "m.b: required key is missing") != NULL,
		  "missing key named (%s)", err_detail_get());
	cJSON_Delete(j);

	j = doc("[1]");
	r = json_check_keys(j, "m", req, opt);
	TAP_CHECK(r == AIRLOCK_E_FORMAT &&
		      strstr(err_detail_get(), "must be an object") != NULL,
		  "array where an object belongs (%s)", err_detail_get());
	cJSON_Delete(j);

	j = doc("{\"s\":\"hello\",\"n\":5,\"t\":true,\"f\":false,\"z\":null,"
		"\"arr\":[1,2,3],\"neg\":-42,\"big\":9007199254740991}");
	TAP_CHECK(json_get_str(j, "s", "m", 5, &s) == 0 &&
		      strcmp(s, "hello") == 0,
		  "string read");
	r = json_get_str(j, "s", "m", 4, &s);
	TAP_CHECK(r == AIRLOCK_E_FORMAT && s == NULL &&
		      strstr(err_detail_get(), "m.s: 5 bytes long") != NULL,
		  "string over max length (%s)", err_detail_get());
	r = json_get_str(j, "n", "m", 10, &s);
	TAP_CHECK(r == AIRLOCK_E_FORMAT &&
		      strstr(err_detail_get(),
			     "m.n: must be a string (got a number)") != NULL,
		  "number where a string belongs (%s)", err_detail_get());
	r = json_get_str(j, "z", "m", 10, &s);
	TAP_CHECK(r == AIRLOCK_E_FORMAT &&
		      strstr(err_detail_get(), "(got null)") != NULL,
		  "null where a string belongs (%s)", err_detail_get());
	r = json_get_str(j, "nope", "m", 10, &s);
	TAP_CHECK(r == AIRLOCK_E_FORMAT &&
		      strstr(err_detail_get(), "m.nope: required key") != NULL,
		  "missing string key (%s)", err_detail_get());
	TAP_CHECK(json_get_int(j, "n", "m", 0, 10, &v) == 0 && v == 5,
		  "integer read");
	TAP_CHECK(json_get_int(j, "neg", "m", -100, 0, &v) == 0 && v == -42,
		  "negative integer read");
	TAP_CHECK(json_get_int(j, "big", "m", 0, 9007199254740991LL, &v) == 0 &&
		      v == 9007199254740991LL,
		  "2^53 - 1 read exactly");
	r = json_get_int(j, "s", "m", 0, 10, &v);
	TAP_CHECK(r == AIRLOCK_E_FORMAT &&
		      strstr(err_detail_get(), "must be an integer (got a "
					       "string)") != NULL,
		  "string where an integer belongs (%s)", err_detail_get());
	r = json_get_int(j, "t", "m", 0, 10, &v);
	TAP_CHECK(r == AIRLOCK_E_FORMAT, "boolean where an integer belongs");
	TAP_CHECK(json_get_bool(j, "t", "m", &b) == 0 && b == 1 &&
		      json_get_bool(j, "f", "m", &b) == 0 && b == 0,
		  "booleans read");
	r = json_get_bool(j, "n", "m", &b);
	TAP_CHECK(r == AIRLOCK_E_FORMAT &&
		      strstr(err_detail_get(), "m.n: must be true or false") !=
			  NULL,
		  "number where a boolean belongs (%s)", err_detail_get());
	TAP_CHECK(json_get_array(j, "arr", "m", 3, &arr, &n) == 0 && n == 3,
		  "array read");
	r = json_get_array(j, "arr", "m", 2, &arr, &n);
	TAP_CHECK(r == AIRLOCK_E_TOO_LARGE && arr == NULL,
		  "array over its element cap (%s)", err_detail_get());
	r = json_get_object(j, "arr", "m", &arr);
	TAP_CHECK(r == AIRLOCK_E_FORMAT &&
		      strstr(err_detail_get(), "must be an object (got an "
					       "array)") != NULL,
		  "array where an object belongs (%s)", err_detail_get());
	cJSON_Delete(j);

	int_rejects("1.5", "plain integer");
	int_rejects("1e3", "plain integer");
	int_rejects("1.0", "plain integer");
	int_rejects("1E+2", "plain integer");
	int_rejects("1152921504606846976", "too large to be exact"); /* 2^60 */
	int_rejects("9007199254740993", "too large to be exact");
	int_rejects("1e400", "plain integer");
	int_rejects("-1", "-1 is out of range [0, 1000000]");
	int_rejects("1000001", "out of range");
	int_rejects("\"5\"", "must be an integer");
}

int
main(void)
{
	parse_cases();
	schema_cases();
	return TAP_DONE();
}
