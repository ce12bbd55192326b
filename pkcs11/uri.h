/* PKCS#11 URIs (RFC 7512): parse, query and format.
 *
 * Path attributes: token, manufacturer, serial, model, library-manufacturer,
 * library-description, library-version, slot-description, slot-manufacturer,
 * slot-id, object, id, type. Query attributes: module-path, module-name,
 * pin-source. Anything else is rejected, and so is pin-value (a PIN never
 * travels in a command line). Values are kept percent-decoded, as bytes. */
#ifndef AIRLOCK_URI_H
#define AIRLOCK_URI_H

#include <stddef.h>

struct p11_uri;

/* Parse S. On error the detail names the offset and the offending text. */
int uri_parse(const char *s, struct p11_uri **out)
    __attribute__((warn_unused_result));
int uri_new(struct p11_uri **out) __attribute__((warn_unused_result));
void uri_free(struct p11_uri *uri);

/* The decoded value of ATTR as a NUL-terminated string, or NULL when absent.
 * Use uri_get0_bytes for values that may hold NUL bytes (id). */
const char *uri_get0(const struct p11_uri *uri, const char *attr);
int uri_get0_bytes(const struct p11_uri *uri, const char *attr,
		   const unsigned char **val, size_t *len);
/* Copy VAL into ATTR (which must be a known attribute); replaces a value. */
int uri_set1(struct p11_uri *uri, const char *attr, const void *val, size_t len)
    __attribute__((warn_unused_result));
/* Format as a URI string in canonical attribute order (malloc'd). */
int uri_format(const struct p11_uri *uri, char **out)
    __attribute__((warn_unused_result));

#endif
