#include "station/transcript.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/term.h"
#include "station/words.h"

struct transcript {
	char *buf;
	size_t len, cap;
	int failed;
};

static void
tr_put(struct transcript *t, const char *s)
{
	size_t n = strlen(s);
	char *nb;

	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t ncap = (t->len + n + 1) * 2 + 256;
		if ((nb = realloc(t->buf, ncap)) == NULL) {
			t->failed = 1;
			return;
		}
		t->buf = nb;
		t->cap = ncap;
	}
	memcpy(t->buf + t->len, s, n + 1);
	t->len += n;
}

int
transcript_new(const char *title, struct transcript **out)
{
	struct transcript *t;
	size_t i, n = strlen(title);

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return AIRLOCK_E_NOMEM;
	tr_put(t, title);
	tr_put(t, "\n");
	for (i = 0; i < n; i++)
		tr_put(t, "=");
	tr_put(t, "\n");
	if (t->failed) {
		transcript_free(t);
		return AIRLOCK_E_NOMEM;
	}
	*out = t;
	return 0;
}

void
transcript_free(struct transcript *t)
{
	if (t == NULL)
		return;
	free(t->buf);
	free(t);
}

void
transcript_add(struct transcript *t, const char *key, const char *fmt, ...)
{
	char raw[2048], safe[4096], line[4200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	term_sanitize(raw, safe, sizeof(safe));
	snprintf(line, sizeof(line), "%-22s %s\n", key, safe);
	tr_put(t, line);
}

void
transcript_digest(struct transcript *t, const char *key, const unsigned char *d,
		  size_t n)
{
	char hex[2 * 64 + 1], words[256];
	size_t i;

	for (i = 0; i < n && i < 64; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	transcript_add(t, key, "%s", hex);
	words_from_digest(d, n < 8 ? n : 8, words, sizeof(words));
	transcript_add(t, "", "read aloud: %s", words);
}

void
transcript_section(struct transcript *t, const char *title)
{
	tr_put(t, "\n");
	tr_put(t, title);
	tr_put(t, "\n");
}

void
transcript_sign_lines(struct transcript *t, const char *operator_name,
		      char *const *witnesses, size_t nwitnesses)
{
	size_t i;

	transcript_section(t, "Signatures");
	tr_put(t, "I confirm that the digests above were read aloud and "
		  "matched.\n\n");
	transcript_add(t, "operator", "%s", operator_name);
	tr_put(t,
	       "  signature: ________________________  date: ____________\n");
	for (i = 0; i < nwitnesses; i++) {
		transcript_add(t, "witness", "%s", witnesses[i]);
		tr_put(t, "  signature: ________________________  date: "
			  "____________\n");
	}
}

const char *
transcript_text(const struct transcript *t)
{
	return t->buf;
}

int
transcript_status(const struct transcript *t)
{
	return t->failed ? AIRLOCK_E_NOMEM : 0;
}
