/*
 * templates/tpl_int.h: internals shared by the template files only.
 *
 * A program is a flat array of ops. Block ops (sections, helpers, blocks,
 * parents) own the ops [i+1, end); an {{else}} splits them at else_at
 * (body [i+1, else_at), inverse [else_at+1, end)). Everything a program
 * points to lives in its arena and is freed with it.
 */
#ifndef EDM_TPL_INT_H
#define EDM_TPL_INT_H

#include "templates/template.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- arena: stable allocations freed at once (tpl_arena_*) ---- */
struct tpl_chunk;
typedef struct tpl_arena {
    struct tpl_chunk *head;
} tpl_arena;

void *tpl_arena_alloc(tpl_arena *a, size_t n);
char *tpl_arena_strndup(tpl_arena *a, const char *s, size_t n);
void tpl_arena_free(tpl_arena *a);

/* ---- expressions ---- */
enum tpl_path_kind {
    TPL_PATH_NAME,  /* a.b.c: first key searched up the context stack */
    TPL_PATH_THIS,  /* . / this / this.a / ./a: current context only */
    TPL_PATH_ROOT,  /* @root.a */
    TPL_PATH_INDEX, /* @index */
    TPL_PATH_KEY,   /* @key */
    TPL_PATH_FIRST, /* @first */
    TPL_PATH_LAST   /* @last */
};

struct tpl_seg {
    const char *key; /* NUL-terminated */
    size_t len;
    uint32_t id; /* same id for the same key across a compiled object; 0: none */
    long idx;    /* >= 0 when the key is a decimal array index */
};

struct tpl_path {
    uint8_t kind; /* tpl_path_kind */
    uint8_t up;   /* number of ../ */
    uint16_t nseg;
    const char *text; /* as written, for strict-mode reports */
    struct tpl_seg *seg;
};

enum tpl_helper {
    TPL_H_NONE,
    TPL_H_IF, /* block helpers */
    TPL_H_UNLESS,
    TPL_H_EACH,
    TPL_H_WITH,
    TPL_H_DEFAULT, /* value helpers */
    TPL_H_UPPER,
    TPL_H_LOWER,
    TPL_H_URLENCODE,
    TPL_H_DATE,
    TPL_H_EQ, /* comparisons (return booleans) */
    TPL_H_NE,
    TPL_H_GT,
    TPL_H_LT,
    TPL_H_AND,
    TPL_H_OR,
    TPL_H_NOT
};

enum tpl_expr_kind { TPL_E_PATH, TPL_E_STR, TPL_E_NUM, TPL_E_BOOL, TPL_E_NULL, TPL_E_CALL };

struct tpl_expr {
    uint8_t kind;   /* tpl_expr_kind */
    uint8_t helper; /* TPL_E_CALL */
    uint16_t nargs;
    struct tpl_path path; /* TPL_E_PATH */
    const char *str;      /* TPL_E_STR */
    size_t len;
    double num; /* TPL_E_NUM, TPL_E_BOOL */
    struct tpl_expr **args;
};

/* A value during rendering: a JSON value or something computed. */
enum tpl_val_kind {
    TPL_V_MISSING,
    TPL_V_NULL,
    TPL_V_BOOL,
    TPL_V_INT,
    TPL_V_REAL,
    TPL_V_STR,
    TPL_V_JSON
};

typedef struct tpl_val {
    uint8_t kind; /* only the fields of the kind are set */
    union {
        long long i;     /* BOOL, INT */
        double d;        /* REAL */
        const char *s;   /* STR (n bytes) */
        const json_t *j; /* JSON (object or array) */
    };
    size_t n;
} tpl_val;

/* ---- ops ---- */
enum tpl_op_kind {
    TPL_OP_TEXT,
    TPL_OP_VAR,
    TPL_OP_SECTION,  /* {{#name}} */
    TPL_OP_INVERTED, /* {{^name}} */
    TPL_OP_HELPER,   /* {{#if}} {{#unless}} {{#each}} {{#with}} */
    TPL_OP_ELSE,     /* marker at else_at */
    TPL_OP_PARTIAL,  /* {{>name}} */
    TPL_OP_PARENT,   /* {{<name}} */
    TPL_OP_BLOCK     /* {{$name}} */
};

enum {
    TPL_F_BOL = 1,        /* starts a line of its source */
    TPL_F_RAW = 2,        /* {{{x}}} / {{&x}} */
    TPL_F_STANDALONE = 4, /* the tag stood alone on its line */
    TPL_F_DYNAMIC = 8,    /* {{>*name}}: the name is looked up in the data */
    TPL_F_CTL = 16        /* text holds control characters */
};

struct tpl_prog;

struct tpl_op {
    uint8_t kind;
    uint8_t flags;
    uint8_t helper; /* TPL_OP_HELPER, TPL_OP_VAR with a call */
    uint32_t end, else_at;
    const char *s; /* text; partial/parent/block name (NUL-terminated) */
    size_t n;
    const char *ind; /* standalone partial/parent/block: indentation */
    size_t indn;
    const char *ind2; /* block: intrinsic indentation of its content */
    size_t ind2n;
    struct tpl_expr *expr;         /* VAR, SECTION, INVERTED, HELPER, dynamic names */
    const struct tpl_prog *target; /* PARTIAL/PARENT with a static name, once linked */
    uint32_t line, col;
};

struct tpl_prog {
    struct tpl_op *ops;
    uint32_t nops;
    tpl_arena arena;
};

/* Named partials shared by the programs of one edm_tpl / edm_tpl_set,
 * sorted by name. */
struct tpl_entry {
    char *name;
    size_t n;
    struct tpl_prog *prog;
};

struct tpl_lib {
    size_t n;
    struct tpl_entry *e;
};

/* ---- tokens (lex.c -> parse.c) ---- */
enum tpl_tok_kind {
    TPL_T_TEXT,
    TPL_T_VAR,      /* {{x}} */
    TPL_T_RAW,      /* {{{x}}} {{&x}} */
    TPL_T_SECTION,  /* {{#x}} */
    TPL_T_INVERTED, /* {{^x}} */
    TPL_T_CLOSE,    /* {{/x}} */
    TPL_T_COMMENT,  /* {{!x}} */
    TPL_T_PARTIAL,  /* {{>x}} */
    TPL_T_PARENT,   /* {{<x}} */
    TPL_T_BLOCK,    /* {{$x}} */
    TPL_T_DELIM,    /* {{=<% %>=}} */
    TPL_T_ELSE      /* {{else}} / {{else if x}} */
};

struct tpl_tok {
    uint8_t kind;
    uint8_t standalone; /* the tag's line is removed from the output */
    uint8_t keepnl;     /* ...except its newline ({{$b}}{{/b}} pair) */
    uint8_t dynamic;    /* {{>*x}} {{<*x}} */
    uint8_t trim_l, trim_r;
    uint8_t closes;    /* TPL_T_CLOSE: kind of the tag it closes (or 0) */
    size_t start, end; /* text: its bytes; tag: the whole tag */
    size_t cs, ce;     /* tag content, trimmed */
    size_t ls;         /* standalone: indentation is [ls, start of its line's first tag) */
    size_t ie;
    uint32_t line, col;
};

/* lex.c: splits src into tokens (edm_malloc'd array in *toks), handling
 * delimiter changes, standalone lines and {{~ ~}} trimming. */
int tpl_lex(const char *src, size_t len, struct tpl_tok **toks, size_t *ntok, edm_tpl_error *err);
/* Fills err with code, position and "line L, col C: " + message. */
int tpl_lex_error(edm_tpl_error *err, int code, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* expr.c: tag content -> expression (see expr.c for the grammar). */
int tpl_path_parse(tpl_arena *a, struct tpl_path *p, const char *s, size_t n, const char **msg);
struct tpl_expr *tpl_expr_parse(tpl_arena *a, const char *s, size_t n, const char **msg,
                                char *msgbuf, size_t msgsize);

/* parse.c: compiles src into a new program (*out), or fills err. */
int tpl_parse(struct tpl_prog **out, const char *src, size_t len, edm_tpl_error *err);
void tpl_prog_free(struct tpl_prog *p);

/* template.c: partial lookup by name (NULL if absent). */
const struct tpl_prog *tpl_lib_find(const struct tpl_lib *lib, const char *name, size_t n);

/* render.c: runs p against data. In strict mode the names of missing
 * variables are added to *miss (duplicates once). */
#define TPL_MAX_MISSING 32
struct tpl_missing {
    const char *names[TPL_MAX_MISSING];
    int n, more;
};
/* Remembers (object, key id) -> value lookups during the renders of one
 * recipient (data never changes under a render): entries count only when
 * their epoch is the memo's; tpl_memo_next() starts a new recipient. */
#define TPL_MEMO_SIZE 256
struct tpl_memo {
    uint32_t epoch;
    struct {
        const json_t *obj;
        uint32_t id, epoch;
        tpl_val v;
    } e[TPL_MEMO_SIZE];
};

void tpl_memo_next(struct tpl_memo *m);

int tpl_render(const struct tpl_lib *lib, const struct tpl_prog *p, const json_t *data,
               const edm_tpl_opts *opts, enum edm_tpl_mode mode, edm_buf *out, edm_tpl_error *err,
               struct tpl_missing *miss, struct tpl_memo *memo);

/* template.c: numbers the keys of progs (tpl_seg.id) so the renderer can
 * memoize lookups. Returns 0 or EDM_ENOMEM. */
int tpl_intern_keys(struct tpl_prog *const *progs, size_t n);

/* Appends n bytes to b: the fast path of edm_buf_append for renders, which
 * always run with b->limit set. Leaves b unterminated on the fast path
 * (tpl_render terminates it when done). */
static inline int tpl_put(edm_buf *b, const char *s, size_t n)
{
    if (n < b->cap - b->len && n <= b->limit - b->len) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        return 0;
    }
    return edm_buf_append(b, s, n);
}

/* escape.c: append s escaped for mode (raw: the value was {{{...}}}). */
int tpl_escape_html(edm_buf *b, const char *s, size_t n);
int tpl_escape_header(edm_buf *b, const char *s, size_t n);
/* 1 when s holds a byte the header filter would drop. */
int tpl_escape_has_ctl(const char *s, size_t n);

/* helpers.c */
enum tpl_helper tpl_helper_lookup(const char *name, size_t n);
int tpl_helper_is_block(enum tpl_helper h);
/* Arity check at compile time: NULL if fine, else a message. */
const char *tpl_helper_check(enum tpl_helper h, int nargs, int in_subexpr);
const char *tpl_helper_name(enum tpl_helper h);
/* Handlebars truthiness (if/unless/and/or/not): false for missing, null,
 * false, 0, "", []. */
int tpl_val_truthy(const tpl_val *v);
/* Comparison helpers on evaluated arguments. */
int tpl_helper_compare(enum tpl_helper h, const tpl_val *args, int nargs);
/* Formats a scalar into buf (numbers, booleans) or points *s at it. */
void tpl_val_text(const tpl_val *v, char *buf, size_t size, const char **s, size_t *n);
/* date helper: formats v (unix seconds or RFC 3339 / YYYY-MM-DD) with fmt
 * (strftime, UTC) into buf; returns the length, 0 if v is not a date. */
size_t tpl_helper_date(const tpl_val *v, const char *fmt, char *buf, size_t size);

/* casemap.c: upper- (upper != 0) or lower-cases the character at s[i] of
 * s[0..n) into out (room for 12 bytes); sets *used to the bytes read and
 * returns the bytes written. *prev_cased carries the final-sigma context
 * from one call to the next (start with 0). Bytes that are not UTF-8 pass
 * through. */
size_t tpl_case_step(int upper, const char *s, size_t n, size_t i, int *prev_cased, char *out,
                     size_t *used);

#endif
