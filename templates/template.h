/*
 * templates/template.h: edm's template language (Mustache + a Handlebars
 * subset), compiled once and rendered per recipient. See docs/templates.md.
 *
 * Two levels:
 *  - edm_tpl: one template source (plus the partials it may call), compiled
 *    into an immutable program. edm_tpl_render() appends its output for one
 *    jansson value to an edm_buf.
 *  - edm_tpl_set: a message template {subject, html, text, partials}
 *    compiled into one shared object; edm_tpl_set_render() renders all three
 *    parts for one recipient (subject in header mode, html in HTML mode,
 *    text unescaped).
 *
 * Threads: a compiled edm_tpl / edm_tpl_set is never written after compile;
 * any number of threads may render it at once. Rendering keeps its state on
 * the caller's stack and in caller-owned buffers: with an edm_tpl_msg (or
 * edm_buf) reused from one recipient to the next, a render does not
 * allocate.
 *
 * Errors: functions return 0 or a negative EDM_E* code (engine/base/err.h) and
 * fill the edm_tpl_error given (which may be NULL):
 *   EDM_EINVAL    syntax error (line, col and message set)
 *   EDM_ENOTFOUND strict mode: the data lacks variables (listed in msg)
 *   EDM_ETOOBIG   a limit was hit (work steps, output size, nesting, partial
 *                 recursion); msg names the tag's line and column
 *   EDM_ENOMEM    allocation failed
 */
#ifndef EDM_TEMPLATE_H
#define EDM_TEMPLATE_H

#include "engine/base/buf.h"

#include <jansson.h>
#include <stddef.h>

/* How values (and, in header mode, all output) are escaped. */
enum edm_tpl_mode {
    EDM_TPL_HTML = 0,  /* {{x}} HTML-escaped, {{{x}}} and {{&x}} raw */
    EDM_TPL_NONE = 1,  /* nothing escaped (text parts) */
    EDM_TPL_HEADER = 2 /* no escaping, but every C0/C1 control character
                        * (CR, LF, TAB, NUL, DEL, U+0080-U+009F) is removed
                        * from the whole output, template text included */
};

/* Defaults used when a field of edm_tpl_opts is 0. */
#define EDM_TPL_DEFAULT_MAX_OUTPUT  (4u << 20) /* bytes per rendered part */
#define EDM_TPL_DEFAULT_MAX_DEPTH   64         /* nested sections/blocks/partials */
#define EDM_TPL_DEFAULT_MAX_PARTIAL 16         /* partials (and parents) nested */
#define EDM_TPL_MAX_DEPTH           200        /* hard cap on max_depth */
/* Work per rendered part: every op run and every loop iteration is a step.
 * A large newsletter (1,000 items of 50 tags) takes about 50,000. */
#define EDM_TPL_DEFAULT_MAX_STEPS 1000000ul

typedef struct edm_tpl_opts {
    enum edm_tpl_mode mode;  /* edm_tpl_render only; the set chooses per part */
    int strict;              /* report variables the data lacks (EDM_ENOTFOUND) */
    size_t max_output;       /* bytes this render may append; 0 = default */
    int max_depth;           /* 0 = default; capped at EDM_TPL_MAX_DEPTH */
    int max_partial_depth;   /* 0 = default */
    unsigned long max_steps; /* work budget per part; 0 = default */
} edm_tpl_opts;

typedef struct edm_tpl_error {
    int code;      /* EDM_E* (0 when no error) */
    char part[64]; /* "subject", "html", "text", "partial footer"; "" if none */
    int line, col; /* 1-based position of a syntax error; 0 otherwise */
    char msg[512]; /* "line 3, col 14: unclosed section \"items\"" */
} edm_tpl_error;

typedef struct edm_tpl edm_tpl;

/* Compiles src (len bytes, need not be NUL-terminated). partials may be NULL
 * or a JSON object {name: source} of partials (and parents) the template
 * may call; each is compiled too. On success *out owns everything it needs
 * (it keeps no pointer into src or partials). */
int edm_tpl_compile(edm_tpl **out, const char *src, size_t len, const json_t *partials,
                    edm_tpl_error *err);
void edm_tpl_free(edm_tpl *t);

/* Renders t against data (any JSON value; NULL = empty object), appending
 * to out. On error out may hold a partial rendering after its old contents;
 * strict mode renders everything, then reports all missing names at once. */
int edm_tpl_render(const edm_tpl *t, const json_t *data, const edm_tpl_opts *opts, edm_buf *out,
                   edm_tpl_error *err);

/* A message template: subject, html and/or text, and shared partials. */
typedef struct edm_tpl_set edm_tpl_set;

/* Compiles a JSON object {"subject": S, "html": H, "text": T, "partials":
 * {name: source}}. subject is required; html and text are optional but not
 * both absent. Other members are ignored (a stored template has "name",
 * "id"...). err->part tells which source an error is in. */
int edm_tpl_set_compile(edm_tpl_set **out, const json_t *tmpl, edm_tpl_error *err);
void edm_tpl_set_free(edm_tpl_set *s);
int edm_tpl_set_has_html(const edm_tpl_set *s);
int edm_tpl_set_has_text(const edm_tpl_set *s);
/* 1 when a tag of the set (subject, html, text or a partial) names key as
 * one of its path's segments ({{key}}, {{#key}}, {{a.key}}, a helper's
 * argument), else 0. What a template reaches without naming it (the keys
 * {{#each}} walks over a whole object) does not count. */
int edm_tpl_set_names(const edm_tpl_set *s, const char *key);

/* One recipient's rendered parts. Reuse one per worker thread: renders
 * reset the buffers but keep their memory. */
typedef struct edm_tpl_msg {
    edm_buf subject;
    edm_buf html; /* empty when the set has no html part */
    edm_buf text; /* empty when the set has no text part */
    void *cache;  /* private: lookups remembered within one recipient */
} edm_tpl_msg;

void edm_tpl_msg_init(edm_tpl_msg *m);
void edm_tpl_msg_free(edm_tpl_msg *m);

/* Renders the three parts for vars. opts->mode is ignored (subject: header,
 * html: HTML, text: none); opts may be NULL for defaults. In strict mode the
 * missing names of all parts are reported together. */
int edm_tpl_set_render(const edm_tpl_set *s, const json_t *vars, const edm_tpl_opts *opts,
                       edm_tpl_msg *out, edm_tpl_error *err);

#endif
