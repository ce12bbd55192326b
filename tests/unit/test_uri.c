/* RFC 7512 URI parsing: the RFC's own examples, round trips, and malformed
 * input pointing at the bad part. */
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "pkcs11/uri.h"
#include "tap.h"

static void
parses(const char *s, const char *attr, const char *want)
{
	struct p11_uri *u = NULL;
	int r = uri_parse(s, &u);

	TAP_CHECK(r == 0, "parses %s", s);
	if (r == 0 && attr != NULL)
		TAP_STR_EQ(uri_get0(u, attr), want, "%s of %s", attr, s);
	uri_free(u);
}

static void
rejects(const char *s, int want, const char *detail)
{
	struct p11_uri *u = NULL;
	int r;

	err_detail_clear();
	r = uri_parse(s, &u);
	TAP_CHECK(r == want && u == NULL, "rejects %s with %s (got %s)", s,
		  err_name(want), err_name(r));
	TAP_CHECK(strstr(err_detail_get(), detail) != NULL,
		  "detail for %s mentions '%s' (got '%s')", s, detail,
		  err_detail_get());
	uri_free(u);
}

static void
rfc7512_examples(void)
{
	/* RFC 7512 section 3 */
	parses("pkcs11:", NULL, NULL);
	parses("pkcs11:object=my-pubkey;type=public", "object", "my-pubkey");
	parses("pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
	       "pin-source", "file:/etc/token");
	parses("pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
	       "manufacturer=Snake%20Oil,%20Inc.;model=1.0;"
	       "object=my-certificate;type=cert;"
	       "id=%69%95%3E%5C%F4%BD%EC%91;serial=",
	       "token", "The Software PKCS#11 Softtoken");
	parses("pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
	       "manufacturer=Snake%20Oil,%20Inc.;model=1.0;"
	       "object=my-certificate;type=cert;"
	       "id=%69%95%3E%5C%F4%BD%EC%91;serial=",
	       "manufacturer", "Snake Oil, Inc.");
	parses(
	    "pkcs11:token=Software%20PKCS%2311%20softtoken;"
	    "manufacturer=Snake%20Oil,%20Inc.?pin-source=file:/etc/token_pin",
	    "pin-source", "file:/etc/token_pin");
	parses("pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
	       "module-name", "mypkcs11");
	parses("pkcs11:object=my-sign-key;type=private"
	       "?module-path=/mnt/libmypkcs11.so.1",
	       "module-path", "/mnt/libmypkcs11.so.1");
	parses("pkcs11:token=Software%20PKCS%2311%20softtoken;"
	       "manufacturer=Snake%20Oil,%20Inc.",
	       "token", "Software PKCS#11 softtoken");
	parses("pkcs11:slot-description=Sun%20Metaslot", "slot-description",
	       "Sun Metaslot");
	parses("pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;"
	       "library-description=Soft%20Token%20Library;"
	       "library-version=1.23",
	       "library-version", "1.23");
	parses("pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;"
	       "object=my-certificate;type=cert",
	       "token", "A name with a substring %;");
	parses("pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20"
	       "%C3%A1;object=my-certificate;type=cert",
	       "token", "Name with a small A with acute: \xc3\xa1");
	parses("pkcs11:slot-id=5", "slot-id", "5");
	parses("PKCS11:token=x", "token", "x");
}

static void
id_bytes(void)
{
	struct p11_uri *u = NULL;
	const unsigned char *v;
	size_t n;

	TAP_CHECK(uri_parse("pkcs11:id=%00%01%ff", &u) == 0, "id with NUL");
	TAP_CHECK(u != NULL && uri_get0_bytes(u, "id", &v, &n) == 1 && n == 3 &&
		      v[0] == 0 && v[1] == 1 && v[2] == 0xff,
		  "id bytes decoded");
	uri_free(u);
}

static void
round_trip(void)
{
	const char *in = "pkcs11:manufacturer=SoftHSM%20project;serial=abc;"
			 "token=root%3Bca;object=k;id=%01%02;type=private"
			 "?module-path=/usr/lib/softhsm/libsofthsm2.so";
	struct p11_uri *u = NULL, *u2 = NULL;
	char *s = NULL, *s2 = NULL;

	TAP_CHECK(uri_parse(in, &u) == 0 && uri_format(u, &s) == 0,
		  "format a parsed URI");
	TAP_CHECK(s != NULL && uri_parse(s, &u2) == 0 &&
		      uri_format(u2, &s2) == 0 && strcmp(s, s2) == 0,
		  "formatted URI parses back to the same (%s)", s ? s : "");
	TAP_STR_EQ(u2 != NULL ? uri_get0(u2, "token") : NULL, "root;ca",
		   "';' in a label survives the round trip");
	uri_free(u);
	uri_free(u2);
	free(s);
	free(s2);
}

static void
malformed(void)
{
	rejects("pkcs12:token=x", AIRLOCK_E_URI_SYNTAX,
		"starts with 'pkcs11:'");
	rejects("token=x", AIRLOCK_E_URI_SYNTAX, "offset 0");
	rejects("pkcs11:token=a%2", AIRLOCK_E_URI_SYNTAX, "offset 14");
	rejects("pkcs11:token=a%zz", AIRLOCK_E_URI_SYNTAX, "'%zz'");
	rejects("pkcs11:token=a b", AIRLOCK_E_URI_SYNTAX,
		"' ' must be percent-encoded");
	rejects("pkcs11:token=a\x1b[31m", AIRLOCK_E_URI_SYNTAX, "0x1b");
	rejects("pkcs11:colour=red", AIRLOCK_E_URI_UNKNOWN_ATTR,
		"unknown path attribute 'colour'");
	rejects("pkcs11:token=x?colour=red", AIRLOCK_E_URI_UNKNOWN_ATTR,
		"unknown query attribute 'colour'");
	rejects("pkcs11:module-path=/x", AIRLOCK_E_URI_UNKNOWN_ATTR,
		"unknown path attribute");
	rejects("pkcs11:token=x;token=y", AIRLOCK_E_URI_SYNTAX, "given twice");
	rejects("pkcs11:token=x;;object=y", AIRLOCK_E_URI_SYNTAX,
		"empty attribute");
	rejects("pkcs11:token", AIRLOCK_E_URI_SYNTAX, "has no '='");
	rejects("pkcs11:type=secret", AIRLOCK_E_URI_SYNTAX, "type must be");
	rejects("pkcs11:slot-id=0x5", AIRLOCK_E_URI_SYNTAX, "decimal");
	rejects("pkcs11:token=x%00y", AIRLOCK_E_URI_SYNTAX, "NUL");
	rejects("pkcs11:token=x?pin-value=1234", AIRLOCK_E_PIN_REFUSED,
		"pin-value is refused");
	rejects("pkcs11:token=x?a=1?b=2", AIRLOCK_E_URI_SYNTAX, "second '?'");
	{
		char big[5000];
		memset(big, 'a', sizeof(big) - 1);
		memcpy(big, "pkcs11:token=", 13);
		big[sizeof(big) - 1] = '\0';
		rejects(big, AIRLOCK_E_URI_SYNTAX, "longer than");
	}
}

int
main(void)
{
	rfc7512_examples();
	id_bytes();
	round_trip();
	malformed();
	return TAP_DONE();
}
