#include "station/home.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/safefile.h"

static const char *const home_subdirs[] = {"ca", "spool", "out", "transcripts"};

struct home {
	char *dir;
	struct config *config;
	struct policy *policy;
	struct ledger *ledger;
	long long ledger_repaired; /* bytes of a torn last line cut at open */
};

static int
home_mkdir(const char *path)
{
	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno == EEXIST)
		return 0;
	err_detail_set("mkdir %s: %s", path, strerror(errno));
	return AIRLOCK_E_IO;
}

static int
home_sub_fd(const char *dir, const char *sub, int *fd)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s%s%s", dir, sub[0] != '\0' ? "/" : "",
		 sub);
	return safefile_dir_open(path, fd);
}

int
home_init(const char *dir, const char *const *domains, size_t ndomains)
{
	char path[4096], *text = NULL;
	struct ledger *l = NULL;
	struct stat st;
	size_t i;
	int fd = -1, r;

	snprintf(path, sizeof(path), "%s/%s", dir, HOME_CONFIG);
	if (stat(path, &st) == 0) {
		err_detail_set("%s exists: this home is initialised already "
			       "(init never overwrites)",
			       path);
		return AIRLOCK_E_EXISTS;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, HOME_LEDGER);
	if (stat(path, &st) == 0) {
		err_detail_set("%s exists: refusing to start a second ledger "
			       "beside it",
			       path);
		return AIRLOCK_E_EXISTS;
	}
	if ((r = home_mkdir(dir)) != 0)
		return r;
	for (i = 0; i < sizeof(home_subdirs) / sizeof(home_subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, home_subdirs[i]);
		if ((r = home_mkdir(path)) != 0)
			return r;
	}
	if ((r = policy_default_config(domains, ndomains, &text)) != 0)
		return r;
	if ((r = safefile_dir_open(dir, &fd)) != 0)
		goto out;
	if ((r = safefile_write_atomic(fd, HOME_CONFIG, text, strlen(text),
				       0644, 0)) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", dir, HOME_LEDGER);
	if ((r = ledger_open(path, LEDGER_OPEN_CREATE, &l)) != 0)
		goto out;
	if ((r = ledger_sync(l)) != 0 || (r = safefile_fsync_dir(fd)) != 0)
		goto out;
	r = 0;
out:
	ledger_close(l);
	if (fd >= 0)
		close(fd);
	free(text);
	return r;
}

int
home_open(const char *dir, struct home **out)
{
	struct home *h = NULL;
	char path[4096];
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->dir = strdup(dir)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, HOME_CONFIG);
	if ((r = config_load(path, &h->config)) != 0) {
		if (r == AIRLOCK_E_NOT_FOUND)
			err_detail_set("%s: no station home here; create one "
				       "with `airlock-station --home %s init "
				       "--domain example.internal`",
				       path, dir);
		goto out;
	}
	if ((r = policy_load(h->config, &h->policy)) != 0)
		goto out;
	(void)config_get(h->config, "station", "name");
	if ((r = config_check_unused(h->config, "station")) != 0)
		goto out;
	*out = h;
	h = NULL;
	r = 0;
out:
	home_close(h);
	return r;
}

void
home_close(struct home *h)
{
	if (h == NULL)
		return;
	ledger_close(h->ledger);
	policy_free(h->policy);
	config_free(h->config);
	free(h->dir);
	free(h);
}

long long
home_ledger_repaired(const struct home *h)
{
	return h->ledger_repaired;
}

const char *
home_dir(const struct home *h)
{
	return h->dir;
}

const struct policy *
home_policy(const struct home *h)
{
	return h->policy;
}

const char *
home_station_name(const struct home *h)
{
	const char *n = config_get(h->config, "station", "name");

	return n != NULL ? n : "airlock-station";
}

int
home_ledger(struct home *h, struct ledger **out)
{
	char path[4096];
	int r;

	*out = NULL;
	if (h->ledger == NULL) {
		struct stat before, after;
		snprintf(path, sizeof(path), "%s/%s", h->dir, HOME_LEDGER);
		/* A torn last line is a record a crash cut short: it was never
		 * complete, so never acknowledged; cutting it loses nothing
		 * (ledger.h). Everything before it is verified as usual. */
		if (stat(path, &before) != 0)
			before.st_size = 0;
		if ((r = ledger_open(path, LEDGER_OPEN_REPAIR, &h->ledger)) !=
		    0)
			return r;
		if (stat(path, &after) == 0 && after.st_size < before.st_size)
			h->ledger_repaired =
			    (long long)(before.st_size - after.st_size);
	}
	*out = h->ledger;
	return 0;
}

int
home_write_new(struct home *h, const char *sub, const char *name,
	       const void *buf, size_t len, mode_t mode)
{
	int fd = -1, r;

	if ((r = home_sub_fd(h->dir, sub, &fd)) != 0)
		return r;
	r = safefile_write_atomic(fd, name, buf, len, mode, 0);
	close(fd);
	if (r == AIRLOCK_E_EXISTS)
		err_detail_set("%s/%s%s%s exists; airlock never overwrites it",
			       h->dir, sub, sub[0] != '\0' ? "/" : "", name);
	return r;
}

int
home_read(struct home *h, const char *sub, const char *name, size_t max,
	  unsigned char **buf, size_t *len)
{
	int fd = -1, r;

	if ((r = home_sub_fd(h->dir, sub, &fd)) != 0)
		return r;
	r = safefile_read_beneath(fd, name, max, buf, len);
	close(fd);
	return r;
}

int
home_exists(struct home *h, const char *sub, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s%s%s", h->dir, sub,
		 sub[0] != '\0' ? "/" : "", name);
	return lstat(path, &st) == 0;
}
