#include "station/cli.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/term.h"
#include "station/airgap.h"

struct station_globals station_g;

int
cli_fail(const char *what, int code)
{
	char buf[4096];
	const char *d = err_detail_get();

	term_sanitize(d, buf, sizeof(buf));
	/* keep the newlines of candidate lists readable */
	{
		char *p;
		while ((p = strstr(buf, "\\x0a")) != NULL) {
			*p = '\n';
			memmove(p + 1, p + 4, strlen(p + 4) + 1);
		}
	}
	if (buf[0] != '\0')
		fprintf(stderr, "airlock-station: %s: %s: %s\n", what,
			err_str(code), buf);
	else
		fprintf(stderr, "airlock-station: %s: %s\n", what,
			err_str(code));
	err_detail_clear();
	return err_exit_status(code);
}

int
cli_usage(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "airlock-station: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see `airlock-station %s --help`)\n", what);
	return 2;
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

int
cli_confirm(const char *question)
{
	char line[16];
	FILE *tty;
	int yes = 0;

	if ((tty = fopen("/dev/tty", "r+")) == NULL)
		return 0;
	fprintf(tty, "%s [y/N] ", question);
	fflush(tty);
	if (fgets(line, sizeof(line), tty) != NULL)
		yes = line[0] == 'y' || line[0] == 'Y';
	fclose(tty);
	return yes;
}

static void
cli_login_warn(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "airlock-station: warning: %s\n", msg);
}

static int
cli_login_confirm(void *arg, const char *question)
{
	(void)arg;
	return cli_confirm(question);
}

const struct token_login_ui cli_login_ui = {NULL, cli_login_warn,
					    cli_login_confirm};

int
cli_token_open(const char *what, const char *uri_s, struct p11_uri **uri,
	       struct token_module **m, struct token **t)
{
	const char *path;
	int r;

	*uri = NULL;
	*m = NULL;
	*t = NULL;
	if ((r = uri_parse(uri_s, uri)) != 0)
		return cli_fail(what, r);
	path = uri_get0(*uri, "module-path");
	if (path == NULL)
		path = station_g.module;
	if ((r = token_module_load(path, m)) != 0)
		return cli_fail(what, r);
	if ((r = token_open(*m, *uri, t)) != 0)
		return cli_fail(what, r);
	return 0;
}

int
cli_airgap(const char *what, char *override, size_t len)
{
	char why[512];

	override[0] = '\0';
	if (airgap_check(why, sizeof(why)) == 0)
		return 0;
	if (!station_g.allow_network) {
		err_detail_set("%s; the station must be offline to sign: take "
			       "the network down (see `airlock-station "
			       "doctor`), or override with --allow-network "
			       "(the override is recorded)",
			       why);
		return cli_fail(what, AIRLOCK_E_REFUSED);
	}
	snprintf(override, len, "network check overridden: %s", why);
	fprintf(stderr, "airlock-station: warning: %s\n", override);
	return 0;
}
