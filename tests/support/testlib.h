/*
 * tests/support/testlib.h: helpers shared by edm's tests: temp dirs, files, child
 * processes (real servers) started and stopped by PID, free ports, and
 * running shell commands with captured output.
 *
 * Include after cmocka's prerequisites:
 *   #include <stdarg.h> <stddef.h> <stdint.h> <setjmp.h> <cmocka.h>
 */
#ifndef EDM_TESTLIB_H
#define EDM_TESTLIB_H

#include <stddef.h>
#include <sys/types.h>

/* A fresh directory under $TMPDIR (or /tmp); removed by edm_test_rmtree.
 * Returns a malloc'd path; aborts on failure. */
char *edm_test_tmpdir(const char *tag);
/* rm -rf path (only below /tmp or $TMPDIR; refuses anything else). */
void edm_test_rmtree(const char *path);

/* Reads a whole file (malloc'd, NUL-terminated); NULL if unreadable. */
char *edm_test_read_file(const char *path, size_t *len);
/* Writes data to path; returns 0 or -1. */
int edm_test_write_file(const char *path, const void *data, size_t len);

/* Path to a file in the source tree: $EDM_SOURCE_DIR/rel (static buffer
 * per call of at most 8 live results). */
const char *edm_test_src(const char *rel);
/* The migrations compiled in (schema/): how many, and the highest
 * version. */
int edm_test_migrations(void);
int edm_test_schema_version(void);
/* The edm binary ($EDM_BIN). */
const char *edm_test_bin(void);

/* Runs `sh -c cmd`, captures stdout+stderr into *out (malloc'd, may be NULL
 * if not wanted) and returns the exit status (128+sig if killed). */
int edm_test_run(const char *cmd, char **out);

/* Starts argv[0] (PATH searched) with stdout/stderr to logpath (or
 * /dev/null), in its own process group. Returns its pid or -1. */
pid_t edm_test_spawn(char *const argv[], const char *logpath);
/* SIGTERM to the process group, SIGKILL after grace_ms, then reaps it.
 * Returns the exit status as edm_test_run does. */
int edm_test_stop(pid_t pid, int grace_ms);
/* Waits until pid exits or timeout_ms passes; returns its status or -1. */
int edm_test_wait_exit(pid_t pid, int timeout_ms);

/* A TCP port free on ip right now: picked at random in 20000-31999, below
 * the kernel's ephemeral range, and checked by a bind. */
int edm_test_free_port(const char *ip);
/* Polls until a TCP connect to ip:port succeeds; 0 on success, -1 on timeout. */
int edm_test_wait_port(const char *ip, int port, int timeout_ms);

/* The entries of dir not starting with "."; 0 when it cannot be read. */
long edm_test_count_files(const char *dir);

/* Sleeps ms milliseconds. */
void edm_test_sleep_ms(int ms);

#endif
