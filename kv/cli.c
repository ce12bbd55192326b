#include "kv/cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv/cmds.h"
#include "kv/cred.h"
#include "kv/http.h"
#include "kv/mergebundle.h"
#include "kv/vault.h"
#include "lib/err.h"
#include "lib/safefile.h"
#include "lib/term.h"

struct kv_globals kv_g = {.max_tries = 6, .timeout_s = 300};

int
cli_fail(const char *what, int code)
{
	char buf[4096];

	term_sanitize(err_detail_get(), buf, sizeof(buf));
	if (buf[0] != '\0')
		fprintf(stderr, "airlock-kv: %s: %s: %s\n", what, err_str(code),
			buf);
	else
		fprintf(stderr, "airlock-kv: %s: %s\n", what, err_str(code));
	err_detail_clear();
	/* everything airlock-kv waits for is remote: a timeout is a remote
	 * error (exit 6), as documented */
	if (code == AIRLOCK_E_TIMEOUT)
		return AIRLOCK_EXIT_REMOTE;
	return err_exit_status(code);
}

int
cli_usage(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "airlock-kv: %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see `airlock-kv %s --help`)\n", verb);
	return AIRLOCK_EXIT_USAGE;
}

void
cli_notice(const char *fmt, ...)
{
	char raw[1024], buf[2048];
	va_list ap;

	if (kv_g.verbose < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	term_sanitize(raw, buf, sizeof(buf));
	fprintf(stderr, "airlock-kv: %s\n", buf);
}

void
cli_json_print(void *cjson)
{
	char *s = cJSON_Print(cjson);

	if (s != NULL)
		printf("%s\n", s);
	free(s);
	cJSON_Delete(cjson);
}

const char *
cli_safe(const char *s, char *buf, size_t len)
{
	return term_sanitize(s != NULL ? s : "", buf, len);
}

void
cli_progress(const char *what, size_t done, size_t total)
{
	static int tty = -1;
	int width = 30, fill;

	if (tty < 0)
		tty = isatty(2);
	if (!tty || kv_g.verbose < 0 || total == 0)
		return;
	fill = (int)(done * (size_t)width / total);
	fprintf(stderr, "\r%s [%.*s%*s] %zu/%zu", what, fill,
		"##############################", width - fill, "", done,
		total);
	if (done == total)
		fputc('\n', stderr);
	fflush(stderr);
}

static int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
cli_common_opt(const char *verb, int opt, const char *arg)
{
	long v;

	switch (opt) {
	case CLI_OPT_VAULT:
		kv_g.vault = arg;
		return 0;
	case CLI_OPT_ENDPOINT:
		kv_g.endpoint = arg;
		return 0;
	case CLI_OPT_CACERT:
		kv_g.cacert = arg;
		return 0;
	case CLI_OPT_API_VERSION:
		kv_g.api_version = arg;
		return 0;
	case CLI_OPT_CREDENTIAL:
		kv_g.credential = arg;
		return 0;
	case CLI_OPT_STATE:
		kv_g.state = arg;
		return 0;
	case CLI_OPT_JSON:
		kv_g.json = 1;
		return 0;
	case CLI_OPT_QUIET:
		kv_g.verbose = -1;
		return 0;
	case CLI_OPT_VERBOSE:
		kv_g.verbose++;
		return 0;
	case CLI_OPT_MAX_TRIES:
		if (parse_long(arg, 1, 100, &v) != 0) {
			cli_usage(verb, "--max-tries: 1..100");
			return 2;
		}
		kv_g.max_tries = (int)v;
		return 0;
	case CLI_OPT_TIMEOUT:
		if (parse_long(arg, 1, 86400, &v) != 0) {
			cli_usage(verb, "--timeout: 1..86400 seconds");
			return 2;
		}
		kv_g.timeout_s = v;
		return 0;
	default:
		return 1;
	}
}

static void
notice_cb(const char *msg, void *arg)
{
	(void)arg;
	if (kv_g.verbose >= 0)
		cli_notice("%s", msg);
}

static void
trace_cb(const char *line, void *arg)
{
	char buf[2048];

	(void)arg;
	fprintf(stderr, "airlock-kv: http: %s\n",
		term_sanitize(line, buf, sizeof(buf)));
}

int
cli_connect(const char *verb, struct kv_conn *c)
{
	const char *vault = kv_g.vault, *endpoint = kv_g.endpoint;
	int r;

	memset(c, 0, sizeof(*c));
	if (vault == NULL && endpoint == NULL)
		vault = getenv("AIRLOCK_KV_VAULT");
	if (vault == NULL && endpoint == NULL)
		return cli_usage(verb, "no vault: give --vault NAME|URL or "
				       "--endpoint URL");
	if ((r = http_client_new(kv_g.cacert, &c->http)) != 0)
		return cli_fail(verb, r);
	if (kv_g.verbose >= 2)
		http_client_trace_set(c->http, trace_cb, NULL);
	if ((r = cred_new(c->http, kv_g.credential, &c->cred)) != 0 ||
	    (r = vault_new(vault, endpoint, kv_g.api_version, c->http, c->cred,
			   &c->vault)) != 0) {
		cli_disconnect(c);
		return cli_fail(verb, r);
	}
	vault_retry_set(c->vault, kv_g.max_tries, kv_g.timeout_s * 1000);
	vault_notice_set(c->vault, notice_cb, NULL);
	return 0;
}

void
cli_disconnect(struct kv_conn *c)
{
	vault_free(c->vault);
	cred_free(c->cred);
	http_client_free(c->http);
	memset(c, 0, sizeof(*c));
}

int
cli_state_dir(char *buf, size_t len)
{
	const char *s = kv_g.state, *home;
	char tmp[4096];
	size_t i;

	if (s == NULL)
		s = getenv("AIRLOCK_KV_STATE");
	if (s != NULL && *s != '\0') {
		if ((size_t)snprintf(buf, len, "%s", s) >= len)
			return AIRLOCK_E_TOO_LARGE;
	} else {
		if ((home = getenv("HOME")) == NULL || *home != '/') {
			err_detail_set("no state directory: set --state, "
				       "AIRLOCK_KV_STATE or HOME");
			return AIRLOCK_E_INVALID_ARG;
		}
		if ((size_t)snprintf(buf, len, "%s/.local/state/airlock-kv",
				     home) >= len)
			return AIRLOCK_E_TOO_LARGE;
	}
	/* mkdir -p, the last component 0700 */
	snprintf(tmp, sizeof(tmp), "%s", buf);
	for (i = 1; tmp[i] != '\0'; i++) {
		if (tmp[i] != '/')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
			err_detail_set("mkdir %s: %s", tmp, strerror(errno));
			return AIRLOCK_E_IO;
		}
		tmp[i] = '/';
	}
	if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
		err_detail_set("mkdir %s: %s", tmp, strerror(errno));
		return AIRLOCK_E_IO;
	}
	return 0;
}

int
cli_file_read(const char *path, size_t max, unsigned char **buf, size_t *len)
{
	unsigned char *b = NULL;
	struct stat st;
	size_t have = 0;
	ssize_t n;
	int fd, r = AIRLOCK_E_IO;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		err_detail_set("%s: %s", path, strerror(errno));
		return errno == ENOENT ? AIRLOCK_E_NOT_FOUND : AIRLOCK_E_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err_detail_set("%s: not a regular file", path);
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		err_detail_set("%s: over %zu bytes", path, max);
		r = AIRLOCK_E_TOO_LARGE;
		goto out;
	}
	if ((b = malloc((size_t)st.st_size + 1)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	while (have < (size_t)st.st_size) {
		n = read(fd, b + have, (size_t)st.st_size - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_detail_set("%s: read failed", path);
			goto out;
		}
		have += (size_t)n;
	}
	b[have] = 0;
	*buf = b;
	*len = have;
	b = NULL;
	r = 0;
out:
	free(b);
	close(fd);
	return r;
}

void
cli_sha256_hex(const unsigned char *buf, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t i;

	SHA256(buf, len, md);
	for (i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int
cli_out_split(const char *verb, const char *path, char *parent, size_t plen,
	      char *name, size_t nlen)
{
	const char *slash;
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	slash = memrchr(path, '/', n);
	if (slash == NULL) {
		snprintf(parent, plen, ".");
		snprintf(name, nlen, "%.*s", (int)n, path);
	} else {
		snprintf(parent, plen, "%.*s",
			 slash == path ? 1 : (int)(slash - path), path);
		snprintf(name, nlen, "%.*s",
			 (int)(n - (size_t)(slash - path) - 1), slash + 1);
	}
	if (!safefile_name_ok(name))
		return cli_usage(verb,
				 "the bundle's directory name must be "
				 "[a-z0-9._-]{1,64}, not starting with '.': "
				 "'%.64s'",
				 name);
	return 0;
}

void
cli_entry_id(size_t index, const char *name, char out[65])
{
	size_t o, i;
	int n;

	n = snprintf(out, 65, "%04zu-", index % 1000000);
	o = n > 0 ? (size_t)n : 0;
	for (i = 0; name[i] != '\0' && o < 64; i++) {
		char ch = name[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
			ch = '-';
		out[o++] = ch;
	}
	while (o > 0 && out[o - 1] == '-')
		o--;
	out[o] = '\0';
}

int
cli_bundle_to_dir(const char *verb, const char *dir, const char *trust,
		  const char *out, struct bundle **b, int *dirfd)
{
	char what[64];
	int r, st;

	*b = NULL;
	*dirfd = -1;
	snprintf(what, sizeof(what), "%s: verifying the bundle", verb);
	if ((r = mergebundle_open(dir, trust, b)) != 0)
		return cli_fail(what, r);
	/* the bundle's ledger records extend the replica (or it is refused) */
	if ((st = witness_bundle(verb, *b, NULL, 0)) != 0)
		return st;
	if (mkdir(out, 0755) != 0 && errno != EEXIST) {
		err_detail_set("%s: %s", out, strerror(errno));
		return cli_fail(verb, AIRLOCK_E_IO);
	}
	if ((r = safefile_dir_open(out, dirfd)) != 0)
		return cli_fail(verb, r);
	return 0;
}
