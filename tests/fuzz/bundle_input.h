/* How fuzz_bundle and fuzz_request turn one input into a bundle directory.
 *
 *   <manifest.json bytes>
 *   --8<-- NAME
 *   <bytes of file NAME>
 *   --8<-- NAME2
 *   ...
 *
 * Each "\n--8<-- NAME\n" line starts a file (at most BUNDLE_INPUT_FILES;
 * NAME without '/', not "." or ".."); the newline before the marker belongs
 * to the marker. So that the fuzzer can get past the size and SHA-256
 * checks, the manifest's "@SIZEk@" and "@SHA256k@" (k = 0..9) are replaced
 * by the size and hex SHA-256 of the k-th file before it is written. */
#ifndef AIRLOCK_FUZZ_BUNDLE_INPUT_H
#define AIRLOCK_FUZZ_BUNDLE_INPUT_H

#include <stddef.h>

#define BUNDLE_INPUT_FILES 10

/* Write the bundle of DATA[0..SIZE) into the directory DIR (which must
 * exist, and be empty). 0, or -1 when the input does not make a bundle
 * (the harness then skips it). */
int bundle_input_write(const char *dir, const unsigned char *data, size_t size);

#endif
