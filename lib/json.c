#include "lib/json.h"

#include <openssl/crypto.h>

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/term.h"

/* A private cJSON type bit (cJSON uses the low 8 bits plus 256 and 512):
 * set on numbers whose source text had a fraction or an exponent. */
#define JSON_TYPE_NONINT_TEXT (1 << 12)

/* cJSON copies at most 63 characters of a number; longer ones would be
 * split into a number and trailing garbage. */
#define JSON_NUMBER_TEXT_MAX 40

struct json_scan {
	const unsigned char *p;
	size_t len;
	size_t i;
	int depth;
	int max_depth;
	size_t n_numbers;
	size_t *nonint; /* ordinals of numbers with a fraction/exponent */
	size_t n_nonint;
	size_t cap_nonint;
};

static int scan_fail(struct json_scan *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
scan_fail(struct json_scan *s, int code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_detail_set("at byte %zu: %s", s->i, msg);
	return code;
}

/* Check one UTF-8 sequence at P (RFC 3629 section 4 table). Returns NULL and
 * its length in *N, or why it is invalid. */
static const char *
utf8_check(const unsigned char *p, size_t avail, size_t *n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	const char *why = "invalid UTF-8 sequence";
	size_t need, k;

	if (c < 0x80) {
		*n = 1;
		return NULL;
	}
	if (c < 0xc0)
		return "stray UTF-8 continuation byte";
	if (c < 0xc2)
		return "overlong UTF-8 sequence";
	if (c < 0xe0) {
		need = 1;
	} else if (c < 0xf0) {
		need = 2;
		if (c == 0xe0) {
			lo = 0xa0;
			why = "overlong UTF-8 sequence";
		} else if (c == 0xed) {
			hi = 0x9f;
			why = "UTF-8 encoded surrogate (U+D800..U+DFFF)";
		}
	} else if (c < 0xf5) {
		need = 3;
		if (c == 0xf0) {
			lo = 0x90;
			why = "overlong UTF-8 sequence";
		} else if (c == 0xf4) {
			hi = 0x8f;
			why = "UTF-8 code point above U+10FFFF";
		}
	} else {
		return "invalid UTF-8 lead byte";
	}
	for (k = 1; k <= need; k++) {
		if (k >= avail || p[k] < 0x80 || p[k] > 0xbf)
			return "truncated UTF-8 sequence";
		if (k == 1 && (p[k] < lo || p[k] > hi))
			return why;
	}
	*n = need + 1;
	return NULL;
}

static int
hex4(const unsigned char *p, size_t avail, unsigned *out)
{
	unsigned v = 0;
	size_t k;

	if (avail < 4)
		return -1;
	for (k = 0; k < 4; k++) {
		unsigned char c = p[k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* S->i is just past a backslash inside a string. RFC 8259 section 7. */
static int
scan_escape(struct json_scan *s)
{
	const unsigned char *p = s->p;
	unsigned cp, lo;

	if (s->i >= s->len)
		return scan_fail(s, AIRLOCK_E_FORMAT, "unterminated escape");
	if (strchr("\"\\/bfnrt", p[s->i]) != NULL && p[s->i] != '\0') {
		s->i++;
		return 0;
	}
	if (p[s->i] != 'u')
		return scan_fail(s, AIRLOCK_E_FORMAT, "invalid escape '\\%c'",
				 p[s->i] >= 0x20 && p[s->i] < 0x7f ? p[s->i]
								   : '?');
	if (hex4(p + s->i + 1, s->len - s->i - 1, &cp) != 0)
		return scan_fail(s, AIRLOCK_E_FORMAT,
				 "\\u must be followed by four hex digits");
	if (cp == 0)
		return scan_fail(s, AIRLOCK_E_FORMAT,
				 "\\u0000 (NUL) is not allowed in strings");
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return scan_fail(s, AIRLOCK_E_FORMAT,
				 "unpaired low surrogate \\u%04x", cp);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (s->len - s->i < 11 || p[s->i + 5] != '\\' ||
		    p[s->i + 6] != 'u' ||
		    hex4(p + s->i + 7, s->len - s->i - 7, &lo) != 0 ||
		    lo < 0xdc00 || lo > 0xdfff)
			return scan_fail(s, AIRLOCK_E_FORMAT,
					 "unpaired high surrogate \\u%04x", cp);
		s->i += 11;
		return 0;
	}
	s->i += 5;
	return 0;
}

/* S->i is at the opening quote. */
static int
scan_string(struct json_scan *s)
{
	const char *why;
	size_t n;
	int r;

	s->i++;
	for (;;) {
		unsigned char c;

		if (s->i >= s->len)
			return scan_fail(s, AIRLOCK_E_FORMAT,
					 "unterminated string");
		c = s->p[s->i];
		if (c == '"') {
			s->i++;
			return 0;
		}
		if (c == '\\') {
			s->i++;
			if ((r = scan_escape(s)) != 0)
				return r;
			continue;
		}
		if (c == 0)
			return scan_fail(s, AIRLOCK_E_FORMAT,
					 "NUL byte in string");
		if (c < 0x20)
			return scan_fail(s, AIRLOCK_E_FORMAT,
					 "raw control character 0x%02x in "
					 "string (must be escaped)",
					 c);
		if ((why = utf8_check(s->p + s->i, s->len - s->i, &n)) != NULL)
			return scan_fail(s, AIRLOCK_E_FORMAT, "%s", why);
		s->i += n;
	}
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 8259 section 6: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
static int
scan_number(struct json_scan *s)
{
	const unsigned char *p = s->p;
	size_t start = s->i, i = s->i;
	int nonint = 0;

	if (i < s->len && p[i] == '-')
		i++;
	if (i >= s->len || !is_digit(p[i]))
		return scan_fail(s, AIRLOCK_E_FORMAT,
				 "'-' must be followed by a digit");
	if (p[i] == '0' && i + 1 < s->len && is_digit(p[i + 1]))
		return scan_fail(s, AIRLOCK_E_FORMAT,
				 "number with a leading zero");
	while (i < s->len && is_digit(p[i]))
		i++;
	if (i < s->len && p[i] == '.') {
		nonint = 1;
		if (++i >= s->len || !is_digit(p[i]))
			return scan_fail(s, AIRLOCK_E_FORMAT,
					 "'.' in a number must be followed "
					 "by a digit");
		while (i < s->len && is_digit(p[i]))
			i++;
	}
	if (i < s->len && (p[i] == 'e' || p[i] == 'E')) {
		nonint = 1;
		if (++i < s->len && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i >= s->len || !is_digit(p[i]))
			return scan_fail(s, AIRLOCK_E_FORMAT,
					 "exponent without digits");
		while (i < s->len && is_digit(p[i]))
			i++;
	}
	if (i - start > JSON_NUMBER_TEXT_MAX)
		return scan_fail(s, AIRLOCK_E_FORMAT,
				 "number longer than %d characters",
				 JSON_NUMBER_TEXT_MAX);
	if (nonint) {
		if (s->n_nonint == s->cap_nonint) {
			size_t ncap = s->cap_nonint ? s->cap_nonint * 2 : 16;
			size_t *n = realloc(s->nonint, ncap * sizeof(*n));

			if (n == NULL)
				return AIRLOCK_E_NOMEM;
			s->nonint = n;
			s->cap_nonint = ncap;
		}
		s->nonint[s->n_nonint++] = s->n_numbers;
	}
	s->n_numbers++;
	s->i = i;
	return 0;
}

static int
scan_literal(struct json_scan *s)
{
	static const char *const lits[] = {"true", "false", "null"};
	size_t k, n;

	for (k = 0; k < sizeof(lits) / sizeof(lits[0]); k++) {
		n = strlen(lits[k]);
		if (s->len - s->i >= n &&
		    memcmp(s->p + s->i, lits[k], n) == 0) {
			s->i += n;
			return 0;
		}
	}
	return scan_fail(s, AIRLOCK_E_FORMAT,
			 "unexpected literal (only true, false, null)");
}

/* One pass over the bytes before cJSON sees them: encoding, strings, numbers,
 * literals and depth. Structure (commas, colons, balance) is left to cJSON. */
static int
scan_all(struct json_scan *s)
{
	int r;

	if (s->len >= 3 && memcmp(s->p, "\xef\xbb\xbf", 3) == 0)
		return scan_fail(s, AIRLOCK_E_FORMAT,
				 "byte order mark is not allowed");
	while (s->i < s->len) {
		unsigned char c = s->p[s->i];

		switch (c) {
		case ' ':
		case '\t':
		case '\n':
		case '\r':
		case ',':
		case ':':
			s->i++;
			break;
		case '{':
		case '[':
			if (++s->depth > s->max_depth)
				return scan_fail(s, AIRLOCK_E_TOO_LARGE,
						 "nesting deeper than %d",
						 s->max_depth);
			s->i++;
			break;
		case '}':
		case ']':
			if (s->depth > 0)
				s->depth--;
			s->i++;
			break;
		case '"':
			if ((r = scan_string(s)) != 0)
				return r;
			break;
		case 't':
		case 'f':
		case 'n':
			if ((r = scan_literal(s)) != 0)
				return r;
			break;
		default:
			if (c == '-' || is_digit(c)) {
				if ((r = scan_number(s)) != 0)
					return r;
				break;
			}
			if (c == 0)
				return scan_fail(s, AIRLOCK_E_FORMAT,
						 "NUL byte");
			if (c >= 0x21 && c < 0x7f)
				return scan_fail(s, AIRLOCK_E_FORMAT,
						 "unexpected character '%c'",
						 c);
			return scan_fail(s, AIRLOCK_E_FORMAT,
					 "unexpected byte 0x%02x outside a "
					 "string",
					 c);
		}
	}
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
dup_fail(const char *key, const char *path)
{
	char safe[96];

	err_detail_set("duplicate key \"%s\" in the object at %s",
		       term_sanitize(key, safe, sizeof(safe)),
		       path[0] ? path : "the top level");
	return AIRLOCK_E_FORMAT;
}

/* Keys are compared as cJSON decoded them, so escapes cannot hide a
 * duplicate. Small objects pairwise; large ones sorted (an attacker's
 * million-key object must not cost n^2). */
static int
object_dups_check(const cJSON *obj, const char *path)
{
	const cJSON *a, *b;
	const char **names = NULL;
	size_t n = 0, k;
	int r = AIRLOCK_E_INTERNAL;

	cJSON_ArrayForEach (a, obj)
		n++;
	if (n <= 16) {
		cJSON_ArrayForEach (a, obj) {
			for (b = a->next; b != NULL; b = b->next)
				if (strcmp(a->string, b->string) == 0)
					return dup_fail(a->string, path);
		}
		return 0;
	}
	if ((names = calloc(n, sizeof(*names))) == NULL)
		return AIRLOCK_E_NOMEM;
	k = 0;
	cJSON_ArrayForEach (a, obj)
		names[k++] = a->string;
	qsort(names, n, sizeof(*names), name_cmp);
	for (k = 1; k < n; k++) {
		if (strcmp(names[k - 1], names[k]) == 0) {
			r = dup_fail(names[k], path);
			goto out;
		}
	}
	r = 0;
out:
	free(names);
	return r;
}

struct json_walk {
	const struct json_scan *s;
	size_t num_ord;
	size_t nonint_pos;
};

/* Pre-order walk: cJSON keeps children in document order, so the Nth number
 * met here is the Nth number the scanner saw. */
static int
tree_check(cJSON *item, struct json_walk *w, char *path, size_t pathlen,
	   size_t cap)
{
	cJSON *c;
	size_t idx = 0;
	int r;

	if (cJSON_IsNumber(item)) {
		if (w->nonint_pos < w->s->n_nonint &&
		    w->s->nonint[w->nonint_pos] == w->num_ord) {
			item->type |= JSON_TYPE_NONINT_TEXT;
			w->nonint_pos++;
		}
		w->num_ord++;
		return 0;
	}
	if (!cJSON_IsObject(item) && !cJSON_IsArray(item))
		return 0;
	if (cJSON_IsObject(item) && (r = object_dups_check(item, path)) != 0)
		return r;
	cJSON_ArrayForEach (c, item) {
		char safe[40];

		if (cJSON_IsObject(item))
			snprintf(path + pathlen, cap - pathlen, "%s%s",
				 pathlen ? "." : "",
				 term_sanitize(c->string, safe, sizeof(safe)));
		else
			snprintf(path + pathlen, cap - pathlen, "[%zu]", idx);
		idx++;
		if ((r = tree_check(c, w, path, strlen(path), cap)) != 0)
			return r;
		path[pathlen] = '\0';
	}
	return 0;
}

int
json_parse_strict(const unsigned char *buf, size_t len, int max_depth,
		  cJSON **out)
{
	struct json_scan s;
	struct json_walk w;
	char *copy = NULL, path[512];
	const char *end = NULL;
	cJSON *root = NULL;
	size_t i;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	memset(&s, 0, sizeof(s));
	s.p = buf;
	s.len = len;
	s.max_depth = max_depth;
	if (len == 0) {
		r = scan_fail(&s, AIRLOCK_E_FORMAT, "empty document");
		goto out;
	}
	if ((r = scan_all(&s)) != 0)
		goto out;
	/* A NUL-terminated private copy: the scan rejected every NUL, so a
	 * cJSON read past LEN stops at the terminator. */
	if ((copy = malloc(len + 1)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	memcpy(copy, buf, len);
	copy[len] = '\0';
	root = cJSON_ParseWithLengthOpts(copy, len, &end, 0);
	if (root == NULL) {
		s.i = end != NULL && end >= copy ? (size_t)(end - copy) : 0;
		r = scan_fail(&s, AIRLOCK_E_FORMAT,
			      "not valid JSON (a missing or extra ',', ':', "
			      "bracket or value)");
		goto out;
	}
	for (i = (size_t)(end - copy); i < len; i++) {
		if (strchr(" \t\r\n", copy[i]) == NULL) {
			s.i = i;
			r = scan_fail(&s, AIRLOCK_E_FORMAT,
				      "trailing data after the JSON value");
			goto out;
		}
	}
	w.s = &s;
	w.num_ord = 0;
	w.nonint_pos = 0;
	path[0] = '\0';
	if ((r = tree_check(root, &w, path, 0, sizeof(path))) != 0)
		goto out;
	if (w.num_ord != s.n_numbers) {
		/* Never expected: the scanner and cJSON disagree. */
		err_detail_set("internal: scanner saw %zu numbers, cJSON %zu",
			       s.n_numbers, w.num_ord);
		r = AIRLOCK_E_INTERNAL;
		goto out;
	}
	*out = root;
	root = NULL;
	r = 0;
out:
	cJSON_Delete(root);
	/* the text may hold a bearer token: wipe before freeing */
	if (copy != NULL)
		OPENSSL_cleanse(copy, len + 1);
	free(copy);
	free(s.nonint);
	return r;
}

/* ---- schema helpers ---- */

static const char *
type_name(const cJSON *item)
{
	if (cJSON_IsString(item))
		return "a string";
	if (cJSON_IsNumber(item))
		return "a number";
	if (cJSON_IsBool(item))
		return "a boolean";
	if (cJSON_IsNull(item))
		return "null";
	if (cJSON_IsArray(item))
		return "an array";
	if (cJSON_IsObject(item))
		return "an object";
	return "invalid";
}

static const char *
dot(const char *path)
{
	return path != NULL && path[0] != '\0' ? "." : "";
}

static const char *
nz(const char *path)
{
	return path != NULL ? path : "";
}

static int
in_list(const char *s, const char *const *list)
{
	size_t k;

	for (k = 0; list != NULL && list[k] != NULL; k++)
		if (strcmp(s, list[k]) == 0)
			return 1;
	return 0;
}

int
json_check_keys(const cJSON *obj, const char *path, const char *const *required,
		const char *const *optional)
{
	const cJSON *c;
	char safe[96];
	size_t k;

	if (!cJSON_IsObject(obj)) {
		err_detail_set("%s: must be an object (got %s)",
			       path && path[0] ? path : "document",
			       type_name(obj));
		return AIRLOCK_E_FORMAT;
	}
	cJSON_ArrayForEach (c, obj) {
		if (!in_list(c->string, required) &&
		    !in_list(c->string, optional)) {
			err_detail_set(
			    "%s%s%s: unknown key (not in this "
			    "format version)",
			    nz(path), dot(path),
			    term_sanitize(c->string, safe, sizeof(safe)));
			return AIRLOCK_E_FORMAT;
		}
	}
	for (k = 0; required != NULL && required[k] != NULL; k++) {
		if (cJSON_GetObjectItemCaseSensitive(obj, required[k]) ==
		    NULL) {
			err_detail_set("%s%s%s: required key is missing",
				       nz(path), dot(path), required[k]);
			return AIRLOCK_E_FORMAT;
		}
	}
	return 0;
}

static int
get_item(const cJSON *obj, const char *key, const char *path, const cJSON **out)
{
	*out = NULL;
	if (!cJSON_IsObject(obj)) {
		err_detail_set("%s: must be an object (got %s)",
			       path && path[0] ? path : "document",
			       type_name(obj));
		return AIRLOCK_E_FORMAT;
	}
	if ((*out = cJSON_GetObjectItemCaseSensitive(obj, key)) == NULL) {
		err_detail_set("%s%s%s: required key is missing", nz(path),
			       dot(path), key);
		return AIRLOCK_E_FORMAT;
	}
	return 0;
}

static int
wrong_type(const cJSON *item, const char *key, const char *path,
	   const char *want)
{
	err_detail_set("%s%s%s: must be %s (got %s)", nz(path), dot(path), key,
		       want, type_name(item));
	return AIRLOCK_E_FORMAT;
}

int
json_get_str(const cJSON *obj, const char *key, const char *path,
	     size_t max_len, const char **out)
{
	const cJSON *it;
	size_t n;
	int r;

	*out = NULL;
	if ((r = get_item(obj, key, path, &it)) != 0)
		return r;
	if (!cJSON_IsString(it) || it->valuestring == NULL)
		return wrong_type(it, key, path, "a string");
	if ((n = strlen(it->valuestring)) > max_len) {
		err_detail_set("%s%s%s: %zu bytes long, over the limit of %zu",
			       nz(path), dot(path), key, n, max_len);
		return AIRLOCK_E_FORMAT;
	}
	*out = it->valuestring;
	return 0;
}

int
json_number_is_integer(const cJSON *item)
{
	double d;

	if (!cJSON_IsNumber(item) || (item->type & JSON_TYPE_NONINT_TEXT))
		return 0;
	d = item->valuedouble;
	if (!isfinite(d))
		return 0;
	/* Every double beyond 2^62 is an integer; below, a round trip through
	 * long long tells (and avoids a libm dependency for floor()). */
	if (d > 4611686018427387904.0 || d < -4611686018427387904.0)
		return 1;
	return (double)(long long)d == d;
}

int
json_get_int(const cJSON *obj, const char *key, const char *path, long long min,
	     long long max, long long *out)
{
	const cJSON *it;
	double d;
	long long v;
	int r;

	*out = 0;
	if ((r = get_item(obj, key, path, &it)) != 0)
		return r;
	if (!cJSON_IsNumber(it))
		return wrong_type(it, key, path, "an integer");
	if (!json_number_is_integer(it)) {
		err_detail_set("%s%s%s: must be written as a plain integer "
			       "(no fraction or exponent)",
			       nz(path), dot(path), key);
		return AIRLOCK_E_FORMAT;
	}
	d = it->valuedouble;
	if (d > (double)JSON_INT_EXACT_MAX || d < -(double)JSON_INT_EXACT_MAX) {
		err_detail_set("%s%s%s: integer too large to be exact (limit "
			       "2^53 - 1)",
			       nz(path), dot(path), key);
		return AIRLOCK_E_FORMAT;
	}
	v = (long long)d;
	if (v < min || v > max) {
		err_detail_set("%s%s%s: %lld is out of range [%lld, %lld]",
			       nz(path), dot(path), key, v, min, max);
		return AIRLOCK_E_FORMAT;
	}
	*out = v;
	return 0;
}

int
json_get_bool(const cJSON *obj, const char *key, const char *path, int *out)
{
	const cJSON *it;
	int r;

	*out = 0;
	if ((r = get_item(obj, key, path, &it)) != 0)
		return r;
	if (!cJSON_IsBool(it))
		return wrong_type(it, key, path, "true or false");
	*out = cJSON_IsTrue(it) ? 1 : 0;
	return 0;
}

int
json_get_array(const cJSON *obj, const char *key, const char *path,
	       size_t max_items, const cJSON **out, size_t *n_out)
{
	const cJSON *it, *c;
	size_t n = 0;
	int r;

	*out = NULL;
	if (n_out != NULL)
		*n_out = 0;
	if ((r = get_item(obj, key, path, &it)) != 0)
		return r;
	if (!cJSON_IsArray(it))
		return wrong_type(it, key, path, "an array");
	cJSON_ArrayForEach (c, it) {
		if (++n > max_items) {
			err_detail_set("%s%s%s: more than %zu elements",
				       nz(path), dot(path), key, max_items);
			return AIRLOCK_E_TOO_LARGE;
		}
	}
	*out = it;
	if (n_out != NULL)
		*n_out = n;
	return 0;
}

int
json_get_object(const cJSON *obj, const char *key, const char *path,
		const cJSON **out)
{
	const cJSON *it;
	int r;

	*out = NULL;
	if ((r = get_item(obj, key, path, &it)) != 0)
		return r;
	if (!cJSON_IsObject(it))
		return wrong_type(it, key, path, "an object");
	*out = it;
	return 0;
}
