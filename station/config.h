/* The station's reviewed configuration file: a strict INI dialect.
 *
 *   # a comment (whole lines only)
 *   [section-name]
 *   key = value
 *
 * Section names [a-z0-9-]{1,64}, keys [a-z0-9_]{1,64}; a duplicate section
 * or a duplicate key in one section is an error (a reviewed file must mean
 * one thing); values are taken verbatim (trimmed, no expansion). */
#ifndef AIRLOCK_CONFIG_H
#define AIRLOCK_CONFIG_H

#include <stddef.h>

struct config;

int config_load(const char *path, struct config **out)
    __attribute__((warn_unused_result));
int config_parse(const char *text, size_t len, const char *name,
		 struct config **out) __attribute__((warn_unused_result));
void config_free(struct config *c);

size_t config_section_count(const struct config *c);
const char *config_section_name(const struct config *c, size_t i);
/* Value of KEY in SECTION, or NULL. Marks the key as used. */
const char *config_get(const struct config *c, const char *section,
		       const char *key);
/* AIRLOCK_E_FORMAT naming the first key in SECTION that no config_get
 * asked for (an unknown or misspelt setting). */
int config_check_unused(const struct config *c, const char *section)
    __attribute__((warn_unused_result));

#endif
