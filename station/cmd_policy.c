/* airlock-station policy show | check */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "lib/term.h"
#include "station/cli.h"
#include "station/cmds.h"
#include "station/home.h"

static const char policy_usage[] =
    "usage: airlock-station policy show [--json]\n"
    "       airlock-station policy check [--json]\n"
    "\n"
    "  show   the profiles in force, as read from HOME/airlock.conf\n"
    "  check  reject unsafe settings: keyCertSign or cRLSign on a leaf\n"
    "         profile, a CA profile without keyCertSign and cRLSign, a\n"
    "         validity longer than the issuing profile's, a leaf profile\n"
    "         nobody may use or that allows no name. Exit 3 on findings.\n";

static void
print_list(const cJSON *o, const char *key)
{
	const cJSON *v, *a = cJSON_GetObjectItemCaseSensitive(o, key);
	char buf[512];
	int first = 1;

	if (cJSON_GetArraySize(a) == 0)
		return;
	printf("  %-17s", key);
	cJSON_ArrayForEach (v, a) {
		printf("%s%s", first ? " " : ", ",
		       term_sanitize(v->valuestring, buf, sizeof(buf)));
		first = 0;
	}
	printf("\n");
}

static void
policy_print(const cJSON *d)
{
	const cJSON *p, *v;
	char buf[512];

	cJSON_ArrayForEach (p,
			    cJSON_GetObjectItemCaseSensitive(d, "profiles")) {
		printf("[%s] %s, at most %.0f days",
		       term_sanitize(cJSON_GetObjectItemCaseSensitive(p, "name")
					 ->valuestring,
				     buf, sizeof(buf)),
		       cJSON_GetObjectItemCaseSensitive(p, "kind")->valuestring,
		       cJSON_GetNumberValue(
			   cJSON_GetObjectItemCaseSensitive(p, "max_days")));
		if ((v = cJSON_GetObjectItemCaseSensitive(p, "path_len")) !=
		    NULL)
			printf(", path length %.0f", cJSON_GetNumberValue(v));
		printf("\n");
		print_list(p, "key_types");
		print_list(p, "key_usage");
		print_list(p, "ext_key_usage");
		print_list(p, "dns_names");
		print_list(p, "dns_suffixes");
		print_list(p, "ip_ranges");
		print_list(p, "allow_vaults");
		print_list(p, "allow_cert_names");
		print_list(p, "allow_labels");
		print_list(p, "permitted_dns");
		if ((v = cJSON_GetObjectItemCaseSensitive(p, "crl_url")) !=
		    NULL)
			printf("  %-17s %s\n", "crl_url",
			       term_sanitize(v->valuestring, buf, sizeof(buf)));
		if ((v = cJSON_GetObjectItemCaseSensitive(p, "aia_url")) !=
		    NULL)
			printf("  %-17s %s\n", "aia_url",
			       term_sanitize(v->valuestring, buf, sizeof(buf)));
	}
}

int
cmd_policy(int argc, char **argv)
{
	struct home *h = NULL;
	cJSON *d = NULL, *findings = NULL, *v;
	const char *verb;
	char buf[600];
	int i, r, st = 1;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(policy_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	verb = argv[1];
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			station_g.json = 1;
		else if (strcmp(argv[i], "--help") == 0) {
			fputs(policy_usage, stdout);
			return 0;
		} else
			return cli_usage("policy", "unexpected argument '%s'",
					 argv[i]);
	}
	if (strcmp(verb, "show") != 0 && strcmp(verb, "check") != 0)
		return cli_usage("policy", "unknown verb '%s'", verb);
	if ((r = home_open(station_g.home, &h)) != 0)
		return cli_fail("policy", r);
	if (strcmp(verb, "show") == 0) {
		if ((r = policy_describe(home_policy(h), &d)) != 0) {
			st = cli_fail("policy show", r);
			goto out;
		}
		if (station_g.json)
			cli_json_print(d);
		else {
			policy_print(d);
			cJSON_Delete(d);
		}
		st = 0;
		goto out;
	}
	findings = cJSON_CreateArray();
	r = policy_check(home_policy(h), findings);
	if (station_g.json) {
		d = cJSON_CreateObject();
		cJSON_AddBoolToObject(d, "ok", r == 0);
		cJSON_AddItemToObject(d, "findings", findings);
		findings = NULL;
		cli_json_print(d);
	} else if (r == 0) {
		printf("policy ok: %zu profiles, no unsafe settings\n",
		       policy_count(home_policy(h)));
	} else {
		cJSON_ArrayForEach (v, findings)
			fprintf(
			    stderr, "airlock-station: policy check: %s\n",
			    term_sanitize(v->valuestring, buf, sizeof(buf)));
	}
	st = r == 0 ? 0 : err_exit_status(AIRLOCK_E_POLICY);
out:
	cJSON_Delete(findings);
	home_close(h);
	return st;
}
