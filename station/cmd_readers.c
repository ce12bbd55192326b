/* `airlock-station token readers`: list smartcard readers and card state.
 * `airlock-station token wait`: block until a card is inserted or removed. */
#include "station/cmd_readers.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/err.h"
#include "lib/term.h"
#include "pkcs11/reader.h"
#include "station/cli.h"

#define CMD_PROG "airlock-station"
/* Keeps timeout_ms within pcsc-lite's 32-bit DWORD milliseconds. */
#define CMD_WAIT_TIMEOUT_MAX 2000000L

/* Print S, which came from outside (pcscd, drivers), made terminal-safe. */
static void
put_clean(FILE *f, const char *s)
{
	char buf[1024];

	fputs(term_sanitize(s, buf, sizeof(buf)), f);
}

static void
readers_usage(FILE *f)
{
	fprintf(f,
		"usage: %s token readers [--json]\n"
		"List the smartcard readers pcscd knows and the state of each: "
		"present,\nempty, in use, mute or unavailable, with the card's "
		"ATR.\n"
		"  --json   one JSON document on stdout\n",
		CMD_PROG);
}

static void
wait_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: %s token wait [--reader NAME] [--timeout SECONDS] "
	    "[--removed] [--json]\n"
	    "Block until a card is present (in any reader, or in NAME).\n"
	    "  --reader NAME      the reader to watch (a unique prefix will "
	    "do)\n"
	    "  --timeout SECONDS  give up after SECONDS (default: wait "
	    "forever)\n"
	    "  --removed          wait until the card is removed instead\n"
	    "  --json             one JSON document on stdout\n",
	    CMD_PROG);
}

/* An option getopt_long rejected (opterr is off so that the message names
 * the verb). */
static int
cmd_usage_error(const char *what, char **argv, int c)
{
	if (c == ':')
		return cli_usage(what, "option '%s' needs an argument",
				 argv[optind - 1]);
	if (optopt != 0)
		return cli_usage(what, "unknown option '-%c'", optopt);
	return cli_usage(what, "unknown option '%s'", argv[optind - 1]);
}

static int
readers_print_json(const struct reader_list *rl)
{
	int r = AIRLOCK_E_INTERNAL;
	cJSON *doc = NULL, *arr, *o;
	char *text = NULL;
	size_t i;

	if ((doc = cJSON_CreateObject()) == NULL ||
	    (arr = cJSON_AddArrayToObject(doc, "readers")) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	for (i = 0; i < reader_list_count(rl); i++) {
		if ((o = cJSON_CreateObject()) == NULL) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
		cJSON_AddItemToArray(arr, o);
		if (cJSON_AddStringToObject(o, "name",
					    reader_list_name(rl, i)) == NULL ||
		    cJSON_AddStringToObject(o, "state",
					    reader_list_state(rl, i)) == NULL ||
		    cJSON_AddBoolToObject(o, "card_present",
					  reader_list_card_present(rl, i)) ==
			NULL ||
		    cJSON_AddStringToObject(
			o, "atr", reader_list_atr_hex(rl, i)) == NULL) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
	}
	if ((text = cJSON_Print(doc)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	printf("%s\n", text);
	r = 0;
out:
	free(text);
	cJSON_Delete(doc);
	return r;
}

static void
readers_print_table(const struct reader_list *rl)
{
	const char *atr;
	size_t i;

	printf("%-12s %s\n", "STATE", "READER");
	for (i = 0; i < reader_list_count(rl); i++) {
		printf("%-12s ", reader_list_state(rl, i));
		put_clean(stdout, reader_list_name(rl, i));
		atr = reader_list_atr_hex(rl, i);
		if (atr != NULL && atr[0] != '\0')
			printf("  (ATR %s)", atr);
		putchar('\n');
	}
}

int
cmd_token_readers(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct reader_list *rl = NULL;
	int r = AIRLOCK_E_INTERNAL, c, json = station_g.json;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			readers_usage(stdout);
			return 0;
		default:
			return cmd_usage_error("token readers", argv, c);
		}
	}
	if (optind != argc)
		return cli_usage("token readers", "unexpected argument '%s'",
				 argv[optind]);
	err_detail_clear();
	if ((r = reader_list_get(&rl)) != 0)
		goto out;
	if (json) {
		if ((r = readers_print_json(rl)) != 0)
			goto out;
	} else
		readers_print_table(rl);
	if (fflush(stdout) != 0) {
		err_detail_set("writing to stdout: %s", strerror(errno));
		r = AIRLOCK_E_IO;
		goto out;
	}
	r = 0;
out:
	reader_list_free(rl);
	return r != 0 ? cli_fail("token readers", r) : 0;
}

/* Whole seconds, 0 to CMD_WAIT_TIMEOUT_MAX. */
static int
wait_timeout_parse(const char *s, long *ms)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || end == s || *end != '\0' ||
	    errno != 0 || v < 0 || v > CMD_WAIT_TIMEOUT_MAX) {
		err_detail_set("--timeout '%s': want whole seconds from 0 to "
			       "%ld",
			       s, CMD_WAIT_TIMEOUT_MAX);
		return AIRLOCK_E_INVALID_ARG;
	}
	*ms = v * 1000;
	return 0;
}

static int
wait_print(const char *reader, int removed, int json)
{
	int r = AIRLOCK_E_INTERNAL;
	cJSON *doc = NULL;
	char *text = NULL;

	if (!json) {
		if (removed) {
			fputs("no card present", stdout);
		} else {
			fputs("card present in reader '", stdout);
			put_clean(stdout, reader);
			fputc('\'', stdout);
		}
		fputc('\n', stdout);
		return 0;
	}
	if ((doc = cJSON_CreateObject()) == NULL ||
	    (reader != NULL ? cJSON_AddStringToObject(doc, "reader", reader)
			    : cJSON_AddNullToObject(doc, "reader")) == NULL ||
	    cJSON_AddBoolToObject(doc, "card_present", !removed) == NULL ||
	    (text = cJSON_Print(doc)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	printf("%s\n", text);
	r = 0;
out:
	free(text);
	cJSON_Delete(doc);
	return r;
}

int
cmd_token_wait(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"reader", required_argument, NULL, 'r'},
	    {"timeout", required_argument, NULL, 't'},
	    {"removed", no_argument, NULL, 'R'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *reader = NULL;
	char *found = NULL;
	long timeout_ms = -1;
	int r = AIRLOCK_E_INTERNAL, c, json = station_g.json, removed = 0;

	err_detail_clear();
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			reader = optarg;
			break;
		case 't':
			if ((r = wait_timeout_parse(optarg, &timeout_ms)) != 0)
				goto out;
			break;
		case 'R':
			removed = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			wait_usage(stdout);
			return 0;
		default:
			return cmd_usage_error("token wait", argv, c);
		}
	}
	if (optind != argc)
		return cli_usage("token wait", "unexpected argument '%s'",
				 argv[optind]);
	if (removed)
		r = reader_card_wait_removed(reader, timeout_ms);
	else
		r = reader_card_wait(reader, timeout_ms, &found);
	if (r != 0)
		goto out;
	if ((r = wait_print(removed ? reader : found, removed, json)) != 0)
		goto out;
	if (fflush(stdout) != 0) {
		err_detail_set("writing to stdout: %s", strerror(errno));
		r = AIRLOCK_E_IO;
		goto out;
	}
	r = 0;
out:
	free(found);
	return r != 0 ? cli_fail("token wait", r) : 0;
}
