#include "pkcs11/pin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "lib/err.h"

static int
pin_parse_fd(const char *s, int *fd)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > INT_MAX) {
		err_detail_set("'fd:%s': expected a descriptor number, e.g. "
			       "fd:3",
			       s);
		return AIRLOCK_E_PIN_SOURCE;
	}
	*fd = (int)v;
	return 0;
}

int
pin_source_check(const char *source)
{
	int fd;

	if (source == NULL || strcmp(source, "tty") == 0)
		return 0;
	if (strncmp(source, "file:", 5) == 0) {
		if (source[5] == '\0') {
			err_detail_set("'file:' needs a path, e.g. "
				       "file:/run/airlock/pin");
			return AIRLOCK_E_PIN_SOURCE;
		}
		return 0;
	}
	if (strncmp(source, "fd:", 3) == 0)
		return pin_parse_fd(source + 3, &fd);
	if (strncmp(source, "env:", 4) == 0) {
		err_detail_set("a PIN in the environment is refused: every "
			       "process of this user can read it; use "
			       "file:PATH, fd:N or the prompt");
		return AIRLOCK_E_PIN_REFUSED;
	}
	err_detail_set("unknown PIN source '%.40s': use tty, file:PATH or "
		       "fd:N",
		       source);
	return AIRLOCK_E_PIN_SOURCE;
}

/* Read up to the first newline (or EOF) from FD into PIN. */
static int
pin_read_line(int fd, struct secmem *pin)
{
	char *buf = secmem_data(pin);
	size_t cap = secmem_capacity(pin), len = 0;
	ssize_t n;
	char c;

	for (;;) {
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_detail_set("reading the PIN: %s", strerror(errno));
			return AIRLOCK_E_PIN_SOURCE;
		}
		if (n == 0 || c == '\n')
			break;
		if (len == cap) {
			err_detail_set("PIN longer than %zu bytes", cap);
			return AIRLOCK_E_PIN_SOURCE;
		}
		buf[len++] = c;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	return secmem_set_len(pin, len);
}

static int
pin_read_file(const char *path, struct secmem *pin)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err_detail_set("PIN file %s: %s", path, strerror(errno));
		return AIRLOCK_E_PIN_SOURCE;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err_detail_set("PIN file %s is not a regular file", path);
		close(fd);
		return AIRLOCK_E_PIN_SOURCE;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		err_detail_set("PIN file %s can be read by group or others "
			       "(mode %03o); run: chmod 600 %s",
			       path, (unsigned)(st.st_mode & 0777), path);
		close(fd);
		return AIRLOCK_E_PIN_REFUSED;
	}
	r = pin_read_line(fd, pin);
	close(fd);
	return r;
}

static int
pin_read_tty(const char *prompt, struct secmem *pin)
{
	struct termios old, quiet;
	int fd, r;

	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err_detail_set("no terminal to ask for the PIN on; give "
			       "--pin-source file:PATH or fd:N");
		return AIRLOCK_E_PIN_SOURCE;
	}
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		err_detail_set("cannot turn off echo on the terminal");
		return AIRLOCK_E_PIN_SOURCE;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		close(fd);
		err_detail_set("cannot turn off echo on the terminal");
		return AIRLOCK_E_PIN_SOURCE;
	}
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* the prompt is a courtesy; the read below still works */
	}
	r = pin_read_line(fd, pin);
	(void)tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* ignored: only cosmetic */
	}
	close(fd);
	return r;
}

int
pin_read(const char *source, const char *prompt, struct secmem **pin_out)
{
	struct secmem *pin = NULL;
	int fd, r = AIRLOCK_E_INTERNAL;

	*pin_out = NULL;
	if ((r = pin_source_check(source)) != 0)
		return r;
	if ((r = secmem_new(PIN_MAX_LEN, &pin)) != 0)
		return r;
	if (source == NULL || strcmp(source, "tty") == 0)
		r = pin_read_tty(prompt, pin);
	else if (strncmp(source, "file:", 5) == 0)
		r = pin_read_file(source + 5, pin);
	else if ((r = pin_parse_fd(source + 3, &fd)) == 0)
		r = pin_read_line(fd, pin);
	if (r != 0)
		goto out;
	if (secmem_len(pin) == 0) {
		err_detail_set("the PIN from %s is empty",
			       source != NULL ? source : "the terminal");
		r = AIRLOCK_E_PIN_SOURCE;
		goto out;
	}
	*pin_out = pin;
	pin = NULL;
	r = 0;
out:
	secmem_free(pin);
	return r;
}
