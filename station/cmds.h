/* One function per verb, each in its own station/cmd_*.c. */
#ifndef AIRLOCK_STATION_CMDS_H
#define AIRLOCK_STATION_CMDS_H

int cmd_token(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_ca(int argc, char **argv);
int cmd_ledger(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_review(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_process(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_crl(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

#endif
