#include "pkcs11/uri.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/err.h"

#define URI_MAX_LEN 4096

enum uri_part { URI_PATH, URI_QUERY };

/* Canonical order for formatting; RFC 7512 section 2.3. */
static const struct {
	const char *name;
	enum uri_part part;
} uri_attrs[] = {
    {"library-manufacturer", URI_PATH},
    {"library-description", URI_PATH},
    {"library-version", URI_PATH},
    {"slot-manufacturer", URI_PATH},
    {"slot-description", URI_PATH},
    {"slot-id", URI_PATH},
    {"manufacturer", URI_PATH},
    {"model", URI_PATH},
    {"serial", URI_PATH},
    {"token", URI_PATH},
    {"object", URI_PATH},
    {"id", URI_PATH},
    {"type", URI_PATH},
    {"module-name", URI_QUERY},
    {"module-path", URI_QUERY},
    {"pin-source", URI_QUERY},
};
#define URI_NATTRS (sizeof(uri_attrs) / sizeof(uri_attrs[0]))

struct p11_uri {
	unsigned char *val[URI_NATTRS];
	size_t len[URI_NATTRS];
};

static int
uri_attr_index(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < URI_NATTRS; i++)
		if (strlen(uri_attrs[i].name) == n &&
		    memcmp(uri_attrs[i].name, name, n) == 0)
			return (int)i;
	return -1;
}

int
uri_new(struct p11_uri **out)
{
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? 0 : AIRLOCK_E_NOMEM;
}

void
uri_free(struct p11_uri *uri)
{
	size_t i;

	if (uri == NULL)
		return;
	for (i = 0; i < URI_NATTRS; i++)
		free(uri->val[i]);
	free(uri);
}

static int
uri_is_unreserved(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 7512: p11-pchar for path values, p11-qchar for query values. */
static int
uri_char_ok(int c, enum uri_part part)
{
	if (uri_is_unreserved(c))
		return 1;
	if (strchr(":[]@!$'()*+,=", c) != NULL)
		return 1;
	if (part == URI_PATH)
		return c == '&';
	return c == '/' || c == '?' || c == '|';
}

static int
uri_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode S[0..N) into a fresh buffer; OFF is S's offset in the whole URI. */
static int
uri_decode(const char *s, size_t n, enum uri_part part, size_t off,
	   unsigned char **out, size_t *outlen)
{
	unsigned char *buf;
	size_t i, o = 0;
	int hi, lo;

	*out = NULL;
	if ((buf = malloc(n + 1)) == NULL)
		return AIRLOCK_E_NOMEM;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n) {
				err_detail_set("at offset %zu: '%%' needs two "
					       "hex digits",
					       off + i);
				goto bad;
			}
			hi = uri_hexval((unsigned char)s[i + 1]);
			lo = uri_hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0) {
				err_detail_set(
				    "at offset %zu: '%%%c%c' is not "
				    "a percent-encoded byte",
				    off + i,
				    isprint((unsigned char)s[i + 1]) ? s[i + 1]
								     : '?',
				    isprint((unsigned char)s[i + 2]) ? s[i + 2]
								     : '?');
				goto bad;
			}
			buf[o++] = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (uri_char_ok(c, part)) {
			buf[o++] = c;
		} else {
			if (isprint(c))
				err_detail_set("at offset %zu: character '%c' "
					       "must be percent-encoded",
					       off + i, c);
			else
				err_detail_set("at offset %zu: byte 0x%02x "
					       "must be percent-encoded",
					       off + i, c);
			goto bad;
		}
	}
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 0;
bad:
	free(buf);
	return AIRLOCK_E_URI_SYNTAX;
}

static int
uri_check_value(int idx, const unsigned char *v, size_t len, size_t off)
{
	const char *name = uri_attrs[idx].name;
	size_t i;

	if (strcmp(name, "slot-id") == 0) {
		if (len == 0 || len > 19)
			goto bad_slot;
		for (i = 0; i < len; i++)
			if (!isdigit(v[i]))
				goto bad_slot;
	}
	if (strcmp(name, "type") == 0) {
		static const char *const types[] = {"private", "public", "cert",
						    "secret-key", "data"};
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strlen(types[i]) == len &&
			    memcmp(types[i], v, len) == 0)
				return 0;
		err_detail_set("at offset %zu: type must be private, public, "
			       "cert, secret-key or data",
			       off);
		return AIRLOCK_E_URI_SYNTAX;
	}
	if (strcmp(name, "id") != 0 && memchr(v, '\0', len) != NULL) {
		err_detail_set("at offset %zu: %s holds a NUL byte", off, name);
		return AIRLOCK_E_URI_SYNTAX;
	}
	return 0;
bad_slot:
	err_detail_set("at offset %zu: slot-id must be a decimal number", off);
	return AIRLOCK_E_URI_SYNTAX;
}

/* One "name=value" of length N at S (offset OFF) in PART. */
static int
uri_parse_attr(struct p11_uri *uri, const char *s, size_t n, size_t off,
	       enum uri_part part)
{
	const char *eq = memchr(s, '=', n);
	size_t nlen;
	int idx, r;

	if (n == 0) {
		err_detail_set("at offset %zu: empty attribute", off);
		return AIRLOCK_E_URI_SYNTAX;
	}
	if (eq == NULL) {
		err_detail_set("at offset %zu: '%.*s' has no '='", off,
			       (int)(n > 40 ? 40 : n), s);
		return AIRLOCK_E_URI_SYNTAX;
	}
	nlen = (size_t)(eq - s);
	if (part == URI_QUERY && nlen == 9 && memcmp(s, "pin-value", 9) == 0) {
		err_detail_set(
		    "at offset %zu: pin-value is refused: a PIN on a "
		    "command line is visible to every user; use "
		    "pin-source=file:PATH or the prompt",
		    off);
		return AIRLOCK_E_PIN_REFUSED;
	}
	idx = uri_attr_index(s, nlen);
	if (idx < 0 || uri_attrs[idx].part != part) {
		err_detail_set("at offset %zu: unknown %s attribute '%.*s'",
			       off, part == URI_PATH ? "path" : "query",
			       (int)(nlen > 40 ? 40 : nlen), s);
		return AIRLOCK_E_URI_UNKNOWN_ATTR;
	}
	if (uri->val[idx] != NULL) {
		err_detail_set("at offset %zu: attribute '%s' given twice", off,
			       uri_attrs[idx].name);
		return AIRLOCK_E_URI_SYNTAX;
	}
	if ((r = uri_decode(eq + 1, n - nlen - 1, part, off + nlen + 1,
			    &uri->val[idx], &uri->len[idx])) != 0)
		return r;
	return uri_check_value(idx, uri->val[idx], uri->len[idx],
			       off + nlen + 1);
}

static int
uri_parse_list(struct p11_uri *uri, const char *s, size_t n, size_t off,
	       enum uri_part part)
{
	char sep = part == URI_PATH ? ';' : '&';
	size_t start = 0, i;
	int r;

	if (n == 0)
		return 0;
	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != sep)
			continue;
		if ((r = uri_parse_attr(uri, s + start, i - start, off + start,
					part)) != 0)
			return r;
		start = i + 1;
	}
	return 0;
}

int
uri_parse(const char *s, struct p11_uri **out)
{
	struct p11_uri *uri = NULL;
	const char *q;
	size_t n, plen;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	n = strnlen(s, URI_MAX_LEN + 1);
	if (n > URI_MAX_LEN) {
		err_detail_set("URI longer than %d bytes", URI_MAX_LEN);
		return AIRLOCK_E_URI_SYNTAX;
	}
	if (n < 7 || strncasecmp(s, "pkcs11:", 7) != 0) {
		err_detail_set("at offset 0: a PKCS#11 URI starts with "
			       "'pkcs11:' (RFC 7512), e.g. "
			       "pkcs11:token=root-ca;object=root-key");
		return AIRLOCK_E_URI_SYNTAX;
	}
	if ((r = uri_new(&uri)) != 0)
		return r;
	q = memchr(s + 7, '?', n - 7);
	plen = (q != NULL ? (size_t)(q - s) : n) - 7;
	if ((r = uri_parse_list(uri, s + 7, plen, 7, URI_PATH)) != 0)
		goto out;
	if (q != NULL) {
		if (memchr(q + 1, '?', n - (size_t)(q + 1 - s)) != NULL) {
			err_detail_set("at offset %zu: second '?'",
				       (size_t)(strchr(q + 1, '?') - s));
			r = AIRLOCK_E_URI_SYNTAX;
			goto out;
		}
		if ((r = uri_parse_list(uri, q + 1, n - (size_t)(q + 1 - s),
					(size_t)(q + 1 - s), URI_QUERY)) != 0)
			goto out;
	}
	{
		/* refuse what could not be printed back within the limit
		 * (percent-encoding can triple a value) */
		char *f = NULL;
		if ((r = uri_format(uri, &f)) != 0)
			goto out;
		free(f);
	}
	*out = uri;
	uri = NULL;
	r = 0;
out:
	uri_free(uri);
	return r;
}

const char *
uri_get0(const struct p11_uri *uri, const char *attr)
{
	int idx = uri_attr_index(attr, strlen(attr));

	if (uri == NULL || idx < 0)
		return NULL;
	return (const char *)uri->val[idx];
}

int
uri_get0_bytes(const struct p11_uri *uri, const char *attr,
	       const unsigned char **val, size_t *len)
{
	int idx = uri_attr_index(attr, strlen(attr));

	*val = NULL;
	*len = 0;
	if (uri == NULL || idx < 0 || uri->val[idx] == NULL)
		return 0;
	*val = uri->val[idx];
	*len = uri->len[idx];
	return 1;
}

int
uri_set1(struct p11_uri *uri, const char *attr, const void *val, size_t len)
{
	int idx = uri_attr_index(attr, strlen(attr));
	unsigned char *copy;

	if (idx < 0)
		return AIRLOCK_E_INVALID_ARG;
	if ((copy = malloc(len + 1)) == NULL)
		return AIRLOCK_E_NOMEM;
	if (len > 0)
		memcpy(copy, val, len);
	copy[len] = '\0';
	free(uri->val[idx]);
	uri->val[idx] = copy;
	uri->len[idx] = len;
	return 0;
}

/* Append to a growing string; every path/query value is percent-encoded
 * except unreserved characters, so the result always parses back. */
struct uri_out {
	char *buf;
	size_t len, cap;
};

static int
uri_out_add(struct uri_out *o, const char *s, size_t n)
{
	char *nb;

	if (o->len + n + 1 > o->cap) {
		size_t ncap = (o->len + n + 1) * 2;
		if ((nb = realloc(o->buf, ncap)) == NULL)
			return AIRLOCK_E_NOMEM;
		o->buf = nb;
		o->cap = ncap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
	return 0;
}

static int
uri_out_value(struct uri_out *o, const unsigned char *v, size_t n, int all)
{
	static const char hex[] = "0123456789ABCDEF";
	char enc[3] = {'%', 0, 0};
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		if (!all && uri_is_unreserved(v[i])) {
			if ((r = uri_out_add(o, (const char *)&v[i], 1)) != 0)
				return r;
			continue;
		}
		enc[1] = hex[v[i] >> 4];
		enc[2] = hex[v[i] & 15];
		if ((r = uri_out_add(o, enc, 3)) != 0)
			return r;
	}
	return 0;
}

int
uri_format(const struct p11_uri *uri, char **out)
{
	struct uri_out o = {NULL, 0, 0};
	int first_path = 1, first_query = 1, r = AIRLOCK_E_INTERNAL;
	size_t i;

	*out = NULL;
	if ((r = uri_out_add(&o, "pkcs11:", 7)) != 0)
		goto out;
	for (i = 0; i < URI_NATTRS; i++) {
		const char *sep;
		if (uri->val[i] == NULL)
			continue;
		if (uri_attrs[i].part == URI_PATH) {
			sep = first_path ? "" : ";";
			first_path = 0;
		} else {
			sep = first_query ? "?" : "&";
			first_query = 0;
		}
		if ((r = uri_out_add(&o, sep, strlen(sep))) != 0 ||
		    (r = uri_out_add(&o, uri_attrs[i].name,
				     strlen(uri_attrs[i].name))) != 0 ||
		    (r = uri_out_add(&o, "=", 1)) != 0)
			goto out;
		if (uri_attrs[i].part == URI_QUERY &&
		    strcmp(uri_attrs[i].name, "module-path") == 0) {
			/* keep slashes readable in module paths */
			size_t j;
			for (j = 0; j < uri->len[i]; j++) {
				unsigned char c = uri->val[i][j];
				if (c == '/')
					r = uri_out_add(&o, "/", 1);
				else
					r = uri_out_value(&o, &c, 1, 0);
				if (r != 0)
					goto out;
			}
			continue;
		}
		if ((r = uri_out_value(&o, uri->val[i], uri->len[i],
				       strcmp(uri_attrs[i].name, "id") == 0)) !=
		    0)
			goto out;
	}
	/* never print what uri_parse would refuse to read back */
	if (o.len > URI_MAX_LEN) {
		err_detail_set("the URI would be %zu bytes, over the %d that "
			       "airlock reads back",
			       o.len, URI_MAX_LEN);
		r = AIRLOCK_E_TOO_LARGE;
		goto out;
	}
	*out = o.buf;
	o.buf = NULL;
	r = 0;
out:
	free(o.buf);
	return r;
}
