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

#endif
