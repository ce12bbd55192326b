#include "kv/journal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/json.h"
#include "lib/safefile.h"

#define JOURNAL_NAME "journal.jsonl"
#define LAST_NAME    "last-bundle.json"
#define JOURNAL_MAX  (64u * 1024 * 1024)
#define LAST_MAX     (1024 * 1024)

struct jrec {
	char *event, *vault, *name, *x5t;
};

struct journal {
	int fd;
	int dirfd;
	long long seq;
	struct jrec *r;
	size_t n, cap;
};

static char *
dup_or_empty(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return strdup(cJSON_IsString(it) ? it->valuestring : "");
}

static int
rec_add(struct journal *j, const char *event, const char *vault,
	const char *name, const char *x5t)
{
	struct jrec *nr;

	if (j->n == j->cap) {
		size_t ncap = j->cap ? j->cap * 2 : 64;
		if ((nr = realloc(j->r, ncap * sizeof(*nr))) == NULL)
			return AIRLOCK_E_NOMEM;
		j->r = nr;
		j->cap = ncap;
	}
	nr = &j->r[j->n];
	nr->event = strdup(event ? event : "");
	nr->vault = strdup(vault ? vault : "");
	nr->name = strdup(name ? name : "");
	nr->x5t = strdup(x5t ? x5t : "");
	if (!nr->event || !nr->vault || !nr->name || !nr->x5t) {
		free(nr->event);
		free(nr->vault);
		free(nr->name);
		free(nr->x5t);
		return AIRLOCK_E_NOMEM;
	}
	j->n++;
	return 0;
}

static int
load(struct journal *j)
{
	struct stat st;
	char *buf = NULL, *p, *nl;
	size_t have = 0;
	ssize_t n;
	cJSON *o;
	const cJSON *seq;
	int r = AIRLOCK_E_IO;

	if (fstat(j->fd, &st) != 0)
		return AIRLOCK_E_IO;
	if ((size_t)st.st_size > JOURNAL_MAX) {
		err_detail_set("journal over %u bytes: rotate it", JOURNAL_MAX);
		return AIRLOCK_E_TOO_LARGE;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		return AIRLOCK_E_NOMEM;
	while (have < (size_t)st.st_size) {
		n = pread(j->fd, buf + have, (size_t)st.st_size - have,
			  (off_t)have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		have += (size_t)n;
	}
	buf[have] = '\0';
	for (p = buf; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		/* only complete lines; a torn tail has no newline */
		if (json_parse_strict((unsigned char *)p, (size_t)(nl - p), 4,
				      &o) != 0) {
			err_detail_set("journal: a damaged line at byte %zu",
				       (size_t)(p - buf));
			r = AIRLOCK_E_FORMAT;
			goto out;
		}
		seq = cJSON_GetObjectItemCaseSensitive(o, "seq");
		if (cJSON_IsNumber(seq) && seq->valuedouble > (double)j->seq)
			j->seq = (long long)seq->valuedouble;
		{
			char *e = dup_or_empty(o, "event"),
			     *v = dup_or_empty(o, "vault"),
			     *nm = dup_or_empty(o, "name"),
			     *x = dup_or_empty(o, "x5t");
			r = (e && v && nm && x) ? rec_add(j, e, v, nm, x)
						: AIRLOCK_E_NOMEM;
			free(e);
			free(v);
			free(nm);
			free(x);
		}
		cJSON_Delete(o);
		if (r != 0)
			goto out;
	}
	if (*p != '\0') {
		/* torn tail: cut it so that the next record starts clean */
		if (ftruncate(j->fd, (off_t)(p - buf)) != 0 ||
		    fsync(j->fd) != 0) {
			err_detail_set("journal: cannot drop a torn last "
				       "line: %s",
				       strerror(errno));
			r = AIRLOCK_E_IO;
			goto out;
		}
	}
	r = 0;
out:
	free(buf);
	return r;
}

int
journal_open(const char *statedir, struct journal **out)
{
	struct journal *j;
	int r;

	*out = NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return AIRLOCK_E_NOMEM;
	j->fd = j->dirfd = -1;
	if ((r = safefile_dir_open(statedir, &j->dirfd)) != 0)
		goto fail;
	j->fd =
	    openat(j->dirfd, JOURNAL_NAME,
		   O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (j->fd < 0) {
		err_detail_set("%s/%s: %s", statedir, JOURNAL_NAME,
			       strerror(errno));
		r = AIRLOCK_E_IO;
		goto fail;
	}
	if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
		err_detail_set("%s/%s is in use by another airlock-kv",
			       statedir, JOURNAL_NAME);
		r = AIRLOCK_E_REFUSED;
		goto fail;
	}
	if ((r = safefile_fsync_dir(j->dirfd)) != 0 || (r = load(j)) != 0)
		goto fail;
	*out = j;
	return 0;
fail:
	journal_free(j);
	return r;
}

void
journal_free(struct journal *j)
{
	size_t i;

	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	for (i = 0; i < j->n; i++) {
		free(j->r[i].event);
		free(j->r[i].vault);
		free(j->r[i].name);
		free(j->r[i].x5t);
	}
	free(j->r);
	free(j);
}

static void
add_opt(cJSON *o, const char *k, const char *v)
{
	if (v != NULL)
		cJSON_AddStringToObject(o, k, v);
}

int
journal_append(struct journal *j, const char *event, const char *vault,
	       const char *name, const char *request_id, const char *x5t,
	       const char *bundle_id)
{
	cJSON *o;
	char *s = NULL, *line = NULL;
	size_t len, off = 0;
	ssize_t n;
	int r = AIRLOCK_E_NOMEM;

	if ((o = cJSON_CreateObject()) == NULL)
		return AIRLOCK_E_NOMEM;
	cJSON_AddNumberToObject(o, "seq", (double)(j->seq + 1));
	cJSON_AddNumberToObject(o, "time", (double)time(NULL));
	add_opt(o, "event", event);
	add_opt(o, "vault", vault);
	add_opt(o, "name", name);
	add_opt(o, "request_id", request_id);
	add_opt(o, "x5t", x5t);
	add_opt(o, "bundle_id", bundle_id);
	if ((s = cJSON_PrintUnformatted(o)) == NULL)
		goto out;
	len = strlen(s);
	if ((line = malloc(len + 2)) == NULL)
		goto out;
	memcpy(line, s, len);
	line[len++] = '\n';
	while (off < len) {
		n = write(j->fd, line + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_detail_set("journal append: %s", strerror(errno));
			r = AIRLOCK_E_IO;
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(j->fd) != 0) {
		err_detail_set("journal fsync: %s (stopping; never retried)",
			       strerror(errno));
		r = AIRLOCK_E_IO;
		goto out;
	}
	j->seq++;
	r = rec_add(j, event, vault, name, x5t);
out:
	free(line);
	free(s);
	cJSON_Delete(o);
	return r;
}

const char *
journal_event_last(const struct journal *j, const char *vault, const char *name,
		   const char *x5t)
{
	size_t i;

	for (i = j->n; i-- > 0;)
		if (strcmp(j->r[i].vault, vault) == 0 &&
		    strcmp(j->r[i].name, name) == 0 &&
		    strcmp(j->r[i].x5t, x5t) == 0)
			return j->r[i].event;
	return NULL;
}

static int
last_read(int dirfd, cJSON **out)
{
	unsigned char *buf = NULL;
	size_t len;
	int r;

	*out = NULL;
	r = safefile_read_beneath(dirfd, LAST_NAME, LAST_MAX, &buf, &len);
	if (r == AIRLOCK_E_NOT_FOUND) {
		*out = cJSON_CreateObject();
		return *out ? 0 : AIRLOCK_E_NOMEM;
	}
	if (r != 0)
		return r;
	r = json_parse_strict(buf, len, 8, out);
	free(buf);
	if (r == 0 && !cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		err_detail_set("%s: not an object", LAST_NAME);
		r = AIRLOCK_E_FORMAT;
	}
	return r;
}

int
journal_last_get(const char *statedir, const char *vault,
		 struct journal_last *out)
{
	const cJSON *v, *it;
	cJSON *all = NULL;
	int dirfd = -1, r;

	memset(out, 0, sizeof(*out));
	if ((r = safefile_dir_open(statedir, &dirfd)) != 0)
		return r;
	if ((r = last_read(dirfd, &all)) != 0)
		goto out;
	v = cJSON_GetObjectItemCaseSensitive(all, vault);
	if (!cJSON_IsObject(v)) {
		r = AIRLOCK_E_NOT_FOUND;
		goto out;
	}
	it = cJSON_GetObjectItemCaseSensitive(v, "bundle_id");
	if (cJSON_IsString(it))
		snprintf(out->bundle_id, sizeof(out->bundle_id), "%s",
			 it->valuestring);
	it = cJSON_GetObjectItemCaseSensitive(v, "created");
	if (cJSON_IsString(it))
		snprintf(out->created, sizeof(out->created), "%s",
			 it->valuestring);
	it = cJSON_GetObjectItemCaseSensitive(v, "seen");
	if (cJSON_IsNumber(it))
		out->seen = (long long)it->valuedouble;
	r = 0;
out:
	cJSON_Delete(all);
	close(dirfd);
	return r;
}

int
journal_last_set(const char *statedir, const char *vault, const char *bundle_id,
		 const char *created)
{
	cJSON *all = NULL, *v;
	char *s = NULL;
	int dirfd = -1, r;

	if ((r = safefile_dir_open(statedir, &dirfd)) != 0)
		return r;
	if ((r = last_read(dirfd, &all)) != 0)
		goto out;
	r = AIRLOCK_E_NOMEM;
	cJSON_DeleteItemFromObjectCaseSensitive(all, vault);
	if ((v = cJSON_AddObjectToObject(all, vault)) == NULL ||
	    !cJSON_AddStringToObject(v, "bundle_id", bundle_id) ||
	    !cJSON_AddStringToObject(v, "created", created) ||
	    !cJSON_AddNumberToObject(v, "seen", (double)time(NULL)))
		goto out;
	if ((s = cJSON_Print(all)) == NULL)
		goto out;
	r = safefile_write_atomic(dirfd, LAST_NAME, s, strlen(s), 0600,
				  SAFEFILE_REPLACE);
out:
	free(s);
	cJSON_Delete(all);
	close(dirfd);
	return r;
}
