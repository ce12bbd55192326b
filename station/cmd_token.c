/* airlock-station token: list | info | keygen | selftest | readers | wait */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/term.h"
#include "pkcs11/pin.h"
#include "pkcs11/token.h"
#include "station/cli.h"
#include "station/cmd_readers.h"
#include "station/cmds.h"

static const char token_usage[] =
    "usage: airlock-station token list [--pin-source SRC] [URI]\n"
    "       airlock-station token info URI [--pin-source SRC]\n"
    "       airlock-station token keygen --token URI --label NAME --type TYPE\n"
    "                                    [--pin-source SRC]\n"
    "       airlock-station token selftest KEY-URI [--pin-source SRC]\n"
    "                        [--message FILE --signature FILE --pubkey FILE]\n"
    "       airlock-station token readers\n"
    "       airlock-station token wait [--reader NAME] [--timeout S] "
    "[--removed]\n"
    "\n"
    "  list      modules' tokens: label, maker, model, serial, flags, PIN\n"
    "            state, mechanisms, and the objects visible (all keys after\n"
    "            a login with --pin-source), each as a URI to paste back\n"
    "  info      one token, or with object=/id= in the URI one private key\n"
    "            and its attributes (needs the PIN)\n"
    "  keygen    a key pair made on the token: TYPE rsa:2048, rsa:3072,\n"
    "            rsa:4096, ec:p256 or ec:p384; private half sensitive, never\n"
    "            extractable, sign-only; prints the key's URI\n"
    "  selftest  sign a test message with the key on the token and verify\n"
    "            it with the key's public half; optionally write message,\n"
    "            signature (SHA-256) and public key for `openssl dgst "
    "-verify`\n"
    "  readers   smartcard readers (pcscd) and whether a card is in each\n"
    "  wait      block until a card is inserted (or removed)\n"
    "\n"
    "URIs follow RFC 7512, e.g. \"pkcs11:token=root-ca;object=root-key"
    "?module-path=/usr/lib/softhsm/libsofthsm2.so\".\n"
    "PIN sources: tty (default: asked with echo off), file:PATH (mode 600),\n"
    "fd:N. A PIN on the command line or in the environment is refused.\n";

enum {
	OPT_PIN_SOURCE = 256,
	OPT_TOKEN,
	OPT_LABEL,
	OPT_TYPE,
	OPT_MESSAGE,
	OPT_SIGNATURE,
	OPT_PUBKEY,
	OPT_PIN,
	OPT_JSON
};

static const struct option token_opts[] = {
    {"pin-source", required_argument, NULL, OPT_PIN_SOURCE},
    {"pin", required_argument, NULL, OPT_PIN},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"label", required_argument, NULL, OPT_LABEL},
    {"type", required_argument, NULL, OPT_TYPE},
    {"message", required_argument, NULL, OPT_MESSAGE},
    {"signature", required_argument, NULL, OPT_SIGNATURE},
    {"pubkey", required_argument, NULL, OPT_PUBKEY},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct token_args {
	const char *pin_source, *token, *label, *type;
	const char *message, *signature, *pubkey;
	const char *pos; /* the one positional argument */
};

/* Returns -1 to go on, or an exit status. */
static int
token_parse(const char *what, int argc, char **argv, struct token_args *a)
{
	int c, r;

	memset(a, 0, sizeof(*a));
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", token_opts, NULL)) != -1) {
		switch (c) {
		case OPT_PIN_SOURCE:
			if ((r = pin_source_check(optarg)) != 0)
				return cli_fail(what, r);
			a->pin_source = optarg;
			break;
		case OPT_PIN:
			err_detail_set("--pin is refused: a PIN on the command "
				       "line is visible to every user; use "
				       "--pin-source file:PATH|fd:N or the "
				       "prompt");
			return cli_fail(what, AIRLOCK_E_PIN_REFUSED);
		case OPT_TOKEN:
			a->token = optarg;
			break;
		case OPT_LABEL:
			a->label = optarg;
			break;
		case OPT_TYPE:
			a->type = optarg;
			break;
		case OPT_MESSAGE:
			a->message = optarg;
			break;
		case OPT_SIGNATURE:
			a->signature = optarg;
			break;
		case OPT_PUBKEY:
			a->pubkey = optarg;
			break;
		case OPT_JSON:
			station_g.json = 1;
			break;
		case 'h':
			fputs(token_usage, stdout);
			return 0;
		default:
			return cli_usage(what, "bad option");
		}
	}
	if (optind < argc)
		a->pos = argv[optind++];
	if (optind < argc)
		return cli_usage(what, "unexpected argument '%s'",
				 argv[optind]);
	return -1;
}

/* --pin-source wins over the URI's pin-source query attribute. */
static const char *
pin_src(const struct token_args *a, const struct p11_uri *uri)
{
	return a->pin_source != NULL ? a->pin_source
				     : uri_get0(uri, "pin-source");
}

static const char *
yesno(const cJSON *o, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name)) ? "yes"
								       : "no";
}

static const char *
jstr(const cJSON *o, const char *name, char *buf, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return term_sanitize(cJSON_IsString(v) ? v->valuestring : "", buf, len);
}

static const char *
pin_state(const cJSON *flags)
{
	if (cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(flags, "user_pin_locked")))
		return "LOCKED (needs an SO unblock)";
	if (cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(flags, "user_pin_final_try")))
		return "FINAL TRY (a wrong PIN locks it)";
	if (cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(flags, "user_pin_count_low")))
		return "count low (a wrong PIN was entered)";
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		flags, "user_pin_initialized")))
		return "not initialised";
	return "ok";
}

/* Human rendering of token_module_describe()'s JSON. */
static void
token_print(const cJSON *d)
{
	const cJSON *mod = cJSON_GetObjectItemCaseSensitive(d, "module");
	const cJSON *slot, *tok, *fl, *mech, *obj;
	char a[512], b[512], c[512], e[1024];

	printf("module %s (%s %s)\n", jstr(mod, "path", a, sizeof(a)),
	       jstr(mod, "description", b, sizeof(b)),
	       jstr(mod, "version", c, sizeof(c)));
	cJSON_ArrayForEach (slot,
			    cJSON_GetObjectItemCaseSensitive(d, "slots")) {
		tok = cJSON_GetObjectItemCaseSensitive(slot, "token");
		fl = cJSON_GetObjectItemCaseSensitive(tok, "flags");
		printf("\nslot %.0f: %s\n",
		       cJSON_GetNumberValue(
			   cJSON_GetObjectItemCaseSensitive(slot, "slot_id")),
		       jstr(slot, "description", a, sizeof(a)));
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
			fl, "token_initialized"))) {
			printf("  no initialised token (a free slot)\n");
			continue;
		}
		printf("  token         %s\n",
		       jstr(tok, "label", a, sizeof(a)));
		printf("  manufacturer  %s\n",
		       jstr(tok, "manufacturer", a, sizeof(a)));
		printf("  model         %s\n",
		       jstr(tok, "model", a, sizeof(a)));
		printf("  serial        %s\n",
		       jstr(tok, "serial", a, sizeof(a)));
		printf("  uri           %s\n", jstr(tok, "uri", e, sizeof(e)));
		printf("  login         required: %s, PIN pad: %s, logged in: "
		       "%s\n",
		       yesno(fl, "login_required"),
		       yesno(fl, "protected_authentication_path"),
		       yesno(tok, "logged_in"));
		printf("  user PIN      %s\n", pin_state(fl));
		printf("  mechanisms   ");
		cJSON_ArrayForEach (
		    mech, cJSON_GetObjectItemCaseSensitive(tok, "mechanisms"))
			printf(" %s", mech->valuestring);
		printf("\n  objects:%s\n",
		       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
			   tok, "objects")) == 0
			   ? " none visible (private keys show after a login: "
			     "--pin-source)"
			   : "");
		cJSON_ArrayForEach (
		    obj, cJSON_GetObjectItemCaseSensitive(tok, "objects")) {
			printf("    %-7s %-3s %-20s %s\n",
			       jstr(obj, "type", a, sizeof(a)),
			       jstr(obj, "key_type", b, sizeof(b)),
			       jstr(obj, "label", c, sizeof(c)),
			       jstr(obj, "uri", e, sizeof(e)));
		}
	}
}

static int
token_list(int argc, char **argv)
{
	struct token_args a;
	struct p11_uri *uri = NULL;
	struct token_module *m = NULL;
	struct token *t = NULL;
	cJSON *d = NULL;
	int r, st;

	if ((st = token_parse("token list", argc, argv, &a)) >= 0)
		return st;
	if (a.pin_source != NULL ||
	    (a.pos != NULL && strstr(a.pos, "pin-source=") != NULL)) {
		/* a login needs one token */
		if ((st = cli_token_open(
			 "token list", a.pos != NULL ? a.pos : "pkcs11:", &uri,
			 &m, &t)) != 0)
			goto out;
		if ((r = token_login(t, pin_src(&a, uri), &cli_login_ui)) !=
		    0) {
			st = cli_fail("token list", r);
			goto out;
		}
	} else {
		const char *path = station_g.module;
		if (a.pos != NULL && (r = uri_parse(a.pos, &uri)) != 0) {
			st = cli_fail("token list", r);
			goto out;
		}
		if (uri != NULL && uri_get0(uri, "module-path") != NULL)
			path = uri_get0(uri, "module-path");
		if ((r = token_module_load(path, &m)) != 0) {
			st = cli_fail("token list", r);
			goto out;
		}
	}
	if ((r = token_module_describe(m, uri, &d)) != 0) {
		st = cli_fail("token list", r);
		goto out;
	}
	if (station_g.json)
		cli_json_print(d);
	else {
		token_print(d);
		cJSON_Delete(d);
	}
	st = 0;
out:
	token_close(t);
	token_module_free(m);
	uri_free(uri);
	return st;
}

/* Log in and find the one private key URI names. */
static int
token_key_open(const char *what, const struct token_args *a, const char *uri_s,
	       struct p11_uri **uri, struct token_module **m, struct token **t,
	       struct token_key **k)
{
	int r, st;

	*k = NULL;
	if ((st = cli_token_open(what, uri_s, uri, m, t)) != 0)
		return st;
	if ((r = token_login(*t, pin_src(a, *uri), &cli_login_ui)) != 0)
		return cli_fail(what, r);
	if ((r = token_key_find(*t, *uri, k)) != 0)
		return cli_fail(what, r);
	return 0;
}

static int
token_info(int argc, char **argv)
{
	struct token_args a;
	struct p11_uri *uri = NULL;
	struct token_module *m = NULL;
	struct token *t = NULL;
	struct token_key *k = NULL;
	cJSON *d = NULL;
	int r, st;

	if ((st = token_parse("token info", argc, argv, &a)) >= 0)
		return st;
	if (a.pos == NULL)
		return cli_usage("token info", "a token or key URI is needed");
	if ((r = uri_parse(a.pos, &uri)) != 0)
		return cli_fail("token info", r);
	if (uri_get0(uri, "object") == NULL && uri_get0(uri, "id") == NULL) {
		/* a token: exactly one must match, then describe it */
		uri_free(uri);
		uri = NULL;
		if ((st = cli_token_open("token info", a.pos, &uri, &m, &t)) !=
		    0)
			goto out;
		if (pin_src(&a, uri) != NULL &&
		    (r = token_login(t, pin_src(&a, uri), &cli_login_ui)) !=
			0) {
			st = cli_fail("token info", r);
			goto out;
		}
		if ((r = token_module_describe(m, uri, &d)) != 0) {
			st = cli_fail("token info", r);
			goto out;
		}
		if (station_g.json)
			cli_json_print(d);
		else {
			token_print(d);
			cJSON_Delete(d);
		}
		st = 0;
		goto out;
	}
	uri_free(uri);
	uri = NULL;
	if ((st = token_key_open("token info", &a, a.pos, &uri, &m, &t, &k)) !=
	    0)
		goto out;
	if ((r = token_key_describe(k, &d)) != 0) {
		st = cli_fail("token info", r);
		goto out;
	}
	cJSON_AddBoolToObject(d, "safe_for_ca", token_key_check_safe(k) == 0);
	err_detail_clear();
	if (station_g.json) {
		cli_json_print(d);
	} else {
		const cJSON *attr,
		    *at = cJSON_GetObjectItemCaseSensitive(d, "attributes");
		char buf[1024];
		printf("key      %s\n", jstr(d, "label", buf, sizeof(buf)));
		printf("uri      %s\n", jstr(d, "uri", buf, sizeof(buf)));
		printf("id       %s\n", jstr(d, "id", buf, sizeof(buf)));
		printf("type     %s\n", jstr(d, "key_type", buf, sizeof(buf)));
		printf("CA-safe  %s\n", yesno(d, "safe_for_ca"));
		cJSON_ArrayForEach (attr, at)
			printf("%-18s %s\n", attr->string,
			       cJSON_IsNull(attr)   ? "n/a"
			       : cJSON_IsTrue(attr) ? "true"
						    : "false");
		cJSON_Delete(d);
	}
	st = 0;
out:
	token_key_free(k);
	token_close(t);
	token_module_free(m);
	uri_free(uri);
	return st;
}

static int
token_keygen_cmd(int argc, char **argv)
{
	struct token_args a;
	struct p11_uri *uri = NULL;
	struct token_module *m = NULL;
	struct token *t = NULL;
	char *key_uri = NULL;
	int r, st;

	if ((st = token_parse("token keygen", argc, argv, &a)) >= 0)
		return st;
	if (a.token == NULL || a.label == NULL || a.type == NULL)
		return cli_usage(
		    "token keygen",
		    "--token URI, --label NAME and --type TYPE are "
		    "all needed");
	if (a.pos != NULL)
		return cli_usage("token keygen", "unexpected argument '%s'",
				 a.pos);
	if ((st = cli_token_open("token keygen", a.token, &uri, &m, &t)) != 0)
		goto out;
	if ((r = token_login(t, pin_src(&a, uri), &cli_login_ui)) != 0 ||
	    (r = token_keygen(t, a.type, a.label, &key_uri)) != 0) {
		st = cli_fail("token keygen", r);
		goto out;
	}
	if (station_g.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "uri", key_uri);
		cJSON_AddStringToObject(o, "type", a.type);
		cJSON_AddStringToObject(o, "label", a.label);
		cli_json_print(o);
	} else {
		printf("%s\n", key_uri);
		if (station_g.verbose >= 0)
			fprintf(stderr,
				"airlock-station: generated %s key '%s' on "
				"token '%s' (serial %s): sensitive, never "
				"extractable, sign only\n",
				a.type, a.label, token_label(t),
				token_serial(t));
	}
	st = 0;
out:
	free(key_uri);
	token_close(t);
	token_module_free(m);
	uri_free(uri);
	return st;
}

static int
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wx");

	if (f == NULL) {
		err_detail_set("%s: cannot create (exists already?)", path);
		return AIRLOCK_E_IO;
	}
	if (fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		err_detail_set("%s: write failed", path);
		return AIRLOCK_E_IO;
	}
	return 0;
}

/* Sign MSG with the token key and verify with a software copy of the public
 * half (taken from the private EVP_PKEY: libp11 0.4.12's
 * PKCS11_get_public_key leaks). */
static int
token_selftest_sign(EVP_PKEY *pkey, const unsigned char *msg, size_t msglen,
		    unsigned char **sig, size_t *siglen, unsigned char **spki,
		    int *spki_len)
{
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY *pub = NULL;
	const unsigned char *p;
	int r = AIRLOCK_E_CRYPTO;

	*sig = NULL;
	*spki = NULL;
	if ((*spki_len = i2d_PUBKEY(pkey, spki)) <= 0)
		goto out;
	p = *spki;
	if ((pub = d2i_PUBKEY(NULL, &p, *spki_len)) == NULL)
		goto out;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, siglen, msg, msglen) != 1 ||
	    (*sig = OPENSSL_malloc(*siglen)) == NULL ||
	    EVP_DigestSign(ctx, *sig, siglen, msg, msglen) != 1) {
		err_detail_set("signing on the token failed");
		r = AIRLOCK_E_TOKEN;
		goto out;
	}
	EVP_MD_CTX_free(ctx);
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) != 1 ||
	    EVP_DigestVerify(ctx, *sig, *siglen, msg, msglen) != 1) {
		err_detail_set("the token's signature does not verify with the "
			       "key's public half");
		goto out;
	}
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pub);
	return r;
}

static int
token_selftest(int argc, char **argv)
{
	struct token_args a;
	struct p11_uri *uri = NULL;
	struct token_module *m = NULL;
	struct token *t = NULL;
	struct token_key *k = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned char msg[64], *sig = NULL, *spki = NULL;
	size_t siglen = 0;
	int spki_len = 0, r, st;
	BIO *bio = NULL;

	if ((st = token_parse("token selftest", argc, argv, &a)) >= 0)
		return st;
	if (a.pos == NULL)
		return cli_usage("token selftest", "a key URI is needed");
	if ((st = token_key_open("token selftest", &a, a.pos, &uri, &m, &t,
				 &k)) != 0)
		goto out;
	if ((r = token_key_check_safe(k)) != 0 ||
	    (r = token_key_get1_pkey(k, &pkey)) != 0 ||
	    (r = token_random(t, msg, sizeof(msg))) != 0 ||
	    (r = token_selftest_sign(pkey, msg, sizeof(msg), &sig, &siglen,
				     &spki, &spki_len)) != 0) {
		st = cli_fail("token selftest", r);
		goto out;
	}
	if (a.message != NULL &&
	    ((r = write_file(a.message, msg, sizeof(msg))) != 0 ||
	     (a.signature != NULL &&
	      (r = write_file(a.signature, sig, siglen)) != 0))) {
		st = cli_fail("token selftest", r);
		goto out;
	}
	if (a.pubkey != NULL) {
		if ((bio = BIO_new_file(a.pubkey, "wx")) == NULL ||
		    PEM_write_bio_PUBKEY(bio, pkey) != 1) {
			err_detail_set("%s: cannot write", a.pubkey);
			st = cli_fail("token selftest", AIRLOCK_E_IO);
			goto out;
		}
	}
	printf("ok: %s signature by the token verified with its public key "
	       "(%zu bytes)\n",
	       EVP_PKEY_get0_type_name(pkey), siglen);
	st = 0;
out:
	BIO_free(bio);
	OPENSSL_free(sig);
	OPENSSL_free(spki);
	EVP_PKEY_free(pkey);
	token_key_free(k);
	token_close(t);
	token_module_free(m);
	uri_free(uri);
	return st;
}

int
cmd_token(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} subs[] = {
	    {"list", token_list},	    {"info", token_info},
	    {"keygen", token_keygen_cmd},   {"selftest", token_selftest},
	    {"readers", cmd_token_readers}, {"wait", cmd_token_wait},
	};
	size_t i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(token_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].fn(argc - 1, argv + 1);
	return cli_usage("token", "unknown verb '%s'", argv[1]);
}
