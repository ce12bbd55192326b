/* Locked, wiped memory for secrets (PINs, passphrases, bearer tokens).
 *
 * The pages are mlock()ed so that they never reach swap, marked
 * MADV_DONTDUMP so that they never reach a core file, and wiped with
 * OPENSSL_cleanse before they are unmapped. */
#ifndef AIRLOCK_SECMEM_H
#define AIRLOCK_SECMEM_H

#include <stddef.h>

struct secmem;

/* A buffer of CAPACITY bytes (plus one NUL), length 0. */
int secmem_new(size_t capacity, struct secmem **out)
    __attribute__((warn_unused_result));
/* Wipe and release; NULL is a no-op. */
void secmem_free(struct secmem *sm);
/* The bytes, always NUL-terminated at secmem_len(). */
char *secmem_data(struct secmem *sm);
const char *secmem_get0(const struct secmem *sm);
size_t secmem_len(const struct secmem *sm);
size_t secmem_capacity(const struct secmem *sm);
/* Set the length (<= capacity) and NUL-terminate there; bytes past it are
 * wiped. */
int secmem_set_len(struct secmem *sm, size_t len)
    __attribute__((warn_unused_result));

/* Make this process undumpable (no core files, no ptrace by others). Call in
 * every process that will hold a secret. */
int secmem_process_harden(void) __attribute__((warn_unused_result));

#endif
