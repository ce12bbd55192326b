/* Where a token PIN comes from, and reading it into locked memory.
 *
 * Sources: "tty" (prompt on /dev/tty, echo off), "file:PATH" (the first line
 * of a file that only its owner can read), "fd:N" (the first line read from an
 * inherited descriptor). A PIN in argv or the environment is refused. */
#ifndef AIRLOCK_PIN_H
#define AIRLOCK_PIN_H

#include "lib/secmem.h"

#define PIN_MAX_LEN 256

/* Check SOURCE's syntax without reading anything (for option parsing). */
int pin_source_check(const char *source) __attribute__((warn_unused_result));
/* Read a PIN from SOURCE (NULL means "tty"); PROMPT is shown on the tty. */
int pin_read(const char *source, const char *prompt, struct secmem **pin_out)
    __attribute__((warn_unused_result));

#endif
