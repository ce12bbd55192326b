/* A very small TAP-style harness for unit tests: one `ok - name` or
 * `not ok - name` line per check, counted by tests/run. */
#ifndef AIRLOCK_TAP_H
#define AIRLOCK_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_failed;

/* COND is evaluated exactly once. */
#define TAP_CHECK(cond, ...)                                                   \
	do {                                                                   \
		int tap_c_ = (cond) ? 1 : 0;                                   \
		printf(tap_c_ ? "ok - " : "not ok - ");                        \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		if (!tap_c_) {                                                 \
			tap_failed++;                                          \
			printf("#   failed: %s (%s:%d)\n", #cond, __FILE__,    \
			       __LINE__);                                      \
		}                                                              \
	} while (0)

#define TAP_STR_EQ(got, want, ...)                                             \
	do {                                                                   \
		const char *tap_g_ = (got), *tap_w_ = (want);                  \
		int tap_ok_ = tap_g_ != NULL && tap_w_ != NULL &&              \
			      strcmp(tap_g_, tap_w_) == 0;                     \
		TAP_CHECK(tap_ok_, __VA_ARGS__);                               \
		if (!tap_ok_)                                                  \
			printf("#   got '%s', want '%s'\n",                    \
			       tap_g_ ? tap_g_ : "(null)",                     \
			       tap_w_ ? tap_w_ : "(null)");                    \
	} while (0)

#define TAP_DONE() (fflush(stdout), tap_failed ? 1 : 0)

#endif
