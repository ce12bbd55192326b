/* Digests as words to read aloud (see words.c). */
#ifndef AIRLOCK_WORDS_H
#define AIRLOCK_WORDS_H

#include <stddef.h>

/* The word for byte B. */
const char *words_get(unsigned char b);
/* The first NBYTES of digest D as words joined by '-' ("amber-falcon-..."),
 * NUL-terminated in OUT. Returns OUT. */
char *words_from_digest(const unsigned char *d, size_t nbytes, char *out,
			size_t outlen);

#endif
