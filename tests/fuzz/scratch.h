/* A per-process scratch directory for harnesses whose parser reads files
 * (bundle_read, ledger_verify_file, the station home). Created once under
 * $TMPDIR (or /tmp), emptied between inputs, removed at exit. A harness
 * never writes anywhere else. */
#ifndef AIRLOCK_FUZZ_SCRATCH_H
#define AIRLOCK_FUZZ_SCRATCH_H

#include <stddef.h>

/* The directory (created on first call; aborts if it cannot be). */
const char *scratch_dir(void);
/* Remove everything inside the scratch directory except the names in KEEP
 * (NULL-terminated list, may be NULL). */
void scratch_clean(const char *const *keep);
/* Remove everything beneath PATH, and PATH itself. */
void scratch_rmtree(const char *path);
/* Write DATA[0..LEN) to scratch_dir()/REL (parent folders must exist).
 * 0 or -1. */
int scratch_write(const char *rel, const void *data, size_t len);
/* mkdir scratch_dir()/REL (0700). 0 or -1. */
int scratch_mkdir(const char *rel);
/* scratch_dir()/REL into OUT (aborts when it does not fit). */
void scratch_path(const char *rel, char *out, size_t outlen);

#endif
