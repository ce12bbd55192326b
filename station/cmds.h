/* One function per verb, each in its own station/cmd_*.c. */
#ifndef AIRLOCK_STATION_CMDS_H
#define AIRLOCK_STATION_CMDS_H

int cmd_token(int argc, char **argv);

#endif
