/* One function per airlock-kv verb, each in its own kv/cmd_VERB.c. */
#ifndef AIRLOCK_KV_CMDS_H
#define AIRLOCK_KV_CMDS_H

int cmd_create(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_unpack(int argc, char **argv);
int cmd_renew(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_witness(int argc, char **argv);

struct bundle;
struct cJSON;
/* Check a verified merge bundle's ledger slice against the replica and
 * record it (kv/replica.h), printing what happened (to stdout if
 * TO_STDOUT, else a notice); JSON (may be NULL) gets a "ledger" member.
 * 0, or the exit status after printing the error. A bundle without a
 * ledger slice is a warning, not an error. */
int witness_bundle(const char *verb, const struct bundle *b, struct cJSON *json,
		   int to_stdout);

#endif
