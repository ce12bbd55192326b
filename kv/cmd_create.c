/* airlock-kv create NAME: a Key Vault certificate with issuer Unknown, so
 * that Key Vault makes the key and a CSR that this CA signs. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/cli.h"
#include "kv/cmds.h"
#include "kv/kvjson.h"
#include "kv/vault.h"
#include "lib/err.h"

#define MAX_LIST	64
#define POLICY_FILE_MAX (1024 * 1024)

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: airlock-kv create NAME [--policy FILE | --subject DN "
	    "[--dns NAME]... [--ip ADDR]...\n"
	    "           [--eku OID|NAME]... [--key TYPE] "
	    "[--validity-months N] [--exportable] [--hsm]]\n"
	    "           [--tag KEY=VALUE]...\n\n"
	    "Create certificate NAME in the vault with issuer Unknown: "
	    "Key Vault makes the\nkey and a CSR, which `airlock-kv export` "
	    "carries to the station. The key is not\nexportable unless "
	    "--exportable (or the policy file) says so. If a pending\n"
	    "operation for the same request already exists (a retried "
	    "create), it is\nadopted; a different one is refused.\n\n"
	    "  --policy FILE         a certificate policy in Key Vault's "
	    "JSON (or a whole\n"
	    "                        create body {\"policy\":..,\"tags\":..})\n"
	    "  --subject DN          e.g. \"CN=api.example.com\"\n"
	    "  --dns NAME, --ip ADDR subject alternative names "
	    "(repeatable)\n"
	    "  --eku OID|NAME        serverAuth, clientAuth, ... "
	    "(repeatable)\n"
	    "  --key TYPE            rsa:2048 (default), rsa:3072, "
	    "rsa:4096, ec:p256, ec:p384\n"
	    "  --validity-months N   validity asked for (the station's "
	    "profile decides)\n"
	    "  --tag KEY=VALUE       a tag on the certificate (repeatable)\n"
	    "\n" CLI_COMMON_HELP);
}

enum {
	OPT_POLICY = 1,
	OPT_SUBJECT,
	OPT_DNS,
	OPT_IP,
	OPT_EKU,
	OPT_KEY,
	OPT_VALIDITY,
	OPT_TAG,
	OPT_EXPORTABLE,
	OPT_HSM,
};

static int
push(const char *verb, const char **list, size_t *n, const char *v)
{
	if (*n >= MAX_LIST)
		return cli_usage(verb, "too many values (at most %d)",
				 MAX_LIST);
	list[(*n)++] = v;
	return 0;
}

/* The pending operation after a 409 or an ambiguous failure: adopt it when
 * it is an Unknown-issuer request for the same policy. 0 and *OP set:
 * adopted; AIRLOCK_E_NOT_FOUND: nothing pending; AIRLOCK_E_EXISTS: a
 * different request is pending. */
static int
adopt(struct kv_conn *c, const char *name, const cJSON *body, struct kv_op **op)
{
	cJSON *j = NULL, *pol = NULL;
	int r;

	*op = NULL;
	if ((r = vault_pending_get(c->vault, name, &j)) != 0)
		goto out;
	if ((r = kvjson_op_parse(j, op)) != 0)
		goto out;
	if (strcmp((*op)->status, "inProgress") != 0 || (*op)->issuer == NULL ||
	    strcmp((*op)->issuer, "Unknown") != 0) {
		err_detail_set("%s has a pending operation with status %s and "
			       "issuer %s: not ours to adopt",
			       name, (*op)->status,
			       (*op)->issuer ? (*op)->issuer : "(none)");
		r = AIRLOCK_E_EXISTS;
		goto out;
	}
	if ((r = vault_policy_get(c->vault, name, &pol)) != 0)
		goto out;
	if (!kvjson_policy_covers(
		cJSON_GetObjectItemCaseSensitive(body, "policy"), pol)) {
		err_detail_set("%s already has a pending request with a "
			       "different policy: export and sign it, or "
			       "cancel it in Key Vault, then create again",
			       name);
		r = AIRLOCK_E_EXISTS;
		goto out;
	}
	r = 0;
out:
	if (r != 0) {
		kvjson_op_free(*op);
		*op = NULL;
	}
	cJSON_Delete(j);
	cJSON_Delete(pol);
	return r;
}

static void
report(struct kv_conn *c, const char *name, const struct kv_op *op, int adopted)
{
	char hex[65] = "", buf[512];
	cJSON *j;

	if (op->csr != NULL)
		cli_sha256_hex(op->csr, op->csr_len, hex);
	if (kv_g.json) {
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "vault", vault_url(c->vault));
		cJSON_AddStringToObject(j, "name", name);
		cJSON_AddStringToObject(j, "status", op->status);
		if (op->request_id)
			cJSON_AddStringToObject(j, "request_id",
						op->request_id);
		else
			cJSON_AddNullToObject(j, "request_id");
		cJSON_AddStringToObject(j, "csr_sha256", hex);
		cJSON_AddBoolToObject(j, "adopted", adopted);
		cli_json_print(j);
		return;
	}
	printf("%s %s: %s, request_id %s\n", adopted ? "adopted" : "created",
	       name, cli_safe(op->status, buf, sizeof(buf)),
	       op->request_id ? op->request_id : "(none)");
	if (hex[0])
		printf("  CSR sha256 %s\n", hex);
	printf("  next: airlock-kv export --out DIR\n");
}

int
cmd_create(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"policy", required_argument, NULL, OPT_POLICY},
	    {"subject", required_argument, NULL, OPT_SUBJECT},
	    {"dns", required_argument, NULL, OPT_DNS},
	    {"ip", required_argument, NULL, OPT_IP},
	    {"eku", required_argument, NULL, OPT_EKU},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"validity-months", required_argument, NULL, OPT_VALIDITY},
	    {"tag", required_argument, NULL, OPT_TAG},
	    {"exportable", no_argument, NULL, OPT_EXPORTABLE},
	    {"hsm", no_argument, NULL, OPT_HSM},
	    CLI_COMMON_LONGOPTS,
	    {NULL, 0, NULL, 0},
	};
	const char *dns[MAX_LIST], *ip[MAX_LIST], *eku[MAX_LIST],
	    *tags[MAX_LIST];
	struct kv_policy_args a;
	const char *policy = NULL, *name;
	struct kv_conn conn = {0};
	unsigned char *buf = NULL;
	cJSON *body = NULL, *reply = NULL;
	struct kv_op *op = NULL;
	int opt, r, st, adopted = 0, tries;
	size_t len;
	char *end;

	memset(&a, 0, sizeof(a));
	a.dns = dns;
	a.ip = ip;
	a.eku = eku;
	a.tags = tags;
	while ((opt = getopt_long(argc, argv, "hqv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case 'q':
			kv_g.verbose = -1;
			break;
		case 'v':
			kv_g.verbose++;
			break;
		case OPT_POLICY:
			policy = optarg;
			break;
		case OPT_SUBJECT:
			a.subject = optarg;
			break;
		case OPT_DNS:
			if ((st = push("create", dns, &a.n_dns, optarg)) != 0)
				return st;
			break;
		case OPT_IP:
			if ((st = push("create", ip, &a.n_ip, optarg)) != 0)
				return st;
			break;
		case OPT_EKU:
			if ((st = push("create", eku, &a.n_eku, optarg)) != 0)
				return st;
			break;
		case OPT_TAG:
			if ((st = push("create", tags, &a.n_tags, optarg)) != 0)
				return st;
			break;
		case OPT_KEY:
			a.key = optarg;
			break;
		case OPT_VALIDITY:
			errno = 0;
			a.validity_months = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg ||
			    a.validity_months < 1 || a.validity_months > 1200)
				return cli_usage("create",
						 "--validity-months: 1..1200");
			break;
		case OPT_EXPORTABLE:
			a.exportable = 1;
			break;
		case OPT_HSM:
			a.hsm = 1;
			break;
		default:
			if ((st = cli_common_opt("create", opt, optarg)) == 0)
				break;
			if (st == 1)
				usage(stderr);
			return AIRLOCK_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		return cli_usage("create", "want exactly one NAME");
	name = argv[optind];
	if (!vault_name_ok(name))
		return cli_usage(
		    "create", "'%.64s': a name is 1-127 of [0-9a-zA-Z-]", name);
	if (policy != NULL &&
	    (a.subject || a.n_dns || a.n_ip || a.n_eku || a.key ||
	     a.validity_months || a.exportable || a.hsm))
		return cli_usage("create", "--policy excludes the policy "
					   "flags (only --tag may be added)");
	if (policy != NULL) {
		if ((r = cli_file_read(policy, POLICY_FILE_MAX, &buf, &len)) !=
			0 ||
		    (r = kvjson_create_body_from_file(buf, len, tags, a.n_tags,
						      &body)) != 0) {
			st = cli_fail("create: policy file", r);
			goto done;
		}
	} else if ((r = kvjson_create_body_from_args(&a, &body)) != 0) {
		st = cli_fail("create", r);
		goto done;
	}
	if ((st = cli_connect("create", &conn)) != 0)
		goto done;

	for (tries = 0;; tries++) {
		cJSON_Delete(reply);
		reply = NULL;
		r = vault_cert_create(conn.vault, name, body, &reply);
		if (r == 0) {
			r = kvjson_op_parse(reply, &op);
			break;
		}
		if (r != AIRLOCK_E_EXISTS &&
		    !vault_last_outcome_unknown(conn.vault))
			break;
		/* 409, or we cannot tell whether the create was applied:
		 * read the state before anything else (KEYVAULT.md). */
		if (r != AIRLOCK_E_EXISTS)
			cli_notice("create %s: no clear answer (%s); reading "
				   "the pending operation",
				   name, err_detail_get());
		r = adopt(&conn, name, body, &op);
		if (r == 0) {
			adopted = 1;
			break;
		}
		if (r != AIRLOCK_E_NOT_FOUND || tries + 1 >= kv_g.max_tries)
			break;
		/* nothing pending: the create was not applied; send again */
	}
	if (r != 0) {
		st = cli_fail("create", r);
		goto done;
	}
	report(&conn, name, op, adopted);
	st = 0;
done:
	kvjson_op_free(op);
	cJSON_Delete(reply);
	cJSON_Delete(body);
	free(buf);
	cli_disconnect(&conn);
	return st;
}
