/* Network check of the station (station/airgap.h): files under /sys and
 * /proc only, no sockets, no netlink. */
#include "station/airgap.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define AIRGAP_SYS_NET "/sys/class/net"
#define AIRGAP_ROUTE4  "/proc/net/route"
#define AIRGAP_ROUTE6  "/proc/net/ipv6_route"
/* <linux/if.h>, <linux/if_arp.h>, <linux/route.h>, <linux/ipv6_route.h>;
 * spelled out so this file needs no kernel headers. */
#define AIRGAP_IFF_UP	       0x1UL
#define AIRGAP_ARPHRD_LOOPBACK 772UL
#define AIRGAP_RTF_UP	       0x0001UL
#define AIRGAP_RTF_REJECT      0x0200UL

struct airgap_why {
	char *buf;
	size_t len;
	size_t used;
	int findings;
};

static void airgap_add(struct airgap_why *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
airgap_add(struct airgap_why *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	w->findings++;
	if (w->buf == NULL || w->len == 0 || w->used + 1 >= w->len)
		return;
	if (w->used > 0) {
		n = snprintf(w->buf + w->used, w->len - w->used, "; ");
		if (n < 0 || (size_t)n >= w->len - w->used) {
			w->used = w->len - 1;
			return;
		}
		w->used += (size_t)n;
	}
	va_start(ap, fmt);
	n = vsnprintf(w->buf + w->used, w->len - w->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= w->len - w->used)
		w->used = w->len - 1;
	else
		w->used += (size_t)n;
}

/* The first line of /sys/class/net/IFACE/ATTR, newline stripped; "" when it
 * cannot be read (an interface may vanish while we look). */
static void
airgap_sys_read(const char *iface, const char *attr, char *out, size_t len)
{
	char path[512];
	FILE *f;

	out[0] = '\0';
	if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s", AIRGAP_SYS_NET,
			     iface, attr) >= sizeof(path))
		return;
	if ((f = fopen(path, "re")) == NULL)
		return;
	if (fgets(out, (int)len, f) == NULL)
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

/* Parse all of S as an unsigned number in BASE (0 picks from 0x prefix). */
static int
airgap_ulong(const char *s, int base, unsigned long *out)
{
	char *end;

	if (*s == '\0')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, base);
	if (errno != 0 || *end != '\0')
		return -1;
	return 0;
}

static int
airgap_interfaces(struct airgap_why *w)
{
	DIR *d;
	struct dirent *de;
	char flags[64], type[64], oper[64];
	unsigned long fl, ty;

	if ((d = opendir(AIRGAP_SYS_NET)) == NULL) {
		airgap_add(w, "cannot read %s: %s", AIRGAP_SYS_NET,
			   strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		airgap_sys_read(de->d_name, "type", type, sizeof(type));
		airgap_sys_read(de->d_name, "flags", flags, sizeof(flags));
		if (airgap_ulong(type, 10, &ty) == 0 &&
		    ty == AIRGAP_ARPHRD_LOOPBACK)
			continue;
		if (airgap_ulong(flags, 0, &fl) != 0) {
			/* unreadable flags: assume the worst */
			airgap_add(w, "interface %.64s: flags unreadable",
				   de->d_name);
			continue;
		}
		if ((fl & AIRGAP_IFF_UP) == 0)
			continue;
		airgap_sys_read(de->d_name, "operstate", oper, sizeof(oper));
		airgap_add(w, "interface %.64s is up (operstate %.32s)",
			   de->d_name, oper[0] != '\0' ? oper : "unknown");
	}
	closedir(d);
	return 0;
}

/* Split LINE on blanks into at most MAX fields; returns the count. */
static size_t
airgap_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (n < max) {
		p += strspn(p, " \t\n");
		if (*p == '\0')
			break;
		f[n++] = p;
		p += strcspn(p, " \t\n");
		if (*p != '\0')
			*p++ = '\0';
	}
	return n;
}

/* /proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask */
static void
airgap_routes4(struct airgap_why *w)
{
	char line[512], *f[11];
	unsigned long fl;
	FILE *fp;
	int first = 1;

	if ((fp = fopen(AIRGAP_ROUTE4, "re")) == NULL) {
		if (errno != ENOENT)
			airgap_add(w, "cannot read %s: %s", AIRGAP_ROUTE4,
				   strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (first) { /* the header */
			first = 0;
			continue;
		}
		if (airgap_fields(line, f, 11) < 8)
			continue;
		if (strcmp(f[1], "00000000") != 0 ||
		    strcmp(f[7], "00000000") != 0)
			continue;
		if (airgap_ulong(f[3], 16, &fl) != 0 ||
		    (fl & AIRGAP_RTF_UP) == 0 || (fl & AIRGAP_RTF_REJECT) != 0)
			continue;
		airgap_add(w, "IPv4 default route via %.64s", f[0]);
	}
	fclose(fp);
}

/* /proc/net/ipv6_route: dest plen src plen nexthop metric ref use flags dev */
static void
airgap_routes6(struct airgap_why *w)
{
	static const char zero[] = "00000000000000000000000000000000";
	char line[512], *f[10];
	unsigned long fl;
	FILE *fp;

	if ((fp = fopen(AIRGAP_ROUTE6, "re")) == NULL) {
		if (errno != ENOENT)
			airgap_add(w, "cannot read %s: %s", AIRGAP_ROUTE6,
				   strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (airgap_fields(line, f, 10) < 10)
			continue;
		if (strcmp(f[0], zero) != 0 || strcmp(f[1], "00") != 0)
			continue;
		if (airgap_ulong(f[8], 16, &fl) != 0 ||
		    (fl & AIRGAP_RTF_UP) == 0 || (fl & AIRGAP_RTF_REJECT) != 0)
			continue;
		/* the kernel's unreachable default lives on lo */
		if (strcmp(f[9], "lo") == 0)
			continue;
		airgap_add(w, "IPv6 default route via %.64s", f[9]);
	}
	fclose(fp);
}

int
airgap_check(char *why, size_t len)
{
	struct airgap_why w = {why, len, 0, 0};

	if (why != NULL && len > 0)
		why[0] = '\0';
	if (airgap_interfaces(&w) != 0)
		return AIRLOCK_E_REFUSED;
	airgap_routes4(&w);
	airgap_routes6(&w);
	return w.findings == 0 ? 0 : AIRLOCK_E_REFUSED;
}
