/*
 * engine/ingest/upload_int.h: shared by engine/ingest/upload*.c only: the per-format parsers
 * behind edm_upload_parser (upload.c dispatches).
 */
#ifndef EDM_API_UPLOAD_INT_H
#define EDM_API_UPLOAD_INT_H

#include "engine/ingest/upload.h"

typedef struct upload_csv upload_csv;
typedef struct upload_json upload_json;

/* Each returns NULL on allocation failure. Feed/finish return as
 * edm_upload_parser_feed does; a fatal reason goes into err[errlen]. */
upload_csv *upload_csv_new(const edm_upload_sink *sink, char *err, size_t errlen);
int upload_csv_feed(upload_csv *p, const char *data, size_t len);
int upload_csv_finish(upload_csv *p);
void upload_csv_free(upload_csv *p);

/* array: 1 for a JSON array, 0 for NDJSON. */
upload_json *upload_json_new(const edm_upload_sink *sink, int array, char *err, size_t errlen);
int upload_json_feed(upload_json *p, const char *data, size_t len);
int upload_json_finish(upload_json *p);
void upload_json_free(upload_json *p);

/* Splits a JSON row (an object with "email", optional "vars" object and other
 * keys as variables; or a bare address string) into email + vars and hands
 * it to the sink; anything else is rejected with its reason. Returns the
 * sink's code. */
int upload_row_from_json(const edm_upload_sink *sink, long line, json_t *row);

#endif
