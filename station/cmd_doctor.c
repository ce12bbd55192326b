/* `airlock-station doctor`: preflight before a ceremony or a signing session.
 *
 * Checks, each with what to do when it fails: the air gap (no interface up
 * but loopback, no default route: station/airgap.h), the udev rules and the
 * group airlock, pcscd and its readers, the tokens with their flags and PIN
 * counters, the clock against the ledger's newest record, the home's
 * permissions and free space. Exit 0 when no check failed (warnings allowed),
 * 1 when one did, 2 on a usage error. It reads files under /sys, /proc and
 * the home, asks pcscd and the PKCS#11 module, and opens no socket itself. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lib/err.h"
#include "lib/term.h"
#include "pkcs11/reader.h"
#include "pkcs11/token.h"
#include "station/airgap.h"
#include "station/cli.h"
#include "station/cmds.h"
#include "station/home.h"
#include "station/ledger.h"

/* Until station/cmds.h lists it. */

#define DOCTOR_GROUP "airlock"
/* Below this much free space in the home, signing sessions may not finish. */
#define DOCTOR_SPACE_FAIL (64ULL << 20)
#define DOCTOR_SPACE_WARN (512ULL << 20)
#define DOCTOR_TEXT_MAX	  2048

/* The udev rules udev/install.sh installs, and where udev reads rules. */
static const char *const doctor_rules[] = {
    "10-airlock-airgap.rules",
    "70-airlock-tokens.rules",
    "71-airlock-media.rules",
};
static const char *const doctor_rules_dirs[] = {
    "/etc/udev/rules.d",
    "/run/udev/rules.d",
    "/usr/lib/udev/rules.d",
    "/lib/udev/rules.d",
};

enum doctor_status { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL };

struct doctor {
	int json;
	int failed;
	int warned;
	cJSON *checks; /* array of {check, status, detail, advice} */
	cJSON *tokens; /* array, for --json */
};

static const char *
doctor_status_name(enum doctor_status s)
{
	return s == DOCTOR_OK ? "ok" : s == DOCTOR_WARN ? "warn" : "fail";
}

static void
doctor_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: airlock-station doctor [--json]\n"
	    "Preflight before a ceremony or a signing session. Checks:\n"
	    "  network   no interface up but loopback, no default route\n"
	    "  udev      the airlock udev rules installed; group %s\n"
	    "  pcscd     pcscd running, its readers\n"
	    "  tokens    tokens visible (--module), flags and PIN counters\n"
	    "  clock     not earlier than the ledger's newest record\n"
	    "  home      the station home 0700 and owned by you\n"
	    "  space     free space in the home\n"
	    "Each finding says what to do. Exit 0 when no check failed "
	    "(warnings\nallowed), 1 when one did.\n"
	    "  --json   one JSON document on stdout\n",
	    DOCTOR_GROUP);
}

/* Record one finding. DETAIL and ADVICE may hold text from outside (token
 * labels, reader names): the terminal output is sanitised. */
static void doctor_add(struct doctor *d, const char *check,
		       enum doctor_status s, const char *advice,
		       const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
doctor_add(struct doctor *d, const char *check, enum doctor_status s,
	   const char *advice, const char *fmt, ...)
{
	char detail[DOCTOR_TEXT_MAX], clean[DOCTOR_TEXT_MAX * 4];
	cJSON *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (s == DOCTOR_FAIL)
		d->failed++;
	else if (s == DOCTOR_WARN)
		d->warned++;
	if (d->json) {
		if ((o = cJSON_CreateObject()) == NULL)
			return;
		cJSON_AddItemToArray(d->checks, o);
		cJSON_AddStringToObject(o, "check", check);
		cJSON_AddStringToObject(o, "status", doctor_status_name(s));
		cJSON_AddStringToObject(o, "detail", detail);
		if (s != DOCTOR_OK && advice != NULL)
			cJSON_AddStringToObject(o, "advice", advice);
		return;
	}
	printf("%-4s  %-8s %s\n",
	       s == DOCTOR_OK	  ? "ok"
	       : s == DOCTOR_WARN ? "WARN"
				  : "FAIL",
	       check, term_sanitize(detail, clean, sizeof(clean)));
	if (s != DOCTOR_OK && advice != NULL)
		printf("               -> %s\n",
		       term_sanitize(advice, clean, sizeof(clean)));
}

static void
doctor_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "@%lld", (long long)t);
}

static void
doctor_network(struct doctor *d)
{
	char why[DOCTOR_TEXT_MAX];

	if (airgap_check(why, sizeof(why)) == 0) {
		doctor_add(d, "network", DOCTOR_OK, NULL,
			   "no interface up but loopback, no default route");
		return;
	}
	doctor_add(d, "network", DOCTOR_FAIL,
		   "take every interface but lo down (ip link set DEV down), "
		   "unplug network adapters, disable built-in Ethernet, Wi-Fi "
		   "and Bluetooth in the firmware; sign and the ceremonies "
		   "refuse to run until then",
		   "%s", why);
}

static void
doctor_rules_installed(struct doctor *d)
{
	char found[DOCTOR_TEXT_MAX] = "", missing[DOCTOR_TEXT_MAX] = "";
	char path[512];
	size_t i, j, nmissing = 0;
	struct stat st;
	int hit;

	for (i = 0; i < sizeof(doctor_rules) / sizeof(doctor_rules[0]); i++) {
		hit = 0;
		for (j = 0; j < sizeof(doctor_rules_dirs) /
				    sizeof(doctor_rules_dirs[0]) &&
			    !hit;
		     j++) {
			snprintf(path, sizeof(path), "%s/%s",
				 doctor_rules_dirs[j], doctor_rules[i]);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				hit = 1;
				snprintf(found + strlen(found),
					 sizeof(found) - strlen(found), "%s%s",
					 found[0] != '\0' ? ", " : "", path);
			}
		}
		if (!hit) {
			nmissing++;
			snprintf(missing + strlen(missing),
				 sizeof(missing) - strlen(missing), "%s%s",
				 missing[0] != '\0' ? ", " : "",
				 doctor_rules[i]);
		}
	}
	if (nmissing == 0)
		doctor_add(d, "udev", DOCTOR_OK, NULL, "rules installed: %s",
			   found);
	else
		doctor_add(d, "udev", DOCTOR_FAIL,
			   "install them as root (make install, which runs "
			   "udev/install.sh), then udevadm control --reload "
			   "and replug the tokens",
			   "udev rules missing: %s (looked in /etc, /run, "
			   "/usr/lib and /lib udev/rules.d)",
			   missing);
}

static void
doctor_group(struct doctor *d)
{
	struct group *gr;
	gid_t groups[256];
	int n, i;

	errno = 0;
	if ((gr = getgrnam(DOCTOR_GROUP)) == NULL) {
		doctor_add(
		    d, "group", DOCTOR_FAIL,
		    "create it: systemd-sysusers airlock.conf (installed "
		    "by make install), or groupadd --system " DOCTOR_GROUP,
		    "no group %s: token devices stay root-only", DOCTOR_GROUP);
		return;
	}
	if (geteuid() == 0 || getegid() == gr->gr_gid) {
		doctor_add(d, "group", DOCTOR_OK, NULL, "group %s (gid %lu)",
			   DOCTOR_GROUP, (unsigned long)gr->gr_gid);
		return;
	}
	n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
	for (i = 0; i < n; i++)
		if (groups[i] == gr->gr_gid) {
			doctor_add(d, "group", DOCTOR_OK, NULL,
				   "member of group %s (gid %lu)", DOCTOR_GROUP,
				   (unsigned long)gr->gr_gid);
			return;
		}
	doctor_add(d, "group", DOCTOR_WARN,
		   "usermod -aG " DOCTOR_GROUP " $USER, then log in again",
		   "you are not in group %s: tokens reached through libusb "
		   "(YubiHSM 2) need it",
		   DOCTOR_GROUP);
}

static void
doctor_pcscd(struct doctor *d)
{
	char names[DOCTOR_TEXT_MAX] = "";
	struct reader_list *rl = NULL;
	size_t i, n;
	int r;

	err_detail_clear();
	r = reader_list_get(&rl);
	if (r == AIRLOCK_E_PCSC_NO_SERVICE) {
		doctor_add(d, "pcscd", DOCTOR_FAIL,
			   "systemctl start pcscd.socket (Debian package "
			   "pcscd); smartcard tokens need it",
			   "pcscd is not running");
		goto out;
	}
	if (r == AIRLOCK_E_PCSC_NO_READER) {
		doctor_add(d, "pcscd", DOCTOR_WARN,
			   "plug in the smartcard token or reader (a YubiHSM 2 "
			   "needs none)",
			   "pcscd is running but knows no reader");
		goto out;
	}
	if (r != 0) {
		doctor_add(d, "pcscd", DOCTOR_FAIL,
			   "check pcscd's log (journalctl -u pcscd)", "%s: %s",
			   err_str(r), err_detail_get());
		goto out;
	}
	n = reader_list_count(rl);
	for (i = 0; i < n; i++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names),
			 "%s'%s' (%s)", i > 0 ? ", " : "",
			 reader_list_name(rl, i), reader_list_state(rl, i));
	doctor_add(d, "pcscd", DOCTOR_OK, NULL,
		   "pcscd is running, %zu reader%s: %s", n, n == 1 ? "" : "s",
		   names);
out:
	err_detail_clear();
	reader_list_free(rl);
}

static int
doctor_flag(const cJSON *flags, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(flags, name));
}

static const char *
doctor_str(const cJSON *o, const char *name)
{
	const char *s =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

	return s != NULL ? s : "";
}

/* One token from token_module_describe(): its PIN counters. */
static void
doctor_token_one(struct doctor *d, const cJSON *tok)
{
	const cJSON *flags = cJSON_GetObjectItemCaseSensitive(tok, "flags");
	const char *label = doctor_str(tok, "label");
	char what[512];
	cJSON *o;

	snprintf(what, sizeof(what), "token '%s' (%s %s, serial %s)", label,
		 doctor_str(tok, "manufacturer"), doctor_str(tok, "model"),
		 doctor_str(tok, "serial"));
	if (d->json && (o = cJSON_CreateObject()) != NULL) {
		cJSON_AddItemToArray(d->tokens, o);
		cJSON_AddStringToObject(o, "label", label);
		cJSON_AddStringToObject(o, "manufacturer",
					doctor_str(tok, "manufacturer"));
		cJSON_AddStringToObject(o, "model", doctor_str(tok, "model"));
		cJSON_AddStringToObject(o, "serial", doctor_str(tok, "serial"));
		cJSON_AddStringToObject(o, "uri", doctor_str(tok, "uri"));
		if (flags != NULL)
			cJSON_AddItemToObject(o, "flags",
					      cJSON_Duplicate(flags, 1));
	}
	if (doctor_flag(flags, "user_pin_locked"))
		doctor_add(d, "tokens", DOCTOR_FAIL,
			   "unblock the user PIN with the SO PIN before the "
			   "session",
			   "%s: user PIN locked", what);
	else if (doctor_flag(flags, "user_pin_final_try"))
		doctor_add(
		    d, "tokens", DOCTOR_FAIL,
		    "one wrong PIN locks it: have the SO PIN at hand, or "
		    "reset the counter with a correct login first",
		    "%s: user PIN has one try left", what);
	else if (doctor_flag(flags, "user_pin_count_low"))
		doctor_add(d, "tokens", DOCTOR_WARN,
			   "a wrong PIN was entered since the last good login; "
			   "take care",
			   "%s: user PIN count low", what);
	else if (doctor_flag(flags, "user_pin_to_be_changed"))
		doctor_add(d, "tokens", DOCTOR_WARN,
			   "change the user PIN (the token demands it)",
			   "%s: user PIN must be changed", what);
	else if (!doctor_flag(flags, "user_pin_initialized"))
		doctor_add(d, "tokens", DOCTOR_WARN,
			   "initialise the user PIN before use",
			   "%s: user PIN not initialised", what);
	else
		doctor_add(d, "tokens", DOCTOR_OK, NULL, "%s: PIN ok%s%s", what,
			   doctor_flag(flags, "so_pin_locked")
			       ? ", but the SO PIN is locked"
			       : "",
			   doctor_flag(flags, "protected_authentication_path")
			       ? ", PIN pad"
			       : "");
}

static void
doctor_tokens(struct doctor *d)
{
	struct token_module *m = NULL;
	cJSON *desc = NULL;
	const cJSON *slots, *slot, *tok, *flags;
	int r, n = 0;

	err_detail_clear();
	if ((r = token_module_load(station_g.module, &m)) != 0) {
		doctor_add(d, "tokens", DOCTOR_FAIL,
			   "name the module with --module PATH (yubihsm_pkcs11."
			   "so, opensc-pkcs11.so, libykcs11.so) or register it "
			   "with p11-kit",
			   "PKCS#11 module %s: %s: %s",
			   station_g.module != NULL ? station_g.module
						    : TOKEN_DEFAULT_MODULE,
			   err_str(r), err_detail_get());
		goto out;
	}
	if ((r = token_module_describe(m, NULL, &desc)) != 0) {
		doctor_add(d, "tokens", DOCTOR_FAIL,
			   "check the token and its module (airlock-station "
			   "token list)",
			   "listing tokens of %s: %s: %s", token_module_path(m),
			   err_str(r), err_detail_get());
		goto out;
	}
	slots = cJSON_GetObjectItemCaseSensitive(desc, "slots");
	cJSON_ArrayForEach (slot, slots) {
		tok = cJSON_GetObjectItemCaseSensitive(slot, "token");
		flags = cJSON_GetObjectItemCaseSensitive(tok, "flags");
		if (tok == NULL || !doctor_flag(flags, "token_initialized"))
			continue;
		n++;
		doctor_token_one(d, tok);
	}
	if (n == 0)
		doctor_add(d, "tokens", DOCTOR_FAIL,
			   "insert the token (or its card), check pcscd, and "
			   "name its module with --module",
			   "no initialised token visible through %s",
			   token_module_path(m));
out:
	err_detail_clear();
	cJSON_Delete(desc);
	token_module_free(m);
}

/* The home's permissions; 0 when it exists (so the rest may look inside). */
static int
doctor_home_perms(struct doctor *d, const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		doctor_add(d, "home", DOCTOR_FAIL,
			   "create it with airlock-station init, or name it "
			   "with --home DIR / AIRLOCK_HOME",
			   "station home %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		doctor_add(d, "home", DOCTOR_FAIL,
			   "point --home at the station's directory",
			   "station home %s is not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid())
		doctor_add(d, "home", DOCTOR_FAIL,
			   "run as the station's operator account, or chown "
			   "-R it to that account",
			   "station home %s is owned by uid %lu, not by you "
			   "(uid %lu)",
			   dir, (unsigned long)st.st_uid,
			   (unsigned long)geteuid());
	else if ((st.st_mode & 077) != 0)
		doctor_add(d, "home", DOCTOR_FAIL, "chmod 700 on the home",
			   "station home %s has mode %04o; it must be 0700",
			   dir, (unsigned)(st.st_mode & 07777));
	else
		doctor_add(d, "home", DOCTOR_OK, NULL,
			   "station home %s: mode 0700, owned by you", dir);
	return 0;
}

static void
doctor_clock(struct doctor *d, const char *dir)
{
	struct home *h = NULL;
	struct ledger *l = NULL;
	char now_s[64], newest_s[64];
	time_t now, newest;
	int r;

	err_detail_clear();
	if ((r = home_open(dir, &h)) != 0 || (r = home_ledger(h, &l)) != 0) {
		doctor_add(
		    d, "clock", DOCTOR_FAIL,
		    "fix the home first (airlock-station ledger verify); "
		    "without the ledger the clock cannot be checked",
		    "station home %s: %s: %s", dir, err_str(r),
		    err_detail_get());
		goto out;
	}
	now = time(NULL);
	newest = ledger_newest_time(l);
	doctor_time(now, now_s, sizeof(now_s));
	if (newest == 0) {
		doctor_add(d, "clock", DOCTOR_OK, NULL,
			   "clock %s; the ledger has no dated record yet",
			   now_s);
		goto out;
	}
	doctor_time(newest, newest_s, sizeof(newest_s));
	if (now < newest)
		doctor_add(d, "clock", DOCTOR_FAIL,
			   "set the clock (date -s, then hwclock --systohc); "
			   "sign refuses to run with a clock behind the ledger",
			   "the clock (%s) is earlier than the ledger's newest "
			   "record (%s)",
			   now_s, newest_s);
	else
		doctor_add(d, "clock", DOCTOR_OK, NULL,
			   "clock %s, ledger's newest record %s", now_s,
			   newest_s);
out:
	err_detail_clear();
	home_close(h);
}

static void
doctor_space(struct doctor *d, const char *dir)
{
	struct statvfs sv;
	unsigned long long avail;

	if (statvfs(dir, &sv) != 0) {
		doctor_add(d, "space", DOCTOR_FAIL,
			   "check the home's filesystem", "statvfs %s: %s", dir,
			   strerror(errno));
		return;
	}
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	if (avail < DOCTOR_SPACE_FAIL)
		doctor_add(d, "space", DOCTOR_FAIL,
			   "free space there before signing: the ledger and "
			   "the merge bundles need room",
			   "%llu MiB free in %s (need at least %llu MiB)",
			   avail >> 20, dir, DOCTOR_SPACE_FAIL >> 20);
	else if (avail < DOCTOR_SPACE_WARN)
		doctor_add(d, "space", DOCTOR_WARN,
			   "free space there before a large batch",
			   "%llu MiB free in %s", avail >> 20, dir);
	else
		doctor_add(d, "space", DOCTOR_OK, NULL, "%llu MiB free in %s",
			   avail >> 20, dir);
}

int
cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct doctor d = {0};
	const char *home =
	    station_g.home != NULL ? station_g.home : "/var/lib/airlock";
	cJSON *doc = NULL;
	int c;

	d.json = station_g.json;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			d.json = 1;
			break;
		case 'h':
			doctor_usage(stdout);
			return 0;
		default:
			if (optopt != 0)
				return cli_usage(
				    "doctor", "unknown option '-%c'", optopt);
			return cli_usage("doctor", "unknown option '%s'",
					 argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage("doctor", "unexpected argument '%s'",
				 argv[optind]);
	if (d.json) {
		if ((doc = cJSON_CreateObject()) == NULL ||
		    (d.checks = cJSON_AddArrayToObject(doc, "checks")) ==
			NULL ||
		    (d.tokens = cJSON_AddArrayToObject(doc, "tokens")) ==
			NULL) {
			cJSON_Delete(doc);
			return cli_fail("doctor", AIRLOCK_E_NOMEM);
		}
	}

	doctor_network(&d);
	doctor_rules_installed(&d);
	doctor_group(&d);
	doctor_pcscd(&d);
	doctor_tokens(&d);
	if (doctor_home_perms(&d, home) == 0) {
		doctor_clock(&d, home);
		doctor_space(&d, home);
	} else {
		doctor_add(&d, "clock", DOCTOR_FAIL,
			   "fix the home first; without the ledger the clock "
			   "cannot be checked",
			   "no station home at %s", home);
	}

	if (d.json) {
		cJSON_AddBoolToObject(doc, "ok", d.failed == 0);
		cJSON_AddNumberToObject(doc, "failed", d.failed);
		cJSON_AddNumberToObject(doc, "warnings", d.warned);
		cli_json_print(doc);
	} else {
		printf("\n%d check%s failed, %d warning%s\n", d.failed,
		       d.failed == 1 ? "" : "s", d.warned,
		       d.warned == 1 ? "" : "s");
	}
	if (fflush(stdout) != 0)
		return AIRLOCK_EXIT_FAIL;
	return d.failed == 0 ? AIRLOCK_EXIT_OK : AIRLOCK_EXIT_FAIL;
}
