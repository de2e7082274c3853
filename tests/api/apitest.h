/*
 * tests/api/apitest.h: drive a real edm API server from tests: start it
 * (tests/api/api_server: the API alone with a SQLite store in a temp dir)
 * on a free port with a key, send requests with curl (bodies from files,
 * so any byte goes through), parse JSON answers, and talk raw HTTP over a
 * socket for the protocol-level cases.
 */
#ifndef EDM_APITEST_H
#define EDM_APITEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct apitest {
    char *dir;
    char db[512];
    int port;
    pid_t pid;
    const char *key; /* the first configured key; NULL: started without keys */
    char keybuf[128];
    char log[512];
} apitest;

/* Starts the server; keys NULL for none. extra: max_body header_ms idle_ms
 * (0 = default). Fails the test if it does not come up. */
void apitest_start(apitest *t, const char *keys, size_t max_body, unsigned header_ms,
                   unsigned idle_ms);
/* The same with more limits for api_server: "min_body_rate=100
 * max_per_ip=4" (space-separated name=value, see tests/api/api_server.c). */
void apitest_start_opts(apitest *t, const char *keys, size_t max_body, unsigned header_ms,
                        unsigned idle_ms, const char *opts);
/* Starts the real `edm serve -c DIR/edm.json` instead, with the keys in the
 * environment variable keys_env (named in the config as api.keys_env).
 * config_extra: more top-level members of the config ("\"pools\": [...]")
 * or NULL; api.max_body_bytes is max_body when not 0. DNS points at a dead
 * loopback port, so nothing leaves the machine. */
void apitest_start_serve(apitest *t, const char *keys_env, const char *keys, size_t max_body,
                         const char *config_extra);
/* Stops a server started by apitest_start_serve (asserting a clean exit)
 * and starts `edm serve` again on the same config, database and port. */
void apitest_restart_serve(apitest *t);
/* Kills a server started by apitest_start_serve with SIGKILL (no clean
 * exit: a crash) and starts `edm serve` again on the same config. */
void apitest_kill_restart_serve(apitest *t);
/* Stops it (SIGTERM) and asserts a clean exit (ASan leak check included). */
void apitest_stop(apitest *t);

/* One request with curl. body may be NULL; ctype NULL means
 * application/json when there is a body. header: one extra "Name: value"
 * or NULL. key: the key to send (NULL: t->key; "" none). Returns the HTTP
 * status; *out (if given) gets the body (malloc'd), *headers the answer's
 * header block. */
int apitest_req(apitest *t, const char *method, const char *path, const char *body, size_t len,
                const char *ctype, const char *header, const char *key, char **out, char **headers);
/* The same, parsing the body as JSON (NULL if empty or not JSON). */
json_t *apitest_json(apitest *t, const char *method, const char *path, const char *body,
                     int *status);
/* A request that must answer `want` (the test fails otherwise, showing the
 * answer); returns the parsed body (NULL if empty or not JSON). */
json_t *apitest_expect(apitest *t, const char *method, const char *path, const char *body,
                       int want);
/* Uploads recipients to campaign cid with content type ctype; the answer
 * must be `want`; returns its parsed body. */
json_t *apitest_upload(apitest *t, int64_t cid, const char *ctype, const char *body, int want);
/* Asserts an error answer: status, code (NULL: any) and field (NULL: must
 * be null). */
void apitest_expect_error(apitest *t, const char *method, const char *path, const char *body,
                          int status, const char *code, const char *field);

/* A raw TCP connection to the server (blocking, 5 s receive timeout). */
int apitest_connect(apitest *t);
/* Reads until the peer closes or timeout_ms passes; returns the bytes
 * (malloc'd). */
char *apitest_read_all(int fd, int timeout_ms, size_t *len);

#endif
