/* PIN sources: file (mode checked), fd, refusals of env and argv-like use. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "pkcs11/pin.h"
#include "tap.h"

static char dir[] = "/tmp/airlock-test-pin.XXXXXX";

static char *
pin_file(const char *name, const char *content, mode_t mode)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0 || write(fd, content, strlen(content)) < 0)
		abort();
	close(fd);
	chmod(path, mode);
	return path;
}

static void
read_ok(const char *src, const char *want, const char *name)
{
	struct secmem *pin = NULL;
	int r = pin_read(src, "PIN: ", &pin);

	TAP_CHECK(r == 0, "%s: read (%s)", name, err_name(r));
	if (r == 0)
		TAP_STR_EQ(secmem_get0(pin), want, "%s: value", name);
	secmem_free(pin);
}

static void
read_fails(const char *src, int want, const char *detail, const char *name)
{
	struct secmem *pin = NULL;
	int r;

	err_detail_clear();
	r = pin_read(src, "PIN: ", &pin);
	TAP_CHECK(r == want && pin == NULL, "%s: fails with %s (got %s)", name,
		  err_name(want), err_name(r));
	TAP_CHECK(strstr(err_detail_get(), detail) != NULL,
		  "%s: detail mentions '%s' (got '%s')", name, detail,
		  err_detail_get());
	secmem_free(pin);
}

int
main(void)
{
	char src[300];
	int p[2];

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(src, sizeof(src), "file:%s", pin_file("a", "123456\n", 0600));
	read_ok(src, "123456", "file with newline");
	snprintf(src, sizeof(src), "file:%s", pin_file("b", "9999\r\n", 0400));
	read_ok(src, "9999", "file with CRLF");
	snprintf(src, sizeof(src), "file:%s", pin_file("c", "1234", 0644));
	read_fails(src, AIRLOCK_E_PIN_REFUSED, "chmod 600",
		   "world-readable file");
	snprintf(src, sizeof(src), "file:%s", pin_file("d", "\n", 0600));
	read_fails(src, AIRLOCK_E_PIN_SOURCE, "empty", "empty file");
	snprintf(src, sizeof(src), "file:%s/missing", dir);
	read_fails(src, AIRLOCK_E_PIN_SOURCE, "No such file", "missing file");
	{
		char big[400];
		memset(big, '7', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		snprintf(src, sizeof(src), "file:%s", pin_file("e", big, 0600));
		read_fails(src, AIRLOCK_E_PIN_SOURCE, "longer than",
			   "oversized PIN");
	}
	if (pipe(p) != 0 || write(p[1], "4321\nrest", 9) != 9)
		return 1;
	close(p[1]);
	snprintf(src, sizeof(src), "fd:%d", p[0]);
	read_ok(src, "4321", "fd source");
	close(p[0]);
	read_fails("fd:x", AIRLOCK_E_PIN_SOURCE, "descriptor number", "bad fd");
	read_fails("env:PIN", AIRLOCK_E_PIN_REFUSED, "environment is refused",
		   "env source");
	read_fails("pass:1234", AIRLOCK_E_PIN_SOURCE, "unknown PIN source",
		   "unknown source");
	read_fails("file:", AIRLOCK_E_PIN_SOURCE, "needs a path", "empty path");
	TAP_CHECK(pin_source_check("tty") == 0 && pin_source_check(NULL) == 0,
		  "tty is a valid source");
	return TAP_DONE();
}
