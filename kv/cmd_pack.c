/* airlock-kv pack --csr FILE... --out DIR: plain PKCS#10 requests (devices,
 * other systems) into a request bundle, labelled by file name. */
#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv/cli.h"
#include "kv/cmds.h"
#include "lib/bundle.h"
#include "lib/err.h"
#include "lib/safefile.h"

#define MAX_CSRS 10000

static void
usage(FILE *f)
{
	fprintf(f, "usage: airlock-kv pack --csr FILE... [--profile NAME] "
		   "--out DIR\n\n"
		   "Put plain PKCS#10 requests (PEM or DER) into a new request "
		   "bundle DIR, each\nlabelled by its file name (lowercased, "
		   "other characters as '-'). --profile asks\nthe station for "
		   "a profile; its policy decides. Each request must parse and "
		   "its\nsignature verify. No network.\n\n"
		   "  --csr FILE      a request (repeatable; also as "
		   "arguments)\n"
		   "  --profile NAME  profile hint for every request\n"
		   "  --out DIR       the bundle to create\n"
		   "  --json          one JSON document on stdout\n");
}

enum { OPT_CSR = 1, OPT_OUT, OPT_PROFILE };

/* PEM or DER, one request whose signature verifies. */
static int
csr_check(const char *path, const unsigned char *buf, size_t len)
{
	const unsigned char *p = buf;
	X509_REQ *req = NULL;
	EVP_PKEY *pk;
	BIO *bio;
	int r = AIRLOCK_E_FORMAT;

	if (len > 10 && memmem(buf, len, "-----BEGIN", 10) != NULL) {
		if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL)
			return AIRLOCK_E_NOMEM;
		req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		req = d2i_X509_REQ(NULL, &p, (long)len);
		if (req != NULL && p != buf + len) {
			err_detail_set("%s: bytes after the request", path);
			goto out;
		}
	}
	if (req == NULL) {
		err_detail_set("%s: not a PKCS#10 request (PEM or DER)", path);
		goto out;
	}
	if ((pk = X509_REQ_get0_pubkey(req)) == NULL ||
	    X509_REQ_verify(req, pk) != 1) {
		err_detail_set("%s: the request's signature does not verify",
			       path);
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	r = 0;
out:
	X509_REQ_free(req);
	return r;
}

static void
label_of(const char *path, char out[65])
{
	const char *b = strrchr(path, '/');
	size_t i, o = 0;

	b = b ? b + 1 : path;
	for (i = 0; b[i] != '\0' && o < 64; i++) {
		char ch = b[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			ch = '-';
		if (o == 0 && ch == '.')
			ch = '-';
		out[o++] = ch;
	}
	if (o == 0)
		out[o++] = 'x';
	out[o] = '\0';
}

int
cmd_pack(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"csr", required_argument, NULL, OPT_CSR},
	    {"out", required_argument, NULL, OPT_OUT},
	    {"profile", required_argument, NULL, OPT_PROFILE},
	    {"json", no_argument, NULL, CLI_OPT_JSON},
	    {"quiet", no_argument, NULL, CLI_OPT_QUIET},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char **csrs = NULL, *out = NULL, *profile = NULL;
	char parent[4096], name[80], producer[256], host[128], id[65],
	    label[65], file[80], sbuf[256];
	struct bundle_writer *w = NULL;
	unsigned char *buf = NULL;
	size_t n = 0, i, len;
	char *bid = NULL;
	cJSON *meta, *src, *j;
	int opt, st, r;

	if ((csrs = calloc(MAX_CSRS, sizeof(*csrs))) == NULL)
		return cli_fail("pack", AIRLOCK_E_NOMEM);
	while ((opt = getopt_long(argc, argv, "ho:q", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			st = 0;
			goto done;
		case OPT_CSR:
			if (n >= MAX_CSRS) {
				st = cli_usage("pack", "at most %d requests",
					       MAX_CSRS);
				goto done;
			}
			csrs[n++] = optarg;
			break;
		case 'o':
		case OPT_OUT:
			out = optarg;
			break;
		case OPT_PROFILE:
			if (!safefile_name_ok(optarg)) {
				st = cli_usage("pack",
					       "--profile: [a-z0-9._-]{1,64}");
				goto done;
			}
			profile = optarg;
			break;
		default:
			if ((st = cli_common_opt("pack", opt, optarg)) == 0)
				break;
			if (st == 1)
				usage(stderr);
			st = AIRLOCK_EXIT_USAGE;
			goto done;
		}
	}
	for (; optind < argc && n < MAX_CSRS; optind++)
		csrs[n++] = argv[optind];
	if (n == 0 || out == NULL) {
		st = cli_usage("pack", "want --csr FILE... and --out DIR");
		goto done;
	}
	if ((st = cli_out_split("pack", out, parent, sizeof(parent), name,
				sizeof(name))) != 0)
		goto done;
	if (access(out, F_OK) == 0) {
		fprintf(stderr,
			"airlock-kv: pack: %s exists; not "
			"overwriting it\n",
			out);
		st = AIRLOCK_EXIT_REFUSED;
		goto done;
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(producer, sizeof(producer), "airlock-kv %s on %s",
		 AIRLOCK_VERSION, cli_safe(host, sbuf, 64));
	if ((r = bundle_writer_new(BUNDLE_KIND_REQUEST, producer, &w)) != 0) {
		st = cli_fail("pack", r);
		goto done;
	}
	for (i = 0; i < n; i++) {
		if ((r = cli_file_read(csrs[i], BUNDLE_CSR_MAX, &buf, &len)) !=
			0 ||
		    (r = csr_check(csrs[i], buf, len)) != 0) {
			st = cli_fail("pack", r);
			goto done;
		}
		label_of(csrs[i], label);
		cli_entry_id(i + 1, label, id);
		snprintf(file, sizeof(file), "%s.csr", id);
		if ((meta = cJSON_CreateObject()) == NULL ||
		    !cJSON_AddStringToObject(meta, "id", id) ||
		    (src = cJSON_AddObjectToObject(meta, "source")) == NULL ||
		    !cJSON_AddStringToObject(src, "type", "csr") ||
		    !cJSON_AddStringToObject(src, "label", label) ||
		    (profile != NULL &&
		     !cJSON_AddStringToObject(meta, "profile", profile))) {
			cJSON_Delete(meta);
			st = cli_fail("pack", AIRLOCK_E_NOMEM);
			goto done;
		}
		if ((r = bundle_writer_add_entry(w, meta, file, buf, len)) !=
		    0) {
			st = cli_fail("pack", r);
			goto done;
		}
		free(buf);
		buf = NULL;
	}
	if ((r = bundle_writer_commit(w, parent, name, NULL, NULL, NULL,
				      &bid)) != 0) {
		st = cli_fail("pack: writing the bundle", r);
		goto done;
	}
	if (kv_g.json) {
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "bundle", out);
		cJSON_AddStringToObject(j, "bundle_id", bid);
		cJSON_AddNumberToObject(j, "requests", (double)n);
		cli_json_print(j);
	} else {
		printf("wrote request bundle %s: %zu request%s (bundle id "
		       "%s)\n",
		       out, n, n == 1 ? "" : "s", bid);
	}
	st = 0;
done:
	free(bid);
	free(buf);
	bundle_writer_free(w);
	free(csrs);
	return st;
}
