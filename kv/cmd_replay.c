/* airlock-kv replay KIND FILE: feed a recorded Key Vault or token endpoint
 * reply to airlock-kv's own parsers and print what they understood, as one
 * JSON document. For the tests that hold the parsers to real service
 * traffic (../shared/kv-recordings); no network. KIND: operation,
 * certificate, list, error, token, challenge (FILE holds the
 * WWW-Authenticate value). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv/cli.h"
#include "kv/cmds.h"
#include "kv/cred.h"
#include "kv/kvjson.h"
#include "kv/vault.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/secmem.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: airlock-kv replay operation|certificate|list|"
		   "error|token|challenge FILE\n\n"
		   "Parse one recorded reply body with airlock-kv's parsers "
		   "and print the result\nas JSON (a test tool: no network; "
		   "tokens are never printed, only their length).\n");
}

static int
one_cert(const cJSON *item, cJSON *out)
{
	struct kv_cert *c = NULL;
	char x5t[32];
	cJSON *o;
	int r;

	if ((r = kvjson_cert_parse(item, &c)) != 0)
		return r;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", c->name);
	if (c->version)
		cJSON_AddStringToObject(o, "version", c->version);
	if (c->x5t)
		cJSON_AddStringToObject(o, "x5t", c->x5t);
	cJSON_AddBoolToObject(o, "enabled", c->enabled);
	cJSON_AddNumberToObject(o, "exp", (double)c->exp);
	cJSON_AddNumberToObject(o, "created", (double)c->created);
	if (c->cer != NULL) {
		if ((r = kvjson_x5t(c->cer, c->cer_len, x5t)) != 0)
			goto out;
		cJSON_AddNumberToObject(o, "cer_len", (double)c->cer_len);
		cJSON_AddBoolToObject(o, "x5t_matches_cer",
				      c->x5t != NULL &&
					  strcmp(c->x5t, x5t) == 0);
	}
	cJSON_AddItemToArray(out, o);
out:
	kvjson_cert_free(c);
	return r;
}

static int
on_item(const cJSON *item, void *arg)
{
	return one_cert(item, arg);
}

int
cmd_replay(int argc, char **argv)
{
	const char *kind, *file;
	unsigned char *buf = NULL;
	size_t len;
	cJSON *j = NULL, *out = NULL, *arr;
	struct kv_op *op = NULL;
	struct secmem *tok = NULL;
	long long exp;
	char code[128], msg[1024], tenant[128], scope[256];
	const cJSON *it, *val;
	int r, st;

	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (argc != 3) {
		usage(stderr);
		return AIRLOCK_EXIT_USAGE;
	}
	kind = argv[1];
	file = argv[2];
	if ((r = cli_file_read(file, 8u << 20, &buf, &len)) != 0)
		return cli_fail("replay", r);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "kind", kind);
	if (strcmp(kind, "token") == 0) {
		if ((r = secmem_new(16384, &tok)) != 0 ||
		    (r = cred_token_response_parse(buf, len, 1000000000LL, tok,
						   &exp)) != 0)
			goto fail;
		cJSON_AddNumberToObject(out, "token_len",
					(double)secmem_len(tok));
		cJSON_AddNumberToObject(out, "expires", (double)exp);
	} else if (strcmp(kind, "challenge") == 0) {
		while (len > 0 &&
		       (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if ((r = vault_challenge_parse((char *)buf, tenant,
					       sizeof(tenant), scope,
					       sizeof(scope))) != 0)
			goto fail;
		cJSON_AddStringToObject(out, "tenant", tenant);
		cJSON_AddStringToObject(out, "scope", scope);
	} else if (strcmp(kind, "error") == 0) {
		if ((r = vault_error_parse(buf, len, code, sizeof(code), msg,
					   sizeof(msg))) != 0)
			goto fail;
		cJSON_AddStringToObject(out, "code", code);
		cJSON_AddStringToObject(out, "message", msg);
	} else {
		if ((r = json_parse_strict(buf, len, JSON_MAX_DEPTH, &j)) != 0)
			goto fail;
		if (strcmp(kind, "operation") == 0) {
			if ((r = kvjson_op_parse(j, &op)) != 0)
				goto fail;
			cJSON_AddStringToObject(out, "status", op->status);
			cJSON_AddStringToObject(out, "issuer",
						op->issuer ? op->issuer : "");
			if (op->request_id)
				cJSON_AddStringToObject(out, "request_id",
							op->request_id);
			cJSON_AddNumberToObject(out, "csr_len",
						(double)op->csr_len);
			if (op->target)
				cJSON_AddStringToObject(out, "target",
							op->target);
		} else if (strcmp(kind, "certificate") == 0) {
			arr = cJSON_AddArrayToObject(out, "items");
			if ((r = one_cert(j, arr)) != 0)
				goto fail;
		} else if (strcmp(kind, "list") == 0) {
			arr = cJSON_AddArrayToObject(out, "items");
			val = cJSON_GetObjectItemCaseSensitive(j, "value");
			if (!cJSON_IsArray(val)) {
				err_detail_set("no value array");
				r = AIRLOCK_E_FORMAT;
				goto fail;
			}
			cJSON_ArrayForEach (it, val)
				if ((r = on_item(it, arr)) != 0)
					goto fail;
			it = cJSON_GetObjectItemCaseSensitive(j, "nextLink");
			cJSON_AddBoolToObject(out, "has_next",
					      cJSON_IsString(it));
		} else {
			usage(stderr);
			st = AIRLOCK_EXIT_USAGE;
			goto done;
		}
	}
	cli_json_print(out);
	out = NULL;
	st = 0;
	goto done;
fail:
	st = cli_fail("replay", r);
done:
	cJSON_Delete(out);
	cJSON_Delete(j);
	kvjson_op_free(op);
	secmem_free(tok);
	free(buf);
	return st;
}
