#include "lib/term.h"

#include <stdio.h>
#include <string.h>

/* Length of a valid UTF-8 sequence at S (1..4), its code point in *CP, or 0. */
static size_t
term_utf8(const unsigned char *s, unsigned long *cp)
{
	size_t n, i;
	unsigned long c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
	    (n == 4 && c < 0x10000) || (c >= 0xd800 && c <= 0xdfff) ||
	    c > 0x10ffff)
		return 0;
	*cp = c;
	return n;
}

static int
term_is_bidi(unsigned long c)
{
	return c == 0x061c || c == 0x200e || c == 0x200f ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

char *
term_sanitize(const char *in, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, n;
	unsigned long cp;
	char esc[16];

	if (outlen == 0)
		return out;
	while (*s != '\0') {
		n = term_utf8(s, &cp);
		if (n == 0) {
			snprintf(esc, sizeof(esc), "\\x%02x", *s);
			n = 1;
		} else if (cp < 0x20 || cp == 0x7f ||
			   (cp >= 0x80 && cp < 0xa0)) {
			snprintf(esc, sizeof(esc), "\\x%02lx", cp);
		} else if (term_is_bidi(cp)) {
			snprintf(esc, sizeof(esc), "\\u{%04lx}", cp);
		} else {
			if (o + n >= outlen)
				break;
			memcpy(out + o, s, n);
			o += n;
			s += n;
			continue;
		}
		if (o + strlen(esc) >= outlen)
			break;
		memcpy(out + o, esc, strlen(esc));
		o += strlen(esc);
		s += n;
	}
	out[o] = '\0';
	return out;
}
