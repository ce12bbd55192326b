/* Text from outside (token labels, reader names, CSR subjects) made safe to
 * print on a terminal: no escape sequences, control characters or bidi
 * overrides reach it. */
#ifndef AIRLOCK_TERM_H
#define AIRLOCK_TERM_H

#include <stddef.h>

/* Copy IN into OUT (always NUL-terminated), replacing every C0/C1 control
 * character, DEL, invalid UTF-8 and Unicode bidi controls with "\xNN" or
 * "\u{NNNN}". Returns OUT. */
char *term_sanitize(const char *in, char *out, size_t outlen);

#endif
