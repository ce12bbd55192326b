/* The everyday signing session, shared by the import, review, sign, export
 * and process commands: printing the review screen, confirming, the
 * progress bar. */
#ifndef AIRLOCK_SESSION_H
#define AIRLOCK_SESSION_H

#include <stddef.h>

#include "station/issue.h"
#include "station/request.h"

/* Preview every request (policy and lints, no token) and print the review
 * screen (or JSON). *NOK gets the number allowed. */
int session_review(struct issuer *is, struct request_set *rs, int json,
		   size_t *nok) __attribute__((warn_unused_result));
/* Progress on stderr when it is a terminal; nothing otherwise. */
void session_progress(void *arg, size_t done, size_t total);
/* Ask to sign N requests unless YES; 0 to go on. */
int session_confirm(size_t n, int yes) __attribute__((warn_unused_result));

#endif
