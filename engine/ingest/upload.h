/*
 * engine/ingest/upload.h: streaming parsers for recipient lists: CSV (upload_csv.c),
 * NDJSON and JSON arrays (upload_ndjson.c). Bytes are fed as they arrive;
 * each complete row is handed to a sink at once, so memory stays bounded by
 * the longest row (EDM_UPLOAD_MAX_ROW), never by the body.
 *
 * A row is an email (raw, not yet validated) plus variables (a JSON object
 * of the other columns / keys). A row that cannot be read (malformed JSON,
 * wrong field count, bad quoting, too long) goes to the sink's reject with
 * its line and reason, and parsing continues with the next row. Only a body
 * that is not a list at all (CSV without an email column, JSON that is not
 * an array or objects) stops the parse: feed/finish return EDM_EINVAL and
 * edm_upload_parser_error() says why (and where).
 *
 * Line numbers: the physical line (1-based) where the row starts for CSV and
 * NDJSON (the CSV header is line 1); the 1-based item index for a JSON array.
 */
#ifndef EDM_API_UPLOAD_H
#define EDM_API_UPLOAD_H

#include <jansson.h>
#include <stddef.h>

#define EDM_UPLOAD_MAX_ROW (1024 * 1024)

enum edm_upload_format {
    EDM_UPLOAD_CSV,
    EDM_UPLOAD_NDJSON,
    EDM_UPLOAD_JSON, /* one array of objects (or of address strings) */
    EDM_UPLOAD_SNIFF /* JSON array if the body starts with '[', NDJSON if '{', else CSV */
};

/* A row's variables, in one of two forms: the text of a JSON object
 * (valid UTF-8, NUL-terminated, json_len bytes), or the compact parts the
 * store keeps (engine/store/vars.h): names, the variables' names as a
 * JSON array text (NUL-terminated, names_len bytes), and vals, one value
 * per name (NUL-free UTF-8 strings). CSV rows come compact, and JSON rows
 * whose values are all strings; other JSON rows as text. */
typedef struct edm_upload_vars {
    const char *json; /* NULL: the compact parts */
    size_t json_len;
    const char *names;
    size_t names_len;
    const unsigned char *vals;
    size_t vals_len;
} edm_upload_vars;

/* Converts a row's variables to the JSON object they stand for (for
 * tests and tools; the store keeps them as they come). NULL: {}. Returns
 * 0, EDM_EINVAL (err says why) or EDM_ENOMEM. */
int edm_upload_vars_json(const edm_upload_vars *v, json_t **out, char *err, size_t errlen);

typedef struct edm_upload_sink {
    void *ctx;
    /* One readable row. email is NUL-terminated (may hold other NULs: the
     * length is email_len); vars is the row's variables, or NULL when it
     * has none. Return 0 to go on, a negative EDM_E* code to stop the
     * parse (feed returns it). */
    int (*row)(void *ctx, long line, const char *email, size_t email_len,
               const edm_upload_vars *vars);
    /* One unreadable row; email may be NULL when it could not be found. */
    int (*reject)(void *ctx, long line, const char *email, const char *error);
} edm_upload_sink;

typedef struct edm_upload_parser edm_upload_parser;

/* Maps a Content-Type value (parameters ignored) to a format; NULL or
 * unknown types give EDM_UPLOAD_SNIFF. */
enum edm_upload_format edm_upload_format_from_type(const char *content_type);

/* Returns 0 or EDM_ENOMEM. The sink is copied. */
int edm_upload_parser_new(enum edm_upload_format fmt, const edm_upload_sink *sink,
                          edm_upload_parser **out);
/* Feeds the next bytes. Returns 0, the sink's negative code, EDM_EINVAL
 * (not a recipient list: see _error), or EDM_ENOMEM. */
int edm_upload_parser_feed(edm_upload_parser *p, const char *data, size_t len);
/* The body ended: flushes the last row. Same returns as feed. */
int edm_upload_parser_finish(edm_upload_parser *p);
/* Why the parse stopped (EDM_EINVAL), "" otherwise. */
const char *edm_upload_parser_error(const edm_upload_parser *p);
/* The format in use (after sniffing, once data arrived). */
enum edm_upload_format edm_upload_parser_format(const edm_upload_parser *p);
void edm_upload_parser_free(edm_upload_parser *p);

#endif
