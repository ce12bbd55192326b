/* A ceremony transcript: what happened, with which software, token and key,
 * every digest in hex and as words to read aloud, every confirmation, and
 * lines for the witnesses to sign. Built in memory, written by the caller. */
#ifndef AIRLOCK_TRANSCRIPT_H
#define AIRLOCK_TRANSCRIPT_H

#include <stddef.h>

struct transcript;

int transcript_new(const char *title, struct transcript **out)
    __attribute__((warn_unused_result));
void transcript_free(struct transcript *t);
/* "KEY  value" line; VALUE is sanitised for terminals. */
void transcript_add(struct transcript *t, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A digest as hex and as words (first 8 bytes). */
void transcript_digest(struct transcript *t, const char *key,
		       const unsigned char *d, size_t n);
/* A section heading. */
void transcript_section(struct transcript *t, const char *title);
/* Signature lines for the operator and each witness. */
void transcript_sign_lines(struct transcript *t, const char *operator_name,
			   char *const *witnesses, size_t nwitnesses);
const char *transcript_text(const struct transcript *t);
/* 0, or AIRLOCK_E_NOMEM if any addition failed. */
int transcript_status(const struct transcript *t)
    __attribute__((warn_unused_result));

#endif
