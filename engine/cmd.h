/*
 * engine/cmd.h: the edm subcommands, one file each (engine/cmd_NAME.c
 * defines edm_cmd_NAME). Each takes main's argc/argv shifted so that
 * argv[0] is the subcommand name, prints its own --help, and returns the
 * process exit status (0 ok, 1 failure, 2 usage error).
 */
#ifndef EDM_CMD_H
#define EDM_CMD_H

int edm_cmd_version(int argc, char **argv);
int edm_cmd_check_config(int argc, char **argv);

#endif
