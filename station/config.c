#include "station/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"

#define CONFIG_MAX_SIZE (1024 * 1024)

struct config_kv {
	char *key, *value;
	size_t line;
	int used;
};

struct config_section {
	char *name;
	struct config_kv *kv;
	size_t nkv;
};

struct config {
	char *name;
	struct config_section *sec;
	size_t nsec;
};

void
config_free(struct config *c)
{
	size_t i, j;

	if (c == NULL)
		return;
	for (i = 0; i < c->nsec; i++) {
		for (j = 0; j < c->sec[i].nkv; j++) {
			free(c->sec[i].kv[j].key);
			free(c->sec[i].kv[j].value);
		}
		free(c->sec[i].kv);
		free(c->sec[i].name);
	}
	free(c->sec);
	free(c->name);
	free(c);
}

static int
config_name_ok(const char *s, size_t n, int section)
{
	size_t i;

	if (n == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (islower(ch) || isdigit(ch) || (section && ch == '-') ||
		    (!section && ch == '_'))
			continue;
		return 0;
	}
	return 1;
}

static char *
config_strndup_trim(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

static int
config_add_section(struct config *c, const char *name, size_t n, size_t line)
{
	struct config_section *ns;
	size_t i;

	if (!config_name_ok(name, n, 1)) {
		err_detail_set("%s:%zu: section name '%.*s' must be "
			       "[a-z0-9-]{1,64}",
			       c->name, line, (int)(n > 64 ? 64 : n), name);
		return AIRLOCK_E_FORMAT;
	}
	for (i = 0; i < c->nsec; i++)
		if (strlen(c->sec[i].name) == n &&
		    memcmp(c->sec[i].name, name, n) == 0) {
			err_detail_set("%s:%zu: section [%.*s] appears twice",
				       c->name, line, (int)n, name);
			return AIRLOCK_E_FORMAT;
		}
	ns = realloc(c->sec, (c->nsec + 1) * sizeof(*ns));
	if (ns == NULL)
		return AIRLOCK_E_NOMEM;
	c->sec = ns;
	memset(&c->sec[c->nsec], 0, sizeof(c->sec[0]));
	if ((c->sec[c->nsec].name = strndup(name, n)) == NULL)
		return AIRLOCK_E_NOMEM;
	c->nsec++;
	return 0;
}

static int
config_add_kv(struct config *c, const char *s, size_t n, size_t line)
{
	struct config_section *sec;
	struct config_kv *nkv;
	const char *eq = memchr(s, '=', n);
	char *key = NULL;
	size_t i;

	if (c->nsec == 0) {
		err_detail_set("%s:%zu: setting before any [section]", c->name,
			       line);
		return AIRLOCK_E_FORMAT;
	}
	if (eq == NULL) {
		err_detail_set("%s:%zu: expected 'key = value'", c->name, line);
		return AIRLOCK_E_FORMAT;
	}
	sec = &c->sec[c->nsec - 1];
	if ((key = config_strndup_trim(s, (size_t)(eq - s))) == NULL)
		return AIRLOCK_E_NOMEM;
	if (!config_name_ok(key, strlen(key), 0)) {
		err_detail_set("%s:%zu: key '%.64s' must be [a-z0-9_]{1,64}",
			       c->name, line, key);
		free(key);
		return AIRLOCK_E_FORMAT;
	}
	for (i = 0; i < sec->nkv; i++)
		if (strcmp(sec->kv[i].key, key) == 0) {
			err_detail_set("%s:%zu: '%s' is already set in [%s] on "
				       "line %zu",
				       c->name, line, key, sec->name,
				       sec->kv[i].line);
			free(key);
			return AIRLOCK_E_FORMAT;
		}
	nkv = realloc(sec->kv, (sec->nkv + 1) * sizeof(*nkv));
	if (nkv == NULL) {
		free(key);
		return AIRLOCK_E_NOMEM;
	}
	sec->kv = nkv;
	sec->kv[sec->nkv].key = key;
	sec->kv[sec->nkv].line = line;
	sec->kv[sec->nkv].used = 0;
	sec->kv[sec->nkv].value =
	    config_strndup_trim(eq + 1, n - (size_t)(eq + 1 - s));
	if (sec->kv[sec->nkv].value == NULL)
		return AIRLOCK_E_NOMEM; /* key freed with the config */
	sec->nkv++;
	return 0;
}

int
config_parse(const char *text, size_t len, const char *name,
	     struct config **out)
{
	struct config *c = NULL;
	size_t pos = 0, line = 0, n;
	const char *s, *nl;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if (len > CONFIG_MAX_SIZE) {
		err_detail_set("%s is larger than %d bytes", name,
			       CONFIG_MAX_SIZE);
		return AIRLOCK_E_TOO_LARGE;
	}
	if (memchr(text, '\0', len) != NULL) {
		err_detail_set("%s holds a NUL byte", name);
		return AIRLOCK_E_FORMAT;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->name = strdup(name)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	while (pos < len) {
		line++;
		s = text + pos;
		nl = memchr(s, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - s) : len - pos;
		pos += n + (nl != NULL);
		while (n > 0 && isspace((unsigned char)*s)) {
			s++;
			n--;
		}
		while (n > 0 && isspace((unsigned char)s[n - 1]))
			n--;
		if (n == 0 || s[0] == '#')
			continue;
		if (s[0] == '[') {
			if (s[n - 1] != ']') {
				err_detail_set("%s:%zu: '[' without ']'", name,
					       line);
				r = AIRLOCK_E_FORMAT;
				goto out;
			}
			r = config_add_section(c, s + 1, n - 2, line);
		} else {
			r = config_add_kv(c, s, n, line);
		}
		if (r != 0)
			goto out;
	}
	*out = c;
	c = NULL;
	r = 0;
out:
	config_free(c);
	return r;
}

int
config_load(const char *path, struct config **out)
{
	struct stat st;
	char *buf = NULL;
	ssize_t got;
	size_t len = 0;
	int fd, r;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		err_detail_set("%s: %s", path, strerror(errno));
		return errno == ENOENT ? AIRLOCK_E_NOT_FOUND : AIRLOCK_E_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONFIG_MAX_SIZE) {
		close(fd);
		err_detail_set("%s: not a regular file under %d bytes", path,
			       CONFIG_MAX_SIZE);
		return AIRLOCK_E_FORMAT;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return AIRLOCK_E_NOMEM;
	}
	while (len < (size_t)st.st_size) {
		got = read(fd, buf + len, (size_t)st.st_size - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	r = config_parse(buf, len, path, out);
	free(buf);
	return r;
}

size_t
config_section_count(const struct config *c)
{
	return c->nsec;
}

const char *
config_section_name(const struct config *c, size_t i)
{
	return i < c->nsec ? c->sec[i].name : NULL;
}

static struct config_section *
config_find(const struct config *c, const char *section)
{
	size_t i;

	for (i = 0; i < c->nsec; i++)
		if (strcmp(c->sec[i].name, section) == 0)
			return &c->sec[i];
	return NULL;
}

const char *
config_get(const struct config *c, const char *section, const char *key)
{
	struct config_section *s = config_find(c, section);
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, key) == 0) {
			s->kv[i].used = 1;
			return s->kv[i].value;
		}
	return NULL;
}

int
config_check_unused(const struct config *c, const char *section)
{
	struct config_section *s = config_find(c, section);
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; i < s->nkv; i++)
		if (!s->kv[i].used) {
			err_detail_set("%s:%zu: unknown setting '%s' in [%s]",
				       c->name, s->kv[i].line, s->kv[i].key,
				       s->name);
			return AIRLOCK_E_FORMAT;
		}
	return 0;
}
