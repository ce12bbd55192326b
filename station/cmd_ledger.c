/* airlock-station ledger verify | list | show | export-index | restore
 *
 * Read-only views of the issuance ledger (station/ledger.h, SECURITY.md §2).
 * Nothing here appends: verify reads the file without the lock, the other
 * verbs hold the ledger's lock only while they read. restore replaces a lost
 * ledger with the online host's replica (kv/replica.h), keeping whatever
 * file it replaces. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lib/err.h"
#include "lib/ledger_record.h"
#include "lib/safefile.h"
#include "lib/term.h"
#include "station/cli.h"
#include "station/cmds.h"
#include "station/home.h"
#include "station/ledger.h"

#define SERIAL_HEX_MAX 40 /* RFC 5280 4.1.2.2: at most 20 octets */
#define SERIAL_BUF     (SERIAL_HEX_MAX + 1)

static const char ledger_usage[] =
    "usage: airlock-station ledger verify [--json]\n"
    "       airlock-station ledger list [--json] [--type TYPE]\n"
    "       airlock-station ledger show SERIAL [--json] [--pem]\n"
    "       airlock-station ledger export-index [-o FILE] [--force]\n"
    "       airlock-station ledger restore FROM [--force]\n"
    "       airlock-station ledger repair\n"
    "\n"
    "  verify        check HOME/ledger.jsonl: every line canonical, the\n"
    "                sequence unbroken, each line chained to the one before\n"
    "                by SHA-256, the serial rules kept. Exit 4 names the\n"
    "                first bad line. Warns about INTENT records that are\n"
    "                still open (a signing command marks them INDOUBT).\n"
    "  repair        cut a torn last line left by a crash in the middle of a\n"
    "                write (never a complete record, so nothing acknowledged\n"
    "                is lost) and verify the rest; signing commands do this\n"
    "                by themselves when they open the ledger\n"
    "  list          one line per record: seq, time, type, serial, request\n"
    "                id or subject, other fields. --type keeps one type\n"
    "                (INTENT, ISSUED, ABORTED, INDOUBT, REVOKED, CRL,\n"
    "                REJECTED, CHECKPOINT, CA_ROOT, CA_INTERMEDIATE,\n"
    "                STATION_KEY). --json: an array of the records without\n"
    "                their \"cert\" field.\n"
    "  show SERIAL   every record for SERIAL (hex in any case, leading\n"
    "                zeros and colons allowed); --pem prints only the\n"
    "                certificate as PEM. Exit 1 if no record names SERIAL.\n"
    "  export-index  an OpenSSL CA index.txt of every ISSUED certificate\n"
    "                (V valid, R revoked by a REVOKED record, E expired now)\n"
    "                for `openssl ocsp -index` and friends. -o FILE writes\n"
    "                FILE durably and never replaces it without --force;\n"
    "                without -o, or with -o -, it goes to stdout.\n"
    "  restore FROM  rebuild a lost ledger from FROM, the online host's\n"
    "                replica (airlock-kv's STATE/ledger-replica.jsonl, copied\n"
    "                here): FROM must verify from record 1, then it becomes\n"
    "                HOME/ledger.jsonl and export-state.json says everything\n"
    "                in it was exported, so the next export continues after\n"
    "                it. A non-empty ledger is never replaced without\n"
    "                --force, and then kept as ledger.jsonl.replaced-TIME.\n"
    "                The replica only holds what was exported: records made\n"
    "                after the last export (issuances, revocations, CRLs) are\n"
    "                lost with the station ledger; revoke again what was\n"
    "                revoked since. The station refuses to sign while its\n"
    "                clock is earlier than the newest record restored.\n"
    "\n"
    "Exit status: 0 ok, 1 failure, 2 usage, 4 malformed or broken ledger,\n"
    "7 refused (the ledger is in use, or FILE or a ledger exists).\n";

/* ---- small helpers ---- */

static void
ledger_path(char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", station_g.home, HOME_LEDGER);
}

/* Append to BUF (always NUL-terminated; silently truncated when full). */
static void __attribute__((format(printf, 4, 5)))
buf_add(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos += (size_t)n < len - *pos ? (size_t)n : len - *pos - 1;
}

static const char *
rec_str(const cJSON *rec, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static unsigned long long
rec_seq(const cJSON *rec)
{
	return (unsigned long long)cJSON_GetNumberValue(
	    cJSON_GetObjectItemCaseSensitive(rec, "seq"));
}

/* IN as the ledger's canonical serial: lowercase hex, no leading zeros
 * ("0" for zero). Accepts any case, an optional 0x, and colons between
 * digits (as `openssl x509 -serial` and browsers print them). */
static int
serial_canon(const char *in, char out[SERIAL_BUF])
{
	size_t n = 0;
	int digits = 0;

	out[0] = '\0';
	if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
		in += 2;
	for (; *in != '\0'; in++) {
		if (*in == ':')
			continue;
		if (!isxdigit((unsigned char)*in))
			return -1;
		digits = 1;
		if (n == 0 && *in == '0')
			continue;
		if (n >= SERIAL_HEX_MAX)
			return -1;
		out[n++] = (char)tolower((unsigned char)*in);
	}
	if (!digits)
		return -1;
	if (n == 0)
		out[n++] = '0';
	out[n] = '\0';
	return 0;
}

/* The certificate's serial in canonical form; "" for a negative or
 * oversized one (RFC 5280 forbids both). */
static void
cert_serial(const X509 *x, char out[SERIAL_BUF])
{
	const ASN1_INTEGER *ai = X509_get0_serialNumber(x);
	BIGNUM *bn = NULL;
	char *hex = NULL;

	out[0] = '\0';
	if ((bn = ASN1_INTEGER_to_BN(ai, NULL)) != NULL &&
	    !BN_is_negative(bn) && (hex = BN_bn2hex(bn)) != NULL &&
	    serial_canon(hex, out) != 0)
		out[0] = '\0';
	OPENSSL_free(hex);
	BN_free(bn);
}

static void
hex32(const unsigned char d[32], char out[65])
{
	int i;

	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The record's certificate (its base64 DER "cert"), checked against its
 * "cert_sha256" when the record has one. *OUT stays NULL for a record
 * without a certificate. */
static int
rec_cert(const cJSON *rec, X509 **out)
{
	const char *b64 = rec_str(rec, "cert"), *want;
	const unsigned char *p;
	unsigned char *der = NULL, d[32];
	char hex[65];
	unsigned int dlen = 0;
	size_t n;
	int len, pad = 0, r = AIRLOCK_E_FORMAT;
	X509 *x = NULL;

	*out = NULL;
	if (b64 == NULL)
		return 0;
	n = strlen(b64);
	if (n == 0 || n % 4 != 0 || n > LEDGER_LINE_MAX) {
		err_detail_set("record %llu: \"cert\" is not base64",
			       rec_seq(rec));
		goto out;
	}
	pad = (b64[n - 1] == '=') + (b64[n - 2] == '=');
	if ((der = malloc(n / 4 * 3 + 1)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if ((len = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)n)) <
	    pad) {
		err_detail_set("record %llu: \"cert\" is not base64",
			       rec_seq(rec));
		goto out;
	}
	len -= pad;
	p = der;
	if ((x = d2i_X509(NULL, &p, len)) == NULL || p != der + len) {
		err_detail_set("record %llu: \"cert\" is not one DER "
			       "certificate",
			       rec_seq(rec));
		goto out;
	}
	if ((want = rec_str(rec, "cert_sha256")) != NULL) {
		if (EVP_Digest(der, (size_t)len, d, &dlen, EVP_sha256(),
			       NULL) != 1) {
			r = AIRLOCK_E_CRYPTO;
			goto out;
		}
		hex32(d, hex);
		if (strcmp(hex, want) != 0) {
			err_detail_set("record %llu: the certificate's SHA-256 "
				       "is %s, not the recorded cert_sha256",
				       rec_seq(rec), hex);
			goto out;
		}
	}
	*out = x;
	x = NULL;
	r = 0;
out:
	X509_free(x);
	free(der);
	return r;
}

/* The serial a record is about: its "serial" field, else its
 * certificate's (the ceremony records carry only the certificate). */
static int
rec_serial(const cJSON *rec, char out[SERIAL_BUF])
{
	const char *s = rec_str(rec, "serial");
	X509 *x = NULL;
	int r;

	out[0] = '\0';
	if (s != NULL) {
		if (serial_canon(s, out) != 0)
			out[0] = '\0';
		return 0;
	}
	if ((r = rec_cert(rec, &x)) != 0)
		return r;
	if (x != NULL)
		cert_serial(x, out);
	X509_free(x);
	return 0;
}

static int
type_known(const char *t)
{
	int type;

	return ledger_record_type_lookup(t, &type) == 0;
}

/* Open the ledger for reading through its lock. */
static int
ledger_open_read(const char *what, struct ledger **l)
{
	char path[4096];
	int r;

	ledger_path(path, sizeof(path));
	if ((r = ledger_open(path, 0, l)) != 0)
		return cli_fail(what, r);
	return 0;
}

/* ---- verify ---- */

struct open_count {
	unsigned long long intents, closed;
};

static int
count_open_cb(void *arg, const cJSON *rec)
{
	struct open_count *c = arg;
	const char *t = rec_str(rec, "type");

	if (strcmp(t, "INTENT") == 0)
		c->intents++;
	else if (strcmp(t, "ISSUED") == 0 || strcmp(t, "ABORTED") == 0 ||
		 strcmp(t, "INDOUBT") == 0)
		c->closed++;
	return 0;
}

/* Open INTENTs: the ledger lets each serial have one INTENT and at most
 * one closing record after it, so the difference of the counts is the
 * number still open. -1 when the ledger cannot be read under its lock. */
static long long
count_open_intents(const char *path, char *why, size_t whylen)
{
	struct open_count c = {0, 0};
	struct ledger *l = NULL;
	long long n = -1;
	int r;

	why[0] = '\0';
	if ((r = ledger_open(path, 0, &l)) == 0 &&
	    (r = ledger_foreach(l, count_open_cb, &c)) == 0)
		n = (long long)(c.intents - c.closed);
	if (r != 0)
		term_sanitize(err_detail_get(), why, whylen);
	err_detail_clear();
	ledger_close(l);
	return n;
}

static int
ledger_verify_cmd(void)
{
	char path[4096], head[65], detail[1024], why[512];
	unsigned long long count = 0;
	long long open = -1;
	cJSON *d = NULL;
	int r;

	ledger_path(path, sizeof(path));
	if ((r = ledger_verify_file(path, &count, head)) != 0) {
		if (station_g.json) {
			term_sanitize(err_detail_get(), detail, sizeof(detail));
			d = cJSON_CreateObject();
			cJSON_AddBoolToObject(d, "ok", 0);
			cJSON_AddStringToObject(d, "error", err_name(r));
			cJSON_AddStringToObject(d, "detail", detail);
			cli_json_print(d);
		}
		return cli_fail("ledger verify", r);
	}
	open = count_open_intents(path, why, sizeof(why));
	if (station_g.json) {
		d = cJSON_CreateObject();
		cJSON_AddBoolToObject(d, "ok", 1);
		cJSON_AddNumberToObject(d, "records", (double)count);
		cJSON_AddStringToObject(d, "head", head);
		if (open >= 0)
			cJSON_AddNumberToObject(d, "unresolved_intents",
						(double)open);
		else
			cJSON_AddNullToObject(d, "unresolved_intents");
		cli_json_print(d);
	} else
		printf("ledger ok: %llu records, head %s\n", count, head);
	if (open < 0)
		fprintf(stderr,
			"airlock-station: ledger verify: warning: could not "
			"count unresolved INTENT records: %s\n",
			why);
	else if (open > 0)
		fprintf(stderr,
			"airlock-station: ledger verify: warning: %lld INTENT "
			"record%s unresolved: run any signing command to mark "
			"%s INDOUBT\n",
			open, open == 1 ? " is" : "s are",
			open == 1 ? "it" : "them");
	return 0;
}

/* ---- list ---- */

/* The fields after the header other than the ones given their own column,
 * as "key=value"; hashes shortened. */
static void
rec_summary(const cJSON *rec, char *buf, size_t len)
{
	static const char *const skip[] = {"seq",     "prev",	"time",
					   "type",    "serial", "request_id",
					   "subject", "cert",	NULL};
	const cJSON *c;
	char v[256];
	size_t pos = 0, i;
	int skipped;

	buf[0] = '\0';
	cJSON_ArrayForEach (c, rec) {
		for (i = 0, skipped = 0; skip[i] != NULL; i++)
			skipped |= strcmp(c->string, skip[i]) == 0;
		if (skipped)
			continue;
		if (cJSON_IsString(c)) {
			term_sanitize(c->valuestring, v, sizeof(v));
			if (strlen(v) == 64 &&
			    strspn(v, "0123456789abcdef") == 64)
				v[16] = '\0';
			buf_add(buf, len, &pos, "%s%s=%s", pos ? " " : "",
				c->string, v);
		} else if (cJSON_IsNumber(c))
			buf_add(buf, len, &pos, "%s%s=%.17g", pos ? " " : "",
				c->string, c->valuedouble);
		else if (cJSON_IsBool(c))
			buf_add(buf, len, &pos, "%s%s=%s", pos ? " " : "",
				c->string, cJSON_IsTrue(c) ? "true" : "false");
		else if (cJSON_IsNull(c))
			buf_add(buf, len, &pos, "%s%s=null", pos ? " " : "",
				c->string);
		else
			buf_add(buf, len, &pos, "%s%s=[%d]", pos ? " " : "",
				c->string, cJSON_GetArraySize(c));
	}
}

static void
rec_print_line(const cJSON *rec, const char *serial)
{
	const char *name = rec_str(rec, "request_id");
	char n[512], s[1024];

	if (name == NULL)
		name = rec_str(rec, "subject");
	term_sanitize(name != NULL ? name : "-", n, sizeof(n));
	rec_summary(rec, s, sizeof(s));
	printf("%6llu  %s  %-15s  %-32s  %s%s%s\n", rec_seq(rec),
	       rec_str(rec, "time"), rec_str(rec, "type"),
	       serial[0] != '\0' ? serial : "-", n, s[0] ? "  " : "", s);
}

/* The record for --json: without the bulky certificate, with its
 * cert_sha256 (computed when the record lacks one) and serial. */
static int
rec_json(const cJSON *rec, const char *serial, cJSON **out)
{
	unsigned char d[32], *der = NULL;
	char hex[65];
	X509 *x = NULL;
	cJSON *o = NULL;
	int len, r;

	*out = NULL;
	if ((o = cJSON_Duplicate(rec, 1)) == NULL)
		return AIRLOCK_E_NOMEM;
	if (cJSON_HasObjectItem(o, "cert") &&
	    !cJSON_HasObjectItem(o, "cert_sha256")) {
		if ((r = rec_cert(rec, &x)) != 0)
			goto out;
		r = AIRLOCK_E_CRYPTO;
		if ((len = i2d_X509(x, &der)) <= 0 ||
		    EVP_Digest(der, (size_t)len, d, NULL, EVP_sha256(), NULL) !=
			1)
			goto out;
		hex32(d, hex);
		cJSON_AddStringToObject(o, "cert_sha256", hex);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(o, "cert");
	if (!cJSON_HasObjectItem(o, "serial") && serial[0] != '\0')
		cJSON_AddStringToObject(o, "serial", serial);
	*out = o;
	o = NULL;
	r = 0;
out:
	OPENSSL_free(der);
	X509_free(x);
	cJSON_Delete(o);
	return r;
}

struct list_ctx {
	const char *type;
	unsigned long long n;
};

static int
list_cb(void *arg, const cJSON *rec)
{
	struct list_ctx *c = arg;
	char serial[SERIAL_BUF], *s;
	cJSON *o = NULL;
	int r;

	if (c->type != NULL && strcmp(rec_str(rec, "type"), c->type) != 0)
		return 0;
	if ((r = rec_serial(rec, serial)) != 0)
		return r;
	if (!station_g.json) {
		rec_print_line(rec, serial);
		c->n++;
		return 0;
	}
	if ((r = rec_json(rec, serial, &o)) != 0)
		return r;
	/* One object per line, so a long ledger is never held in memory. */
	if ((s = cJSON_PrintUnformatted(o)) == NULL) {
		cJSON_Delete(o);
		return AIRLOCK_E_NOMEM;
	}
	printf("%s%s", c->n ? ",\n" : "\n", s);
	c->n++;
	cJSON_free(s);
	cJSON_Delete(o);
	return 0;
}

static int
ledger_list_cmd(const char *type)
{
	struct list_ctx c = {type, 0};
	struct ledger *l = NULL;
	int r, st;

	if ((st = ledger_open_read("ledger list", &l)) != 0)
		return st;
	if (station_g.json)
		printf("[");
	r = ledger_foreach(l, list_cb, &c);
	if (station_g.json)
		printf("%s]\n", c.n ? "\n" : "");
	ledger_close(l);
	if (r != 0)
		return cli_fail("ledger list", r);
	return 0;
}

/* ---- show ---- */

struct show_ctx {
	const char *serial;
	int pem;
	unsigned long long n, certs;
	cJSON *arr; /* --json */
};

static void
time_print(const char *label, const ASN1_TIME *t)
{
	BIO *b = BIO_new_fp(stdout, BIO_NOCLOSE);

	printf("  %-12s ", label);
	fflush(stdout);
	if (b != NULL)
		ASN1_TIME_print(b, t);
	BIO_free(b);
	printf("\n");
}

static void
cert_describe(const X509 *x)
{
	char buf[1024], *s;

	s = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
	printf("  %-12s %s\n", "cert subject",
	       term_sanitize(s != NULL ? s : "?", buf, sizeof(buf)));
	OPENSSL_free(s);
	s = X509_NAME_oneline(X509_get_issuer_name(x), NULL, 0);
	printf("  %-12s %s\n", "cert issuer",
	       term_sanitize(s != NULL ? s : "?", buf, sizeof(buf)));
	OPENSSL_free(s);
	time_print("not before", X509_get0_notBefore(x));
	time_print("not after", X509_get0_notAfter(x));
}

static void
rec_print_fields(const cJSON *rec)
{
	const cJSON *c;
	char v[2048];

	cJSON_ArrayForEach (c, rec) {
		if (strcmp(c->string, "cert") == 0 ||
		    strcmp(c->string, "seq") == 0 ||
		    strcmp(c->string, "type") == 0 ||
		    strcmp(c->string, "time") == 0)
			continue;
		if (cJSON_IsString(c))
			term_sanitize(c->valuestring, v, sizeof(v));
		else {
			char *s = cJSON_PrintUnformatted(c);
			term_sanitize(s != NULL ? s : "?", v, sizeof(v));
			cJSON_free(s);
		}
		printf("  %-12s %s\n", c->string, v);
	}
}

static int
show_cb(void *arg, const cJSON *rec)
{
	struct show_ctx *c = arg;
	char serial[SERIAL_BUF];
	X509 *x = NULL;
	cJSON *o = NULL;
	BIO *b = NULL;
	BUF_MEM *bm;
	int r;

	if ((r = rec_serial(rec, serial)) != 0)
		return r;
	if (strcmp(serial, c->serial) != 0)
		return 0;
	c->n++;
	if ((r = rec_cert(rec, &x)) != 0)
		return r;
	if (x != NULL)
		c->certs++;
	if (station_g.json) {
		if ((r = rec_json(rec, serial, &o)) != 0)
			goto out;
		if (x != NULL && c->pem) {
			r = AIRLOCK_E_CRYPTO;
			if ((b = BIO_new(BIO_s_mem())) == NULL ||
			    PEM_write_bio_X509(b, x) != 1 ||
			    BIO_write(b, "", 1) != 1)
				goto out;
			BIO_get_mem_ptr(b, &bm);
			cJSON_AddStringToObject(o, "cert_pem", bm->data);
		}
		cJSON_AddItemToArray(c->arr, o);
		o = NULL;
	} else if (c->pem) {
		if (x != NULL && PEM_write_X509(stdout, x) != 1) {
			r = AIRLOCK_E_IO;
			goto out;
		}
	} else {
		printf("%s%s record %llu, %s\n", c->n > 1 ? "\n" : "",
		       rec_str(rec, "type"), rec_seq(rec),
		       rec_str(rec, "time"));
		rec_print_fields(rec);
		if (x != NULL)
			cert_describe(x);
	}
	r = 0;
out:
	BIO_free(b);
	cJSON_Delete(o);
	X509_free(x);
	return r;
}

static int
ledger_show_cmd(const char *arg, int pem)
{
	struct show_ctx c = {NULL, pem, 0, 0, NULL};
	struct ledger *l = NULL;
	char serial[SERIAL_BUF], safe[128];
	cJSON *d = NULL;
	int r, st;

	if (serial_canon(arg, serial) != 0)
		return cli_usage("ledger show",
				 "'%s' is not a serial number (hex digits, "
				 "colons allowed, at most %d significant)",
				 term_sanitize(arg, safe, sizeof(safe)),
				 SERIAL_HEX_MAX);
	c.serial = serial;
	if ((st = ledger_open_read("ledger show", &l)) != 0)
		return st;
	if (station_g.json && (c.arr = cJSON_CreateArray()) == NULL) {
		ledger_close(l);
		return cli_fail("ledger show", AIRLOCK_E_NOMEM);
	}
	r = ledger_foreach(l, show_cb, &c);
	ledger_close(l);
	if (r == 0 && c.n == 0) {
		err_detail_set("no record in the ledger names serial %s "
			       "(see `airlock-station ledger list`)",
			       serial);
		r = AIRLOCK_E_NOT_FOUND;
	} else if (r == 0 && pem && c.certs == 0) {
		err_detail_set("serial %s has no certificate in the ledger "
			       "(no ISSUED record: see `airlock-station "
			       "ledger show %s`)",
			       serial, serial);
		r = AIRLOCK_E_NOT_FOUND;
	}
	if (r != 0) {
		cJSON_Delete(c.arr);
		return cli_fail("ledger show", r);
	}
	if (station_g.json) {
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "serial", serial);
		cJSON_AddItemToObject(d, "records", c.arr);
		cli_json_print(d);
	}
	return 0;
}

/* ---- export-index ---- */

struct revocation {
	char serial[SERIAL_BUF];
	time_t when;
	const char *reason; /* static, OpenSSL's spelling; NULL for none */
};

struct index_ctx {
	struct revocation *rev;
	size_t nrev, caprev;
	BIO *out;
	time_t now;
	unsigned long long n, unknown_reasons;
};

/* CRLReason (RFC 5280 5.3.1) as `openssl ca` writes it in index.txt. The
 * codes OpenSSL cannot read back there (8 removeFromCRL aside: 9, 10) are
 * left out, so the file stays readable by `openssl ca -gencrl`. */
static const char *const crl_reasons[] = {
    "unspecified",	  "keyCompromise",     "CACompromise",
    "affiliationChanged", "superseded",	       "cessationOfOperation",
    "certificateHold",	  NULL /* 7 unused */, "removeFromCRL",
};
#define NREASONS (sizeof(crl_reasons) / sizeof(crl_reasons[0]))

/* A reason name, compared without case, '_' and '-' ("key_compromise",
 * "keyCompromise"), or its RFC 5280 code. */
static const char *
reason_lookup(const cJSON *v)
{
	const char *s, *t;
	size_t i;

	if (v == NULL)
		return NULL;
	if (cJSON_IsNumber(v)) {
		i = (size_t)v->valuedouble;
		return v->valuedouble >= 0 && (double)i == v->valuedouble &&
			       i < NREASONS
			   ? crl_reasons[i]
			   : NULL;
	}
	if (!cJSON_IsString(v))
		return NULL;
	for (i = 0; i < NREASONS; i++) {
		if (crl_reasons[i] == NULL)
			continue;
		for (s = v->valuestring, t = crl_reasons[i];; s++) {
			if (*s == '_' || *s == '-' || *s == ' ')
				continue;
			if (tolower((unsigned char)*s) !=
			    tolower((unsigned char)*t))
				break;
			if (*s == '\0')
				return crl_reasons[i];
			t++;
		}
	}
	return NULL;
}

/* The ledger has checked the form YYYY-MM-DDTHH:MM:SSZ already. */
static time_t
rfc3339_parse(const char *s)
{
	struct tm tm;
	int v[6], i, k;
	static const int at[6] = {0, 5, 8, 11, 14, 17},
			 len[6] = {4, 2, 2, 2, 2, 2};

	for (i = 0; i < 6; i++)
		for (v[i] = 0, k = 0; k < len[i]; k++)
			v[i] = v[i] * 10 + (s[at[i] + k] - '0');
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	return timegm(&tm);
}

static int
rev_cmp(const void *a, const void *b)
{
	const struct revocation *x = a, *y = b;
	size_t lx = strlen(x->serial), ly = strlen(y->serial);

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x->serial, y->serial);
}

static int
collect_revoked_cb(void *arg, const cJSON *rec)
{
	struct index_ctx *c = arg;
	const cJSON *reason;
	struct revocation *rv;
	const char *s;
	size_t ncap;

	if (strcmp(rec_str(rec, "type"), "REVOKED") != 0)
		return 0;
	if ((s = rec_str(rec, "serial")) == NULL) {
		err_detail_set("REVOKED record %llu has no \"serial\"",
			       rec_seq(rec));
		return AIRLOCK_E_FORMAT;
	}
	if (c->nrev == c->caprev) {
		ncap = c->caprev ? c->caprev * 2 : 64;
		if ((rv = realloc(c->rev, ncap * sizeof(*rv))) == NULL)
			return AIRLOCK_E_NOMEM;
		c->rev = rv;
		c->caprev = ncap;
	}
	rv = &c->rev[c->nrev];
	if (serial_canon(s, rv->serial) != 0) {
		err_detail_set("REVOKED record %llu: \"serial\" is not hex",
			       rec_seq(rec));
		return AIRLOCK_E_FORMAT;
	}
	rv->when = rfc3339_parse(rec_str(rec, "time"));
	reason = cJSON_GetObjectItemCaseSensitive(rec, "reason");
	rv->reason = reason_lookup(reason);
	if (reason != NULL && rv->reason == NULL)
		c->unknown_reasons++;
	c->nrev++;
	return 0;
}

/* ASN1_TIME's own text: UTCTime YYMMDDHHMMSSZ before 2050, else
 * GeneralizedTime, as `openssl ca` writes both columns. */
static int
index_time(BIO *out, const ASN1_TIME *t)
{
	if (t == NULL ||
	    (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME))
		return AIRLOCK_E_FORMAT;
	return BIO_write(out, t->data, t->length) == t->length
		   ? 0
		   : AIRLOCK_E_NOMEM;
}

static int
index_line(struct index_ctx *c, const cJSON *rec, X509 *x)
{
	const ASN1_TIME *na = X509_get0_notAfter(x);
	struct revocation key, *rv;
	ASN1_TIME *rt = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL, *subj = NULL;
	int r = AIRLOCK_E_NOMEM;

	memset(&key, 0, sizeof(key));
	cert_serial(x, key.serial);
	if (key.serial[0] == '\0' ||
	    strcmp(key.serial, rec_str(rec, "serial")) != 0) {
		err_detail_set("ISSUED record %llu: the certificate's serial "
			       "is not the record's serial %s",
			       rec_seq(rec), rec_str(rec, "serial"));
		return AIRLOCK_E_FORMAT;
	}
	rv = c->nrev ? bsearch(&key, c->rev, c->nrev, sizeof(*c->rev), rev_cmp)
		     : NULL;
	/* BN_bn2hex: uppercase, whole octets, as `openssl ca` spells it */
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL)
		goto out;
	if (!BN_is_zero(bn) && (hex = BN_bn2hex(bn)) == NULL)
		goto out;
	if ((subj = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0)) ==
	    NULL)
		goto out;
	BIO_printf(c->out, "%c\t",
		   rv != NULL			    ? 'R'
		   : X509_cmp_time(na, &c->now) < 0 ? 'E'
						    : 'V');
	if ((r = index_time(c->out, na)) != 0) {
		err_detail_set("ISSUED record %llu: notAfter is not a time",
			       rec_seq(rec));
		goto out;
	}
	BIO_printf(c->out, "\t");
	if (rv != NULL) {
		r = AIRLOCK_E_NOMEM;
		if ((rt = ASN1_TIME_set(NULL, rv->when)) == NULL ||
		    index_time(c->out, rt) != 0)
			goto out;
		if (rv->reason != NULL)
			BIO_printf(c->out, ",%s", rv->reason);
	}
	BIO_printf(c->out, "\t%s\tunknown\t%s\n", hex != NULL ? hex : "00",
		   subj);
	c->n++;
	r = 0;
out:
	ASN1_TIME_free(rt);
	OPENSSL_free(subj);
	OPENSSL_free(hex);
	BN_free(bn);
	return r;
}

static int
index_cb(void *arg, const cJSON *rec)
{
	struct index_ctx *c = arg;
	X509 *x = NULL;
	int r;

	if (strcmp(rec_str(rec, "type"), "ISSUED") != 0)
		return 0;
	if ((r = rec_cert(rec, &x)) != 0)
		return r;
	if (x == NULL) {
		err_detail_set("ISSUED record %llu has no \"cert\"",
			       rec_seq(rec));
		return AIRLOCK_E_FORMAT;
	}
	r = index_line(c, rec, x);
	X509_free(x);
	return r;
}

/* Write BUF to PATH durably: temp name, fsync, rename, fsync directory. */
static int
index_write_file(const char *path, const char *buf, size_t len, int force)
{
	char dir[4096];
	const char *name, *slash = strrchr(path, '/');
	int fd = -1, r;

	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
		name = path;
	} else {
		if ((size_t)(slash - path) >= sizeof(dir))
			return AIRLOCK_E_INVALID_ARG;
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
			 slash == path ? "/" : path);
		name = slash + 1;
	}
	if (!safefile_name_ok(name)) {
		err_detail_set("output name '%.64s' must be 1 to 64 of "
			       "[a-z0-9._-], not starting with '.'",
			       name);
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((r = safefile_dir_open(dir, &fd)) != 0)
		return r;
	r = safefile_write_atomic(fd, name, buf, len, 0644,
				  force ? SAFEFILE_REPLACE : 0);
	if (r == AIRLOCK_E_EXISTS)
		err_detail_set("%s exists: refusing to replace it (--force "
			       "replaces it)",
			       path);
	close(fd);
	return r;
}

static int
ledger_export_cmd(const char *out, int force)
{
	struct index_ctx c;
	struct ledger *l = NULL;
	BUF_MEM *bm;
	int r, st;

	memset(&c, 0, sizeof(c));
	c.now = time(NULL);
	if ((c.out = BIO_new(BIO_s_mem())) == NULL)
		return cli_fail("ledger export-index", AIRLOCK_E_NOMEM);
	if ((st = ledger_open_read("ledger export-index", &l)) != 0)
		goto done;
	/* Two passes: REVOKED records come after the ISSUED they revoke. */
	if ((r = ledger_foreach(l, collect_revoked_cb, &c)) == 0) {
		qsort(c.rev, c.nrev, sizeof(*c.rev), rev_cmp);
		r = ledger_foreach(l, index_cb, &c);
	}
	ledger_close(l);
	if (r != 0) {
		st = cli_fail("ledger export-index", r);
		goto done;
	}
	BIO_get_mem_ptr(c.out, &bm);
	if (out == NULL || strcmp(out, "-") == 0) {
		if (bm->length > 0 &&
		    fwrite(bm->data, 1, bm->length, stdout) != bm->length)
			r = AIRLOCK_E_IO;
		if (fflush(stdout) != 0)
			r = AIRLOCK_E_IO;
		if (r != 0)
			err_detail_set("writing to stdout failed");
	} else
		r = index_write_file(out, bm->data, bm->length, force);
	if (r != 0) {
		st = cli_fail("ledger export-index", r);
		goto done;
	}
	if (c.unknown_reasons > 0)
		fprintf(stderr,
			"airlock-station: ledger export-index: warning: %llu "
			"REVOKED record(s) give a reason OpenSSL's index.txt "
			"cannot hold; listed without a reason\n",
			c.unknown_reasons);
	if (out != NULL && strcmp(out, "-") != 0 && station_g.verbose >= 0)
		fprintf(stderr,
			"airlock-station: ledger export-index: %llu "
			"certificates written to %s\n",
			c.n, out);
	st = 0;
done:
	free(c.rev);
	BIO_free(c.out);
	return st;
}

/* ---- restore ---- */

#define RESTORE_MAX   (256u << 20) /* as the station reads its ledger */
#define RESTORE_STAGE "ledger.jsonl.restoring"
#define EXPORT_STATE  "export-state.json"

/* FROM read whole into a new buffer. */
static int
restore_read(const char *from, unsigned char **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd, r = AIRLOCK_E_IO;

	*buf = NULL;
	*len = 0;
	if ((fd = open(from, O_RDONLY | O_CLOEXEC)) < 0) {
		err_detail_set("%s: %s", from, strerror(errno));
		return errno == ENOENT ? AIRLOCK_E_NOT_FOUND : AIRLOCK_E_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err_detail_set("%s is not a regular file", from);
		goto out;
	}
	if ((unsigned long long)st.st_size > RESTORE_MAX) {
		err_detail_set("%s is larger than %u MiB", from,
			       RESTORE_MAX >> 20);
		r = AIRLOCK_E_TOO_LARGE;
		goto out;
	}
	if ((*buf = malloc((size_t)st.st_size + 1)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_detail_set("reading %s: %s", from,
				       n < 0 ? strerror(errno)
					     : "shorter than its size");
			goto out;
		}
		got += (size_t)n;
	}
	*len = got;
	r = 0;
out:
	if (r != 0) {
		free(*buf);
		*buf = NULL;
	}
	close(fd);
	return r;
}

static int
ledger_restore_cmd(const char *from, int force)
{
	char path[4096], stage[4096], head[65], aside[96], detail[1024],
	    state[96];
	unsigned long long count = 0, count2 = 0;
	unsigned char *buf = NULL;
	size_t len = 0;
	struct stat st;
	struct tm tm;
	time_t now = time(NULL);
	int homefd = -1, lockfd = -1, staged = 0, moved = 0, r;
	struct ledger *l = NULL;
	cJSON *d;

	ledger_path(path, sizeof(path));
	snprintf(stage, sizeof(stage), "%s/%s", station_g.home, RESTORE_STAGE);
	/* FROM is copied into HOME first and the copy is what gets verified
	 * and installed, so that what was checked is what is used */
	if ((r = restore_read(from, &buf, &len)) != 0)
		return cli_fail("ledger restore", r);
	if (len == 0) {
		free(buf);
		err_detail_set("%s is empty: nothing to restore", from);
		return cli_fail("ledger restore", AIRLOCK_E_FORMAT);
	}
	if ((r = safefile_dir_open(station_g.home, &homefd)) != 0)
		goto fail;
	if ((r = safefile_write_atomic(homefd, RESTORE_STAGE, buf, len, 0600,
				       SAFEFILE_REPLACE)) != 0)
		goto fail;
	staged = 1;
	if ((r = ledger_verify_file(stage, &count, head)) != 0) {
		snprintf(detail, sizeof(detail), "%s", err_detail_get());
		err_detail_set("%s does not verify as a whole ledger: %s (a "
			       "replica that began with a \"first contact\" "
			       "after record 1 cannot rebuild a ledger)",
			       from, detail);
		goto fail;
	}
	/* the ledger in place: locked (nobody signing now), and kept */
	lockfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (lockfd < 0 && errno != ENOENT) {
		err_detail_set("%s: %s", path, strerror(errno));
		r = AIRLOCK_E_IO;
		goto fail;
	}
	if (lockfd >= 0) {
		if (flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
			err_detail_set(
			    "%s is in use by another airlock-station", path);
			r = AIRLOCK_E_REFUSED;
			goto fail;
		}
		if (fstat(lockfd, &st) != 0) {
			r = AIRLOCK_E_IO;
			goto fail;
		}
		if (st.st_size > 0 && !force) {
			err_detail_set("%s exists and holds %lld bytes: "
				       "refusing to replace it (--force "
				       "keeps it as %s.replaced-TIME and "
				       "restores)",
				       path, (long long)st.st_size,
				       HOME_LEDGER);
			r = AIRLOCK_E_EXISTS;
			goto fail;
		}
		if (st.st_size > 0) {
			gmtime_r(&now, &tm);
			strftime(aside, sizeof(aside),
				 HOME_LEDGER ".replaced-%Y%m%d-%H%M%S", &tm);
			/* a hard link first: the old ledger stays under its
			 * own name until the restored one replaces it */
			if (linkat(homefd, HOME_LEDGER, homefd, aside, 0) !=
			    0) {
				err_detail_set("keeping %s as %s: %s", path,
					       aside, strerror(errno));
				r = errno == EEXIST ? AIRLOCK_E_EXISTS
						    : AIRLOCK_E_IO;
				goto fail;
			}
			moved = 1;
		}
	}
	if ((r = safefile_rename(homefd, RESTORE_STAGE, HOME_LEDGER,
				 SAFEFILE_REPLACE)) != 0 ||
	    (r = safefile_fsync_dir(homefd)) != 0)
		goto fail;
	staged = 0;
	snprintf(state, sizeof(state),
		 "{\"exported_seq\":%llu,\"crl_exported\":0}\n", count);
	if ((r = safefile_write_atomic(homefd, EXPORT_STATE, state,
				       strlen(state), 0600,
				       SAFEFILE_REPLACE)) != 0)
		goto fail;
	/* what the station will open: verified and opened under its lock */
	if ((r = ledger_verify_file(path, &count2, NULL)) != 0 ||
	    (r = ledger_open(path, 0, &l)) != 0)
		goto fail;
	ledger_close(l);
	if (count2 != count) {
		err_detail_set("%s changed while it was restored", path);
		r = AIRLOCK_E_INTERNAL;
		goto fail;
	}
	if (station_g.json) {
		d = cJSON_CreateObject();
		cJSON_AddBoolToObject(d, "ok", 1);
		cJSON_AddNumberToObject(d, "records", (double)count);
		cJSON_AddStringToObject(d, "head", head);
		if (moved)
			cJSON_AddStringToObject(d, "replaced", aside);
		else
			cJSON_AddNullToObject(d, "replaced");
		cli_json_print(d);
	} else
		printf("ledger restored: %llu records, head %s\n", count, head);
	if (moved)
		fprintf(stderr,
			"airlock-station: ledger restore: the ledger it "
			"replaced is kept as %s/%s\n",
			station_g.home, aside);
	fprintf(stderr,
		"airlock-station: ledger restore: records made after the "
		"last export are not in the replica: revoke again what was "
		"revoked since, and check the CRL number of the next CRL\n");
	r = 0;
	goto done;
fail:
	r = cli_fail("ledger restore", r);
done:
	if (staged && homefd >= 0 && unlinkat(homefd, RESTORE_STAGE, 0) != 0)
		fprintf(stderr,
			"airlock-station: ledger restore: could not remove "
			"%s: %s\n",
			stage, strerror(errno));
	if (lockfd >= 0)
		close(lockfd);
	if (homefd >= 0)
		close(homefd);
	free(buf);
	return r;
}

/* ---- dispatch ---- */

/* Cut a torn last line (a record a crash cut short: never complete, never
 * acknowledged) and verify the rest. Signing commands do the same on open. */
static int
ledger_repair_cmd(void)
{
	struct home *h = NULL;
	struct ledger *l = NULL;
	long long cut;
	int r;

	if ((r = home_open(station_g.home, &h)) != 0 ||
	    (r = home_ledger(h, &l)) != 0) {
		home_close(h);
		return cli_fail("ledger repair", r);
	}
	cut = home_ledger_repaired(h);
	if (cut > 0)
		printf(
		    "cut a torn last line of %lld bytes; %llu records verify\n",
		    cut, ledger_size(l));
	else
		printf("nothing to repair; %llu records verify\n",
		       ledger_size(l));
	home_close(h);
	return 0;
}

int
cmd_ledger(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"type", required_argument, NULL, 't'},
	    {"pem", no_argument, NULL, 'p'},
	    {"out", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *verb, *type = NULL, *out = NULL;
	char what[64], t[32], safe[64];
	int c, pem = 0, force = 0, has_out = 0;
	size_t i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(ledger_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	verb = argv[1];
	snprintf(what, sizeof(what), "ledger %s",
		 term_sanitize(verb, safe, sizeof(safe)));
	if (strcmp(verb, "verify") != 0 && strcmp(verb, "list") != 0 &&
	    strcmp(verb, "show") != 0 && strcmp(verb, "export-index") != 0 &&
	    strcmp(verb, "restore") != 0 && strcmp(verb, "repair") != 0)
		return cli_usage("ledger", "unknown verb '%s'", safe);
	optind = 0;
	opterr = 0;
	/* argv[1] (the verb) stands in for the program name */
	while ((c = getopt_long(argc - 1, argv + 1, ":ho:", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'h':
			fputs(ledger_usage, stdout);
			return 0;
		case 'j':
			station_g.json = 1;
			break;
		case 't':
			type = optarg;
			break;
		case 'p':
			pem = 1;
			break;
		case 'o':
			out = optarg;
			has_out = 1;
			break;
		case 'f':
			force = 1;
			break;
		case ':':
			return cli_usage(
			    what, "%s needs a value",
			    term_sanitize(argv[optind], safe, sizeof(safe)));
		default:
			return cli_usage(
			    what, "unknown option '%s'",
			    term_sanitize(argv[optind], safe, sizeof(safe)));
		}
	}
	argc -= optind + 1;
	argv += optind + 1;
	if ((type != NULL && strcmp(verb, "list") != 0) ||
	    (pem && strcmp(verb, "show") != 0) ||
	    (has_out && strcmp(verb, "export-index") != 0) ||
	    (force && strcmp(verb, "export-index") != 0 &&
	     strcmp(verb, "restore") != 0) ||
	    (station_g.json && strcmp(verb, "export-index") == 0))
		return cli_usage(what, "an option does not apply to %s", verb);
	if (strcmp(verb, "show") == 0) {
		if (argc != 1)
			return cli_usage(what, "give exactly one SERIAL");
		return ledger_show_cmd(argv[0], pem);
	}
	if (strcmp(verb, "restore") == 0) {
		if (argc != 1)
			return cli_usage(what, "give exactly one FROM file");
		return ledger_restore_cmd(argv[0], force);
	}
	if (argc != 0)
		return cli_usage(what, "unexpected argument '%s'",
				 term_sanitize(argv[0], safe, sizeof(safe)));
	if (strcmp(verb, "verify") == 0)
		return ledger_verify_cmd();
	if (strcmp(verb, "repair") == 0)
		return ledger_repair_cmd();
	if (strcmp(verb, "list") == 0) {
		if (type != NULL) {
			for (i = 0; type[i] != '\0' && i + 1 < sizeof(t); i++)
				t[i] = (char)toupper((unsigned char)type[i]);
			t[i] = '\0';
			if (type[i] != '\0' || !type_known(t))
				return cli_usage(
				    what, "unknown record type '%s'",
				    term_sanitize(type, safe, sizeof(safe)));
			type = t;
		}
		return ledger_list_cmd(type);
	}
	return ledger_export_cmd(out, force);
}
