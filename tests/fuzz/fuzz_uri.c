/* libFuzzer harness: PKCS#11 URIs (pkcs11/uri.c, RFC 7512).
 *
 * The input is the URI text (copied NUL-terminated; it stops at the first
 * NUL). A URI that parses must format to a string that parses back to an
 * equal URI (every attribute's bytes), and formatting that one again must
 * give the same string: otherwise abort(), so that the fuzzer reports the
 * mismatch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "pkcs11/uri.h"

#define FUZZ_MAX (16u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const attrs[] = {"token",
				    "manufacturer",
				    "serial",
				    "model",
				    "library-manufacturer",
				    "library-description",
				    "library-version",
				    "slot-description",
				    "slot-manufacturer",
				    "slot-id",
				    "object",
				    "id",
				    "type",
				    "module-path",
				    "module-name",
				    "pin-source",
				    NULL};

static void
mismatch(const char *in, const char *printed, const char *attr)
{
	fprintf(stderr, "uri round trip: '%s' formats as '%s', which %s%s\n",
		in, printed, attr ? "differs in " : "does not parse",
		attr ? attr : "");
	abort();
}

static void
same(const struct p11_uri *a, const struct p11_uri *b, const char *in,
     const char *printed)
{
	const unsigned char *va, *vb;
	size_t la, lb, i;
	int ra, rb;

	for (i = 0; attrs[i] != NULL; i++) {
		ra = uri_get0_bytes(a, attrs[i], &va, &la);
		rb = uri_get0_bytes(b, attrs[i], &vb, &lb);
		if (ra != rb ||
		    (ra == 0 && (la != lb || (la > 0 && memcmp(va, vb, la)))))
			mismatch(in, printed, attrs[i]);
		if ((uri_get0(a, attrs[i]) == NULL) !=
		    (uri_get0(b, attrs[i]) == NULL))
			mismatch(in, printed, attrs[i]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct p11_uri *u = NULL, *v = NULL;
	char *s, *f1 = NULL, *f2 = NULL;

	if (size > FUZZ_MAX)
		return 0;
	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (uri_parse(s, &u) != 0) {
		if (u != NULL)
			abort();
		goto out;
	}
	if (uri_format(u, &f1) != 0 || f1 == NULL)
		abort(); /* a parsed URI always formats */
	if (uri_parse(f1, &v) != 0)
		mismatch(s, f1, NULL);
	same(u, v, s, f1);
	if (uri_format(v, &f2) != 0 || strcmp(f1, f2) != 0)
		mismatch(s, f1, "its second formatting");
out:
	free(f1);
	free(f2);
	uri_free(u);
	uri_free(v);
	free(s);
	err_detail_clear();
	return 0;
}
