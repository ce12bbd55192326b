/* `airlock-station token readers` and `airlock-station token wait`. */
#ifndef AIRLOCK_STATION_CMD_READERS_H
#define AIRLOCK_STATION_CMD_READERS_H

/* argv[0] is "readers"; options --json, --help. Returns the exit status. */
int cmd_token_readers(int argc, char **argv);
/* argv[0] is "wait"; options --reader NAME, --timeout SECONDS, --removed,
 * --json, --help. Returns the exit status. */
int cmd_token_wait(int argc, char **argv);

#endif
