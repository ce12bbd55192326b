/* One fuzz input into a bundle directory (bundle_input.h). */
#include "tests/fuzz/bundle_input.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#define MARK "\n--8<-- "

struct part {
	const unsigned char *name, *data;
	size_t name_len, len;
};

static const unsigned char *
find(const unsigned char *p, const unsigned char *end, const char *s)
{
	size_t n = strlen(s);

	for (; (size_t)(end - p) >= n; p++)
		if (memcmp(p, s, n) == 0)
			return p;
	return NULL;
}

static int
write_at(int dfd, const char *name, const void *data, size_t len)
{
	const unsigned char *p = data;
	ssize_t n;
	int fd;

	fd = openat(dfd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	while (len > 0) {
		if ((n = write(fd, p, len)) <= 0) {
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd);
}

/* The manifest with the placeholders filled in (malloc'd). */
static char *
manifest_fill(const struct part *man, const struct part *files, size_t nf,
	      size_t *out_len)
{
	static const char hx[] = "0123456789abcdef";
	/* the longest replacement (64 hex) is longer than any placeholder */
	size_t cap = man->len / 5 * 64 + man->len + 1, o = 0, i = 0, k;
	unsigned char md[32];
	unsigned int mdlen;
	char *out = malloc(cap);
	const unsigned char *m = man->data;

	if (out == NULL)
		return NULL;
	while (i < man->len) {
		size_t left = man->len - i;
		if (left >= 6 && memcmp(m + i, "@SIZE", 5) == 0 &&
		    m[i + 5] >= '0' && m[i + 5] <= '9' && left >= 7 &&
		    m[i + 6] == '@' && (size_t)(m[i + 5] - '0') < nf) {
			o += (size_t)snprintf(out + o, cap - o, "%zu",
					      files[m[i + 5] - '0'].len);
			i += 7;
		} else if (left >= 9 && memcmp(m + i, "@SHA256", 7) == 0 &&
			   m[i + 7] >= '0' && m[i + 7] <= '9' &&
			   m[i + 8] == '@' && (size_t)(m[i + 7] - '0') < nf) {
			const struct part *f = &files[m[i + 7] - '0'];
			if (EVP_Digest(f->data, f->len, md, &mdlen,
				       EVP_sha256(), NULL) != 1) {
				free(out);
				return NULL;
			}
			for (k = 0; k < 32; k++) {
				out[o++] = hx[md[k] >> 4];
				out[o++] = hx[md[k] & 15];
			}
			i += 9;
		} else {
			out[o++] = (char)m[i++];
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

int
bundle_input_write(const char *dir, const unsigned char *data, size_t size)
{
	struct part man, files[BUNDLE_INPUT_FILES];
	const unsigned char *end = data + size, *p, *next, *nl;
	char name[256], *text = NULL;
	size_t nf = 0, text_len = 0, i;
	int dfd, r = -1;

	p = find(data, end, MARK);
	man.data = data;
	man.len = (size_t)((p != NULL ? p : end) - data);
	while (p != NULL) {
		p += strlen(MARK);
		if (nf == BUNDLE_INPUT_FILES ||
		    (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return -1;
		files[nf].name = p;
		files[nf].name_len = (size_t)(nl - p);
		files[nf].data = nl + 1;
		next = find(nl + 1, end, MARK);
		files[nf].len =
		    (size_t)((next != NULL ? next : end) - (nl + 1));
		nf++;
		p = next;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((text = manifest_fill(&man, files, nf, &text_len)) == NULL ||
	    write_at(dfd, "manifest.json", text, text_len) != 0)
		goto out;
	for (i = 0; i < nf; i++) {
		if (files[i].name_len == 0 ||
		    files[i].name_len >= sizeof(name) ||
		    memchr(files[i].name, '/', files[i].name_len) != NULL ||
		    memchr(files[i].name, '\0', files[i].name_len) != NULL)
			goto out;
		memcpy(name, files[i].name, files[i].name_len);
		name[files[i].name_len] = '\0';
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    write_at(dfd, name, files[i].data, files[i].len) != 0)
			goto out;
	}
	r = 0;
out:
	free(text);
	close(dfd);
	return r;
}
